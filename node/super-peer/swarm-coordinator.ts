// The swarms of one document on a super-peer: per privacy class, which viewers it feeds itself and
// which parent feeds each other one (docs/protocol.md, "Swarms"). The plan is src/swarm/tree.ts;
// this turns its changes into messages and keeps, per viewer, the feed actually in use.

import { randomBytes } from '@libp2p/crypto'
import { encodeMessage, frameJsonBytes } from '../../src/observe/protocol.ts'
import { ReportReason, signClassMessage, SwarmTree } from '../../src/swarm/index.ts'
import type { FrameMessage, ResetMessage } from '../../src/observe/protocol.ts'
import type { Assignment, HeadNotice, SwarmAssignment, SwarmClientMessage, SwarmLimits } from '../../src/swarm/index.ts'
import type { PrivateKey } from '@libp2p/interface'

/** How often a viewer fed by a relay is told its class's head (it shows a stalled parent). */
export const HEAD_NOTICE_INTERVAL_MS = 500

/** What the coordinator needs of an observer session. */
export interface SwarmSession {
  /** The browser's peer id: what its children dial and its reports name. */
  readonly peer: string | undefined
  deliver (seq: number, bytes: Uint8Array): void
}

export interface SwarmCounters { inc (name: string, by?: number): void }

export interface SwarmOptions {
  /** The edge node's key: browsers verify class messages against the peer id they dialed. */
  key: PrivateKey
  counters?: SwarmCounters
  limits?: Partial<SwarmLimits>
  /** Whether the edge's signalling relay holds a reservation for this peer (only then can children reach it). */
  reachable?: (peer: string) => boolean
  now?: () => number
}

/** Per class: bytes of class messages the super-peer sent itself, and bytes relays carried for it. */
export interface ClassOffload { class: string, viewers: number, direct: number, relayed: number, bytesDirect: number, bytesRelayed: number }

export interface SwarmSeat { peer: string, class: string | null, capacity: number, parent: string | null, feed: string | null }

interface Member {
  readonly session: SwarmSession
  readonly peer: string
  classKey: string
  /** Declared by the browser's swarm join; undefined until it joins its class's swarm. */
  capacity: number | undefined
  /** The parent whose frames it receives now (it said "attached"); null: fed by us. */
  feed: string | null
  /** Class head last told to it (viewers fed by a relay only). */
  toldHead: number
}

interface ClassState {
  readonly id: string
  readonly tree: SwarmTree
  head: number
  bytesDirect: number
  bytesRelayed: number
}

const encoder = new TextEncoder()

export class DocSwarm {
  private readonly docId: string
  private readonly options: SwarmOptions
  private readonly now: () => number
  /** Class ids are never reused, even across rebuilds and restarts: <random>.<n>. */
  private readonly nonce = [...randomBytes(4)].map(b => b.toString(16).padStart(2, '0')).join('')
  private next = 0
  private relaying = false
  private readonly classes = new Map<string, ClassState>()
  private readonly members = new Map<SwarmSession, Member>()
  private readonly byPeer = new Map<string, Member>()
  private readonly resume: (session: SwarmSession, after: number) => void
  private headTimer: ReturnType<typeof setInterval> | undefined

  /** `resume` sends a session the class messages after a seq (or its view), then it is fed directly. */
  constructor (docId: string, options: SwarmOptions, resume: (session: SwarmSession, after: number) => void) {
    this.docId = docId
    this.options = options
    this.now = options.now ?? Date.now
    this.resume = resume
  }

  get relays (): boolean { return this.relaying }

  /**
   * The document's policy was read (again): whether its classes relay. Classes are formed anew
   * after this, with new ids, so a message of an old class never verifies as one of a new class.
   */
  policyRead (relaying: boolean): void {
    this.relaying = relaying
    this.classes.clear()
    if (relaying && this.headTimer === undefined) {
      this.headTimer = setInterval(() => { this.tellHeads() }, HEAD_NOTICE_INTERVAL_MS)
      this.headTimer.unref()
    } else if (!relaying) {
      clearInterval(this.headTimer)
      this.headTimer = undefined
    }
  }

  /**
   * How a class's messages are encoded: sealed with the edge key when the document relays (so a
   * browser can check them however they reach it), else plain.
   */
  encoderFor (classKey: string): (message: FrameMessage | ResetMessage) => Uint8Array {
    if (!this.relaying) return encodeMessage
    const id = this.classOf(classKey).id
    return message => {
      const sealed = signClassMessage(this.options.key, this.docId, id, encoder.encode(JSON.stringify(message)))
      if (sealed instanceof Promise) throw new Error('the edge key must sign synchronously (Node crypto)')
      return frameJsonBytes(sealed)
    }
  }

