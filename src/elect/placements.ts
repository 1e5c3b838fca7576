/**
 * Where one node stands in each document's tree, cached, so that a host carrying thousands of
 * documents recomputes on a membership change only the trees that change can move
 * (docs/architecture.md, "Tiers at scale"). Pure: the shell (node/tiers/tiers.ts) passes in the
 * view, its own demand and the suspects; every placement read equals the one computed afresh
 * from them (test/unit/elect/placements.test.ts checks this over random changes).
 *
 * A placement is a function of the document, the view (this node's entry reading its demand
 * for that document alone), whether this node wants and carries the document, the suspects
 * passed over and the fan-out. So a view change is judged against each cached tree
 * (changesMoveTree), a demand change drops only the document it is for, and a placement
 * computed passing over suspects is kept, for that same set, and judged on the view without them.
 */
import { changesMoveTree } from './incremental.ts'
import type { MemberChange } from './incremental.ts'
import { computeDocTree, rolesOf } from './tree.ts'
import type { DocTree, Role, TreeMember } from './tree.ts'

export interface Placement {
  readonly tree: DocTree
  /** This node's proxy role, if it has one, else its member role. */
  readonly role: Role | undefined
  /** The role whose parent this node follows (its own, or the one it would have as a carrier). */
  readonly follow: Role | undefined
  /**
   * The tree computed with this node as a carrier, when it carries the document only for tier
   * children and has no role in `tree`: it keeps following where it would as a carrier, until
   * its children move on (they will: it is not in their trees).
   */
  readonly carrierTree: DocTree | undefined
}

/**
 * Why a tree was computed: `new` (first asked for), `moved` (a membership change that can move
 * it dropped it), `demand` (this node started or stopped wanting or carrying the document),
 * `suspects` (asked for passing over another set of suspected parents).
 */
export type ComputeCause = 'new' | 'moved' | 'demand' | 'suspects'

export interface PlacementOptions {
  readonly selfId: string
  readonly fanout: number
  /** True if nothing a tree reads differs between two entries of the same peer. */
  readonly same: (a: TreeMember, b: TreeMember) => boolean
  /** Called once per tree computed (a carrier's second tree is not counted apart). */
  readonly computed?: (cause: ComputeCause) => void
}

/** A placement computed passing over `suspects` (their sorted ids, `key`). */
interface Suspected {
  readonly key: string
  readonly suspects: ReadonlySet<string>
  readonly placement: Placement
}

const NO_SUSPECTS: ReadonlySet<string> = new Set()

export class PlacementCache {
  /**
   * Documents this node wants for itself (its demand in the tree): its own view entry's
   * carries() should read this set, which keeps its identity.
   */
  readonly demand = new Set<string>()
  private readonly carrying = new Set<string>()
  private readonly options: PlacementOptions
  private view = new Map<string, TreeMember>()
  private readonly placements = new Map<string, Placement>()
  private readonly suspected = new Map<string, Suspected>()
  /** Documents dropped from the cache, with the cause their recomputation is counted under. */
  private readonly dropped = new Map<string, ComputeCause>()
  private readonly droppedSuspected = new Map<string, ComputeCause>()

  constructor (options: PlacementOptions) {
    this.options = options
  }

  /** The document's placement (computed if it is not cached), passing over `suspects`. */
  get (docId: string, suspects: ReadonlySet<string> = NO_SUSPECTS): Placement {
    if (suspects.size > 0) return this.getSuspected(docId, suspects)
    let placement = this.placements.get(docId)
    if (placement === undefined) {
      placement = this.compute(docId, NO_SUSPECTS, this.dropped.get(docId) ?? 'new')
      this.dropped.delete(docId)
      this.placements.set(docId, placement)
    }
    return placement
  }

  /** This node's own demand for one document changed (or may have): drops it only if it did. */
  setDemand (docId: string, demands: boolean, carries: boolean): void {
    if (demands === this.demand.has(docId) && carries === this.carrying.has(docId)) return
    if (demands) this.demand.add(docId)
    else this.demand.delete(docId)
    if (carries) this.carrying.add(docId)
    else this.carrying.delete(docId)
    if (demands || carries) {
      this.drop(docId, 'demand')
      return
    }
    // Neither wanted nor carried: forget it (asked again, it is new).
    this.placements.delete(docId)
    this.suspected.delete(docId)
    this.dropped.delete(docId)
    this.droppedSuspected.delete(docId)
  }

  /** The whole demand taken afresh: drops the documents whose demand or carrying differs. */
  setAllDemand (demand: ReadonlySet<string>, carrying: ReadonlySet<string>): void {
    const differ = new Set<string>()
    for (const [was, is] of [[this.demand, demand], [this.carrying, carrying]] as const) {
      for (const docId of is) if (!was.has(docId)) differ.add(docId)
      for (const docId of was) if (!is.has(docId)) differ.add(docId)
    }
    for (const docId of differ) this.setDemand(docId, demand.has(docId), carrying.has(docId))
  }

