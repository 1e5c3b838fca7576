/**
 * Swarm messages (docs/protocol.md, "Swarms"). On the observe stream they are additive: a
 * super-peer sends them only to a browser that joined its class's swarm, and a browser sends
 * them only after the super-peer showed, by sealing its class messages, that it relays.
 *
 * Between browsers, the swarm link protocol: the child sends one LinkRequest, the parent answers
 * with LinkAccepted (or an ErrorMessage) and then forwards sealed frame messages unchanged.
 */
import { isJsonObject } from '../json.ts'
import type { JsonObject } from '../json.ts'

export const SWARM_LINK_PROTOCOL = '/deltacast/swarm/1.0.0'

/** Most children a browser offers to feed (each an RTCPeerConnection kept for the session). */
export const MAX_CAPACITY = 8
/** A link request or assignment is small; anything bigger is garbage. */
export const MAX_SWARM_MESSAGE_BYTES = 4 * 1024
/** Peer ids in one assignment's children list. */
export const MAX_CHILDREN_LISTED = MAX_CAPACITY

/** Why a browser left its parent for the super-peer. */
export const ReportReason = {
  /** A message from the parent did not verify, or was not a frame of this class. */
  badSignature: 'bad-signature',
  /** The parent skipped a seq. */
  gap: 'gap',
  /** The super-peer's head moved on and the parent did not follow within the stall limit. */
  stall: 'stall',
  /** The link to the parent could not be opened, or was refused. */
  unreachable: 'unreachable',
  /** The link to the parent closed. */
  gone: 'gone'
} as const
export type ReportReason = typeof ReportReason[keyof typeof ReportReason]
const REASONS: ReadonlySet<string> = new Set(Object.values(ReportReason))

/** Super-peer to browser: its class, its parent (null: fed directly) and the children it may accept. */
export interface SwarmAssignment { swarm: { class: string, parent: string | null, children: string[] } }
/** Super-peer to a browser fed by a relay: the class's latest seq, so a stalled parent shows. */
export interface HeadNotice { head: number }

/** Browser to super-peer: join the class swarm, offering to feed `capacity` children (0 declines). */
export interface SwarmJoin { swarm: { capacity: number } }
/** Browser to super-peer: frames now come from this parent; stop sending them directly. */
export interface Attached { attached: string }
/** Browser to super-peer: send frames after `direct` yourself; `report` says what the parent did. */
export interface GoDirect { direct: number, report?: { peer: string, reason: ReportReason } }
export type SwarmClientMessage = SwarmJoin | Attached | GoDirect

/** Child to parent, first message on a swarm link. */
export interface LinkRequest { doc: string, class: string, after: number }
/** Parent to child: accepted; the parent's own latest seq. */
export interface LinkAccepted { accepted: number }

export type Parsed<T> = { ok: true, value: T } | { ok: false, error: string }

const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{40,60}$/
const CLASS_ID = /^[A-Za-z0-9._-]{1,64}$/

function isSeq (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

export function isPeerIdText (value: unknown): value is string {
  return typeof value === 'string' && PEER_ID.test(value)
}

export function isClassId (value: unknown): value is string {
  return typeof value === 'string' && CLASS_ID.test(value)
}

/** A parsed client message that is a swarm message, or undefined when it is not one (view, send). */
export function parseSwarmClientMessage (value: JsonObject): Parsed<SwarmClientMessage> | undefined {
  const keys = Object.keys(value)
  if (keys.length === 1 && keys[0] === 'swarm') {
    const swarm = value.swarm
    if (!isJsonObject(swarm) || Object.keys(swarm).length !== 1 || typeof swarm.capacity !== 'number' ||
      !Number.isSafeInteger(swarm.capacity) || swarm.capacity < 0 || swarm.capacity > MAX_CAPACITY) {
      return { ok: false, error: `"swarm" must be {"capacity": 0..${MAX_CAPACITY}}` }
    }
    return { ok: true, value: { swarm: { capacity: swarm.capacity } } }
  }
  if (keys.length === 1 && keys[0] === 'attached') {
    return isPeerIdText(value.attached) ? { ok: true, value: { attached: value.attached } } : { ok: false, error: '"attached" must be a peer id' }
  }
  if (keys.includes('direct') && keys.every(k => k === 'direct' || k === 'report')) {
    if (!isSeq(value.direct)) return { ok: false, error: '"direct" must be a seq' }
    if (value.report === undefined) return { ok: true, value: { direct: value.direct } }
    const report = value.report
    if (!isJsonObject(report) || !isPeerIdText(report.peer) || typeof report.reason !== 'string' || !REASONS.has(report.reason) || Object.keys(report).length !== 2) {
      return { ok: false, error: `"report" must be {"peer": peer id, "reason": one of ${[...REASONS].join(', ')}}` }
    }
    return { ok: true, value: { direct: value.direct, report: { peer: report.peer, reason: report.reason as ReportReason } } }
  }
  return undefined
}

/** A parsed server message that is a swarm message, or undefined when it is not one. */
export function parseSwarmServerMessage (value: JsonObject): Parsed<SwarmAssignment | HeadNotice> | undefined {
  if (isJsonObject(value.swarm)) {
    const swarm = value.swarm
    if (!isClassId(swarm.class)) return { ok: false, error: '"swarm.class" must be a class id' }
    if (swarm.parent !== null && !isPeerIdText(swarm.parent)) return { ok: false, error: '"swarm.parent" must be null or a peer id' }
    const children = swarm.children
    if (!Array.isArray(children) || children.length > MAX_CHILDREN_LISTED || !children.every(isPeerIdText)) {
      return { ok: false, error: `"swarm.children" must list at most ${MAX_CHILDREN_LISTED} peer ids` }
    }
    return { ok: true, value: { swarm: { class: swarm.class, parent: swarm.parent, children: children as string[] } } }
  }
  if (Object.keys(value).length === 1 && value.head !== undefined) {
    return isSeq(value.head) ? { ok: true, value: { head: value.head } } : { ok: false, error: '"head" must be a seq' }
  }
  return undefined
}

export function parseLinkRequest (value: unknown): Parsed<LinkRequest> {
  if (!isJsonObject(value) || Object.keys(value).length !== 3) return { ok: false, error: 'expected {"doc", "class", "after"}' }
  if (typeof value.doc !== 'string' || value.doc.length === 0 || value.doc.length > 256) return { ok: false, error: '"doc" must be a doc id' }
  if (!isClassId(value.class)) return { ok: false, error: '"class" must be a class id' }
  if (!isSeq(value.after)) return { ok: false, error: '"after" must be a seq' }
  return { ok: true, value: { doc: value.doc, class: value.class, after: value.after } }
}

export function parseLinkAccepted (value: unknown): Parsed<LinkAccepted> {
  if (isJsonObject(value) && Object.keys(value).length === 1 && isSeq(value.accepted)) return { ok: true, value: { accepted: value.accepted } }
  return { ok: false, error: 'expected {"accepted": seq}' }
}
