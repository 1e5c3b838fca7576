// The primary's side of edge workers (node/super-peer/edge-workers.ts) against fakes of the
// child's IPC channel: the bound on what waits for a slow worker, malformed messages from a
// worker, and the renewal of the WebRTC-Direct certificate the workers share.
// test/integration/edge-workers.test.ts runs real worker processes.

import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { loadEdgeCertificate } from '../../../node/net/edge-node.ts'
import { DEFAULT_OBSERVER_SERVER_OPTIONS } from '../../../node/super-peer/observer-server.ts'
import { certificateExpiry, EdgeWorkers } from '../../../node/super-peer/edge-workers.ts'
import type { EdgeWorkersOptions, ToWorker, WorkerProcess } from '../../../node/super-peer/edge-workers.ts'
import type { ViewerSession } from '../../../node/super-peer/observer-protocol.ts'
import type { ViewerAdmission } from '../../../node/super-peer/viewer-admission.ts'
import type { TransportCertificate } from '@libp2p/webrtc'

const STATS = { observers: 0, accepted: 0, refused: 0, ejected: 0, resyncs: 0, frozen: 0, refusedSends: 0, sent: 0, heartbeats: 0 }

/** A worker process as the primary sees it: it answers init with ready, and takes messages at once unless stalled. */
class FakeWorker extends EventEmitter implements WorkerProcess {
  static nextPid = 1000
  readonly pid = FakeWorker.nextPid++
  connected = true
  /** Like a SIGSTOPped child: the channel writes nothing more, so no send completes. */
  stalled = false
  readonly received: ToWorker[] = []
  readonly pending: Array<() => void> = []
  killedWith: string | undefined

  send (message: ToWorker, callback: (err: Error | null) => void): boolean {
    this.received.push(structuredClone(message))
    if (this.stalled) this.pending.push(() => { callback(null) })
    else queueMicrotask(() => { callback(null) })
    if (message.t === 'init') setImmediate(() => { this.post({ t: 'ready', addrs: [`/ip4/127.0.0.1/tcp/9/ws/w${message.init.index}`], stats: STATS, transports: {} }) })
    if (message.t === 'stop') setImmediate(() => { this.exit(0, null) })
    return true
  }

  post (message: unknown): void {
    this.emit('message', message)
  }

  kill (signal: NodeJS.Signals): boolean {
    this.killedWith = signal
    setImmediate(() => { this.exit(null, signal) })
    return true
  }

  private exit (code: number | null, signal: string | null): void {
    if (!this.connected) return
    this.connected = false
    this.emit('exit', code, signal)
  }

  ops (): Array<Extract<ToWorker, { t: 'ops' }>['ops'][number]> {
    return this.received.flatMap(m => m.t === 'ops' ? m.ops : [])
  }
}

/** An admission that admits everyone and records who left. */
function fakeAdmission (): ViewerAdmission & { admitted: ViewerSession[], left: ViewerSession[] } {
  const admitted: ViewerSession[] = []
  const left: ViewerSession[] = []
  return {
    admitted,
    left,
    admit: async session => { admitted.push(session); return { onView: () => {}, handlers: {} } },
    leave: session => { left.push(session) },
    refuse: () => {},
    close: () => {},
    refused: 0,
    viewers: () => admitted.length - left.length,
    classes: () => 0,
    offload: () => [],
    seats: () => []
  }
}

class CountingLog {
  readonly counts = new Map<string, number>()
  readonly warnings: string[] = []
  inc (name: string): void { this.counts.set(name, (this.counts.get(name) ?? 0) + 1) }
  warn (_obj: object, msg: string): void { this.warnings.push(msg) }
  info (): void {}
  debug (): void {}
}