  /**
   * The view taken afresh (every member by peer id, this node's own entry included): drops each
   * placement the differences can move. Returns the number of members that differ.
   */
  setView (next: ReadonlyMap<string, TreeMember>): number {
    const changes: MemberChange[] = []
    for (const [peerId, after] of next) {
      const before = this.view.get(peerId)
      if (before === undefined || !this.options.same(before, after)) changes.push({ peerId, before, after })
    }
    for (const [peerId, before] of this.view) if (!next.has(peerId)) changes.push({ peerId, before, after: undefined })
    this.view = new Map(next)
    if (changes.length === 0) return 0
    for (const [docId, placement] of this.placements) {
      if (this.moves(docId, placement, changes, NO_SUSPECTS)) this.drop(docId, 'moved')
    }
    for (const [docId, { placement, suspects }] of this.suspected) {
      if (this.moves(docId, placement, changes, suspects)) this.dropSuspected(docId, 'moved')
    }
    return changes.length
  }

  private getSuspected (docId: string, suspects: ReadonlySet<string>): Placement {
    const key = [...suspects].sort().join(' ')
    const cached = this.suspected.get(docId)
    if (cached?.key === key) return cached.placement
    // One set per document is kept: an uplink asks with the suspects it has now.
    const placement = this.compute(docId, suspects, cached === undefined ? this.droppedSuspected.get(docId) ?? 'suspects' : 'suspects')
    this.droppedSuspected.delete(docId)
    this.suspected.set(docId, { key, suspects: new Set(suspects), placement })
    return placement
  }

  private drop (docId: string, cause: ComputeCause): void {
    if (this.placements.delete(docId)) this.dropped.set(docId, cause)
    this.dropSuspected(docId, cause)
  }

  private dropSuspected (docId: string, cause: ComputeCause): void {
    if (this.suspected.delete(docId)) this.droppedSuspected.set(docId, cause)
  }

  /** True if `changes` may move the placement's tree, or the tree it was computed as a carrier. */
  private moves (docId: string, placement: Placement, changes: readonly MemberChange[], suspects: ReadonlySet<string>): boolean {
    const seen = suspects.size === 0 ? changes : changes.filter(c => !suspects.has(c.peerId))
    if (seen.length === 0) return false
    const current = (peerId: string): TreeMember | undefined => suspects.has(peerId) ? undefined : this.view.get(peerId)
    if (changesMoveTree(placement.tree, seen, current)) return true
    const { selfId } = this.options
    // Carried only for children, it has a carrier tree exactly while this node is in the view.
    if (this.carrying.has(docId) && !this.demand.has(docId) && seen.some(c => c.peerId === selfId && (c.before === undefined) !== (c.after === undefined))) return true
    if (placement.carrierTree === undefined) return false
    // The carrier tree's own entry carries the document: judge the changes as that tree saw them.
    const asCarrier = (m: TreeMember | undefined): TreeMember | undefined => m === undefined ? undefined : carrierOf(m, docId)
    const carrierChanges = seen.map(c => c.peerId === selfId ? { peerId: selfId, before: asCarrier(c.before), after: asCarrier(c.after) } : c)
    return changesMoveTree(placement.carrierTree, carrierChanges, peerId => peerId === selfId ? asCarrier(current(peerId)) : current(peerId))
  }

  private compute (docId: string, suspects: ReadonlySet<string>, cause: ComputeCause): Placement {
    this.options.computed?.(cause)
    const own = this.view.get(this.options.selfId)
    const { tree, role } = this.placeWith(docId, suspects, own)
    if (role === undefined && own !== undefined && !this.demand.has(docId) && this.carrying.has(docId)) {
      const asCarrier = this.placeWith(docId, suspects, carrierOf(own, docId))
      return { tree, role: undefined, follow: asCarrier.role, carrierTree: asCarrier.tree }
    }
    return { tree, role, follow: role, carrierTree: undefined }
  }

  private placeWith (docId: string, suspects: ReadonlySet<string>, own: TreeMember | undefined): { tree: DocTree, role: Role | undefined } {
    const { selfId, fanout } = this.options
    const members: TreeMember[] = []
    for (const entry of this.view.values()) members.push(entry.peerId === selfId && own !== undefined ? own : entry)
    const tree = computeDocTree(docId, members, { fanout, exclude: suspects })
    const roles = rolesOf(tree, selfId)
    return { tree, role: roles.find(r => r.role === 'proxy') ?? roles.find(r => r.role === 'member') }
  }
}

/** The same member, carrying `docId` (for viewers of its own) and nothing else. */
function carrierOf (member: TreeMember, docId: string): TreeMember {
  return {
    peerId: member.peerId,
    region: member.region,
    weight: member.weight,
    capacity: member.capacity,
    load: member.load,
    holds: scope => member.holds(scope),
    carries: d => d === docId
  }
}
