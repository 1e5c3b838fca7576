/**
 * The relay tree of one privacy class: who the super-peer feeds directly and whose parent each
 * other viewer is. Pure and deterministic (time passed in); the super-peer's coordinator turns
 * what changes into messages.
 *
 * Changes are incremental: a join, leave or report moves only the viewers it concerns, so
 * browser-to-browser connections stay long-lived (Chrome allows a tab 500 RTCPeerConnections in
 * its lifetime).
 */

export interface SwarmLimits {
  /** Viewers fed directly before anyone is given a parent: with one root, one leaving orphans everyone. */
  minRoots: number
  /** Children one relay takes at most, whatever it declares. */
  maxChildren: number
  /** Deepest a viewer may sit (a root is at depth 0): each hop adds latency. */
  maxDepth: number
  /** How long a reported relay is given no children. */
  demotionMs: number
}

export const DEFAULT_SWARM_LIMITS: SwarmLimits = Object.freeze({
  minRoots: 2,
  maxChildren: 4,
  maxDepth: 2,
  demotionMs: 60_000
})

export interface MemberInfo {
  /** Children this viewer offers to feed; 0 declines relaying (it is then always fed directly). */
  capacity: number
  /** Measured quality in [0, 1]: parents are chosen best first. */
  quality: number
}

/** A viewer's new parent (null: fed directly by the super-peer) and the one it had before. */
export interface Assignment { readonly id: string, readonly parent: string | null, readonly from: string | null }

interface Member extends MemberInfo {
  readonly id: string
  parent: string | null
  readonly children: Set<string>
  demotedUntil: number
  /** Order of joining: breaks ties so that the result depends only on the operations. */
  readonly order: number
}

export class SwarmTree {
  private readonly limits: SwarmLimits
  private readonly members = new Map<string, Member>()
  private joined = 0

  constructor (limits: Partial<SwarmLimits> = {}) {
    this.limits = { ...DEFAULT_SWARM_LIMITS, ...limits }
  }

  get size (): number { return this.members.size }

  has (id: string): boolean { return this.members.has(id) }

  /** null for a viewer fed directly; undefined for one not in the tree. */
  parentOf (id: string): string | null | undefined { return this.members.get(id)?.parent }

  childrenOf (id: string): readonly string[] { return [...(this.members.get(id)?.children ?? [])] }

  /** Viewers the super-peer feeds itself. */
  direct (): string[] {
    return [...this.members.values()].filter(m => m.parent === null).map(m => m.id)
  }

  depthOf (id: string): number {
    let depth = 0
    for (let m = this.members.get(id); m?.parent != null; m = this.members.get(m.parent)) depth++
    return depth
  }

  ids (): string[] { return [...this.members.keys()] }

  /** Adds a viewer (fed directly until it is placed) and places it. */
  join (id: string, info: MemberInfo, now: number): Assignment[] {
    if (this.members.has(id)) return this.update(id, info, now)
    const member: Member = { id, ...clampInfo(info), parent: null, children: new Set(), demotedUntil: 0, order: this.joined++ }
    this.members.set(id, member)
    const parent = this.placeFor(member, now)
    if (parent === null) return []
    this.attach(member, parent)
    return [{ id, parent: parent.id, from: null }]
  }

  /** A viewer left (or moved to another class): its children get new parents. */
  leave (id: string, now: number): Assignment[] {
    const member = this.members.get(id)
    if (member === undefined) return []
    this.detach(member)
    this.members.delete(id)
    const orphans = [...member.children].map(child => this.members.get(child)!)
    for (const orphan of orphans) orphan.parent = null
    return this.replace(orphans, id, now)
  }

  /**
   * `reporter` saw a bad or missing message from its parent `relay`: the relay is demoted (its
   * children move and it gets none for demotionMs) and the reporter is placed again.
   */
  report (reporter: string, relay: string, now: number): Assignment[] {
    const child = this.members.get(reporter)
    const parent = this.members.get(relay)
    if (child === undefined || parent === undefined || child.parent !== relay) return []
    parent.demotedUntil = now + this.limits.demotionMs
    parent.quality = parent.quality / 2
    return this.shed(parent, parent.children.size, now)
  }

  /**
   * `child` could not reach its parent (the link never opened): it is placed elsewhere, without
   * blaming the parent, whose own connectivity may be fine.
   */
  unreachable (child: string, relay: string, now: number): Assignment[] {
    const member = this.members.get(child)
    const parent = this.members.get(relay)
    if (member === undefined || parent === undefined || member.parent !== relay) return []
    this.detach(member)
    return this.replace([member], relay, now, new Set([parent]))
  }

