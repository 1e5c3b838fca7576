// One edge worker process (forked by edge-workers.ts): its own edge libp2p node and listeners,
// and the ObserverSessions of the browsers it accepted. It holds no replica and no policy: each
// request goes to the primary over the IPC channel; the primary admits the viewer and sends the
// messages to deliver.

import { once } from 'node:events'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { OBSERVE_PROTOCOL } from '../../src/observe/protocol.ts'
import { createEdgeNode, replaceEdgeCertificate } from '../net/edge-node.ts'
import { observerIntake } from './observer-server.ts'
import { transportCounts } from './edge-workers.ts'
import type { AcceptedStream } from './observer-server.ts'
import type { ObserverSession } from './observer-protocol.ts'
import type { TransportCertificate } from '@libp2p/webrtc'
import type { EdgeWorkerInit, PrimaryOp, ToPrimary, ToWorker, TransportCounts } from './edge-workers.ts'

if (process.send === undefined) throw new Error('an edge worker runs as a child process of a super-peer (edge-workers.ts)')
const post = (message: ToPrimary): void => { process.send?.(message) }
// The primary gone, this worker's browsers cannot be admitted or fed: end with it.
process.on('disconnect', () => { process.exit(0) })
const [first] = await once(process, 'message') as [{ t: 'init', init: EdgeWorkerInit }]
const init = first.init

/** Everything should be caught where it happens; anything that is not ends this worker (the primary starts another). */
function fatal (err: unknown): void {
  const message: ToPrimary = { t: 'fatal', error: err instanceof Error ? err.message : String(err) }
  if (process.send === undefined || !process.connected) process.exit(1)
  process.send(message, () => { process.exit(1) })
}
process.on('uncaughtException', fatal)
process.on('unhandledRejection', fatal)

let refused = 0
let nextId = 1
const byId = new Map<number, ObserverSession>()
const idOf = new Map<ObserverSession, number>()
/** Accepted streams waiting for the primary's answer. */
const pending = new Map<number, AcceptedStream>()

const intake = observerIntake(init.server, (session, code, error) => {
  refused++
  post({ t: 'refused', code })
  session.fail(code, error)
}, session => {
  const id = idOf.get(session)
  if (id === undefined) return
  idOf.delete(session)
  byId.delete(id)
  pending.delete(id)
  post({ t: 'closed', id })
})

const node = await createEdgeNode({
  privateKey: privateKeyFromProtobuf(init.privateKey),
  certificate: init.certificate,
  reusePort: true,
  listen: init.listen,
  announce: init.announce,
  ...init.connectionManager,
  limits: init.limits,
  onRefused: reason => { post({ t: 'counter', name: `observe_refused_${reason}` }) }
}).catch(async (err: unknown) => {
  fatal(err)
  return await new Promise<never>(() => {}) // exits once the primary has the reason
})

await node.handle(OBSERVE_PROTOCOL, (stream, connection) => {
  intake.accept(stream, connection).then(accepted => {
    if (accepted === undefined) return
    const id = nextId++
    const { session, request } = accepted
    byId.set(id, session)
    idOf.set(session, id)
    pending.set(id, accepted)
    // a resync's reset is the primary's to make: asked for once, delivered by supplyReset
    session.setResetSource(() => {
      post({ t: 'reset', id })
      return undefined
    })
    post({ t: 'join', id, peer: session.peer ?? '', address: session.address ?? '', request: request.value })
  }).catch((err: Error) => { stream.abort(err) })
}, { maxInboundStreams: init.server.maxStreamsPerConnection + 1 }).catch(fatal)

/** Serves an admitted session's later messages: view changes and a writer's sends go to the primary. */
function admitted (id: number, skipThrough: number, writer: boolean): void {
  const accepted = pending.get(id)
  if (accepted === undefined) return
  pending.delete(id)
  const { session, request } = accepted
  session.skipThrough = Math.max(session.skipThrough, skipThrough)
  session.listen(request.lp, view => { post({ t: 'view', id, view }) }, {
    onSend: writer ? json => { post({ t: 'send', id, json }) } : undefined,
    // Relaying between browsers is not served by edge workers: the star serves every viewer.
    onSwarm: () => undefined
  }).catch(fatal)
}

function apply (op: PrimaryOp): void {
  switch (op.o) {
    case 'd':
      for (const id of op.ids) byId.get(id)?.deliver(op.seq, op.bytes)
      return
    case 'admitted':
      admitted(op.id, op.skipThrough, op.writer)
      return
    case 'fail':
      byId.get(op.id)?.fail(op.code, op.error)
      return
    case 'reset':
      byId.get(op.id)?.supplyReset(op.bytes)
  }
}

/** A renewed certificate: connections from now on get it, those open keep theirs; the primary learns the new certhash. */
function renew (certificate: TransportCertificate): void {
  replaceEdgeCertificate(node, certificate)
  post({ t: 'addrs', addrs: node.getMultiaddrs().map(String) })
}

process.on('message', (message: ToWorker) => {
  switch (message.t) {
    case 'ops':
      for (const op of message.ops) apply(op)
      return
    case 'certificate':
      // one this worker cannot take ends it: the primary starts another with the new certificate
      try { renew(message.certificate) } catch (err) { fatal(err) }
      return
    case 'stop':
      stop().then(() => { process.exit(0) }, fatal)
  }
})

const transports = (): TransportCounts => transportCounts(node.getConnections())

const stats = setInterval(() => {
  post({ t: 'stats', stats: intake.stats(refused), transports: transports(), status: node.status })
}, init.statsIntervalMs)
stats.unref()

async function stop (): Promise<void> {
  clearInterval(stats)
  await intake.stop(async () => { await node.unhandle(OBSERVE_PROTOCOL).catch(() => {}) })
  await node.stop()
}

const listening = node.getMultiaddrs().map(String)
post({ t: 'ready', addrs: listening, stats: intake.stats(refused), transports: transports() })
