/**
 * Fuzz targets for every decoder that reads bytes from the network: frames, sync messages,
 * observe messages and the fleet handshake. Each target draws inputs that are either generated
 * from scratch or mutations of valid encodings (bit flips, byte overwrites, cuts, insertions,
 * splices), feeds them to the decoder, and checks the outcome: the decoder must not throw, and
 * every refusal must carry one of its documented error codes. Used by `npm run fuzz`
 * (scripts/fuzz.ts) and by a short run in `npm test` (test/unit/fuzz.test.ts).
 */
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { bytesEqual, concatBytes } from '../../src/log/bytes.ts'
import { GENESIS_HASH, decodeFrame, docIdFor, signFrameSync, verifyFrameSync } from '../../src/log/index.ts'
import type { FrameErrorCode } from '../../src/log/index.ts'
import { decodeSyncMessage, decodeSyncRequest, encodeSyncMessage, encodeSyncRequest } from '../../src/sync/messages.ts'
import type { SyncDecodeErrorCode } from '../../src/sync/messages.ts'
import { encodeMessage, parseClientMessage, parseRequest, parseServerMessage, payloadLength } from '../../src/observe/protocol.ts'
import type { ParseErrorCode } from '../../src/observe/protocol.ts'
import { decodeVarintPrefix } from '../../src/observe/index.ts'
import { readFleetCert, signFleetCertSync, verifyFleetCert } from '../../src/identity/index.ts'
import type { FleetCertErrorCode } from '../../src/identity/index.ts'
import { decodeReply, encodeReply } from '../../node/fleet/handshake.ts'

export interface FuzzTarget {
  name: string
  inputs: fc.Arbitrary<Uint8Array>
  /** Throws (with what went wrong) if the decoder misbehaved on this input. */
  check: (input: Uint8Array) => void
}

const FRAME_CODES = new Set<FrameErrorCode>(['too-large', 'unsupported-version', 'malformed', 'bad-doc-id', 'bad-body', 'wrong-doc', 'bad-signature'])
const SYNC_CODES = new Set<SyncDecodeErrorCode>(['too-large', 'not-json', 'bad-field', 'empty', 'unknown-type'])
const OBSERVE_CODES = new Set<ParseErrorCode>(['not-json', 'not-object', 'unknown-field', 'bad-field'])
const CERT_CODES = new Set<FleetCertErrorCode>(['malformed', 'bad-signature', 'untrusted-operator', 'wrong-peer', 'expired', 'not-yet-valid'])

const utf8 = new TextEncoder()

/** One mutation of a byte string. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('text' as const), at: fc.nat(), text: fc.constantFrom('{', '}', '[', ']', '"', ',', ':', 'null', '-1', '1e999', '9007199254740993', '"@o"', '"@s"', '"__proto__"', '\\u0000', '\uffff') })
)
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never

function mutate (seed: Uint8Array, mutations: Mutation[]): Uint8Array {
  let bytes: Uint8Array = seed.slice()
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % (bytes.length + (m.kind === 'insert' || m.kind === 'text' ? 1 : 0))
    switch (m.kind) {
      case 'flip': if (bytes.length > 0) bytes[at] ^= 1 << m.bit; break
      case 'set': if (bytes.length > 0) bytes[at] = m.value; break
      case 'cut': bytes = bytes.slice(0, at); break
      case 'drop': bytes = concatBytes([bytes.subarray(0, at), bytes.subarray(at + m.length)]); break
      case 'insert': bytes = concatBytes([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]); break
      case 'text': bytes = concatBytes([bytes.subarray(0, at), utf8.encode(m.text), bytes.subarray(at)]); break
    }
  }
  return bytes
}

/** Generated inputs (random bytes, random JSON) and mutated seeds, mostly the latter. */
function inputsFrom (seeds: Uint8Array[], extra: Array<fc.Arbitrary<Uint8Array>> = []): fc.Arbitrary<Uint8Array> {
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([seed, ms]) => mutate(seed, ms))
  return fc.oneof(
    { arbitrary: mutated, weight: 6 },
    { arbitrary: fc.uint8Array({ maxLength: 512 }), weight: 1 },
    { arbitrary: fc.json().map(text => utf8.encode(text)), weight: 1 },
    ...extra.map(arbitrary => ({ arbitrary, weight: 2 }))
  )
}

function expectCode (decoder: string, ok: boolean, code: unknown, known: ReadonlySet<unknown>): void {
  if (!ok && !known.has(code)) throw new Error(`${decoder} refused with an unknown code ${JSON.stringify(code)}`)
}

