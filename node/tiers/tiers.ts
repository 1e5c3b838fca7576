import { AUTHORITY_PARENT, PlacementCache } from '../../src/elect/index.ts'
import { sameForElections } from '../../src/membership/index.ts'
import { bytesEqual } from '../../src/log/bytes.ts'
import { topicFor } from '../../src/log/index.ts'

const DOC_TOPIC_PREFIX = topicFor('')
import type { DocTree, Role, TreeMember } from '../../src/elect/index.ts'
import type { Counters } from '../metrics.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import { parseUserAgent } from '../node-info.ts'
import type { MembershipService } from '../membership/index.ts'
import type { Member } from '../../src/membership/index.ts'

/**
 * Default most children one proxy serves. A frame is relayed once per child, so this bounds a
 * proxy's egress per frame; tests set it small to make trees deep.
 */
export const DEFAULT_FANOUT = 32

export interface TiersComponents {
  readonly node: BackboneNode
  readonly membership: MembershipService
  /** Every document this node carries now (for viewers, for tier children, or by --doc). */
  carried (): Iterable<string>
  /** The documents it wants for itself (viewers here, or --doc): its demand in the tree. */
  demanded (): Iterable<string>
  /** demanded() and carried() for one document (after invalidate(docId)). */
  demands (docId: string): boolean
  carries (docId: string): boolean
  /**
   * Connected peers that proved they hold the document's key (a fleet handshake certificate
   * signed by it, node/fleet/): its authority, found without a gossipsub subscription.
   */
  sourcesOf? (docId: string): string[]
  readonly counters?: Counters
}
export interface TiersOptions {
  fanout: number
  /**
   * For this long after start a node takes no proxy role it does not already hold: it first
   * learns who holds what (a restarted proxy would otherwise take its scope back from the
   * runner-up whose claim has not reached it yet, costing every child another switch).
   */
  joinGraceMs: number
}

/** Long enough for a snapshot of the region and a change interval or two of announcements. */
export const DEFAULT_JOIN_GRACE_MS = 3_000

/** Where a node stands in one document's tree. */
export interface Standing {
  readonly tree: DocTree
  /** This node's proxy role, if it has one, else its member role. */
  readonly role: Role | undefined
  /** The peer to follow the document from, if it can be named now. */
  readonly parent: string | undefined
}

/** This node's own entry in its trees: its announcement, with its live demand and join grace. */
class SelfEntry implements TreeMember {
  readonly member: Member
  /** During the join grace it takes no role it does not hold: no room. */
  readonly joining: boolean
  private readonly demand: ReadonlySet<string>

  constructor (member: Member, joining: boolean, demand: ReadonlySet<string>) {
    this.member = member
    this.joining = joining
    this.demand = demand
  }

  get capacity (): number { return this.joining ? 0 : this.member.capacity }

  get peerId (): string { return this.member.peerId }
  get region (): string { return this.member.region }
  get weight (): number { return this.member.weight }
  get load (): number { return this.member.load }
  holds (scope: string): boolean { return this.member.holds(scope) }
  carries (docId: string): boolean { return this.demand.has(docId) }
}

type ViewEntry = Member | SelfEntry

/**
 * A super-peer's view of the tier trees: from the region's membership (node/membership/) and
 * the pure election (src/elect/), where this node takes each document it carries from.
 *
 * The tree is pulled into being: each node follows the parent its view names and a parent
 * serves whoever asks. So nodes whose views briefly differ still get every frame (frames are
 * self-certifying and de-duplicated); they only take a longer path until the views agree.
 *
 * With thousands of documents, placements are cached per document and a change recomputes only
 * the ones it can move (src/elect/placements.ts): a member's announcement, join or departure is
 * judged against each cached tree (a few hashes), a document this node starts or stops
 * wanting or carrying is recomputed alone, and a placement passing over suspected parents is
 * kept for as long as the suspects are the same.
 */
export class Tiers extends EventTarget {
  private readonly components: TiersComponents
  private readonly options: TiersOptions
  private readonly authorities = new Set<string>()
  private readonly joinedAt: number
  /** Placements by document, as last computed from the view and this node's demand (src/elect/placements.ts). */
  private readonly placements: PlacementCache
  /** The membership (or the join grace) changed since the view was taken. */
  private viewStale = true
  /** What this node carries or wants changed, for documents unknown: take both sets afresh. */
  private demandStale = true
  /** Documents whose demand or carrying may have changed (invalidate(docId)). */
  private readonly staleDocs = new Set<string>()

