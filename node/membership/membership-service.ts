/**
 * The membership shell: announces this super-peer on its region's gossipsub topic and feeds what
 * it hears to the pure MembershipTable (src/membership/), from which trees are computed
 * (src/elect/). Every announcement is checked in the topic validator, so only accepted ones are
 * forwarded; each refusal is counted as membership_refused_<reason>.
 *
 * One topic per region, not per document: a host carrying 10,000 documents still joins one
 * membership topic, far below gossipsub's ~1,000 topics per peer.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message, TopicValidatorFn } from '@libp2p/gossipsub'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { computeDocTree, rolesOf, scopeDepth } from '../../src/elect/index.ts'
import type { DocTree, Role } from '../../src/elect/index.ts'
import { Digest, MAX_ADDRS, MembershipTable, changeIntervalMs, leaseMs, refreshPeriodMs, signAnnouncementSync } from '../../src/membership/index.ts'
import type { Member, MembershipTableOptions, OfferResult, RefusalReason } from '../../src/membership/index.ts'
import type { Counters } from '../metrics.ts'
import type { Logger } from '../log.ts'

export const MEMBERSHIP_TOPIC_PREFIX = '/deltacast/1/members/'
export const DEFAULT_WEIGHT = 1
export const DEFAULT_CAPACITY = 10_000
/** Most membership topics one node joins (its region's and those it relays): a bound on its subscriptions. */
export const MAX_RELAYED_REGIONS = 64
/** How often leases are checked for expiry. */
export const EXPIRY_SWEEP_MS = 1_000

export function membershipTopic (region: string): string {
  return MEMBERSHIP_TOPIC_PREFIX + region
}

/** Refusals that an honest relay can forward (reordering, clock skew, views of the rate differ): no score penalty. */
const IGNORED: ReadonlySet<RefusalReason> = new Set<RefusalReason>(['stale', 'flood', 'expired'])

/** What this node carries and proxies right now; read at every announcement. */
export interface LocalState {
  docs: Iterable<string>
  roles: Iterable<string>
  load: number
}

export interface MembershipPubSub {
  topicValidators: Map<string, TopicValidatorFn>
  subscribe (topic: string): void
  unsubscribe (topic: string): void
  publish (topic: string, data: Uint8Array): Promise<unknown>
  addEventListener (type: 'subscription-change', listener: (event: CustomEvent<{ subscriptions: Array<{ topic: string, subscribe: boolean }> }>) => void): void
  removeEventListener (type: 'subscription-change', listener: (event: CustomEvent<{ subscriptions: Array<{ topic: string, subscribe: boolean }> }>) => void): void
}

export interface MembershipComponents {
  pubsub: MembershipPubSub
  privateKey: PrivateKey
  counters: Counters
  log: Logger
  /** Fleet admission of whoever forwarded an announcement (FleetGuard.mayPublish); everyone when absent. */
  mayPublish?: (peerId: string, topic: string) => boolean
  /** Told each accepted member's addresses, so it can be dialed (e.g. by a tier child) without having met it. */
  learnAddrs?: (peerId: string, addrs: readonly string[]) => void
}

export interface MembershipInit {
  /** This node's region: from its fleet certificate in fleet mode. */
  region: string
  /** This node's fleet certificate ('' in dev mode). */
  cert: string
  enforcing: boolean
  trustedOperators: Uint8Array[]
  weight?: number
  capacity?: number
  local: () => LocalState
  /** This node's backbone addresses, announced so that peers can dial it. */
  addrs?: () => string[]
  /**
   * Announce this node (super-peers). An authority only relays: it joins the membership topics
   * its peers use, validating what it forwards, so super-peers that know each other only
   * through it still hear their region.
   */
  announce?: boolean
  /** Join every region's topic that a connected peer uses, not only our own (see announce). */
  relayRegions?: boolean
  now?: () => number
  table?: Partial<MembershipTableOptions>
}

/** One document as /topology shows it: this node's roles, with its children's regions. */
export interface DocTopology {
  docId: string
  /** Carriers of the document in this node's region. */
  carriers: number
  /** Levels of proxies in this region (0: no demand here). */
  depth: number
  roles: Array<Omit<Role, 'children'> & { children: Array<{ peerId: string, region: string | undefined, scope: string }> }>
}

export interface MembershipStatus {
  region: string
  topic: string
  peerId: string
  members: number
  seq: number
  nextRefreshMs: number
}

/**
 * Emits 'change' when a member joins, leaves, expires or changes what elections read (not on a
 * mere lease renewal): the tiers shell recomputes its roles on it.
 */
