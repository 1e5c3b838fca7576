// The source of bench:docs: one process that is the authority of N documents under one key
// (names d0 .. d<N-1>), as the relay protocol sees an authority. It presents a certificate
// signed by that key on the fleet handshake, so a super-peer finds it as the source of every
// one of them without a gossipsub topic per document; it serves the relay protocol from an
// in-memory chain per document and appends frames round-robin at a steady rate.
//
// Usage: node bench/parts/docs-source.ts <documents> <frames per second>
// stdout: one {"ready":…} line, then every second {"follows":n,"sent":m} (relay streams open,
// frames appended so far). stdin: {"rate":n} changes the rate.

import { createInterface } from 'node:readline'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signFleetCertSync } from '../../src/identity/index.ts'
import { docIdFor, signFrameSync } from '../../src/log/index.ts'
import { Replica } from '../../src/replica/index.ts'
import { FleetGuard } from '../../node/fleet/index.ts'
import { createLogger } from '../../node/log.ts'
import { AUTHORITY_COUNTERS, NodeMetrics } from '../../node/metrics.ts'
import { createBackboneNode } from '../../node/net/libp2p-node.ts'
import { userAgentOf } from '../../node/node-info.ts'
import { serveRelay } from '../../node/relay/relay-server.ts'
import type { RelaySource } from '../../node/relay/relay-server.ts'
import type { Frame } from '../../src/log/index.ts'

const documents = Number(process.argv[2])
let rate = Number(process.argv[3])
if (!Number.isInteger(documents) || documents < 1 || !Number.isFinite(rate) || rate < 0) {
  console.error('usage: node bench/parts/docs-source.ts <documents> <frames per second>')
  process.exit(2)
}

const log = createLogger('docs-source', 'error')
const docKey = await generateKeyPair('Ed25519')
const peerKey = await generateKeyPair('Ed25519')
const peerId = peerIdFromPrivateKey(peerKey).toString()
const cert = signFleetCertSync(docKey, { peerId, region: 'authority', expires: Date.now() + 86_400_000 }, Date.now())
const fleet = new FleetGuard({ cert, trustedOperators: [], docIds: [] })
const metrics = new NodeMetrics(AUTHORITY_COUNTERS)
const node = await createBackboneNode({
  privateKey: peerKey,
  metricsRegistry: metrics.registry,
  userAgent: userAgentOf('authority'),
  listen: ['/ip4/127.0.0.1/tcp/0'],
  bootstrap: [],
  beforeStart: async n => { await fleet.attach(n, log) }
})

interface Doc { readonly docId: string, readonly replica: Replica, readonly followers: Set<(frame: Frame) => void>, n: number }
const docs: Doc[] = []
let follows = 0
let sent = 0

function append (doc: Doc): void {
  const head = doc.replica.head
  const frame = signFrameSync(docKey, { docId: doc.docId, epoch: 1, seq: head.seq + 1, time: Date.now(), prevHash: head.hash, changes: [{ n: ++doc.n }] })
  const result = doc.replica.offer(frame)
  if (result.status !== 'applied') throw new Error(`frame ${frame.seq} of ${doc.docId} not applied: ${result.status}`)
  for (const follower of doc.followers) follower(frame)
  sent++
}

for (let i = 0; i < documents; i++) {
  const doc: Doc = { docId: docIdFor(docKey.publicKey.raw, `d${i}`), replica: new Replica(docIdFor(docKey.publicKey.raw, `d${i}`)), followers: new Set(), n: 0 }
  docs.push(doc)
  append(doc) // seq 1: every document exists before anyone follows it
}
sent = 0
const byId = new Map(docs.map(d => [d.docId, d]))

function sourceOf (doc: Doc): RelaySource {
  return {
    get head () { return doc.replica.head },
    window: doc.replica.window,
    follow: onFrame => {
      doc.followers.add(onFrame)
      follows++
      return () => {
        doc.followers.delete(onFrame)
        follows--
      }
    }
  }
}
await serveRelay(node, docId => {
  const doc = byId.get(docId)
  return doc === undefined ? undefined : sourceOf(doc)
}, log, metrics.counters, { maxInboundStreams: documents + 64 })

// Round-robin appends, paced in 10 ms slices.
let next = 0
let owed = 0
let last = performance.now()
setInterval(() => {
  const t = performance.now()
  owed += (t - last) / 1000 * rate
  last = t
  while (owed >= 1) {
    append(docs[next])
    next = (next + 1) % docs.length
    owed--
  }
}, 10)
setInterval(() => { console.log(JSON.stringify({ follows, sent })) }, 1_000)

createInterface({ input: process.stdin }).on('line', line => {
  const message = JSON.parse(line) as { rate?: number }
  if (typeof message.rate === 'number') rate = message.rate
})
process.on('SIGTERM', () => { void Promise.resolve(node.stop()).then(() => process.exit(0)) })

console.log(JSON.stringify({ ready: { peerId, addrs: node.getMultiaddrs().map(String), docIds: docs.map(d => d.docId) } }))