async function until<T> (what: string, check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

describe('node/EdgeWorkers (the primary) with fake worker processes', function () {
  this.timeout(30_000)
  let dir: string
  let certificate: TransportCertificate
  const running: EdgeWorkers[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dcedgerev-primary-'))
    certificate = await loadEdgeCertificate(await generateKeyPair('Ed25519'), join(dir, 'base'))
  })

  after(async () => {
    for (const edge of running) await edge.stop()
    await rm(dir, { recursive: true, force: true })
  })

  async function startWorkers (extra: Partial<EdgeWorkersOptions> = {}): Promise<{ edge: EdgeWorkers, forked: FakeWorker[], admission: ReturnType<typeof fakeAdmission>, log: CountingLog }> {
    const forked: FakeWorker[] = []
    const admission = fakeAdmission()
    const log = new CountingLog()
    const edge = new EdgeWorkers(admission, {
      count: 1,
      privateKey: await generateKeyPair('Ed25519'),
      certificate,
      listen: ['/ip4/127.0.0.1/tcp/9/ws'],
      announce: [],
      limits: {},
      connectionManager: { maxConnections: 10, inboundConnectionThreshold: 10, maxIncomingPendingConnections: 10 },
      server: DEFAULT_OBSERVER_SERVER_OPTIONS,
      counters: log,
      log,
      restartDelayMs: 1,
      forkWorker: () => { const worker = new FakeWorker(); forked.push(worker); return worker },
      ...extra
    })
    running.push(edge)
    await edge.start()
    return { edge, forked, admission, log }
  }

  /** A viewer the worker accepted, admitted by the primary. */
  async function joinViewer (worker: FakeWorker, admission: ReturnType<typeof fakeAdmission>, id: number): Promise<ViewerSession> {
    const before = admission.admitted.length
    worker.post({ t: 'join', id, peer: `peer${id}`, address: '/ip4/127.0.0.1/tcp/1', request: { doc: 'doc', mode: 'observe' } })
    await until('the viewer admitted', () => admission.admitted.length > before && worker.ops().some(op => op.o === 'admitted' && op.id === id))
    return admission.admitted[admission.admitted.length - 1]
  }

  /** Delivers `frames` frames of `size` bytes, one turn of the event loop each (one post each). */
  async function deliverFrames (session: ViewerSession, frames: number, size: number): Promise<void> {
    for (let seq = 1; seq <= frames; seq++) {
      session.deliver(seq, new Uint8Array(size))
      await new Promise(resolve => setImmediate(resolve))
    }
  }

  const postedBytes = (worker: FakeWorker): number => worker.ops().reduce((sum, op) => sum + (op.o === 'd' ? op.bytes.byteLength : 0), 0)

  it('keeps feeding a worker that takes its messages, however many, and frames larger than the bound', async () => {
    const { edge, forked, admission, log } = await startWorkers({ maxBacklogBytes: 20_000 })
    const session = await joinViewer(forked[0], admission, 1)
    await deliverFrames(session, 200, 1_000)
    assert.equal(postedBytes(forked[0]), 200_000, 'every frame was posted')
    session.deliver(201, new Uint8Array(50_000))
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(postedBytes(forked[0]), 250_000, 'a frame larger than the bound still goes')
    assert.equal(log.counts.get('edge_worker_backlog_overflows'), undefined)
    assert.equal(forked[0].killedWith, undefined)
    assert.equal(edge.workers()[0].status, 'started')
  })

  it('lets a burst over the bound through when the worker takes it within the grace', async () => {
    const { edge, forked, admission, log } = await startWorkers({ maxBacklogBytes: 20_000, backlogGraceMs: 100 })
    const session = await joinViewer(forked[0], admission, 1)
    forked[0].stalled = true
    await deliverFrames(session, 30, 1_000)
    // the worker reads it all, then nothing is due for longer than the grace
    forked[0].stalled = false
    for (const done of forked[0].pending.splice(0)) done()
    const at = Date.now()
    await until('the grace to pass', () => Date.now() - at > 300)
    session.deliver(31, new Uint8Array(1_000))
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(log.counts.get('edge_worker_backlog_overflows'), undefined)
    assert.equal(postedBytes(forked[0]), 31_000)
    assert.equal(edge.workers()[0].status, 'started')
  })

  it('kills and restarts a worker whose backlog stays over the bound, counting it; nothing more is posted to it', async () => {
    const { edge, forked, admission, log } = await startWorkers({ maxBacklogBytes: 20_000, backlogGraceMs: 100 })
    const session = await joinViewer(forked[0], admission, 1)
    forked[0].stalled = true
    await deliverFrames(session, 30, 1_000)
    assert.equal(forked[0].killedWith, undefined, 'over the bound, but not for long yet')
    // nothing more is due: the watchdog notices
    await until('the stalled worker to be killed', () => forked[0].killedWith)
    assert.equal(log.counts.get('edge_worker_backlog_overflows'), 1)
    assert.equal(forked[0].killedWith, 'SIGKILL')
    const posted = postedBytes(forked[0])
    assert.equal(posted, 30_000)
    session.deliver(31, new Uint8Array(1_000))
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(postedBytes(forked[0]), posted, 'nothing more for a worker being killed')
    assert.match(log.warnings.join('\n'), /edge worker too far behind; killing it/)
    // its viewer is gone from its class (its browser reconnects), and another worker takes its place
    assert.deepEqual(admission.left, [session])
    assert.equal(session.closed, true)
    await until('the worker restarted', () => forked.length === 2 && edge.workers()[0].status === 'started')
    assert.equal(edge.workers()[0].restarts, 1)
    assert.equal(edge.workers()[0].backlogBytes, 0)
    // the new worker is fed again
    const again = await joinViewer(forked[1], admission, 1)
    await deliverFrames(again, 5, 1_000)
    assert.equal(postedBytes(forked[1]), 5_000)
  })

  it('kills a stalled worker while frames keep coming for it', async () => {
    const { forked, admission, log } = await startWorkers({ maxBacklogBytes: 20_000, backlogGraceMs: 50, silenceMs: 60_000 })
    const session = await joinViewer(forked[0], admission, 1)
    forked[0].stalled = true
    let seq = 0
    while (forked[0].killedWith === undefined && seq < 10_000) {
      session.deliver(++seq, new Uint8Array(1_000))
      await new Promise(resolve => setTimeout(resolve, 1))
    }
    assert.equal(log.counts.get('edge_worker_backlog_overflows'), 1)
    assert.ok(seq > 20, 'it went over the bound first')
  })

  it('counts and drops malformed messages from a worker, and keeps serving it', async () => {
    const { edge, forked, admission, log } = await startWorkers()
    const worker = forked[0]
    const bad = [null, 'join', [1], { t: 'nope' }, { t: 'join', id: 'x', peer: 'p', address: 'a', request: { doc: 'd' } },
      { t: 'stats', stats: { ...STATS, observers: -1 }, transports: {}, status: 'started' },
      { t: 'stats', stats: { observers: 'many' }, transports: {}, status: 'started' },
      { t: 'counter', name: 'x'.repeat(200) }, { t: 'view', id: 1 }, { t: 'closed' }]
    for (const message of bad) worker.post(message)
    assert.equal(log.counts.get('edge_worker_bad_messages'), bad.length)
    assert.equal(edge.stats().observers, 0, 'no bad count reached the totals')
    // a join for a viewer it already has is a bad message too, and does not admit twice
    await joinViewer(worker, admission, 7)
    worker.post({ t: 'join', id: 7, peer: 'peer7', address: 'a', request: { doc: 'doc', mode: 'observe' } })
    assert.equal(log.counts.get('edge_worker_bad_messages'), bad.length + 1)
    assert.equal(admission.admitted.length, 1)
    // messages about viewers it does not hold are harmless; good messages still count
    worker.post({ t: 'view', id: 99, view: {} })
    worker.post({ t: 'stats', stats: { ...STATS, observers: 3 }, transports: {}, status: 'started' })
    assert.equal(edge.stats().observers, 3)
    assert.equal(edge.workers()[0].status, 'started')
    assert.equal(worker.killedWith, undefined)
  })

  /** The ids of the resets posted to a worker, in order. */
  const resetsTo = (worker: FakeWorker): number[] => worker.ops().flatMap(op => op.o === 'reset' ? [op.id] : [])

  it('makes the resets a worker asks for at once within its rate, and defers the rest (counted) without losing one', async () => {
    const { forked, admission, log } = await startWorkers({ resyncRate: { messages: 2, perMs: 200 } })
    const worker = forked[0]
    let head = 0
    for (const id of [1, 2, 3]) (await joinViewer(worker, admission, id)).setResetSource(() => new Uint8Array([head]))
    head = 1
    worker.post({ t: 'reset', id: 1 })
    worker.post({ t: 'reset', id: 2 })
    // the burst is spent: these wait, and viewer 1 asking three times more is served once
    worker.post({ t: 'reset', id: 3 })
    for (let i = 0; i < 3; i++) worker.post({ t: 'reset', id: 1 })
    worker.post({ t: 'reset', id: 99 }) // not a viewer of this worker: nothing to make, nothing counted
    assert.equal(log.counts.get('edge_worker_resyncs_deferred'), 4)
    await until('the first two resets posted', () => resetsTo(worker).length === 2)
    assert.deepEqual(resetsTo(worker), [1, 2])
    head = 2
    await until('the deferred resets posted', () => resetsTo(worker).length === 4)
    // oldest first; made when sent, so with the view as of then
    assert.deepEqual(resetsTo(worker), [1, 2, 3, 1])
    const deferred = worker.ops().filter(op => op.o === 'reset').slice(2)
    assert.deepEqual(deferred.map(op => op.o === 'reset' ? [...op.bytes] : []), [[2], [2]])
    // a later request waits its turn too, and viewer 1's repeats made nothing more meanwhile
    worker.post({ t: 'reset', id: 2 })
    await until('viewer 2\'s second reset', () => resetsTo(worker).length === 5)
    assert.deepEqual(resetsTo(worker), [1, 2, 3, 1, 2])
  })

  it('bounds the resets a worker asking without end gets, and still serves each viewer after its last request', async () => {
    const rate = { messages: 5, perMs: 100 }
    const { edge, forked, admission, log } = await startWorkers({ resyncRate: rate })
    const worker = forked[0]
    const deferred = (edge as unknown as { slots: Array<{ deferredResets: Set<unknown> }> }).slots[0].deferredResets
    const ids = Array.from({ length: 10 }, (_, i) => i + 1)
    for (const id of ids) (await joinViewer(worker, admission, id)).setResetSource(() => new Uint8Array(8))
    const start = Date.now()
    let asked = 0
    while (Date.now() - start < 300) {
      for (const id of ids) { worker.post({ t: 'reset', id }); asked++ }
      await new Promise(resolve => setTimeout(resolve, 1))
    }
    const elapsed = Date.now() - start
    const made = resetsTo(worker).length
    // the burst, plus what the rate refilled while it asked (and a token of slack for timer rounding)
    assert.ok(made <= rate.messages + Math.ceil(elapsed * rate.messages / rate.perMs) + 1, `${made} resets in ${elapsed} ms`)
    assert.ok(asked > 10 * made, `${asked} asked, ${made} made`)
    assert.ok((log.counts.get('edge_worker_resyncs_deferred') ?? 0) >= asked - made)
    // each viewer asks once more, and waits (the worker is still over its rate)
    for (const id of ids) worker.post({ t: 'reset', id })
    assert.equal(deferred.size, ids.length)
    const servedBefore = ids.map(id => resetsTo(worker).filter(x => x === id).length)
    await until('every deferred reset made', () => deferred.size === 0)
    await new Promise(resolve => setImmediate(resolve))
    ids.forEach((id, i) => { assert.equal(resetsTo(worker).filter(x => x === id).length, servedBefore[i] + 1, `viewer ${id}`) })
  })

  it('makes no deferred reset for a viewer that left, nor for a worker that died', async () => {
    const { edge, forked, admission } = await startWorkers({ resyncRate: { messages: 1, perMs: 100 } })
    const worker = forked[0]
    for (const id of [1, 2]) (await joinViewer(worker, admission, id)).setResetSource(() => new Uint8Array(1))
    worker.post({ t: 'reset', id: 1 })
    worker.post({ t: 'reset', id: 2 })
    worker.post({ t: 'reset', id: 1 })
    worker.post({ t: 'closed', id: 2 })
    await until('viewer 1\'s deferred reset', () => resetsTo(worker).length === 2)
    assert.deepEqual(resetsTo(worker), [1, 1], 'viewer 2 left before its turn')
    // a worker that dies with resets waiting: its replacement is not sent them
    worker.post({ t: 'reset', id: 1 })
    worker.kill('SIGKILL')
    await until('the worker restarted', () => forked.length === 2 && edge.workers()[0].status === 'started')
    const viewer = await joinViewer(forked[1], admission, 1)
    viewer.setResetSource(() => new Uint8Array(1))
    forked[1].post({ t: 'reset', id: 1 })
    await until('the new worker\'s reset', () => resetsTo(forked[1]).length === 1)
    assert.deepEqual(resetsTo(worker), [1, 1])
  })

  it('renews the certificate before it ends and passes it to running workers and to later ones', async () => {
    // a certificate that ends in a minute, renewed 58 s before: due two seconds from now
    const short = await loadEdgeCertificate(await generateKeyPair('Ed25519'), join(dir, 'short'), 60_000)
    const renewed = await loadEdgeCertificate(await generateKeyPair('Ed25519'), join(dir, 'renewed'))
    assert.ok(certificateExpiry(short) - Date.now() <= 60_000)
    let asked = 0
    const { edge, forked, log } = await startWorkers({
      count: 2,
      certificate: short,
      renewBeforeMs: 58_000,
      renewCertificate: async () => { asked++; return renewed }
    })
    assert.equal(edge.certhash, short.certhash)
    for (const worker of forked) assert.equal(worker.received.some(m => m.t === 'certificate'), false)
    await until('the renewal', () => forked.every(worker => worker.received.some(m => m.t === 'certificate')), 15_000)
    assert.equal(asked, 1)
    assert.equal(log.counts.get('edge_certificate_renewals'), 1)
    assert.equal(edge.certhash, renewed.certhash)
    for (const worker of forked) {
      const message = worker.received.find(m => m.t === 'certificate')
      assert.deepEqual(message, { t: 'certificate', certificate: renewed })
      // the worker takes it and reports its new addresses
      worker.post({ t: 'addrs', addrs: [`/ip4/127.0.0.1/udp/1/webrtc-direct/certhash/${renewed.certhash}`] })
    }
    assert.ok(edge.addrs().every(addr => !addr.includes('webrtc-direct') || addr.includes(renewed.certhash)))
    // a worker started after the renewal starts with the new certificate, and is sent nothing more
    forked[1].kill('SIGKILL')
    await until('worker 1 restarted', () => forked.length === 3 && edge.workers()[1].status === 'started')
    const init = forked[2].received.find(m => m.t === 'init')
    assert.equal(init?.t === 'init' ? init.init.certificate.certhash : undefined, renewed.certhash)
    assert.equal(forked[2].received.some(m => m.t === 'certificate'), false)
  })

  it('clears its timers and forks nothing more once stopped', async () => {
    const { edge, forked } = await startWorkers({ restartDelayMs: 60_000, renewCertificate: async () => certificate })
    forked[0].kill('SIGKILL')
    await until('worker 0 to be down', () => edge.workers()[0].status === 'restarting')
    await edge.stop()
    assert.equal((edge as unknown as { timers: Set<unknown> }).timers.size, 0)
    assert.equal(forked.length, 1)
  })
})
