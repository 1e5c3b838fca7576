// One frame's way through a super-peer, in memory: a parent carrier relays it over a libp2p
// stream pair to a child carrier (verify, apply, compose per class), whose observer streams
// (more stream pairs) carry it to browsers. Real DocCarrier, relay, DocChannel and observer
// sessions; no OS process, no socket.

import assert from 'node:assert/strict'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream, streamPair } from '@libp2p/utils'
import { GENESIS_HASH, docIdFor, signFrameSync } from '../../../src/log/index.ts'
import { POLICY_FIELD } from '../../../src/privacy/index.ts'
import { encodeMessage, parseServerMessage } from '../../../src/observe/protocol.ts'
import { DEFAULT_WINDOW_LIMITS } from '../../../src/replica/index.ts'
import { DocCarrier } from '../../../node/super-peer/doc-carrier.ts'
import { observerStreams } from '../../../node/super-peer/observer-server.ts'
import { handleRelayStream } from '../../../node/relay/relay-server.ts'
import { followRelayStream } from '../../../node/relay/relay-client.ts'
import { createBackboneNode } from '../../../node/net/libp2p-node.ts'
import { createLogger } from '../../../node/log.ts'
import { Counters } from '../../../node/metrics.ts'
import { waitFor } from '../../helpers/processes.ts'
import type { BackboneNode } from '../../../node/net/libp2p-node.ts'
import type { ObserverStreams } from '../../../node/super-peer/observer-server.ts'
import type { JsonObject } from '../../../src/json.ts'
import type { Frame } from '../../../src/log/index.ts'
import type { ObserveRequest, ServerMessage } from '../../../src/observe/protocol.ts'
import type { Message } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'

const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(21))
const log = createLogger('frame-path-test', 'silent')
/** Long enough that no "stale" message comes between the frames a test reads. */
const CARRIER_OPTIONS = { silentAfterMs: 600_000, syncIntervalMs: 600_000 }

/** Rooms are visible only to viewers whose view state names them: one class per room. */
const POLICY: JsonObject = {
  version: 1,
  observe: { anonymous: true },
  view: { room: { type: 'string', default: 'lobby' } },
  fields: { '/score': 'public', '/rooms': 'public' },
  records: { '/rooms/*': { require: { eq: [{ field: 'name' }, { view: 'room' }] } } }
}

/** Signs the frames of one document's chain, one change each. */
class Chain {
  readonly docId: string
  private prevHash = GENESIS_HASH
  private seq = 0

  constructor (name: string) {
    this.docId = docIdFor(key.publicKey.raw, name)
  }

  next (change: JsonObject): Frame {
    const frame = signFrameSync(key, { docId: this.docId, epoch: 1, seq: ++this.seq, time: Date.now(), prevHash: this.prevHash, changes: [change] })
    this.prevHash = frame.hash
    return frame
  }
}

interface Viewer {
  next: () => Promise<ServerMessage>
  /** The browser leaves (resets its stream; a half-close would leave it a viewer). */
  leave: () => void
}

