import assert from 'node:assert/strict'
import { encodeMessage, isStaleMessage, parseServerMessage, payloadLength, staleMessage } from '../../../src/observe/protocol.ts'

describe('observe/protocol: stale messages', () => {
  const parse = (json: string): ReturnType<typeof parseServerMessage> => parseServerMessage(new TextEncoder().encode(json))

  it('encodes exactly as docs/protocol.md shows, and parses back', () => {
    const bytes = encodeMessage(staleMessage(true, 3012.4))
    const json = new TextDecoder().decode(bytes.subarray(bytes.length - payloadLength(bytes)))
    assert.equal(json, '{"stale":true,"age":3012}')
    const parsed = parseServerMessage(new TextEncoder().encode(json))
    assert.ok(parsed.ok && isStaleMessage(parsed.value))
    assert.deepEqual(parsed.value, { stale: true, age: 3012 })
    assert.deepEqual(parse('{"stale":false,"age":0}'), { ok: true, value: { stale: false, age: 0 } })
  })

  it('refuses a stale message without a valid age, and never reads it as a frame', () => {
    assert.equal(parse('{"stale":true}').ok, false)
    assert.equal(parse('{"stale":true,"age":-1}').ok, false)
    assert.equal(parse('{"stale":true,"age":1.5}').ok, false)
    const mixed = parse('{"stale":true,"age":5,"seq":9}')
    assert.ok(mixed.ok && isStaleMessage(mixed.value))
  })
})