  /**
   * A viewer's declared capacity or measured quality changed. Children beyond the new capacity
   * move; a viewer that now declines relaying is fed directly.
   */
  update (id: string, info: MemberInfo, now: number): Assignment[] {
    const member = this.members.get(id)
    if (member === undefined) return []
    const { capacity, quality } = clampInfo(info)
    member.capacity = capacity
    member.quality = quality
    const moved = this.shed(member, member.children.size - this.slotsOf(member), now)
    if (capacity === 0 && member.parent !== null) {
      const from = member.parent
      this.detach(member)
      moved.push({ id, parent: null, from })
    }
    return moved
  }

  /** Moves `count` of the relay's children (the youngest first) to other parents. */
  private shed (relay: Member, count: number, now: number): Assignment[] {
    if (count <= 0) return []
    const moving = [...relay.children].slice(-count).map(child => this.members.get(child)!)
    for (const child of moving) this.detach(child)
    return this.replace(moving, relay.id, now)
  }

  /** Places viewers that have no parent now (each keeping its subtree), reporting every one. */
  private replace (orphans: Member[], from: string, now: number, avoid: ReadonlySet<Member> = new Set()): Assignment[] {
    const out: Assignment[] = []
    // Until placed, an orphan is neither a root nor a parent for the others being placed.
    const pending = new Set(orphans)
    for (const orphan of orphans) {
      const parent = this.placeFor(orphan, now, pending, avoid)
      if (parent !== null) this.attach(orphan, parent)
      pending.delete(orphan)
      out.push({ id: orphan.id, parent: parent?.id ?? null, from })
    }
    return out
  }

  /**
   * The parent for a viewer without one, or null to feed it directly: a relay with a free slot,
   * shallowest first (latency), then best quality, then most free slots, then oldest. Viewers
   * that decline relaying, and the first minRoots relaying viewers, are fed directly.
   */
  private placeFor (member: Member, now: number, pending: ReadonlySet<Member> = new Set(), avoid: ReadonlySet<Member> = new Set()): Member | null {
    if (member.capacity === 0) return null
    const roots = [...this.members.values()].filter(m => m.parent === null && m.capacity > 0 && m !== member && !pending.has(m))
    if (roots.length < this.limits.minRoots) return null
    const height = this.heightOf(member)
    let best: { relay: Member, depth: number } | undefined
    for (const relay of this.members.values()) {
      if (relay === member || pending.has(relay) || avoid.has(relay) || relay.demotedUntil > now || relay.children.size >= this.slotsOf(relay)) continue
      const depth = this.depthOf(relay.id)
      if (depth + 1 + height > this.limits.maxDepth || this.isBelow(relay, member)) continue
      if (best === undefined || better(relay, depth, best.relay, best.depth, this)) best = { relay, depth }
    }
    return best?.relay ?? null
  }

  private slotsOf (member: Member): number {
    return Math.min(member.capacity, this.limits.maxChildren)
  }

  /** True when `node` is `ancestor` or sits in its subtree. */
  private isBelow (node: Member, ancestor: Member): boolean {
    for (let m: Member | undefined = node; m !== undefined; m = m.parent === null ? undefined : this.members.get(m.parent)) {
      if (m === ancestor) return true
    }
    return false
  }

  private heightOf (member: Member): number {
    let height = 0
    for (const child of member.children) height = Math.max(height, 1 + this.heightOf(this.members.get(child)!))
    return height
  }

  freeSlots (member: { id: string }): number {
    const m = this.members.get(member.id)
    return m === undefined ? 0 : this.slotsOf(m) - m.children.size
  }

  private attach (member: Member, parent: Member): void {
    member.parent = parent.id
    parent.children.add(member.id)
  }

  private detach (member: Member): void {
    if (member.parent !== null) this.members.get(member.parent)?.children.delete(member.id)
    member.parent = null
  }
}

function better (a: Member, depthA: number, b: Member, depthB: number, tree: SwarmTree): boolean {
  if (depthA !== depthB) return depthA < depthB
  if (a.quality !== b.quality) return a.quality > b.quality
  const freeA = tree.freeSlots(a)
  const freeB = tree.freeSlots(b)
  if (freeA !== freeB) return freeA > freeB
  return a.order < b.order
}

function clampInfo (info: MemberInfo): MemberInfo {
  const capacity = Number.isSafeInteger(info.capacity) && info.capacity > 0 ? info.capacity : 0
  const quality = Number.isFinite(info.quality) ? Math.min(1, Math.max(0, info.quality)) : 0
  return { capacity, quality }
}
