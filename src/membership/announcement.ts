/**
 * Membership announcements, format v1 (docs/protocol.md, "Membership"): a super-peer says who it
 * is, where, how much it takes and carries, until when; signed with its own libp2p (ed25519) key,
 * which its peer id embeds, so any node can check it without having met the sender. In fleet
 * mode the fleet certificate inside names the region. All integers are unsigned big-endian.
 */
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { asciiBytes, concatBytes } from '../log/bytes.ts'
import { settleSync, signingInput } from '../identity/envelope.ts'
import { MAX_FLEET_CERT_CHARS, PEER_ID_PATTERN, REGION_PATTERN } from '../identity/fleet-cert.ts'
import { UnsupportedKeyTypeError } from '../log/errors.ts'
import { MAX_WEIGHT } from '../elect/rank.ts'
import { Digest, MAX_DIGEST_BYTES, MAX_DIGEST_PROBES } from './digest.ts'

export const ANNOUNCEMENT_VERSION = 1
export const ANNOUNCEMENT_CONTEXT = 'deltacast/member/1'
/** Flag bit 0: the member is leaving; receivers drop it at once instead of waiting for its lease. */
export const FLAG_LEAVING = 0x01
export const KNOWN_FLAGS = FLAG_LEAVING
export const ANNOUNCEMENT_SIGNATURE_BYTES = 64
export const MAX_PEER_ID_CHARS = 128
export const MAX_REGION_CHARS = 64
export const MAX_CAPACITY = 0xffffffff
export const MAX_SEQ = Number.MAX_SAFE_INTEGER
/** Every field at its largest: 2 + 129 + 65 + 16 + 10 + 2 + 4096 + 2 × (5 + 65536) + 64. */
export const MAX_ANNOUNCEMENT_BYTES = 135_466

export interface AnnouncementFields {
  region: string
  /** Strictly increasing per member; wall-clock ms is a good choice (it survives restarts). */
  seq: number
  /** End of the lease, ms since the Unix epoch. */
  expires: number
  weight: number
  capacity: number
  load: number
  /** The member's fleet certificate ('' in dev mode). */
  cert: string
  /** Doc ids it carries for viewers of its own. */
  docs: Digest
  /** Scopes it is proxy of. */
  roles: Digest
  leaving?: boolean
}

export interface Announcement extends Required<AnnouncementFields> {
  peerId: string
  /** Exact wire bytes. */
  bytes: Uint8Array
  signature: Uint8Array
}

export type AnnouncementDecode = { ok: true, value: Announcement } | { ok: false, code: 'oversized' | 'malformed', error: string }

/** Signs an announcement with the member's own key (which fixes its peer id). Sync in Node. */
export function signAnnouncementSync (privateKey: PrivateKey, fields: AnnouncementFields): Uint8Array {
  if (privateKey.type !== 'Ed25519') throw new UnsupportedKeyTypeError(`announcements are signed with Ed25519, not ${privateKey.type}`)
  const body = encodeBody(peerIdFromPrivateKey(privateKey).toString(), fields)
  return concatBytes([body, settleSync(privateKey.sign(signingInput(ANNOUNCEMENT_CONTEXT, body)))])
}

/** Encodes the signed part. Throws RangeError on out-of-range fields (a caller bug). */
export function encodeBody (peerId: string, f: AnnouncementFields): Uint8Array {
  const problem = fieldProblem(peerId, f)
  if (problem !== undefined) throw new RangeError(`cannot encode announcement: ${problem}`)
  const w = new Writer()
  w.u8(ANNOUNCEMENT_VERSION)
  w.u8(f.leaving === true ? FLAG_LEAVING : 0)
  w.u8(peerId.length); w.bytes(asciiBytes(peerId))
  w.u8(f.region.length); w.bytes(asciiBytes(f.region))
  w.u64(f.seq); w.u64(f.expires)
  w.u16(f.weight); w.u32(f.capacity); w.u32(f.load)
  w.u16(f.cert.length); w.bytes(asciiBytes(f.cert))
  for (const digest of [f.docs, f.roles]) { w.u8(digest.probes); w.u32(digest.bits.length); w.bytes(digest.bits) }
  return w.finish()
}

/** Strict decoding: every field in range, nothing left over. Checks no signature. */
export function decodeAnnouncement (bytes: Uint8Array): AnnouncementDecode {
  if (bytes.length > MAX_ANNOUNCEMENT_BYTES) return { ok: false, code: 'oversized', error: `announcement is ${bytes.length} bytes, more than ${MAX_ANNOUNCEMENT_BYTES}` }
  const r = new Reader(bytes)
  try {
    const version = r.u8()
    if (version !== ANNOUNCEMENT_VERSION) return malformed(`unsupported version ${version}`)
    const flags = r.u8()
    if ((flags & ~KNOWN_FLAGS) !== 0) return malformed(`reserved flag bits set (0x${flags.toString(16)})`)
    const peerId = r.ascii(r.u8())
    const region = r.ascii(r.u8())
    const seq = r.u64()
    const expires = r.u64()
    const weight = r.u16()
    const capacity = r.u32()
    const load = r.u32()
    const cert = r.ascii(r.u16())
    const docs = r.digest('docs')
    const roles = r.digest('roles')
    const signature = r.take(ANNOUNCEMENT_SIGNATURE_BYTES)
    if (r.remaining() !== 0) return malformed(`${r.remaining()} bytes after the signature`)
    const fields: AnnouncementFields = { region, seq, expires, weight, capacity, load, cert, docs, roles, leaving: (flags & FLAG_LEAVING) !== 0 }
    const problem = fieldProblem(peerId, fields) ?? peerKeyProblem(peerId)
    if (problem !== undefined) return malformed(problem)
    return { ok: true, value: { peerId, ...fields, leaving: fields.leaving === true, bytes, signature } }
  } catch (err) {
    if (err instanceof DecodeProblem) return malformed(err.message)
    throw err
  }
}

