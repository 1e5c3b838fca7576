// A browser's place in its class's swarm (docs/protocol.md, "Swarms"): it takes frames from the
// parent its super-peer names (verifying each against the super-peer's edge key), forwards them
// unchanged to the children it is told to accept, and goes back to the super-peer, reporting the
// parent, on a bad, missing or late message.

import { multiaddr } from '@multiformats/multiaddr'
import { parseServerMessage } from '../src/observe/protocol.ts'
import { withVarintLength } from '../src/observe/varint.ts'
import {
  MAX_SWARM_MESSAGE_BYTES, ReorderBuffer, ReportReason, SWARM_LINK_PROTOCOL, parseLinkAccepted, parseLinkRequest,
  parseSwarmServerMessage, unseal, verifyClassMessage
} from '../src/swarm/index.ts'
import type { FrameMessage, ResetMessage } from '../src/observe/protocol.ts'
import type { JsonObject } from '../src/json.ts'
import type { SwarmClientMessage } from '../src/swarm/index.ts'
import { StreamMessages, writeMessage } from './stream-messages.ts'
import type { ObserverNode } from './node.ts'
import type { Connection, PublicKey, Stream } from '@libp2p/interface'

export interface SwarmOptions {
  /**
   * Relay to other viewers of the same class. Default: yes, unless the browser says the
   * connection is metered (Save-Data, or a cellular connection); a viewer that declines is fed
   * directly by its super-peer and opens no browser-to-browser connection.
   */
  relay?: boolean
  /** Children this browser offers to feed (1-8; default 3): each is one long-lived RTCPeerConnection. */
  capacity?: number
  /** STUN/TURN servers for browser-to-browser connections (default: none, host candidates only). */
  rtcConfiguration?: RTCConfiguration
  /** A parent that lets the class head run ahead of it this long is reported (default 1000 ms). */
  stallMs?: number
  /** Time to open a link to a new parent before going back to the super-peer (default 10 s). */
  linkTimeoutMs?: number
}

export const DEFAULT_CAPACITY = 3
const DEFAULT_STALL_MS = 1000
const DEFAULT_LINK_TIMEOUT_MS = 10_000
/** Frames a relay keeps to resume a new child from its seq. */
const RELAY_RING = 128
/** Bytes a child may leave unread before it is let go. */
const MAX_CHILD_BACKLOG_BYTES = 1024 * 1024
/** How long a browser waits for its signalling reservation before it joins as a leaf-less viewer. */
const RESERVATION_WAIT_MS = 5000
/** Largest message a parent may send (a sealed frame), and most bytes a link holds unread (lpStream's defaults before). */
const MAX_PARENT_MESSAGE_BYTES = 4 * 1024 * 1024
const MAX_LINK_BUFFER_BYTES = 4 * 1024 * 1024

/** Whether the browser says its connection is metered (Network Information API, where it exists). */
export function meteredConnection (): boolean {
  const connection = (globalThis.navigator as { connection?: { saveData?: boolean, type?: string } } | undefined)?.connection
  return connection?.saveData === true || connection?.type === 'cellular'
}

/** Whether the view relays at all with these options. */
export function relays (options: SwarmOptions | undefined): boolean {
  return options !== undefined && (options.relay ?? !meteredConnection())
}

/** What the swarm needs of the view it serves. */
export interface SwarmHost {
  readonly node: ObserverNode
  readonly docId: string
  /** The super-peer's address (with /p2p/) and its key, which sealed every class message. */
  readonly superPeerAddr: string
  readonly superPeerKey: PublicKey
  /** Sends a swarm message to the super-peer on the observe stream. */
  tell: (message: SwarmClientMessage) => void
  /** Integrates one message, in order (seq order is the swarm's job). */
  integrate: (message: FrameMessage | ResetMessage) => void
  /** Something for the page's developer to know (a report, a failed link). */
  note?: (text: string) => void
}

interface ParentLink { peer: string, stream?: Stream, connection?: Connection, attached: boolean, closed: boolean }

/** Per node: the views whose swarms accept links (one handler serves them all). */
const membersOf = new WeakMap<ObserverNode, Set<SwarmMember>>()