export async function fuzzTargets (): Promise<FuzzTarget[]> {
  const docKey = await generateKeyPair('Ed25519')
  const docId = docIdFor(docKey.publicKey.raw, 'fuzz')
  const otherDoc = docIdFor((await generateKeyPair('Ed25519')).publicKey.raw, 'fuzz')
  const limits = { maxFrameBytes: 64 * 1024 }
  const frames = [
    signFrameSync(docKey, { docId, epoch: 1, seq: 1, time: 1_700_000_000_000, prevHash: GENESIS_HASH, stateHash: new Uint8Array(32).fill(3), changes: [{ title: 'hi' }] }),
    signFrameSync(docKey, { docId, epoch: 2, seq: 7, time: 1_700_000_000_123, prevHash: new Uint8Array(32).fill(9), changes: [{ cards: { a: { t: 1 }, '@o': ['a'] } }, { n: null, s: 'x'.repeat(40) }] })
  ].map(frame => frame.bytes)

  const operator = await generateKeyPair('Ed25519')
  const peerId = '12D3KooWSiNcZ5yruPB8sweBupSR3stxyJ8pyeh4drpeRfKQAg3n'
  const now = 1_800_000_000_000
  const certs = [
    signFleetCertSync(operator, { peerId, region: 'eu-west', expires: now + 86_400_000 }, now),
    signFleetCertSync(docKey, { peerId, region: 'authority', expires: now + 86_400_000 }, now)
  ]
  const certOptions = { peerId, trustedOperators: [operator.publicKey.raw], docKeys: [docKey.publicKey.raw], now }
  const fatalUtf8 = new TextDecoder('utf-8', { fatal: true })

  const payload = (message: Parameters<typeof encodeMessage>[0]): Uint8Array => {
    const encoded = encodeMessage(message)
    return encoded.subarray(encoded.length - payloadLength(encoded))
  }

  return [
    {
      name: 'frames',
      inputs: inputsFrom(frames),
      check: input => {
        const decoded = decodeFrame(input, limits)
        expectCode('decodeFrame', decoded.ok, decoded.ok ? undefined : decoded.error.code, FRAME_CODES)
        for (const doc of [docId, otherDoc]) {
          const verified = verifyFrameSync(input, doc, limits)
          expectCode('verifyFrameSync', verified.ok, verified.ok ? undefined : verified.error.code, FRAME_CODES)
          // Only the authority's own bytes may verify: any other accepted input is a forgery.
          if (verified.ok && !frames.some(seed => bytesEqual(seed, input))) throw new Error('verifyFrameSync accepted bytes the authority never signed')
        }
      }
    },
    {
      name: 'sync messages',
      inputs: inputsFrom([
        encodeSyncRequest({ doc: docId, after: 0 }), encodeSyncRequest({ doc: docId, after: 2 ** 40 }),
        encodeSyncMessage({ type: 'frame', bytes: frames[0] }), encodeSyncMessage({ type: 'snapshot', state: utf8.encode('{"a":1}') }),
        encodeSyncMessage({ type: 'end', head: 12 }), encodeSyncMessage({ type: 'error', message: 'unknown document' })
      ]),
      check: input => {
        const request = decodeSyncRequest(input)
        expectCode('decodeSyncRequest', request.ok, request.ok ? undefined : request.code, SYNC_CODES)
        const message = decodeSyncMessage(input)
        expectCode('decodeSyncMessage', message.ok, message.ok ? undefined : message.code, SYNC_CODES)
        // A frame inside a sync message goes on to the frame decoder.
        if (message.ok && message.value.type === 'frame') {
          const decoded = decodeFrame(message.value.bytes, limits)
          expectCode('decodeFrame', decoded.ok, decoded.ok ? undefined : decoded.error.code, FRAME_CODES)
        }
      }
    },
    {
      name: 'observe messages',
      inputs: inputsFrom([
        payload({ doc: docId, after: null }), payload({ doc: docId, after: 5, token: 'abc.def', view: { room: 'a' } }),
        payload({ view: { room: 'b' } }), payload({ send: { x: 1 } }),
        payload({ reset: true, data: { a: [1, 2] }, seq: 3 }), payload({ data: { a: { '@o': [[0, 1]] } }, seq: 4 }), payload({ seq: 5 }),
        payload({ error: 'no such document', code: 'unknown-doc' }), payload({ refused: 'read-only', code: 'read-only' })
      ], [fc.jsonValue().map(value => utf8.encode(JSON.stringify(value)))]),
      check: input => {
        for (const [name, parse] of [['parseRequest', parseRequest], ['parseClientMessage', parseClientMessage], ['parseServerMessage', parseServerMessage]] as const) {
          const parsed = parse(input)
          expectCode(name, parsed.ok, parsed.ok ? undefined : parsed.reason, OBSERVE_CODES)
        }
        // The varint length prefix the browser reads first.
        const prefix = decodeVarintPrefix(input)
        if (prefix !== undefined && (!Number.isSafeInteger(prefix.value) || prefix.value < 0)) throw new Error(`varint decoded to ${prefix.value}`)
      }
    },
    {
      name: 'fleet handshakes',
      inputs: inputsFrom([
        ...certs.map(cert => utf8.encode(cert)), new Uint8Array(0),
        encodeReply({ ok: true }), encodeReply({ ok: false, code: 'expired', error: 'certificate expired' })
      ]),
      check: input => {
        // The listener's side: the presented bytes must be UTF-8, then a certificate.
        let text: string | undefined
        try { text = fatalUtf8.decode(input) } catch {}
        if (text !== undefined) {
          const verdict = verifyFleetCert(text, certOptions)
          expectCode('verifyFleetCert', verdict.ok, verdict.ok ? undefined : verdict.code, CERT_CODES)
          if (verdict.ok && !certs.includes(text)) throw new Error('verifyFleetCert accepted a certificate nobody signed')
          readFleetCert(text)
        }
        // The opener's side: the reply.
        const reply = decodeReply(input)
        if (!reply.ok && (typeof reply.code !== 'string' || reply.code === '' || typeof reply.error !== 'string')) throw new Error(`decodeReply gave ${JSON.stringify(reply)}`)
      }
    }
  ]
}

/** Draws `count` inputs for a target (deterministic for a seed) and checks each; reports progress. */
export function runTarget (target: FuzzTarget, count: number, seed: number, onProgress?: (done: number) => void): void {
  const inputs = fc.sample(target.inputs, { numRuns: count, seed })
  inputs.forEach((input, index) => {
    try {
      target.check(input)
    } catch (err) {
      throw new Error(`${target.name}: input ${index} (seed ${seed}) ${Buffer.from(input).toString('hex').slice(0, 400)}: ${(err as Error).stack ?? String(err)}`)
    }
    if (onProgress !== undefined && (index + 1) % 10_000 === 0) onProgress(index + 1)
  })
}