export class MembershipService extends EventTarget {
  readonly table: MembershipTable
  readonly topic: string
  readonly peerId: string
  private readonly components: MembershipComponents
  private readonly init: Required<Omit<MembershipInit, 'table'>>
  private seq = 0
  private lastSentAt = Number.NEGATIVE_INFINITY
  private lastAnnouncement?: Uint8Array
  private refreshTimer?: ReturnType<typeof setTimeout>
  private changeTimer?: ReturnType<typeof setTimeout>
  private sweepTimer?: ReturnType<typeof setInterval>
  private running = false

  constructor (components: MembershipComponents, init: MembershipInit) {
    super()
    this.components = components
    this.init = { weight: DEFAULT_WEIGHT, capacity: DEFAULT_CAPACITY, now: Date.now, announce: true, relayRegions: true, addrs: () => [], ...init }
    this.table = new MembershipTable({ enforcing: init.enforcing, trustedOperators: init.trustedOperators, ...init.table })
    this.topic = membershipTopic(init.region)
    this.peerId = peerIdFromPrivateKey(components.privateKey).toString()
  }

  start (): void {
    if (this.running) return
    this.running = true
    const { pubsub } = this.components
    if (this.init.announce) this.join(this.topic)
    if (this.init.relayRegions) pubsub.addEventListener('subscription-change', this.onSubscriptionChange)
    this.sweepTimer = setInterval(() => { this.sweep() }, EXPIRY_SWEEP_MS)
    this.sweepTimer.unref?.()
    if (this.init.announce) this.announce()
  }

  /** Membership topics joined: our region's, and the others' we relay. */
  get topics (): string[] {
    return [...this.joined]
  }

  private readonly joined = new Set<string>()

  private join (topic: string): void {
    if (this.joined.has(topic)) return
    this.joined.add(topic)
    const { pubsub } = this.components
    pubsub.topicValidators.set(topic, (peer, message) => this.validate(peer, message))
    pubsub.subscribe(topic)
    this.dispatchEvent(new CustomEvent('topic', { detail: topic }))
  }

  private readonly onSubscriptionChange = (event: CustomEvent<{ subscriptions: Array<{ topic: string, subscribe: boolean }> }>): void => {
    for (const { topic, subscribe } of event.detail.subscriptions) {
      if (subscribe && topic.startsWith(MEMBERSHIP_TOPIC_PREFIX) && this.joined.size < MAX_RELAYED_REGIONS) this.join(topic)
    }
  }

  /** Announces the local state soon: at once, or when the change interval since the last one has passed. */
  changed (): void {
    if (!this.running || !this.init.announce || this.changeTimer !== undefined) return
    const wait = Math.max(0, this.lastSentAt + changeIntervalMs(this.regionSize()) - this.init.now())
    this.changeTimer = setTimeout(() => { this.changeTimer = undefined; this.announce() }, wait)
  }