  /** Emits 'change' when an authority comes or goes, or a peer (un)subscribes a document topic. */
  constructor (components: TiersComponents, options: Partial<TiersOptions> = {}) {
    super()
    this.components = components
    this.options = { fanout: DEFAULT_FANOUT, joinGraceMs: DEFAULT_JOIN_GRACE_MS, ...options }
    this.joinedAt = Date.now()
    const counters = components.counters
    this.placements = new PlacementCache({
      selfId: components.membership.peerId,
      fanout: this.options.fanout,
      same: (a, b) => sameEntry(a as ViewEntry, b as ViewEntry),
      computed: cause => {
        counters?.inc('tier_trees_computed')
        counters?.inc(`tier_trees_recomputed_${cause}`)
      }
    })
    const changed = (): void => {
      this.dispatchEvent(new Event('change'))
    }
    // When the grace ends, this node may take roles: look again, and say so in an announcement.
    setTimeout(() => {
      this.viewStale = true
      changed()
    }, this.options.joinGraceMs).unref()
    // Registered before anyone else's listener: the cache is stale before they look.
    // Viewers come and go unannounced: demand is taken afresh with the view (O(documents), no hashing).
    components.membership.addEventListener('change', () => {
      this.viewStale = true
      this.demandStale = true
    })
    const { node } = components
    // Authorities only change where a region root follows from, which is looked up live.
    node.addEventListener('peer:identify', event => {
      const { peerId, agentVersion } = event.detail
      // Authorities say so in identify's agent version (node-info.ts); a liar gains nothing:
      // frames verify against the doc id, whoever relays them.
      if (parseUserAgent(agentVersion).role === 'authority') {
        this.authorities.add(peerId.toString())
        changed()
      }
    })
    node.addEventListener('peer:disconnect', event => {
      if (this.authorities.delete(event.detail.toString())) changed()
    })
    node.services.pubsub.addEventListener('subscription-change', event => {
      if (event.detail.subscriptions.some(s => s.topic.startsWith(DOC_TOPIC_PREFIX))) changed()
    })
  }

  /** A peer proved it holds some document's key (sourcesOf may name it now): region roots look again. */
  sourcesChanged (): void {
    this.dispatchEvent(new Event('change'))
  }

  get fanout (): number {
    return this.options.fanout
  }

  /** True during the join grace: this node takes no new proxy role yet. */
  joining (now = Date.now()): boolean {
    return now - this.joinedAt < this.options.joinGraceMs
  }

  /** Live members of this node's region, itself included. */
  members (): Member[] {
    return this.components.membership.members()
  }

  /**
   * What this node carries or wants changed: for `docId` alone, or (without it) for documents
   * unknown. Membership changes need no call: the service's 'change' event marks them.
   */
  invalidate (docId?: string): void {
    if (docId === undefined) this.demandStale = true
    else this.staleDocs.add(docId)
  }

  /** The document's tree as this node sees it, with itself as a carrier of what it carries. */
  standing (docId: string, suspects: ReadonlySet<string> = new Set()): Standing {
    this.refresh()
    const placement = this.placements.get(docId, suspects)
    const follow = placement.follow
    const parent = follow === undefined ? undefined : follow.parent === AUTHORITY_PARENT ? this.authorityOf(docId, suspects) : follow.parent
    return { tree: placement.tree, role: placement.role, parent }
  }

  /** Bring the cache up to date with what changed since it was last read; drops what may have moved. */
  private refresh (): void {
    if (this.demandStale) {
      this.demandStale = false
      this.staleDocs.clear()
      this.placements.setAllDemand(new Set(this.components.demanded()), new Set(this.components.carried()))
    } else if (this.staleDocs.size > 0) {
      for (const docId of this.staleDocs) this.placements.setDemand(docId, this.components.demands(docId), this.components.carries(docId))
      this.staleDocs.clear()
    }
    if (!this.viewStale) return
    this.viewStale = false
    if (this.placements.setView(this.takeView()) > 0) this.components.counters?.inc('tier_view_changes')
  }

  /** The region's live members, this node's own entry reading its live demand, with its join grace. */
  private takeView (): Map<string, ViewEntry> {
    const self = this.components.membership.peerId
    const joining = this.joining()
    const view = new Map<string, ViewEntry>()
    for (const member of this.components.membership.members()) {
      view.set(member.peerId, member.peerId === self ? new SelfEntry(member, joining, this.placements.demand) : member)
    }
    return view
  }

  /**
   * The document's authority among this node's connections, if it is connected to it: a peer
   * that proved it holds the document's key (no gossipsub subscription needed, so a host can
   * follow thousands of authorities), else a subscriber of the document's topic that says it
   * is an authority.
   */
  authorityOf (docId: string, suspects: ReadonlySet<string> = new Set()): string | undefined {
    const node = this.components.node
    const proven = this.components.sourcesOf?.(docId).find(peer => !suspects.has(peer))
    if (proven !== undefined) return proven
    const subscribers = node.services.pubsub.getSubscribers(topicFor(docId)).map(String)
    return subscribers.find(peer => this.authorities.has(peer) && !suspects.has(peer))
  }

  /** True if `peer` is not a member of this node's region (the authority, or another region's node). */
  crossesRegion (peer: string): boolean {
    const region = this.components.membership.status().region
    return !this.components.membership.members().some(m => m.peerId === peer && m.region === region)
  }

  /** Scopes this node is proxy of, for its membership announcement (election hysteresis). */
  proxyScopes (): string[] {
    const scopes: string[] = []
    for (const docId of this.components.carried()) {
      this.refresh()
      const role = this.placements.get(docId).role
      if (role?.role === 'proxy') scopes.push(role.scope)
    }
    return scopes
  }
}

/** True if nothing a tree reads differs (a SelfEntry's demand is tracked per document instead). */
function sameEntry (a: ViewEntry, b: ViewEntry): boolean {
  if (a instanceof SelfEntry || b instanceof SelfEntry) {
    if (!(a instanceof SelfEntry && b instanceof SelfEntry)) return false
    return a.capacity === b.capacity && a.region === b.region && a.weight === b.weight && a.load === b.load &&
      a.member.roles.probes === b.member.roles.probes && bytesEqual(a.member.roles.bits, b.member.roles.bits)
  }
  return sameForElections(a, b)
}