export class SwarmMember {
  private readonly host: SwarmHost
  private readonly options: SwarmOptions
  private readonly reorder = new ReorderBuffer<{ message: FrameMessage, bytes?: Uint8Array }>()
  private classId: string | null = null
  private joined = false
  private parent: ParentLink | undefined
  private allowed = new Set<string>()
  private readonly children = new Map<string, Stream>()
  /** Sealed frame messages this browser integrated, newest last, for its children. */
  private readonly ring: Array<{ seq: number, bytes: Uint8Array }> = []
  private stallTimer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  /** Links opened to parents in this view's life (each an RTCPeerConnection). */
  linksOpened = 0
  /** Parents reported to the super-peer. */
  readonly reports: Array<{ peer: string, reason: string }> = []

  constructor (host: SwarmHost, options: SwarmOptions, startSeq: number | null) {
    this.host = host
    this.options = options
    if (startSeq !== null) this.reorder.rebase(startSeq)
    void registerLinkHandler(host.node).then(members => { if (!this.closed) members.add(this) }, () => {})
  }

  get seq (): number | null { return this.reorder.seq }
  get parentPeer (): string | undefined { return this.parent?.peer }
  get childCount (): number { return this.children.size }

  /**
   * A frame or reset from the super-peer (bytes: its JSON, sealed or not). The first sealed one
   * shows the document relays: the browser then joins its class's swarm.
   */
  fromSuperPeer (message: FrameMessage | ResetMessage, bytes: Uint8Array): void {
    const sealed = unseal(bytes).ok
    if (sealed && !this.joined) this.join()
    if ('reset' in message) {
      this.host.integrate(message)
      this.release(this.reorder.rebase(message.seq))
      return
    }
    this.offer(message, sealed ? bytes : undefined)
  }

  /** Handles a swarm message from the super-peer; false when it is not one. */
  fromSuperPeerControl (value: JsonObject): boolean {
    const parsed = parseSwarmServerMessage(value)
    if (parsed === undefined) return false
    if (!parsed.ok) {
      this.host.note?.(`bad swarm message from the super-peer: ${parsed.error}`)
      return true
    }
    const message = parsed.value
    if ('head' in message) this.watchHead(message.head)
    else this.assign(message.swarm.class, message.swarm.parent, message.swarm.children)
    return true
  }

  /** The view state changes: this browser stops relaying its class at once (the super-peer moves it). */
  leaveClass (): void {
    this.dropParent()
    for (const child of this.children.values()) child.abort(new Error('class changed'))
    this.children.clear()
    this.allowed.clear()
    this.ring.length = 0
  }

  close (): void {
    this.closed = true
    this.leaveClass()
    clearTimeout(this.stallTimer)
    membersOf.get(this.host.node)?.delete(this)
  }

  private join (): void {
    this.joined = true
    const capacity = Math.max(1, Math.min(8, this.options.capacity ?? DEFAULT_CAPACITY))
    // children can only reach it through a reservation on the super-peer's signalling relay
    void waitForReservation(this.host.node, this.host.superPeerAddr, RESERVATION_WAIT_MS).then(reserved => {
      if (!this.closed) this.host.tell({ swarm: { capacity: reserved ? capacity : 0 } })
    })
  }

  private assign (classId: string | null, parent: string | null, children: string[]): void {
    if (classId !== this.classId) {
      // another class (or none): nothing of the old one is relayed any more
      this.leaveClass()
      this.classId = classId
    }
    this.allowed = new Set(children)
    for (const [peer, stream] of this.children) {
      if (!this.allowed.has(peer)) {
        stream.abort(new Error('no longer a child'))
        this.children.delete(peer)
      }
    }
    if (classId === null) return
    if (parent === (this.parent?.peer ?? null)) return
    const wasRelayed = this.parent?.attached === true
    this.dropParent()
    // fed again at once, by seq, from the super-peer; a new parent takes over once it has caught up
    if (wasRelayed) this.goDirect()
    if (parent !== null) void this.link(parent)
  }

  /** Feed me yourself after my seq; `report` names what the parent did. */
  private goDirect (reason?: ReportReason, peer?: string): void {
    const seq = this.reorder.seq ?? 0
    if (reason !== undefined && peer !== undefined) {
      this.reports.push({ peer, reason })
      this.host.note?.(`parent ${peer}: ${reason}; back to the super-peer`)
      this.host.tell({ direct: seq, report: { peer, reason } })
    } else {
      this.host.tell({ direct: seq })
    }
  }

  private fail (link: ParentLink, reason: ReportReason): void {
    if (link !== this.parent || link.closed) return
    this.dropParent()
    this.goDirect(reason, link.peer)
  }