  /** A viewer joined class `classKey` (fed directly; it takes part once it sends a swarm join). */
  joined (session: SwarmSession, classKey: string): void {
    if (session.peer === undefined) return
    const member: Member = { session, peer: session.peer, classKey, capacity: undefined, feed: null, toldHead: 0 }
    this.members.set(session, member)
    // One swarm seat per browser and document: a second stream from the same peer is fed directly.
    if (!this.byPeer.has(session.peer)) this.byPeer.set(session.peer, member)
  }

  left (session: SwarmSession): void {
    const member = this.members.get(session)
    if (member === undefined) return
    this.members.delete(session)
    if (this.byPeer.get(member.peer) === member) this.byPeer.delete(member.peer)
    this.leaveTree(member)
  }

  /**
   * The viewer's view state moved it to another class. It stops relaying its old class at once
   * (its children are placed again) and joins the new class's swarm; the channel sends it the
   * new view directly.
   */
  moved (session: SwarmSession, classKey: string): void {
    const member = this.members.get(session)
    if (member === undefined) return
    this.leaveTree(member)
    member.classKey = classKey
    member.feed = null
    if (member.capacity !== undefined) this.place(member)
  }

  /**
   * Classes were formed again (policy change, snapshot): every viewer is fed directly and sent
   * its new class (or none: the document no longer relays), then placed again.
   */
  rebuilt (classKeyOf: (session: SwarmSession) => string | undefined): void {
    for (const member of this.members.values()) {
      member.classKey = classKeyOf(member.session) ?? member.classKey
      member.feed = null
      if (member.capacity === undefined || this.byPeer.get(member.peer) !== member) continue
      if (!this.relaying) {
        member.capacity = undefined
        this.send(member, { swarm: { class: null, parent: null, children: [] } })
      }
    }
    if (!this.relaying) return
    for (const member of this.members.values()) {
      if (member.capacity !== undefined && this.byPeer.get(member.peer) === member) this.place(member)
    }
  }

  /** Whether the channel sends this viewer its class's frames itself (it is not attached to a parent). */
  feedsDirectly (session: SwarmSession): boolean {
    return (this.members.get(session)?.feed ?? null) === null
  }

  /** One class frame was encoded: counts who got it from us and who from a relay. */
  sent (classKey: string, seq: number, bytes: Uint8Array, members: Iterable<SwarmSession>): void {
    if (!this.relaying) return
    const cls = this.classes.get(classKey)
    if (cls === undefined) return
    cls.head = seq
    let direct = 0
    let relayed = 0
    for (const session of members) {
      if (this.feedsDirectly(session)) direct++
      else relayed++
    }
    cls.bytesDirect += direct * bytes.byteLength
    cls.bytesRelayed += relayed * bytes.byteLength
    this.options.counters?.inc('swarm_bytes_direct', direct * bytes.byteLength)
    this.options.counters?.inc('swarm_bytes_relayed', relayed * bytes.byteLength)
  }

  /**
   * A swarm message from a browser. One that comes too late (the policy stopped relaying since
   * the browser saw a sealed message) or from a second stream of the same browser is ignored.
   */
  handle (session: SwarmSession, message: SwarmClientMessage): undefined {
    const member = this.members.get(session)
    if (member === undefined || !this.relaying || this.byPeer.get(member.peer) !== member) return undefined
    if ('swarm' in message) {
      const reachable = this.options.reachable?.(member.peer) ?? true
      const capacity = reachable ? message.swarm.capacity : 0
      const first = member.capacity === undefined
      member.capacity = capacity
      if (first) this.place(member)
      else this.apply(this.classOf(member.classKey).tree.update(member.peer, { capacity, quality: 1 }, this.now()), member.classKey)
      return undefined
    }
    if ('attached' in message) {
      const tree = this.classOf(member.classKey).tree
      // a late "attached" for a parent it no longer has is stale: keep feeding it
      if (tree.parentOf(member.peer) === message.attached) member.feed = message.attached
      return undefined
    }
    const cls = this.classOf(member.classKey)
    const report = message.report
    if (report !== undefined && cls.tree.parentOf(member.peer) === report.peer) {
      if (report.reason === ReportReason.unreachable) {
        // a link that never opened proves nothing against the parent: only the child moves
        this.apply(cls.tree.unreachable(member.peer, report.peer, this.now()), member.classKey)
      } else {
        this.options.counters?.inc('swarm_relays_reported')
        this.apply(cls.tree.report(member.peer, report.peer, this.now()), member.classKey)
      }
    }
    if (member.feed !== null) {
      member.feed = null
      this.resume(session, message.direct)
    }
    return undefined
  }

