import { AUTHORITY_PARENT, computeDocTree, rolesOf } from '../../src/elect/index.ts'
import { topicFor } from '../../src/log/index.ts'

const DOC_TOPIC_PREFIX = topicFor('')
import type { DocTree, Role, TreeMember } from '../../src/elect/index.ts'
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

/**
 * A super-peer's view of the tier trees: from the region's membership (node/membership/) and
 * the pure election (src/elect/), where this node takes each document it carries from.
 *
 * The tree is pulled into being: each node follows the parent its view names and a parent
 * serves whoever asks. So nodes whose views briefly differ still get every frame (frames are
 * self-certifying and de-duplicated); they only take a longer path until the views agree.
 */
export class Tiers extends EventTarget {
  private readonly components: TiersComponents
  private readonly options: TiersOptions
  private readonly authorities = new Set<string>()
  private readonly joinedAt: number
  /** Standings without suspects, valid until the next invalidate(): trees cost a hash per member. */
  private readonly standings = new Map<string, Standing>()

  /** Emits 'change' when an authority comes or goes, or a peer (un)subscribes a document topic. */
  constructor (components: TiersComponents, options: Partial<TiersOptions> = {}) {
    super()
    this.components = components
    this.options = { fanout: DEFAULT_FANOUT, joinGraceMs: DEFAULT_JOIN_GRACE_MS, ...options }
    this.joinedAt = Date.now()
    const changed = (): void => {
      this.invalidate()
      this.dispatchEvent(new Event('change'))
    }
    // When the grace ends, this node may take roles: look again, and say so in an announcement.
    setTimeout(changed, this.options.joinGraceMs).unref()
    // Registered before anyone else's listener: the cache is stale before they look.
    components.membership.addEventListener('change', () => { this.invalidate() })
    const { node } = components
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

  /** Something a tree depends on changed (membership, what this node carries): compute afresh. */
  invalidate (): void {
    this.standings.clear()
  }

  /** The document's tree as this node sees it, with itself as a carrier of what it carries. */
  standing (docId: string, suspects: ReadonlySet<string> = new Set()): Standing {
    if (suspects.size > 0) return this.compute(docId, suspects)
    let standing = this.standings.get(docId)
    if (standing === undefined) {
      standing = this.compute(docId, suspects)
      this.standings.set(docId, standing)
    }
    return standing
  }

  private compute (docId: string, suspects: ReadonlySet<string>): Standing {
    const demanded = new Set(this.components.demanded())
    let standing = this.place(docId, suspects, demanded)
    // Carried only for tier children and no role in the tree: keep following where it would as
    // a carrier, until its children move on (they will: it is no longer in their trees).
    if (standing.role === undefined && !demanded.has(docId) && new Set(this.components.carried()).has(docId)) {
      const asCarrier = this.place(docId, suspects, new Set([...demanded, docId]))
      standing = { tree: standing.tree, role: undefined, parent: asCarrier.parent }
    }
    return standing
  }

  /** The tree with this node's own entry as fresh as its state (not its last announcement). */
  private place (docId: string, suspects: ReadonlySet<string>, demanded: ReadonlySet<string>): Standing {
    const self = this.components.membership.peerId
    const joining = this.joining()
    const members: TreeMember[] = this.components.membership.members().map(member => member.peerId !== self
      ? member
      : { peerId: member.peerId, region: member.region, weight: member.weight, capacity: joining ? 0 : member.capacity, load: member.load, holds: scope => member.holds(scope), carries: doc => demanded.has(doc) })
    const tree = computeDocTree(docId, members, { fanout: this.options.fanout, exclude: suspects })
    const roles = rolesOf(tree, self)
    const role = roles.find(r => r.role === 'proxy') ?? roles.find(r => r.role === 'member')
    const parent = role === undefined ? undefined : role.parent === AUTHORITY_PARENT ? this.authorityOf(docId, suspects) : role.parent
    return { tree, role, parent }
  }

  /** The document's authority among this node's connections, if it is connected to it. */
  authorityOf (docId: string, suspects: ReadonlySet<string> = new Set()): string | undefined {
    const subscribers = this.components.node.services.pubsub.getSubscribers(topicFor(docId)).map(String)
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
      const role = this.standing(docId).role
      if (role?.role === 'proxy') scopes.push(role.scope)
    }
    return scopes
  }
}