  private dropParent (): void {
    const link = this.parent
    if (link === undefined) return
    this.parent = undefined
    link.closed = true
    clearTimeout(this.stallTimer)
    this.stallTimer = undefined
    link.stream?.abort(new Error('parent dropped'))
    // one RTCPeerConnection per parent: close it unless a child link or another view uses it
    if (link.connection !== undefined && link.connection.streams.length === 0) void link.connection.close().catch(() => {})
  }

  private async link (peer: string): Promise<void> {
    const link: ParentLink = { peer, attached: false, closed: false }
    this.parent = link
    const classId = this.classId!
    // the link's time limit covers the handshake only; afterwards frames come as they come
    const handshake = new AbortController()
    const signal = AbortSignal.timeout(this.options.linkTimeoutMs ?? DEFAULT_LINK_TIMEOUT_MS)
    const timedOut = (): void => { handshake.abort(signal.reason) }
    signal.addEventListener('abort', timedOut, { once: true })
    let messages: StreamMessages | undefined
    try {
      const connection = await this.host.node.dial(multiaddr(`${this.host.superPeerAddr}/p2p-circuit/webrtc/p2p/${peer}`), { signal })
      link.connection = connection
      this.linksOpened++
      const stream = await connection.newStream(SWARM_LINK_PROTOCOL, { signal })
      link.stream = stream
      if (link.closed) { stream.abort(new Error('parent dropped')); return }
      // one listener for the link's life (browser/stream-messages.ts): no promise or abort listener per frame
      messages = new StreamMessages(stream, { maxMessageBytes: MAX_PARENT_MESSAGE_BYTES, maxBufferBytes: MAX_LINK_BUFFER_BYTES, signal: handshake.signal })
      await writeMessage(stream, encoder.encode(JSON.stringify({ doc: this.host.docId, class: classId, after: this.reorder.seq ?? 0 })), { signal })
      const accepted = parseLinkAccepted(parseJson(await messages.next()))
      signal.removeEventListener('abort', timedOut)
      if (!accepted.ok) {
        // not the parent's fault (it does not expect us yet, or lacks our frames): no report
        this.host.note?.(`parent ${peer} refused the link`)
        if (link === this.parent) {
          this.dropParent()
          this.goDirect()
        }
        return
      }
      this.maybeAttach(link, accepted.value.accepted)
      // verified one after another: a relay's messages count only in the order it sent them
      while (!link.closed) {
        const bytes = await messages.next()
        const verified = await verifyClassMessage(this.host.superPeerKey, this.host.docId, classId, bytes)
        if (link.closed) return
        const parsed = verified.ok ? parseServerMessage(verified.payload) : undefined
        if (parsed === undefined || !parsed.ok || !('seq' in parsed.value) || 'reset' in parsed.value) {
          this.fail(link, ReportReason.badSignature)
          return
        }
        const message = parsed.value as FrameMessage
        this.offer(message, bytes)
        this.maybeAttach(link, message.seq)
      }
    } catch (err: any) {
      this.host.note?.(`link to ${peer}: ${err?.message ?? err}`)
      this.fail(link, link.stream === undefined ? ReportReason.unreachable : ReportReason.gone)
    } finally {
      signal.removeEventListener('abort', timedOut)
      messages?.close()
    }
  }

  /** Once the parent has caught up with us, the super-peer can stop sending us frames. */
  private maybeAttach (link: ParentLink, parentSeq: number): void {
    if (link.attached || link.closed || parentSeq < (this.reorder.seq ?? 0)) return
    link.attached = true
    this.host.tell({ attached: link.peer })
  }

  private offer (message: FrameMessage, bytes: Uint8Array | undefined): void {
    const offered = this.reorder.offer(message.seq, { message, bytes })
    if (offered.kind === 'ready') this.release(offered.items)
    else if (offered.kind === 'overflow' && this.parent !== undefined) this.fail(this.parent, ReportReason.gap)
  }

  private release (items: Array<{ seq: number, item: { message: FrameMessage, bytes?: Uint8Array } }>): void {
    for (const { item } of items) {
      this.host.integrate(item.message)
      if (item.bytes !== undefined) this.forward(item.message.seq, item.bytes)
    }
    if (this.stallTimer !== undefined && this.watchedHead !== undefined && (this.reorder.seq ?? 0) >= this.watchedHead) {
      clearTimeout(this.stallTimer)
      this.stallTimer = undefined
    }
  }

  private watchedHead: number | undefined

