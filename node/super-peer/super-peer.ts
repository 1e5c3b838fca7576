import { join } from 'node:path'
import { parseDocId } from '../../src/log/index.ts'
import { bytesToHex } from '@noble/hashes/utils.js'
import { loadOrCreateKey } from '../identity.ts'
import { createBackboneNode } from '../net/libp2p-node.ts'
import { peerScore } from '../net/score.ts'
import { serveSync } from '../sync/sync-server.ts'
import { startAdminServer } from '../admin-http.ts'
import { Counters } from '../metrics.ts'
import { DocCarrier } from './doc-carrier.ts'
import type { AdminServer } from '../admin-http.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Logger } from '../log.ts'
import type { SuperPeerConfig } from './config.ts'

/**
 * A super-peer: a backbone node that carries documents. It verifies and replicates their frames,
 * serves catch-up to peers, and (later issues) serves observers and merges their input.
 */
export interface SuperPeer {
  readonly node: BackboneNode
  readonly carriers: ReadonlyMap<string, DocCarrier>
  readonly counters: Counters
  readonly admin?: AdminServer
  stop (): Promise<void>
}

export async function startSuperPeer (config: SuperPeerConfig, log: Logger): Promise<SuperPeer> {
  for (const docId of config.docs) {
    const parsed = parseDocId(docId)
    if (!parsed.ok) throw new Error(`bad document id "${docId}": ${parsed.error}`)
  }
  const privateKey = await loadOrCreateKey(config.keyFile ?? join(config.dataDir, 'peer.key'))
  const node = await createBackboneNode({
    privateKey,
    dataDir: config.dataDir,
    listen: config.listen,
    announce: config.announce,
    bootstrap: config.bootstrap,
    maxConnections: config.maxConnections
  })
  const counters = new Counters()
  const carriers = new Map<string, DocCarrier>()
  await serveSync(node, docId => carriers.get(docId)?.replica, log, counters)
  for (const docId of config.docs) {
    const carrier = new DocCarrier(node, docId, {
      maxFrameBytes: config.maxFrameBytes,
      syncIntervalMs: config.syncIntervalMs
    }, log, counters)
    carriers.set(docId, carrier)
    carrier.start()
  }

  const admin = config.admin === undefined
    ? undefined
    : await startAdminServer(config.admin, path => adminRoute(path, node, carriers, counters, config))
  log.info({ peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String), region: config.region }, 'super-peer started')

  return {
    node,
    carriers,
    counters,
    admin,
    stop: async () => {
      for (const carrier of carriers.values()) carrier.stop()
      await admin?.close()
      await node.stop()
    }
  }
}

function adminRoute (path: string, node: BackboneNode, carriers: Map<string, DocCarrier>, counters: Counters, config: SuperPeerConfig) {
  if (path === '/status') {
    return {
      body: JSON.stringify({
        peerId: node.peerId.toString(),
        region: config.region,
        addrs: node.getMultiaddrs().map(String),
        docs: Object.fromEntries([...carriers].map(([docId, carrier]) => [docId, {
          seq: carrier.replica.head.seq,
          epoch: carrier.replica.head.epoch,
          head: bytesToHex(carrier.replica.head.hash),
          subscribers: node.services.pubsub.getSubscribers(carrier.topic).length
        }])),
        counters: counters.toJSON()
      })
    }
  }
  if (path === '/peers') {
    return {
      body: JSON.stringify(node.getPeers().map(peer => ({ peerId: peer.toString(), score: peerScore(node.services.pubsub, peer) })))
    }
  }
  if (path === '/metrics') {
    return { type: 'text/plain; version=0.0.4', body: counters.toPrometheus({ connections: node.getConnections().length }) }
  }
  const state = /^\/docs\/([^/]+)\/state$/.exec(path)
  if (state !== null) {
    const carrier = carriers.get(decodeURIComponent(state[1]))
    if (carrier === undefined) return { status: 404, body: JSON.stringify({ error: 'not carried here' }) }
    return { body: JSON.stringify({ seq: carrier.replica.head.seq, head: bytesToHex(carrier.replica.head.hash), tree: carrier.replica.tree }) }
  }
  return undefined
}