describe('node/super-peer: one frame from arrival to browser, over stream pairs', function () {
  let nodes: BackboneNode[]
  let parent: DocCarrier
  let child: DocCarrier
  let counters: Counters
  let streams: ObserverStreams
  let chain: Chain
  let relay: AbortController
  let connections = 0

  /** A parent carrier (frames offered as from the authority) and a child that follows its relay stream. */
  async function carry (name: string): Promise<void> {
    chain = new Chain(name)
    const privateKeys = await Promise.all([1, 2].map(async n => await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(n))))
    nodes = await Promise.all(privateKeys.map(async privateKey => await createBackboneNode({ privateKey, listen: [], bootstrap: [] })))
    await Promise.all(nodes.map(async node => { await node.start() }))
    counters = new Counters()
    parent = new DocCarrier(nodes[0], chain.docId, { ...CARRIER_OPTIONS, gossip: false }, log, new Counters())
    child = new DocCarrier(nodes[1], chain.docId, { ...CARRIER_OPTIONS, composeDeltas: true }, log, counters)
    parent.start()
    child.start()
    // The child's side is what node/tiers/uplink.ts does with a relay stream.
    const [down, up] = await streamPair()
    relay = new AbortController()
    void handleRelayStream(up, nodes[1].peerId, docId => docId === chain.docId ? parent.relaySource() : undefined, log, new Counters())
    void followRelayStream(down, chain.docId, child.replica.head.seq, {
      caughtUp: messages => { child.applyCatchUp(nodes[0].peerId, messages); child.markLevel() },
      frame: bytes => { child.receive(bytes, nodes[0].peerId) },
      head: bytes => { child.receiveHead(bytes, nodes[0].peerId) }
    }, { signal: relay.signal }).catch(() => {})
    await child.level
    streams = observerStreams(docId => docId === chain.docId ? child.observable : undefined, {}, undefined, counters)
  }

  /** The authority publishes: the parent applies the frame and relays it; resolves once the child applied it. */
  async function publish (...changes: JsonObject[]): Promise<void> {
    let seq = 0
    for (const change of changes) {
      const frame = chain.next(change)
      assert.equal(parent.receive(frame.bytes, nodes[0].peerId), 'applied')
      seq = frame.seq
    }
    await appliedByChild(seq)
  }

  /** Resolves once the child carrier has applied frame `seq` (a tap sees every frame handed on). */
  async function appliedByChild (seq: number): Promise<void> {
    if (child.replica.head.seq >= seq) return
    await new Promise<void>(resolve => {
      const stop = child.tap(({ frame }) => { if (frame.seq >= seq) { stop(); resolve() } })
    })
  }

  async function observe (request: Omit<ObserveRequest, 'doc'>): Promise<Viewer> {
    const [client, server] = await streamPair()
    const remotePeer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    streams.handle(server, { id: `browser-${++connections}`, remotePeer, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/4242/ws') }).catch((err: Error) => { server.abort(err) })
    const lp = lpStream(client)
    client.send(encodeMessage({ doc: chain.docId, ...request })) // already length-prefixed
    let first = true
    return {
      next: async () => {
        const parsed = parseServerMessage((await lp.read({ signal: AbortSignal.timeout(5_000) })).subarray())
        if (!parsed.ok) assert.fail(parsed.error)
        const message = parsed.value as ServerMessage & { heartbeat?: number }
        // the first message of an accepted request announces the default heartbeat interval; no later one does
        if (!('error' in message)) {
          assert.equal(message.heartbeat, first ? 1000 : undefined, first ? 'the first message announces heartbeats' : 'only the first message announces heartbeats')
          first = false
        }
        delete message.heartbeat
        return message
      },
      leave: () => { client.abort(new Error('the browser left')) }
    }
  }

  afterEach(async () => {
    relay?.abort()
    await streams?.stop()
    parent?.stop()
    child?.stop()
    await Promise.all((nodes ?? []).map(async node => { await node.stop() }))
  })

  it('carries a frame through verify, apply and compose to two sessions of different classes', async () => {
    await carry('two-classes')
    await publish({ [POLICY_FIELD]: POLICY, score: 0, rooms: { a: { name: 'a', text: 'hello a' }, b: { name: 'b', text: 'hello b' } } })
    const inA = await observe({ after: null, view: { room: 'a' } })
    const inB = await observe({ after: null, view: { room: 'b' } })
    assert.deepEqual(await inA.next(), { reset: true, data: { score: 0, rooms: { a: { name: 'a', text: 'hello a' } } }, seq: 1 })
    assert.deepEqual(await inB.next(), { reset: true, data: { score: 0, rooms: { b: { name: 'b', text: 'hello b' } } }, seq: 1 })
    await waitFor('both classes', () => streams.stats().classes === 2 ? true : undefined, { intervalMs: 10 })

    await publish({ score: 1, rooms: { a: { text: 'news in a' } } })
    assert.deepEqual(await inA.next(), { data: { score: 1, rooms: { a: { text: 'news in a' } } }, seq: 2 })
    assert.deepEqual(await inB.next(), { data: { score: 1 }, seq: 2 }, 'room b does not see room a')
    await publish({ rooms: { b: { text: 'news in b' } } })
    assert.deepEqual(await inA.next(), { seq: 3 }, 'nothing visible changed for room a')
    assert.deepEqual(await inB.next(), { data: { rooms: { b: { text: 'news in b' } } }, seq: 3 })
  })

  it('resumes a browser of a filtered class by its class\'s own messages when it comes back', async () => {
    await carry('class-resume')
    await publish({ [POLICY_FIELD]: POLICY, score: 0, rooms: { a: { name: 'a', text: 'hello a' } } })
    const first = await observe({ after: null, view: { room: 'a' } })
    assert.equal((await first.next() as { seq: number }).seq, 1)
    first.leave()
    await waitFor('the class to empty', () => streams.viewers(chain.docId) === 0 ? true : undefined, { intervalMs: 10 })
    await publish({ score: 1 }, { rooms: { a: { text: 'while away' } } })
    const back = await observe({ after: 1, view: { room: 'a' } })
    assert.deepEqual(await back.next(), { seq: 1 }, 'a catch-up is announced by a frame the browser holds')
    assert.deepEqual(await back.next(), { data: { score: 1 }, seq: 2 })
    assert.deepEqual(await back.next(), { data: { rooms: { a: { text: 'while away' } } }, seq: 3 })
  })

  it('resumes a browser by deltas from the replica\'s window, on a super-peer it never used (failover)', async () => {
    await carry('resume')
    await publish(...[1, 2, 3, 4, 5].map(n => ({ n })))
    // No channel, no class exists here yet: the deltas come from the frame window.
    const viewer = await observe({ after: 2 })
    assert.deepEqual(await viewer.next(), { seq: 2 }, 'a catch-up is announced by a frame the browser holds')
    assert.deepEqual(await viewer.next(), { data: { n: 3 }, seq: 3 })
    assert.deepEqual(await viewer.next(), { data: { n: 4 }, seq: 4 })
    assert.deepEqual(await viewer.next(), { data: { n: 5 }, seq: 5 })
    await publish({ n: 6 })
    assert.deepEqual(await viewer.next(), { data: { n: 6 }, seq: 6 }, 'then live')
  })

  it('resumes by deltas exactly as far back as retained, and resets beyond', async function () {
    this.timeout(120_000)
    await carry('retention')
    const retained = DEFAULT_WINDOW_LIMITS.retainDeltas
    const head = retained + 6
    await publish(...Array.from({ length: head }, (_, i) => ({ n: i + 1 })))
    const oldest = await observe({ after: head - retained })
    assert.deepEqual(await oldest.next(), { seq: head - retained })
    assert.deepEqual(await oldest.next(), { data: { n: head - retained + 1 }, seq: head - retained + 1 })
    const beyond = await observe({ after: head - retained - 1 })
    assert.deepEqual(await beyond.next(), { reset: true, data: { n: head }, seq: head })
  })

  it('serves a document carried again (dropped, then asked for) from its new carrier, not a class left on the old one', async () => {
    await carry('carried-again')
    await publish({ n: 1 })
    const before = await observe({ after: null })
    assert.deepEqual(await before.next(), { reset: true, data: { n: 1 }, seq: 1 })
    before.leave() // its class lingers, on the old carrier's document
    await waitFor('the viewer gone', () => streams.viewers(chain.docId) === 0 ? true : undefined, { intervalMs: 10 })
    // The carrier set drops the idle document and carries it again for the next viewer.
    child.stop()
    child = new DocCarrier(nodes[1], chain.docId, { ...CARRIER_OPTIONS, composeDeltas: true }, log, counters)
    child.start()
    assert.equal(child.applyCatchUp(nodes[0].peerId, parent.replica.window.framesAfter(0, Infinity)!.map(frame => ({ type: 'frame' as const, bytes: frame.bytes }))), undefined)
    assert.equal(child.replica.head.seq, 1)
    // (The relay stream and the observer server's lookup both reach the carrier through `child`.)
    const again = await observe({ after: 1 })
    await publish({ n: 2 })
    assert.deepEqual(await again.next(), { seq: 1 })
    assert.deepEqual(await again.next(), { data: { n: 2 }, seq: 2 })
  })

  it('refuses a bad frame, counts it, and changes nothing downstream', async () => {
    await carry('bad-frame')
    await publish({ n: 1 })
    const viewer = await observe({ after: null })
    assert.deepEqual(await viewer.next(), { reset: true, data: { n: 1 }, seq: 1 })

    const good = chain.next({ n: 2 })
    const forged = good.bytes.slice()
    forged[forged.length - 1] ^= 0xff // the signature no longer verifies
    const validate = nodes[1].services.pubsub.topicValidators.get(child.topic)
    assert.ok(validate !== undefined, 'the child validates its topic (flat mesh)')
    const message: Message = { type: 'unsigned', topic: child.topic, data: forged }
    assert.equal(await validate(nodes[0].peerId, message), TopicValidatorResult.Reject)
    assert.equal(child.receive(Uint8Array.of(1, 2, 3), nodes[0].peerId), 'rejected')
    assert.equal(counters.get('frames_rejected_bad_signature'), 1)
    assert.equal(counters.get('frames_rejected_malformed'), 1)
    assert.equal(child.replica.head.seq, 1, 'the replica did not move')
    assert.deepEqual(child.replica.tree, { n: 1 })

    // The genuine frame is still welcome, and it is the next thing the browser sees.
    assert.equal(parent.receive(good.bytes, nodes[0].peerId), 'applied')
    assert.deepEqual(await viewer.next(), { data: { n: 2 }, seq: 2 })
    assert.equal(counters.get('frames_applied'), 2)
  })
})