  /** Says goodbye (so the region re-elects at once instead of at lease end) and leaves the topic. */
  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    clearTimeout(this.refreshTimer)
    clearTimeout(this.changeTimer)
    clearInterval(this.sweepTimer)
    const { pubsub } = this.components
    pubsub.removeEventListener('subscription-change', this.onSubscriptionChange)
    if (this.init.announce) {
      try {
        await pubsub.publish(this.topic, this.sign(true))
      } catch (err) {
        this.components.log.debug({ err }, 'membership: goodbye not published')
      }
    }
    for (const topic of this.joined) {
      pubsub.topicValidators.delete(topic)
      pubsub.unsubscribe(topic)
    }
    this.joined.clear()
  }

  /** Live members of this node's region, itself included, as every node of the region sees them. */
  members (): Member[] {
    return this.table.live(this.init.now(), this.init.region)
  }

  /** The document's tree from this node's view, with `exclude`d peers passed over (suspected dead). */
  tree (docId: string, fanout: number, exclude?: ReadonlySet<string>): DocTree {
    return computeDocTree(docId, this.table.live(this.init.now()), { fanout, exclude })
  }

  /** This node's roles in a document's tree. */
  roles (docId: string, fanout: number, exclude?: ReadonlySet<string>): Role[] {
    return rolesOf(this.tree(docId, fanout, exclude), this.peerId)
  }

  /** What `/topology` shows for these documents. */
  topology (docIds: Iterable<string>, fanout: number): MembershipStatus & { fanout: number, documents: DocTopology[] } {
    const now = this.init.now()
    const members = this.table.live(now)
    const documents = [...docIds].map(docId => {
      const tree = computeDocTree(docId, members, { fanout })
      const here = tree.regions.find(r => r.region === this.init.region)
      return {
        docId,
        carriers: members.filter(m => m.region === this.init.region && m.carries(docId)).length,
        depth: here === undefined ? 0 : scopeDepth(here),
        roles: rolesOf(tree, this.peerId).map(role => ({
          ...role,
          children: role.children.map(child => ({ ...child, region: this.table.get(child.peerId, now)?.region }))
        }))
      }
    })
    return { ...this.status(), fanout, documents }
  }

  /** This node's latest announcement (undefined before start). */
  ownAnnouncement (): Uint8Array | undefined {
    return this.lastAnnouncement
  }

  /** A region's announcements as received (this node's own included), but `except`'s: a joining node's snapshot. */
  regionAnnouncements (region: string, except?: string): Uint8Array[] {
    return this.table.announcements(region, this.init.now(), except)
  }

  /**
   * Checks an announcement (from the topic or a snapshot) into the table; counts a refusal as
   * membership_refused_<reason>, and raises 'change' unless only a lease was renewed.
   */
  receive (bytes: Uint8Array): OfferResult {
    const result = this.table.offer(bytes, this.init.now())
    const { counters, log } = this.components
    if (result.ok) {
      counters.inc('membership_accepted')
      if (result.member.addrs.length > 0) this.components.learnAddrs?.(result.member.peerId, result.member.addrs)
      if (result.change !== 'refreshed') this.dispatchEvent(new Event('change')) // a renewed lease elects nothing new
    } else {
      counters.inc(`membership_refused_${result.reason.replaceAll('-', '_')}`)
      log.debug({ reason: result.reason, error: result.error }, 'membership: announcement refused')
    }
    return result
  }

  /** Publishes another member's (already accepted) announcement, e.g. a newcomer's not yet in the mesh. */
  relay (bytes: Uint8Array, region = this.init.region): void {
    this.components.pubsub.publish(membershipTopic(region), bytes).catch((err: Error) => {
      this.components.log.debug({ err: err.message }, 'membership: relay not published')
    })
  }

  status (): MembershipStatus {
    const n = this.regionSize()
    return { region: this.init.region, topic: this.topic, peerId: this.peerId, members: n, seq: this.seq, nextRefreshMs: refreshPeriodMs(n) }
  }

  private announce (): void {
    if (!this.running || !this.init.announce) return
    clearTimeout(this.refreshTimer)
    const bytes = this.sign(false)
    this.lastAnnouncement = bytes
    // Our own announcement goes into our table too, so our view matches everyone else's.
    const own = this.table.offer(bytes, this.init.now())
    if (!own.ok) this.components.log.error({ reason: own.reason, error: own.error }, 'membership: own announcement refused')
    else if (own.change !== 'refreshed') this.dispatchEvent(new Event('change')) // our own entry is in the view too
    this.lastSentAt = this.init.now()
    this.components.pubsub.publish(this.topic, bytes).then(
      () => { this.components.counters.inc('membership_announced') },
      (err: Error) => { this.components.log.warn({ err: err.message }, 'membership: announcement not published') })
    this.refreshTimer = setTimeout(() => { this.announce() }, refreshPeriodMs(this.regionSize()))
    this.refreshTimer.unref?.()
  }

  private sign (leaving: boolean): Uint8Array {
    const now = this.init.now()
    this.seq = Math.max(now, this.seq + 1) // wall-clock ms: a restarted node is not stale
    const local = this.init.local()
    return signAnnouncementSync(this.components.privateKey, {
      region: this.init.region,
      seq: this.seq,
      expires: now + leaseMs(this.regionSize()),
      weight: this.init.weight,
      capacity: this.init.capacity,
      load: local.load,
      cert: this.init.cert,
      addrs: this.init.addrs().slice(0, MAX_ADDRS),
      docs: Digest.of(local.docs),
      roles: Digest.of(local.roles),
      leaving
    })
  }

  private validate (peer: PeerId, message: Message): TopicValidatorResult {
    if (this.components.mayPublish !== undefined && !this.components.mayPublish(peer.toString(), message.topic)) return TopicValidatorResult.Reject
    const result = this.receive(message.data)
    if (result.ok) return TopicValidatorResult.Accept
    return IGNORED.has(result.reason) ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
  }

  private sweep (): void {
    const dropped = this.table.expire(this.init.now())
    if (dropped.length === 0) return
    this.components.counters.inc('membership_expired', dropped.length)
    this.dispatchEvent(new Event('change'))
  }

  private regionSize (): number {
    return Math.max(1, this.table.regionSize(this.init.region, this.init.now()))
  }
}