  /** Per class: who is fed how, and the bytes each way (for /metrics and the topology page). */
  offload (): ClassOffload[] {
    return [...this.classes.entries()].map(([key, cls]) => {
      const viewers = [...this.members.values()].filter(m => m.classKey === key)
      const relayed = viewers.filter(m => m.feed !== null).length
      return { class: cls.id, viewers: viewers.length, direct: viewers.length - relayed, relayed, bytesDirect: cls.bytesDirect, bytesRelayed: cls.bytesRelayed }
    })
  }

  /** Each swarm seat: the class, the planned parent and the feed in use (null: this super-peer). */
  seats (): SwarmSeat[] {
    return [...this.byPeer.values()].filter(m => m.capacity !== undefined).map(m => ({
      peer: m.peer, class: this.classes.get(m.classKey)?.id ?? null, capacity: m.capacity ?? 0, parent: this.parentOf(m.peer) ?? null, feed: m.feed
    }))
  }

  /** The parent planned for a viewer (null: fed by us), for tests and the topology page. */
  parentOf (peer: string): string | null | undefined {
    const member = this.byPeer.get(peer)
    return member === undefined ? undefined : this.classes.get(member.classKey)?.tree.parentOf(peer)
  }

  close (): void {
    clearInterval(this.headTimer)
    this.headTimer = undefined
  }

  private classOf (classKey: string): ClassState {
    let cls = this.classes.get(classKey)
    if (cls === undefined) {
      cls = { id: `${this.nonce}.${this.next++}`, tree: new SwarmTree(this.options.limits), head: 0, bytesDirect: 0, bytesRelayed: 0 }
      this.classes.set(classKey, cls)
    }
    return cls
  }

  private place (member: Member): void {
    const tree = this.classOf(member.classKey).tree
    const moves = tree.join(member.peer, { capacity: member.capacity ?? 0, quality: 1 }, this.now())
    // it is told its class (and that it is fed directly) even when it gets no parent
    if (!moves.some(move => move.id === member.peer)) this.tell(member)
    this.apply(moves, member.classKey)
  }

  private leaveTree (member: Member): void {
    const cls = this.classes.get(member.classKey)
    if (cls === undefined || !cls.tree.has(member.peer)) return
    const parent = cls.tree.parentOf(member.peer)
    this.apply(cls.tree.leave(member.peer, this.now()), member.classKey)
    // its parent lost a child
    const parentMember = parent === null || parent === undefined ? undefined : this.byPeer.get(parent)
    if (parentMember !== undefined) this.tell(parentMember)
  }

  /** Tells each viewer that moved its new parent, and each parent that gained or lost one its children. */
  private apply (moves: readonly Assignment[], classKey: string): void {
    if (moves.length === 0) return
    const tree = this.classOf(classKey).tree
    this.options.counters?.inc('swarm_reassignments', moves.length)
    // parents first, so that a child's link request finds its parent expecting it
    const order = [...moves.map(m => m.parent), ...moves.map(m => m.from), ...moves.map(m => m.id)]
    const told = new Set<string>()
    for (const peer of order) {
      if (peer === null || told.has(peer) || !tree.has(peer)) continue
      told.add(peer)
      const member = this.byPeer.get(peer)
      if (member !== undefined) this.tell(member)
    }
  }

  private tell (member: Member): void {
    const cls = this.classOf(member.classKey)
    this.send(member, { swarm: { class: cls.id, parent: cls.tree.parentOf(member.peer) ?? null, children: [...cls.tree.childrenOf(member.peer)] } })
  }

  private send (member: Member, message: SwarmAssignment | HeadNotice | { swarm: { class: null, parent: null, children: [] } }): void {
    member.session.deliver(0, frameJsonBytes(encoder.encode(JSON.stringify(message))))
  }

  private tellHeads (): void {
    for (const member of this.members.values()) {
      if (member.feed === null) continue
      const head = this.classes.get(member.classKey)?.head ?? 0
      if (head <= member.toldHead) continue
      member.toldHead = head
      this.send(member, { head })
    }
  }
}
