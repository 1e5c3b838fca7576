// Edge workers end to end: an authority and a super-peer with --edge-workers 2 as OS processes,
// viewers as the browser library's observe() and connect() running in Node over WebSockets and
// WebRTC-Direct. Viewers land on both workers, each sees every frame of its privacy class and
// nothing else, writers reach the primary's input, and a worker that fails is started again
// while its viewers reconnect and catch up by deltas.

import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { materialize } from '../../src/delta/index.ts'
import { signTokenSync } from '../../src/identity/index.ts'
import { filterView, policyOfTree } from '../../src/privacy/index.ts'
import { loadKey } from '../../node/identity.ts'
import { connect } from '../../browser/connect.ts'
import { observe } from '../../browser/observe.ts'
import { createObserverNode } from '../../browser/node.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import type { BrowserTransport } from '../../browser/candidates.ts'
import type { Writer } from '../../browser/connect.ts'
import type { ChangeDetail, ConnectionInfo, LiveView, ObserveOptions } from '../../browser/observe.ts'
import type { ObserverNode } from '../../browser/node.ts'
import type { JsonObject } from '../../src/json.ts'
import type { Viewer } from '../../src/privacy/index.ts'
import type { Running } from '../helpers/processes.ts'
import type { PrivateKey } from '@libp2p/interface'

/** Two classes: everyone sees the score, staff also see the notes. */
const POLICY: JsonObject = {
  version: 1,
  observe: { anonymous: true, identified: true },
  fields: { '/score': 'public', '/notes': { role: 'staff' }, '/claps': 'public' },
  input: {
    claps: { kind: 'count', message: { type: 'null' }, send: 'public', rate: { messages: 100, perMs: 1000 }, windowMs: 200, field: '/claps' }
  }
}

interface Watcher {
  name: string
  viewer: Viewer
  view: LiveView
  changes: ChangeDetail[]
  /** Times its connection went from live to anything else. */
  drops: number
}

/** Counts a view's connection losses. */
function countDrops (view: LiveView, onDrop: () => void): void {
  let live = false
  view.addEventListener('state', (event: Event) => {
    const state = (event as CustomEvent<ConnectionInfo>).detail.state
    if (live && state !== 'live') onDrop()
    live = state === 'live'
  })
}

