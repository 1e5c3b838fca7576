import { TopicValidatorResult } from '@libp2p/gossipsub'
import { bytesToHex } from '@noble/hashes/utils.js'
import { decodeFrame, topicFor } from '../../src/log/index.ts'
import { bytesEqual } from '../../src/log/bytes.ts'
import { createBackboneNode } from '../net/libp2p-node.ts'
import { scoreTopic } from '../net/score.ts'
import { serveSync } from '../sync/sync-server.ts'
import { guardTopicValidator, membersOnly } from '../fleet/index.ts'
import type { FleetGuard } from '../fleet/index.ts'
import { startAdminServer } from '../admin-http.ts'
import { serveRelay } from '../relay/relay-server.ts'
import type { RelaySource } from '../relay/relay-server.ts'
import { AUTHORITY_AGENT } from '../tiers/tiers.ts'
import { MembershipService } from '../membership/index.ts'
import { serveMembershipSnapshots } from '../membership/snapshot.ts'
import { Counters } from '../metrics.ts'
import type { Authority } from './authority.ts'
import type { Frame } from '../../src/log/index.ts'
import type { AdminServer } from '../admin-http.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Logger } from '../log.ts'
import type { PrivateKey } from '@libp2p/interface'

/**
 * Binds an Authority to the mesh: publishes each durable frame on the document's topic and
 * answers catch-up requests from its log window. It also subscribes to the topic, so peers can
 * find it among the topic's subscribers, and rejects anything on it that is not its own frame.
 */
export interface AuthorityNodeOptions {
  listen: string[]
  announce?: string[]
  bootstrap?: string[]
  /** The node's libp2p identity (not the document key: one key, one job). */
  peerKey: PrivateKey
  /** For a persistent WebRTC certificate and peer store (defaults to memory). */
  dataDir?: string
  admin?: string
  /** Admits only certified peers to the backbone (node/fleet/); without it, anyone may connect. */
  fleet?: FleetGuard
}

export interface AuthorityNode {
  readonly node: BackboneNode
  readonly counters: Counters
  readonly admin?: AdminServer
  stop (): Promise<void>
}

export async function startAuthorityNode (authority: Authority, options: AuthorityNodeOptions, log: Logger): Promise<AuthorityNode> {
  const node = await createBackboneNode({
    privateKey: options.peerKey,
    dataDir: options.dataDir,
    listen: options.listen,
    announce: options.announce,
    bootstrap: options.bootstrap ?? [],
    connectionGater: options.fleet?.connectionGater,
    appSpecificScore: options.fleet?.appSpecificScore,
    beforeStart: async node => { await options.fleet?.attach(node, log) },
    agentName: AUTHORITY_AGENT
  })
  const counters = new Counters()
  const topic = topicFor(authority.docId)
  const pubsub = node.services.pubsub
  scoreTopic(pubsub, topic)
  pubsub.topicValidators.set(topic, (_peer, message) => {
    const decoded = decodeFrame(message.data, { maxFrameBytes: message.data.byteLength })
    if (decoded.ok && decoded.frame.seq <= authority.head.seq) {
      const own = authority.window.framesAfter(decoded.frame.seq - 1, 0)?.[0]
      if (own === undefined || bytesEqual(own.hash, decoded.frame.hash)) return TopicValidatorResult.Ignore
    }
    // Only the authority writes this document: anything else is forged or a fork.
    counters.inc('frames_rejected_not_ours')
    return TopicValidatorResult.Reject
  })
  if (options.fleet !== undefined) guardTopicValidator(pubsub, topic, options.fleet)
  pubsub.subscribe(topic)
  const members = options.fleet === undefined ? node : membersOnly(node, options.fleet)
  await serveSync(members, docId => docId === authority.docId ? authority : undefined, log, counters)
  // Tier roots (region proxies) follow the document from here, one copy per region (node/tiers/).
  await serveRelay(members, docId => docId === authority.docId ? relaySourceOf(authority) : undefined, log, counters)

  // Super-peers that know each other only through us still hear their region's membership.
  const membership = new MembershipService({
    pubsub, privateKey: options.peerKey, counters, log, mayPublish: options.fleet === undefined ? undefined : (peer, t) => options.fleet!.mayPublish(peer, t)
  }, {
    region: 'authority', cert: '', enforcing: options.fleet?.enforcing ?? false, trustedOperators: options.fleet?.trustedOperators ?? [],
    local: () => ({ docs: [], roles: [], load: 0 }), announce: false
  })
  membership.start()
  await serveMembershipSnapshots(members, membership, counters, log)

  const publish = (frame: Frame): void => {
    pubsub.publish(topic, frame.bytes).then(() => {
      counters.inc('frames_published')
    }, (err: Error) => {
      // Peers that miss it fetch it by catch-up: the frame is already durable.
      counters.inc('frames_publish_failed')
      log.warn({ err, seq: frame.seq }, 'publish failed')
    })
  }
  authority.on('frame', publish)

  const admin = options.admin === undefined
    ? undefined
    : await startAdminServer(options.admin, path => {
      if (path === '/status') {
        return {
          body: JSON.stringify({
            peerId: node.peerId.toString(),
            docId: authority.docId,
            addrs: node.getMultiaddrs().map(String),
            seq: authority.head.seq,
            epoch: authority.currentEpoch,
            head: bytesToHex(authority.head.hash),
            subscribers: pubsub.getSubscribers(topic).map(String),
            fleet: options.fleet?.status(),
            counters: counters.toJSON()
          })
        }
      }
      if (path === '/metrics') return { type: 'text/plain; version=0.0.4', body: counters.toPrometheus({ seq: authority.head.seq }) }
      if (path === `/docs/${authority.docId}/state`) {
        return { body: JSON.stringify({ seq: authority.head.seq, head: bytesToHex(authority.head.hash), tree: authority.tree }) }
      }
      return undefined
    })

  return {
    node,
    counters,
    admin,
    stop: async () => {
      options.fleet?.stop()
      await membership.stop()
      authority.off('frame', publish)
      await admin?.close()
      await node.stop()
    }
  }
}

/** The authority's log as a relay source: durable frames, in order; its chain never jumps. */
function relaySourceOf (authority: Authority): RelaySource {
  return {
    get head () { return authority.head },
    window: authority.window,
    follow: onFrame => {
      authority.on('frame', onFrame)
      return () => { authority.off('frame', onFrame) }
    }
  }
}
