import { TopicValidatorResult } from '@libp2p/gossipsub'
import { bytesToHex } from '@noble/hashes/utils.js'
import { decodeFrame, headTopicFor, topicFor, verifyHeadSync } from '../../src/log/index.ts'
import { bytesEqual } from '../../src/log/bytes.ts'
import { createBackboneNode } from '../net/libp2p-node.ts'
import { introducePeers } from '../net/peer-introducer.ts'
import { scoreTopic } from '../net/score.ts'
import { serveSync } from '../sync/sync-server.ts'
import { guardTopicValidator, membersOnly } from '../fleet/index.ts'
import type { FleetGuard } from '../fleet/index.ts'
import { startAdminServer } from '../admin-http.ts'
import { topologyPageRoute } from '../topology/admin-page.ts'
import { serveRelay } from '../relay/relay-server.ts'
import type { RelaySource } from '../relay/relay-server.ts'
import { MembershipService } from '../membership/index.ts'
import { serveMembershipSnapshots } from '../membership/snapshot.ts'
import { AUTHORITY_COUNTERS, NodeMetrics } from '../metrics.ts'
import { healthAnswer, peersOf, processInfo, userAgentOf } from '../node-info.ts'
import type { Counters } from '../metrics.ts'
import type { Authority } from './authority.ts'
import type { Frame } from '../../src/log/index.ts'
import type { AdminServer } from '../admin-http.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Logger } from '../log.ts'
import { AuthorityInput } from '../reduce/authority-input.ts'
import { serveReduce } from '../reduce/reduce-server.ts'
import type { PrivateKey } from '@libp2p/interface'

/**
 * Binds an Authority to the mesh: publishes each durable frame on the document's topic, announces
 * its head on the head topic every second, and answers catch-up requests from its log window. It
 * also subscribes to both topics, so peers can find it among the subscribers, and rejects
 * anything on them that is not its own.
 */

/** How often the authority announces its head (docs/protocol.md, "Head announcements"). */
export const HEAD_ANNOUNCE_INTERVAL_MS = 1_000
export interface AuthorityNodeOptions {
  listen: string[]
  announce?: string[]
  bootstrap?: string[]
  /** The node's libp2p identity (not the document key: one key, one job). */
  peerKey: PrivateKey
  /** For a persistent WebRTC certificate and peer store (defaults to memory). */
  dataDir?: string
  admin?: string
  /** Other nodes' admin endpoints, drawn with this one on its topology page. */
  peerAdmin?: readonly string[]
  /** Admits only certified peers to the backbone (node/fleet/); without it, anyone may connect. */
  fleet?: FleetGuard
  /** Default HEAD_ANNOUNCE_INTERVAL_MS. */
  headIntervalMs?: number
}

export interface AuthorityNode {
  readonly node: BackboneNode
  readonly counters: Counters
  readonly metrics: NodeMetrics
  readonly admin?: AdminServer
  /** Viewers' input merged into the document; `input.on('merged', ...)` is the application's hook. */
  readonly input: AuthorityInput
  stop (): Promise<void>
}