  /** The super-peer's class head: a parent that does not bring us there within stallMs is reported. */
  private watchHead (head: number): void {
    this.watchedHead = Math.max(head, this.watchedHead ?? 0)
    const link = this.parent
    if (link === undefined || !link.attached || (this.reorder.seq ?? 0) >= head || this.stallTimer !== undefined) return
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined
      if ((this.reorder.seq ?? 0) < (this.watchedHead ?? 0)) this.fail(link, ReportReason.stall)
    }, this.options.stallMs ?? DEFAULT_STALL_MS)
  }

  private forward (seq: number, bytes: Uint8Array): void {
    this.ring.push({ seq, bytes })
    if (this.ring.length > RELAY_RING) this.ring.shift()
    for (const [peer, stream] of this.children) {
      try {
        // a child that reads too slowly is let go (it goes back to the super-peer)
        if (stream.writeBufferLength > MAX_CHILD_BACKLOG_BYTES) throw new Error('child too slow')
        sendPrefixed(stream, bytes)
      } catch (err: any) {
        stream.abort(err)
        this.children.delete(peer)
      }
    }
  }

  /** A child asks for the class stream after `after`. */
  async serveChild (peer: string, stream: Stream, request: { class: string, after: number }): Promise<boolean> {
    if (this.classId !== request.class || !this.allowed.has(peer)) return false
    const seq = this.reorder.seq ?? 0
    const from = this.ring.findIndex(entry => entry.seq > request.after)
    const oldest = this.ring[0]?.seq
    // frames after `after` that we no longer hold: the child goes back to the super-peer
    if (request.after < seq && (oldest === undefined || oldest > request.after + 1)) return false
    this.children.get(peer)?.abort(new Error('replaced by a new link'))
    await writeMessage(stream, encoder.encode(JSON.stringify({ accepted: seq })))
    for (const entry of from < 0 ? [] : this.ring.slice(from)) sendPrefixed(stream, entry.bytes)
    this.children.set(peer, stream)
    stream.addEventListener('close', () => { if (this.children.get(peer) === stream) this.children.delete(peer) })
    return true
  }

  matches (docId: string): boolean {
    return docId === this.host.docId
  }
}

const encoder = new TextEncoder()

function parseJson (bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    return undefined
  }
}

/** Queues one varint-length-prefixed message without waiting for a drain (a slow child is let go by its backlog instead). */
function sendPrefixed (stream: Stream, bytes: Uint8Array): void {
  stream.send(withVarintLength(bytes))
}

async function registerLinkHandler (node: ObserverNode): Promise<Set<SwarmMember>> {
  let members = membersOf.get(node)
  if (members !== undefined) return members
  members = new Set()
  membersOf.set(node, members)
  const all = members
  await node.handle(SWARM_LINK_PROTOCOL, async (stream, connection) => {
    // left listening for the stream's life, as lpStream's reader was: a child that keeps sending
    // past the buffer limit has its stream aborted
    const messages = new StreamMessages(stream, { maxMessageBytes: MAX_SWARM_MESSAGE_BYTES, maxBufferBytes: MAX_LINK_BUFFER_BYTES, signal: AbortSignal.timeout(DEFAULT_LINK_TIMEOUT_MS) })
    try {
      const request = parseLinkRequest(parseJson(await messages.next()))
      const member = request.ok ? [...all].find(m => m.matches(request.value.doc)) : undefined
      const served = request.ok && member !== undefined && await member.serveChild(connection.remotePeer.toString(), stream, request.value)
      if (!served) {
        await writeMessage(stream, encoder.encode(JSON.stringify({ error: 'not expecting this child', code: 'refused' })))
        await stream.close()
      }
    } catch (err: any) {
      stream.abort(err)
    }
  }, { maxInboundStreams: 8 })
  return members
}

/** Resolves true once the node listens through this super-peer's signalling relay. */
async function waitForReservation (node: ObserverNode, superPeerAddr: string, timeoutMs: number): Promise<boolean> {
  const relayId = superPeerAddr.slice(superPeerAddr.lastIndexOf('/p2p/') + 5)
  const reserved = (): boolean => node.getMultiaddrs().some(ma => ma.toString().includes(`/p2p/${relayId}/p2p-circuit`))
  if (reserved()) return true
  return await new Promise<boolean>(resolve => {
    const done = (value: boolean): void => {
      clearTimeout(timer)
      node.removeEventListener('self:peer:update', check)
      resolve(value)
    }
    const check = (): void => { if (reserved()) done(true) }
    const timer = setTimeout(() => { done(reserved()) }, timeoutMs)
    node.addEventListener('self:peer:update', check)
  })
}
