// The heartbeat announcement on an observe stream's first message (docs/protocol.md, "Heartbeats"):
// its exact bytes, that it leaves the message it rides on intact, and what a browser accepts.

import assert from 'node:assert/strict'
import { announceHeartbeat, encodeMessage, frameMessage, heartbeatAnnouncement, MAX_ANNOUNCED_HEARTBEAT_MS, parseServerMessage, resetMessage } from '../../../src/observe/protocol.ts'
import { decodeVarintPrefix } from '../../../src/observe/varint.ts'
import { seal, unseal } from '../../../src/swarm/signed-message.ts'

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const utf8 = (value: string): Uint8Array => new TextEncoder().encode(value)

/** The parts written back to back, split into length prefix and payload (as lpStream reads them). */
function joined (parts: Uint8Array[]): { prefix: number, payload: Uint8Array } {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const part of parts) { all.set(part, at); at += part.byteLength }
  const prefix = decodeVarintPrefix(all)
  assert.ok(prefix !== undefined)
  assert.equal(prefix.length + prefix.value, all.byteLength, 'the prefix gives the whole payload')
  return { prefix: prefix.value, payload: all.subarray(prefix.length) }
}

describe('observe protocol: heartbeat announcement', () => {
  it('puts "heartbeat" first in a reset, byte for byte, and leaves the rest of it as it was', () => {
    const encoded = encodeMessage(resetMessage(7, { a: 1 }))
    const parts = announceHeartbeat(encoded, 1000)
    assert.ok(parts !== undefined)
    const { payload } = joined(parts)
    assert.equal(text(payload), '{"heartbeat":1000,"reset":true,"data":{"a":1},"seq":7}')
    // the message's own bytes are not copied: one snapshot serves every observer
    assert.equal(parts[1].buffer, encoded.buffer)
    const parsed = parseServerMessage(payload)
    assert.ok(parsed.ok)
    assert.deepEqual(parsed.value, { reset: true, data: { a: 1 }, seq: 7, heartbeat: 1000 })
    // without the field it is the message as before: a receiver that ignores it sees no difference
    const { heartbeat, ...rest } = parsed.value as { heartbeat?: number }
    assert.equal(heartbeat, 1000)
    const original = parseServerMessage(encoded.subarray(1))
    assert.ok(original.ok)
    assert.deepEqual(rest, original.value)
  })

  it('announces on the join acknowledgement, and grows the length prefix when it must', () => {
    const ack = parseServerMessage(joined(announceHeartbeat(encodeMessage(frameMessage(42, null)), 250)!).payload)
    assert.deepEqual(ack, { ok: true, value: { seq: 42, heartbeat: 250 } })
    // a payload of 120 bytes has a one-byte prefix; announced it is over 127 and needs two
    const data = { s: 'x'.repeat(120 - '{"data":{"s":""},"seq":1}'.length) }
    const encoded = encodeMessage(frameMessage(1, data))
    assert.equal(encoded.byteLength, 121)
    const parts = announceHeartbeat(encoded, 1000)!
    assert.equal(parts[0][0] & 0x80, 0x80, 'two-byte prefix')
    assert.equal(joined(parts).prefix, 120 + '"heartbeat":1000,'.length)
  })

  it('keeps a sealed message\'s "sig" suffix at the end (its shape still unseals)', () => {
    const sealed = seal(utf8('{"seq":3}'), new Uint8Array(64))
    const { payload } = joined(announceHeartbeat(prefixed(sealed), 1000)!)
    assert.ok(text(payload).startsWith('{"heartbeat":1000,"seq":3,"sig":"'))
    assert.ok(unseal(payload).ok)
  })

  it('announces nothing on what is not a non-empty object, or past the receiver\'s size limit', () => {
    assert.equal(announceHeartbeat(prefixed(utf8('{}')), 1000), undefined)
    assert.equal(announceHeartbeat(prefixed(utf8('[1,2]')), 1000), undefined)
    assert.equal(announceHeartbeat(utf8('{"seq":1}'), 1000), undefined, 'no length prefix')
    const encoded = encodeMessage(frameMessage(1, null))
    assert.equal(announceHeartbeat(encoded, 1000, encoded.byteLength - 1 + '"heartbeat":1000,'.length - 1), undefined)
    assert.ok(announceHeartbeat(encoded, 1000, encoded.byteLength - 1 + '"heartbeat":1000,'.length) !== undefined)
    assert.throws(() => announceHeartbeat(encoded, 0), RangeError)
    assert.throws(() => heartbeatAnnouncement(1, MAX_ANNOUNCED_HEARTBEAT_MS + 1), RangeError)
  })

  it('encodes the announcement that goes before a catch-up as a frame without data', () => {
    assert.equal(text(encodeMessage(heartbeatAnnouncement(41, 1000)).subarray(1)), '{"heartbeat":1000,"seq":41}')
  })

  it('refuses a "heartbeat" that is not an interval in ms, naming it', () => {
    for (const bad of [0, -1, 1.5, '1000', null, MAX_ANNOUNCED_HEARTBEAT_MS + 1]) {
      const parsed = parseServerMessage(utf8(JSON.stringify({ heartbeat: bad, seq: 1 })))
      assert.ok(!parsed.ok, `${JSON.stringify(bad)} must be refused`)
      assert.equal(parsed.reason, 'bad-field')
      assert.match(parsed.error, /"heartbeat"/)
    }
    assert.deepEqual(parseServerMessage(utf8('{"seq":1}')), { ok: true, value: { seq: 1 } }, 'absent: no field')
    assert.deepEqual(parseServerMessage(utf8(`{"heartbeat":${MAX_ANNOUNCED_HEARTBEAT_MS},"data":{"b":2},"seq":1}`)), { ok: true, value: { data: { b: 2 }, seq: 1, heartbeat: MAX_ANNOUNCED_HEARTBEAT_MS } })
  })
})

function prefixed (payload: Uint8Array): Uint8Array {
  return Uint8Array.from([payload.byteLength, ...payload])
}