/** True if the signature verifies under the key in the peer id. Throws SyncCryptoUnavailableError where verifying is async. */
export function verifyAnnouncementSync (a: Announcement): boolean {
  const key = peerIdFromString(a.peerId).publicKey!
  const body = a.bytes.subarray(0, a.bytes.length - ANNOUNCEMENT_SIGNATURE_BYTES)
  try {
    return settleSync(key.verify(signingInput(ANNOUNCEMENT_CONTEXT, body), a.signature))
  } catch (err) {
    if ((err as Error).name === 'SyncCryptoUnavailableError') throw err
    return false
  }
}

function fieldProblem (peerId: string, f: AnnouncementFields): string | undefined {
  if (!PEER_ID_PATTERN.test(peerId)) return 'peer id is not 1-128 alphanumeric characters'
  if (!REGION_PATTERN.test(f.region)) return `region must match ${String(REGION_PATTERN)}`
  if (!Number.isSafeInteger(f.seq) || f.seq < 1) return 'seq must be 1 .. 2^53-1'
  if (!Number.isSafeInteger(f.expires) || f.expires < 0) return 'expires must be 0 .. 2^53-1 ms'
  if (!Number.isInteger(f.weight) || f.weight < 1 || f.weight > MAX_WEIGHT) return `weight must be 1 .. ${MAX_WEIGHT}`
  if (!Number.isInteger(f.capacity) || f.capacity < 0 || f.capacity > MAX_CAPACITY) return `capacity must be 0 .. ${MAX_CAPACITY}`
  if (!Number.isInteger(f.load) || f.load < 0 || f.load > MAX_CAPACITY) return `load must be 0 .. ${MAX_CAPACITY}`
  if (f.cert.length > MAX_FLEET_CERT_CHARS || !/^[\x21-\x7e]*$/.test(f.cert)) return `cert must be at most ${MAX_FLEET_CERT_CHARS} printable ASCII characters`
  for (const [name, d] of [['docs', f.docs], ['roles', f.roles]] as const) {
    if (d.bits.length > MAX_DIGEST_BYTES) return `${name} digest is longer than ${MAX_DIGEST_BYTES} bytes`
    if ((d.bits.length === 0) !== (d.probes === 0) || d.probes > MAX_DIGEST_PROBES) return `${name} digest: probes must be 1 .. ${MAX_DIGEST_PROBES} for a non-empty filter, 0 for an empty one`
  }
  return undefined
}

function peerKeyProblem (peerId: string): string | undefined {
  try {
    const id = peerIdFromString(peerId)
    return id.type === 'Ed25519' && id.publicKey !== undefined ? undefined : `peer id ${peerId} does not embed an Ed25519 key`
  } catch (err) {
    return `peer id does not parse: ${(err as Error).message}`
  }
}

function malformed (error: string): { ok: false, code: 'malformed', error: string } {
  return { ok: false, code: 'malformed', error: `malformed announcement: ${error}` }
}

class DecodeProblem extends Error {}

class Reader {
  private offset = 0
  private readonly view: DataView
  private readonly data: Uint8Array
  constructor (data: Uint8Array) {
    this.data = data
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  }

  remaining (): number { return this.data.length - this.offset }
  take (n: number): Uint8Array {
    if (n > this.remaining()) throw new DecodeProblem(`ends early: ${n} bytes wanted at offset ${this.offset}, ${this.remaining()} left`)
    const out = this.data.subarray(this.offset, this.offset + n)
    this.offset += n
    return out
  }

  u8 (): number { return this.take(1)[0] }
  u16 (): number { this.take(2); return this.view.getUint16(this.offset - 2) }
  u32 (): number { this.take(4); return this.view.getUint32(this.offset - 4) }
  u64 (): number {
    this.take(8)
    const hi = this.view.getUint32(this.offset - 8)
    const lo = this.view.getUint32(this.offset - 4)
    return hi > 0x1fffff ? Number.POSITIVE_INFINITY : hi * 0x1_0000_0000 + lo // above 2^53-1: refused as out of range
  }

  ascii (n: number): string {
    const bytes = this.take(n)
    let text = ''
    for (const b of bytes) {
      if (b > 0x7f) throw new DecodeProblem(`non-ASCII byte 0x${b.toString(16)} at offset ${this.offset - n}`)
      text += String.fromCharCode(b)
    }
    return text
  }

  digest (name: string): Digest {
    const probes = this.u8()
    const length = this.u32()
    if (length > MAX_DIGEST_BYTES) throw new DecodeProblem(`${name} digest is ${length} bytes, more than ${MAX_DIGEST_BYTES}`)
    return new Digest(probes, this.take(length).slice())
  }
}

class Writer {
  private readonly parts: Uint8Array[] = []
  u8 (v: number): void { this.parts.push(Uint8Array.of(v)) }
  u16 (v: number): void { const b = new Uint8Array(2); new DataView(b.buffer).setUint16(0, v); this.parts.push(b) }
  u32 (v: number): void { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v); this.parts.push(b) }
  u64 (v: number): void {
    const b = new Uint8Array(8)
    const view = new DataView(b.buffer)
    view.setUint32(0, Math.floor(v / 0x1_0000_0000))
    view.setUint32(4, v % 0x1_0000_0000)
    this.parts.push(b)
  }

  bytes (b: Uint8Array): void { this.parts.push(b) }
  finish (): Uint8Array { return concatBytes(this.parts) }
}
