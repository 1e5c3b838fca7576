// The super-peer's side of relaying between browsers, over in-memory stream pairs: a document's
// channel with its swarm (DocSwarm), driven by the messages a browser would send.

import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream, streamPair } from '@libp2p/utils'
import { POLICY_FIELD } from '../../../src/privacy/index.ts'
import { DEFAULT_MAX_MESSAGE_BYTES, parseClientMessage } from '../../../src/observe/protocol.ts'
import { verifyClassMessage } from '../../../src/swarm/index.ts'
import { DocChannel } from '../../../node/super-peer/doc-channel.ts'
import { ObserverSession } from '../../../node/super-peer/observer-protocol.ts'
import { DocSwarm } from '../../../node/super-peer/swarm-coordinator.ts'
import { FakeDoc } from '../../browser/fixtures/fake-doc.ts'
import { waitFor } from '../../helpers/processes.ts'
import type { JsonObject } from '../../../src/json.ts'
import type { Viewer } from '../../../src/privacy/index.ts'

const DOC = 'doc-swarm'
const POLICY: JsonObject = {
  version: 1,
  observe: { anonymous: true, identified: true },
  relay: true,
  view: { room: { type: 'string', default: 'lobby' } },
  fields: { '/score': 'public', '/posts': 'public' },
  records: { '/posts/*': { require: { eq: [{ field: 'room' }, { view: 'room' }] } } }
}
const anonymous: Viewer = { roles: [] }
const edge = await generateKeyPair('Ed25519')
const peers = await Promise.all(Array.from({ length: 10 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))

interface TestViewer {
  peer: string
  session: ObserverSession
  /** Every message received, raw bytes and parsed. */
  got: Array<{ bytes: Uint8Array, json: any }>
  /** The last assignment received. */
  assignment: () => { class: string | null, parent: string | null, children: string[] } | undefined
  frames: () => number[]
  say: (message: JsonObject) => void
}

describe('node/DocSwarm', () => {
  let doc: FakeDoc
  let channel: DocChannel
  let seq: number
  const counts = new Map<string, number>()
  const counters = { inc: (name: string, by = 1) => { counts.set(name, (counts.get(name) ?? 0) + by) } }
  const sessionCounters = { sent: 0, resyncs: 0, ejected: 0, frozen: 0 }

  const frame = (data: JsonObject): number => {
    doc.push({ seq: ++seq, data })
    return seq
  }

  function open (): void {
    channel = new DocChannel(doc, { swarm: resume => new DocSwarm(DOC, { key: edge, counters, limits: { minRoots: 2, maxChildren: 4, maxDepth: 2 } }, resume) })
  }

  async function join (peer: string, view?: JsonObject, after: number | null = null, heartbeatMs?: number): Promise<TestViewer> {
    const [server, client] = await streamPair()
    const session = new ObserverSession(server, { maxQueuedBytes: 1024 * 1024, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES, stallTimeoutMs: 60_000, heartbeatMs }, sessionCounters, s => { channel.leave(s) })
    session.peer = peer
    const joined = channel.join(session, anonymous, view, after)
    assert.ok(joined.ok)
    const got: TestViewer['got'] = []
    const lp = lpStream(client)
    void (async () => {
      while (true) {
        const bytes = (await lp.read()).subarray()
        got.push({ bytes, json: JSON.parse(new TextDecoder().decode(bytes)) })
      }
    })().catch(() => {})
    return {
      peer,
      session,
      got,
      assignment: () => got.filter(m => m.json.swarm !== undefined).at(-1)?.json.swarm,
      frames: () => got.filter(m => typeof m.json.seq === 'number' && m.json.reset === undefined).map(m => m.json.seq),
      say: message => {
        const parsed = parseClientMessage(new TextEncoder().encode(JSON.stringify(message)))
        assert.ok(parsed.ok, 'a message the browser could send')
        const value = parsed.value
        assert.ok(!('view' in value) && !('send' in value))
        channel.swarm!.handle(session, value)
      }
    }
  }

  /** Eight viewers of one class, each joined to the swarm with capacity 3 and attached to its parent. */
  async function swarmOfEight (): Promise<TestViewer[]> {
    const viewers = await Promise.all(peers.slice(0, 8).map(async peer => await join(peer)))
    await waitFor('resets', () => viewers.every(v => v.got.length > 0) || undefined)
    for (const v of viewers) v.say({ swarm: { capacity: 3 } })
    await waitFor('assignments', () => viewers.every(v => v.assignment() !== undefined) || undefined)
    for (const v of viewers) {
      const parent = v.assignment()!.parent
      if (parent !== null) v.say({ attached: parent })
    }
    return viewers
  }

  beforeEach(() => {
    seq = 0
    counts.clear()
    doc = new FakeDoc(DOC)
    frame({ [POLICY_FIELD]: structuredClone(POLICY), score: 0, posts: { '@o': [] } })
  })

  afterEach(() => { channel?.close() })

  it('seals each class message with the edge key, for the class the viewer is told', async () => {
    open()
    const [v] = await swarmOfEight()
    frame({ score: 1 })
    const sealed = await waitFor('frame 2', () => v.got.find(m => m.json.seq === 2))
    const classId = v.assignment()!.class!
    const verified = await verifyClassMessage(edge.publicKey, DOC, classId, sealed.bytes)
    assert.ok(verified.ok, 'verifies')
    assert.deepEqual(JSON.parse(new TextDecoder().decode(verified.payload)), { data: { score: 1 }, seq: 2 })
    assert.equal((await verifyClassMessage(edge.publicKey, DOC, classId, v.got[0].bytes)).ok, true, 'the first reset is sealed too')
  })

  it('seals the join acknowledgement of a viewer already up to date (back from a failover, it takes its seat at once); the heartbeat announcement goes in front of the seal', async () => {
    open()
    const back = await join(peers[0], undefined, seq, 1000)
    const ack = await waitFor('the acknowledgement', () => back.got[0])
    const text = new TextDecoder().decode(ack.bytes)
    assert.ok(text.startsWith('{"heartbeat":1000,"seq":1,"sig":"'), text)
    back.say({ swarm: { capacity: 3 } })
    const classId = (await waitFor('assignment', () => back.assignment()))?.class as string
    // without the announcement, the sealed acknowledgement byte for byte
    const sealed = new TextEncoder().encode('{' + text.slice('{"heartbeat":1000,'.length))
    const verified = await verifyClassMessage(edge.publicKey, DOC, classId, sealed)
    assert.ok(verified.ok, 'verifies')
    assert.equal(new TextDecoder().decode(verified.payload), '{"seq":1}')
  })

  it('feeds two viewers of eight itself and plans the others below them; attached viewers get frames from their parent only', async () => {
    open()
    const viewers = await swarmOfEight()
    const direct = viewers.filter(v => v.assignment()!.parent === null)
    assert.equal(direct.length, 2)
    for (const root of direct) assert.equal(root.assignment()!.children.length, 3, 'each root is told its three children')
    for (const v of viewers) {
      const parent = v.assignment()!.parent
      if (parent !== null) assert.ok(viewers.find(p => p.peer === parent)!.assignment()!.children.includes(v.peer), 'the parent expects its child')
    }
    frame({ score: 1 })
    frame({ score: 2 })
    await waitFor('roots get frames', () => direct.every(v => v.frames().includes(3)) || undefined)
    for (const v of viewers.filter(v => !direct.includes(v))) assert.deepEqual(v.frames(), [], 'fed by its relay, not by the super-peer')
    const [offload] = channel.swarm!.offload()
    assert.deepEqual({ viewers: offload.viewers, direct: offload.direct, relayed: offload.relayed }, { viewers: 8, direct: 2, relayed: 6 })
    assert.equal(offload.bytesRelayed, 3 * offload.bytesDirect)
    assert.equal(counts.get('swarm_bytes_relayed'), offload.bytesRelayed)
  })

  it('a viewer fed by a relay is told the class head, so a stalled parent shows', async () => {
    open()
    const viewers = await swarmOfEight()
    const child = viewers.find(v => v.assignment()!.parent !== null)!
    frame({ score: 5 })
    await waitFor('head notice', () => child.got.find(m => m.json.head === 2), { timeoutMs: 3000 })
  })

  it('a relay that leaves: its children get new parents, and one sent back to the super-peer resumes by seq', async () => {
    open()
    const viewers = await swarmOfEight()
    const root = viewers.find(v => v.assignment()!.parent === null)!
    const orphans = viewers.filter(v => v.assignment()!.parent === root.peer)
    frame({ score: 1 })
    await root.session.close()
    await waitFor('re-parented', () => orphans.every(o => o.assignment()!.parent !== root.peer) || undefined)
    for (const orphan of orphans) {
      const parent = orphan.assignment()!.parent
      if (parent !== null) assert.ok(viewers.find(v => v.peer === parent)!.assignment()!.children.includes(orphan.peer))
    }
    // an orphan that lost its link before it heard of a new parent goes back to the super-peer
    const orphan = orphans[0]
    orphan.say({ direct: 1, report: { peer: root.peer, reason: 'gone' } })
    await waitFor('catch-up from seq 1', () => orphan.frames().includes(2) || undefined)
    frame({ score: 2 })
    await waitFor('then frames as they come', () => orphan.frames().includes(3) || undefined)
    assert.deepEqual(orphan.frames(), [2, 3], 'no gap, no duplicate')
  })

  it('a report demotes the relay: its children move away from it and the reporter is fed directly from its seq', async () => {
    open()
    const viewers = await swarmOfEight()
    const relay = viewers.find(v => v.assignment()!.parent === null && v.assignment()!.children.length > 0)!
    const [reporter, ...siblings] = viewers.filter(v => v.assignment()!.parent === relay.peer)
    frame({ score: 1 })
    reporter.say({ direct: 1, report: { peer: relay.peer, reason: 'bad-signature' } })
    await waitFor('relay told it has no children', () => relay.assignment()!.children.length === 0 || undefined)
    for (const v of [reporter, ...siblings]) assert.notEqual(v.assignment()!.parent, relay.peer)
    assert.equal(counts.get('swarm_relays_reported'), 1)
    await waitFor('reporter resumed', () => reporter.frames().includes(2) || undefined)
    assert.equal(channel.swarm!.parentOf(relay.peer), null, 'the relay itself is still fed')
  })

  it('a relay whose view state moves it to another class stops relaying the old one at once and joins the new swarm', async () => {
    open()
    const viewers = await swarmOfEight()
    const relay = viewers.find(v => v.assignment()!.children.length > 0)!
    const children = viewers.filter(v => v.assignment()!.parent === relay.peer)
    const oldClass = relay.assignment()!.class
    channel.setViewState(relay.session, { room: 'kitchen' })
    await waitFor('children re-parented', () => children.every(c => c.assignment()!.parent !== relay.peer) || undefined)
    const moved = await waitFor('new class', () => relay.assignment()!.class !== oldClass ? relay.assignment() : undefined)
    assert.deepEqual({ parent: moved.parent, children: moved.children }, { parent: null, children: [] })
  })

  it('a policy that stops relaying takes every viewer out of its swarm and sends plain messages', async () => {
    open()
    const viewers = await swarmOfEight()
    frame({ [POLICY_FIELD]: { relay: false } })
    await waitFor('out of the swarm', () => viewers.every(v => v.assignment()!.class === null) || undefined)
    frame({ score: 9 })
    for (const v of viewers) {
      const last = await waitFor('frame', () => v.got.find(m => m.json.seq === 3 && m.json.reset === undefined))
      assert.equal(last.json.sig, undefined, 'not sealed')
    }
  })

  it('a document without "relay" sends plain messages and ignores swarm messages', async () => {
    frame({ [POLICY_FIELD]: { relay: null } })
    open()
    const v = await join(peers[0])
    v.say({ swarm: { capacity: 3 } })
    frame({ score: 1 })
    const got = await waitFor('frame', () => v.got.find(m => m.json.seq === 3))
    assert.equal(got.json.sig, undefined)
    assert.equal(v.assignment(), undefined)
  })
})