export async function startAuthorityNode (authority: Authority, options: AuthorityNodeOptions, log: Logger): Promise<AuthorityNode> {
  const startedAt = Date.now()
  const metrics = new NodeMetrics(AUTHORITY_COUNTERS)
  const node = await createBackboneNode({
    metricsRegistry: metrics.registry,
    userAgent: userAgentOf('authority'),
    privateKey: options.peerKey,
    dataDir: options.dataDir,
    listen: options.listen,
    announce: options.announce,
    bootstrap: options.bootstrap ?? [],
    connectionGater: options.fleet?.connectionGater,
    appSpecificScore: options.fleet?.appSpecificScore,
    beforeStart: async node => { await options.fleet?.attach(node, log) }
  })
  const counters = metrics.counters
  const topic = topicFor(authority.docId)
  const headTopic = headTopicFor(authority.docId)
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
  scoreTopic(pubsub, headTopic)
  // Our own announcements come back relayed (Ignore); a valid one we did not make means the
  // document key is in other hands; anything else is garbage.
  pubsub.topicValidators.set(headTopic, (_peer, message) => {
    const head = verifyHeadSync(message.data, authority.docId)
    if (head.ok && head.head.epoch === authority.currentEpoch && head.head.seq <= authority.head.seq) return TopicValidatorResult.Ignore
    counters.inc(`heads_rejected_${head.ok ? 'not_ours' : head.code.replaceAll('-', '_')}`)
    return TopicValidatorResult.Reject
  })
  if (options.fleet !== undefined) {
    guardTopicValidator(pubsub, topic, options.fleet)
    guardTopicValidator(pubsub, headTopic, options.fleet)
  }
  pubsub.subscribe(topic)
  pubsub.subscribe(headTopic)
  const members = options.fleet === undefined ? node : membersOnly(node, options.fleet)
  await serveSync(members, docId => docId === authority.docId ? authority : undefined, log, counters)
  // Tier roots (region proxies) follow the document from here, one copy per region (node/tiers/).
  const headListeners = new Set<(bytes: Uint8Array) => void>()
  await serveRelay(members, docId => docId === authority.docId ? relaySourceOf(authority, headListeners) : undefined, log, counters)
  const input = new AuthorityInput(authority, { counters, log, isMember: options.fleet === undefined ? undefined : peer => options.fleet!.isMember(peer) })
  await serveReduce(members, docId => docId === authority.docId ? async partial => { await input.receive(partial) } : undefined, log, counters)

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

  const announce = (): void => {
    counters.inc('heads_published')
    const head = authority.signHead()
    pubsub.publish(headTopic, head).catch((err: Error) => { log.debug({ err }, 'head announcement not sent') })
    for (const listener of headListeners) listener(head) // tier roots, by relay
  }
  const announcer = setInterval(announce, options.headIntervalMs ?? HEAD_ANNOUNCE_INTERVAL_MS)
  announcer.unref()
  const stopIntroducing = introducePeers(node, peerId => options.fleet?.isMember(peerId) ?? true)

  const durable = metrics.latency('change_durable', 'From change() accepting a change to its frame being durable (fdatasync done), on the authority')
  const onDurable = (_frame: Frame, acceptedAt: number[]): void => {
    const now = performance.now()
    const observed = durable.labels(authority.docId)
    for (const at of acceptedAt) observed.observe((now - at) / 1000)
  }
  authority.on('durable', onDurable)
  metrics.gauge('seq', 'Head seq of the document\'s chain (the newest durable frame)', () => [[{ document: authority.docId }, authority.head.seq]], ['document'])
  metrics.gauge('epoch', 'Epoch of the authority\'s chain (one more at every restart)', () => [[{ document: authority.docId }, authority.currentEpoch]], ['document'])
  metrics.gauge('backbone_connections', 'Open backbone connections', () => node.getConnections().length)
  metrics.gauge('topic_subscribers', 'Peers subscribed to the document topic', () => [[{ document: authority.docId }, pubsub.getSubscribers(topic).length]], ['document'])

  let adminUrl: string | undefined
  const topologyPage = topologyPageRoute(() => adminUrl, options.peerAdmin ?? [])
  const admin = options.admin === undefined
    ? undefined
    : await startAdminServer(options.admin, async path => {
      const page = topologyPage(path)
      if (page !== undefined) return await page
      if (path === '/healthz') {
        const problems: string[] = []
        if (node.status !== 'started') problems.push(`libp2p node is ${node.status}`)
        if (authority.failed !== undefined) problems.push(`frame log append failed: ${authority.failed.message}`)
        return healthAnswer(problems)
      }
      if (path === '/status') {
        return {
          body: JSON.stringify({
            ...processInfo(startedAt),
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
      if (path === '/metrics') return await metrics.scrape()
      if (path === '/peers') return { body: JSON.stringify(await peersOf(node, options.fleet)) }
      if (path === `/docs/${authority.docId}/state`) {
        return { body: JSON.stringify({ seq: authority.head.seq, head: bytesToHex(authority.head.hash), tree: authority.tree }) }
      }
      return undefined
    })
  adminUrl = admin?.url

  return {
    node,
    counters,
    metrics,
    admin,
    input,
    stop: async () => {
      options.fleet?.stop()
      await membership.stop()
      clearInterval(announcer)
      stopIntroducing()
      authority.off('frame', publish)
      authority.off('durable', onDurable)
      await admin?.close()
      await node.stop()
    }
  }
}

/** The authority's log as a relay source: durable frames, in order (its chain never jumps), and its head announcements. */
function relaySourceOf (authority: Authority, heads: Set<(bytes: Uint8Array) => void>): RelaySource {
  return {
    get head () { return authority.head },
    window: authority.window,
    follow: (onFrame, _onReset, onHead) => {
      authority.on('frame', onFrame)
      if (onHead !== undefined) heads.add(onHead)
      return () => {
        authority.off('frame', onFrame)
        if (onHead !== undefined) heads.delete(onHead)
      }
    }
  }
}