describe('edge workers (authority and a super-peer with --edge-workers 2, Node viewers)', function () {
  this.timeout(180_000)

  let dir: string
  let authority: Running
  let driver: AuthorityDriver
  let superPeer: Running
  let docId: string
  let docKey: PrivateKey
  const nodes: ObserverNode[] = []
  const watchers: Watcher[] = []
  const writers: Writer[] = []
  let writerDrops = 0
  let rtcAddrs: string[]
  let wsAddrs: string[]

  const staff: Viewer = { principal: 'sam', roles: ['staff'] }
  const anonymous: Viewer = { roles: [] }

  async function change (delta: JsonObject): Promise<void> {
    const id = driver.send(delta)
    await driver.until(`change ${id}`, () => driver.acked.has(id) || driver.errors.has(id))
    assert.equal(driver.errors.get(id), undefined)
  }

  async function nodeFor (transport: BrowserTransport): Promise<ObserverNode> {
    const node = await createObserverNode({ transports: [transport], allowPrivateAddresses: true, livenessIntervalMs: 5_000, livenessTimeoutMs: 5_000 })
    nodes.push(node)
    return node
  }

  async function watch (name: string, transport: BrowserTransport, bootstrap: string[], viewer: Viewer, extra: Partial<ObserveOptions> = {}): Promise<Watcher> {
    const token = viewer.principal === undefined ? undefined : signTokenSync(docKey, { docId, principal: viewer.principal, roles: [...viewer.roles], expires: Date.now() + 3_600_000 }, Date.now())
    const view = observe(docId, { bootstrap, transports: [transport], allowPrivateAddresses: true, node: await nodeFor(transport), backoff: { initialMs: 10, maxMs: 100 }, token, ...extra })
    const watcher: Watcher = { name, viewer, view, changes: [], drops: 0 }
    countDrops(view, () => { watcher.drops++ })
    view.addEventListener('change', (event: Event) => { watcher.changes.push((event as CustomEvent<ChangeDetail>).detail) })
    watchers.push(watcher)
    await waitFor(`${name} to be live`, () => view.connection.state === 'live' ? true : undefined, { intervalMs: 20 })
    return watcher
  }

  async function head (): Promise<{ seq: number, tree: JsonObject }> {
    return await authority.admin(`/docs/${docId}/state`)
  }

  /** Each watcher is at the head and holds exactly its class's view of the document. */
  async function allSeeHead (): Promise<number> {
    const { seq, tree } = await head()
    for (const watcher of watchers) {
      await waitFor(`${watcher.name} at seq ${seq}`, () => watcher.view.seq === seq ? true : undefined, { intervalMs: 20 })
      assert.deepEqual(watcher.view.state, materialize(filterView(policyOfTree(tree), watcher.viewer, {}, tree)), watcher.name)
    }
    return seq
  }

  /** Seqs a watcher integrated after its last reset: every frame, each once, in order. */
  function framesSinceReset (watcher: Watcher): number[] {
    const last = watcher.changes.findLastIndex(change => change.reset)
    return watcher.changes.slice(last + 1).map(change => change.seq)
  }

  async function workers (): Promise<Array<{ index: number, pid: number, status: string, restarts: number, observers: number, transports: Record<string, { observers: number }> }>> {
    return (await superPeer.admin('/status')).observe.workers
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc10-workers-'))
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'match' }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
    docKey = await loadKey(join(dir, 'authority', 'authority.key'))
    await change({ '@policy': POLICY, score: 0, notes: 'kick-off' })
    superPeer = await startCli(superPeerArgs({
      dataDir: join(dir, 'sp'), docId, bootstrap: [authority.ready.addrs[0]], observe: true,
      extra: ['--edge-workers', '2']
    }))
    const addrs = superPeer.ready.observe.addrs as string[]
    rtcAddrs = addrs.filter(addr => addr.includes('/webrtc-direct'))
    wsAddrs = addrs.filter(addr => addr.includes('/ws'))
  })

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(superPeer.stderr().slice(-5000))
  })

  after(async () => {
    for (const writer of writers) await writer.close()
    for (const watcher of watchers) await watcher.view.close()
    for (const node of nodes) await node.stop()
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('announces one WebRTC-Direct address per worker and one shared WebSockets port, all with the same peer id and certhash', async () => {
    assert.equal(rtcAddrs.length, 2, `two WebRTC-Direct addresses: ${rtcAddrs.join(' ')}`)
    assert.equal(wsAddrs.length, 1, `one WebSockets address: ${wsAddrs.join(' ')}`)
    const value = (addr: string, name: string): string | undefined => multiaddr(addr).getComponents().find(c => c.name === name)?.value
    assert.notEqual(value(rtcAddrs[0], 'udp'), value(rtcAddrs[1], 'udp'))
    assert.equal(value(rtcAddrs[0], 'certhash'), value(rtcAddrs[1], 'certhash'))
    const peers = new Set([...rtcAddrs, ...wsAddrs].map(addr => value(addr, 'p2p')))
    assert.deepEqual([...peers], [superPeer.ready.observe.peerId])
    const status = await workers()
    assert.deepEqual(status.map(w => [w.index, w.status]), [[0, 'started'], [1, 'started']])
  })

  it('serves both classes from both workers over both transports: every viewer gets every frame of its view', async () => {
    // One WebRTC-Direct viewer per worker port; WebSockets viewers share a port the kernel spreads.
    await watch('anonymous rtc 0', 'webrtc-direct', [rtcAddrs[0]], anonymous)
    await watch('staff rtc 1', 'webrtc-direct', [rtcAddrs[1]], staff)
    for (let i = 0; i < 3; i++) await watch(`anonymous ws ${i}`, 'websockets', wsAddrs, anonymous)
    for (let i = 0; i < 3; i++) await watch(`staff ws ${i}`, 'websockets', wsAddrs, staff)
    const joinedAt = await allSeeHead()

    const status = await waitFor('both workers to report their viewers', async () => {
      const s = await workers()
      return s.reduce((sum, w) => sum + w.observers, 0) === watchers.length ? s : undefined
    })
    for (const w of status) {
      assert.ok((w.transports['webrtc-direct']?.observers ?? 0) >= 1, `worker ${w.index} serves a WebRTC-Direct viewer`)
    }
    const observe = (await superPeer.admin('/status')).observe
    assert.equal(observe.observers, watchers.length)
    assert.equal(observe.classes, 2, 'two privacy classes, whatever the number of workers')

    for (let i = 1; i <= 20; i++) await change({ score: i, ...(i % 5 === 0 ? { notes: `note ${i}` } : {}) })
    const seq = await allSeeHead()
    for (const watcher of watchers) {
      const frames = framesSinceReset(watcher)
      assert.deepEqual(frames.filter(s => s > joinedAt), Array.from({ length: seq - joinedAt }, (_, i) => joinedAt + 1 + i), `${watcher.name} got every frame once, in order`)
      assert.equal(watcher.changes.filter(c => c.reset).length, 1, `${watcher.name} was sent its view once`)
    }
    // nothing of the notes reaches anonymous viewers
    for (const watcher of watchers.filter(w => w.viewer.principal === undefined)) {
      assert.equal(watcher.changes.some(c => JSON.stringify(c.data).includes('note')), false, watcher.name)
    }
  })

  it('takes writers in connect mode through a worker to the primary\'s input', async () => {
    const node = await nodeFor('websockets')
    const writer = connect(docId, { bootstrap: wsAddrs, transports: ['websockets'], allowPrivateAddresses: true, node, backoff: { initialMs: 10, maxMs: 100 } })
    writers.push(writer)
    countDrops(writer, () => { writerDrops++ })
    await waitFor('the writer to be live', () => writer.connection.state === 'live' ? true : undefined, { intervalMs: 20 })
    const metrics = await superPeer.admin('/metrics') as string
    assert.match(metrics, /^deltacast_input_writers 1$/m)
    const receipts = await Promise.all([writer.send('claps', null), writer.send('claps', null), writer.send('claps', null)])
    assert.equal(receipts.length, 3)
    await waitFor('the claps to be counted', async () => (await head()).tree.claps === 3 ? true : undefined)
    await allSeeHead()
  })

  it('starts a worker that was killed again; its viewers reconnect and catch up by deltas', async () => {
    // Workers report their counts every 250 ms: wait until both count every viewer and the writer
    // (the writer joined last), or worker 0's count could miss one it holds.
    const before = await waitFor('every viewer and the writer counted by the workers', async () => {
      const w = await workers()
      return w.reduce((sum, worker) => sum + worker.observers, 0) === watchers.length + writers.length ? w : undefined
    })
    assert.ok(before[0].observers >= 1)
    const resets = new Map(watchers.map(w => [w, w.changes.filter(c => c.reset).length]))
    // a worker that dies as on a crash: no chance to close anything
    process.kill(before[0].pid, 'SIGKILL')
    // frames go on while worker 0 is down and coming back
    for (let i = 21; i <= 30; i++) await change({ score: i })
    await waitFor('worker 0 to be started again', async () => {
      const w = (await workers())[0]
      return w.restarts === before[0].restarts + 1 && w.status === 'started' ? true : undefined
    })
    await change({ score: 31, notes: 'after the restart' })
    await allSeeHead()
    // exactly the viewers worker 0 held lost their connection (WebSockets: closed; WebRTC-Direct: silence)
    const dropped = watchers.filter(w => w.drops > 0)
    assert.equal(dropped.length + writerDrops, before[0].observers, `dropped: ${dropped.map(w => w.name).join(', ')}`)
    assert.ok(dropped.some(w => w.name === 'anonymous rtc 0'), 'the WebRTC-Direct viewer of worker 0 noticed')
    for (const watcher of watchers) {
      assert.equal(watcher.view.connection.state, 'live', watcher.name)
      // a reconnect resumes from the viewer's seq: the class kept the frames it missed
      assert.equal(watcher.changes.filter(c => c.reset).length, resets.get(watcher), `${watcher.name} resumed by deltas`)
    }
    assert.equal(writers[0].connection.state, 'live')
    // workers report their counts a few times a second
    const status = await waitFor('every viewer and the writer to be counted again', async () => {
      const s = await superPeer.admin('/status')
      return s.observe.observers === watchers.length + writers.length ? s : undefined
    })
    assert.equal(status.observe.workers[1].restarts, before[1].restarts, 'the other worker kept running')
  })

  it('kills a worker that stopped answering, starts it again, and its viewers come back', async () => {
    const before = await workers()
    // a hung worker: its sockets stay open, but it answers nothing
    process.kill(before[1].pid, 'SIGSTOP')
    await waitFor('worker 1 to be killed and started again', async () => {
      const w = (await workers())[1]
      return w.restarts === before[1].restarts + 1 && w.status === 'started' && w.pid !== before[1].pid ? true : undefined
    }, { timeoutMs: 60_000 })
    await change({ score: 32 })
    await allSeeHead()
    for (const watcher of watchers) assert.equal(watcher.view.connection.state, 'live', watcher.name)
    assert.match(superPeer.stderr(), /edge worker silent; killing it/)
  })

  it('serves a document that asks for relaying between browsers as a star, to viewers that offered to relay', async () => {
    const relayer = await watch('relaying ws', 'websockets', wsAddrs, anonymous, { swarm: { capacity: 4 } })
    await change({ '@policy': { ...POLICY, relay: true } })
    await allSeeHead()
    for (let i = 40; i < 45; i++) await change({ score: i })
    await allSeeHead()
    assert.equal(relayer.view.connection.state, 'live')
    assert.deepEqual(await superPeer.admin(`/docs/${docId}/swarm`), { classes: [], seats: [] })
  })
})
