// The pure parts of observing: message codec, viewer state rules, dial order and backoff.

import assert from 'node:assert/strict'
import { backoffDelay, candidatesFrom, nextCandidate } from '../../../browser/candidates.ts'
import { keysOf } from '../../../src/delta/index.ts'
import { ObservedState } from '../../../src/observe/observed-state.ts'
import { decodeVarintPrefix, encodeVarint } from '../../../src/observe/varint.ts'
import { encodeMessage, parseRequest, parseServerMessage, payloadLength } from '../../../src/observe/protocol.ts'

const text = (value: string): Uint8Array => new TextEncoder().encode(value)

describe('observe protocol codec', function () {
  it('prefixes UTF-8 JSON with its varint length', function () {
    assert.deepEqual([...encodeMessage({ doc: 'd', after: null })], [24, ...text('{"doc":"d","after":null}')])
    assert.deepEqual([...encodeMessage({ seq: 7 })], [9, ...text('{"seq":7}')])
    const big = encodeMessage({ data: { x: 'y'.repeat(200) }, seq: 1 })
    assert.deepEqual([...big.subarray(0, 2)], [0xe1, 0x01]) // 225 = 0x61 | 0x80, then 1
    assert.equal(payloadLength(big), 225)
  })

  it('round-trips varints up to 2^53-1', function () {
    for (const value of [0, 1, 127, 128, 300, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      const encoded = encodeVarint(value)
      assert.deepEqual(decodeVarintPrefix(encoded), { value, length: encoded.byteLength })
    }
    assert.equal(decodeVarintPrefix(Uint8Array.from([0x80])), undefined)
    // Found by npm run fuzz: 8 bytes hold 56 bits, which used to decode to a rounded, unsafe number.
    assert.equal(decodeVarintPrefix(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])), undefined)
    assert.deepEqual(decodeVarintPrefix(encodeVarint(Number.MAX_SAFE_INTEGER)), { value: Number.MAX_SAFE_INTEGER, length: 8 })
  })

  it('accepts exactly {doc, after}', function () {
    assert.deepEqual(parseRequest(text('{"doc":"a.b","after":12}')), { ok: true, value: { doc: 'a.b', after: 12 } })
    assert.deepEqual(parseRequest(text('{"doc":"a.b"}')), { ok: true, value: { doc: 'a.b', after: null } })
    assert.deepEqual(parseRequest(text('{"doc":"a","after":-1}')), { ok: false, reason: 'bad-field', error: '"after" must be null or a seq' })
    assert.deepEqual(parseRequest(text('{"doc":"a","after":1.5}')), { ok: false, reason: 'bad-field', error: '"after" must be null or a seq' })
    assert.deepEqual(parseRequest(text('{"doc":"","after":null}')), { ok: false, reason: 'bad-field', error: '"doc" must be a non-empty string' })
    assert.deepEqual(parseRequest(text('{"doc":"a","write":1}')), { ok: false, reason: 'unknown-field', error: 'unknown request field "write"' })
    assert.deepEqual(parseRequest(text('[1]')), { ok: false, reason: 'not-object', error: 'request must be a JSON object' })
    assert.deepEqual(parseRequest(Uint8Array.from([0xff, 0xfe])), { ok: false, reason: 'not-json', error: 'not UTF-8 JSON' })
  })

  it('opens a writer stream with "mode":"connect" and a writer id, and refuses either alone or malformed', function () {
    assert.deepEqual(parseRequest(text('{"doc":"a.b","after":null,"mode":"connect","writer":"w-1_A"}')), { ok: true, value: { doc: 'a.b', after: null, mode: 'connect', writer: 'w-1_A' } })
    assert.deepEqual(parseRequest(text('{"doc":"a","mode":"write","writer":"w"}')), { ok: false, reason: 'bad-field', error: '"mode" must be "connect" (or absent, to observe)' })
    assert.deepEqual(parseRequest(text('{"doc":"a","mode":"connect"}')), { ok: false, reason: 'bad-field', error: '"writer" must be 1-64 of A-Z a-z 0-9 _ - (a random writer session id)' })
    assert.deepEqual(parseRequest(text('{"doc":"a","mode":"connect","writer":"a b"}')).ok, false)
    assert.deepEqual(parseRequest(text(`{"doc":"a","mode":"connect","writer":"${'w'.repeat(65)}"}`)).ok, false)
    assert.deepEqual(parseRequest(text('{"doc":"a","writer":"w"}')), { ok: false, reason: 'bad-field', error: '"writer" needs "mode": "connect"' })
  })

  it('parses the writer messages: windows, ack, and a send\'s refusal with its channel and id', function () {
    assert.deepEqual(parseServerMessage(text('{"windows":{"origin":"sp/a","channels":[{"channel":"poll","widthMs":1000,"open":3456}]}}')),
      { ok: true, value: { windows: { origin: 'sp/a', channels: [{ channel: 'poll', widthMs: 1000, open: 3456 }] } } })
    assert.deepEqual(parseServerMessage(text('{"ack":{"channel":"poll","ids":[17,18],"seq":902}}')), { ok: true, value: { ack: { channel: 'poll', ids: [17, 18], seq: 902 } } })
    assert.deepEqual(parseServerMessage(text('{"refused":"late","code":"window-closed","channel":"poll","id":17,"open":3457}')),
      { ok: true, value: { refused: 'late', code: 'window-closed', channel: 'poll', id: 17, open: 3457 } })
    assert.deepEqual(parseServerMessage(text('{"refused":"bad","code":"invalid-message","channel":"poll","id":2,"rule":"enum"}')),
      { ok: true, value: { refused: 'bad', code: 'invalid-message', channel: 'poll', id: 2, rule: 'enum' } })
    assert.equal(parseServerMessage(text('{"ack":{"channel":"poll","ids":[-1],"seq":1}}')).ok, false)
    assert.equal(parseServerMessage(text('{"windows":{"origin":"o","channels":[{"channel":"p"}]}}')).ok, false)
  })

  it('parses reset, frame, empty frame and error messages', function () {
    assert.deepEqual(parseServerMessage(text('{"reset":true,"data":{"a":1},"seq":3}')), { ok: true, value: { reset: true, data: { a: 1 }, seq: 3 } })
    assert.deepEqual(parseServerMessage(text('{"data":{"a":null},"seq":4}')), { ok: true, value: { data: { a: null }, seq: 4 } })
    assert.deepEqual(parseServerMessage(text('{"seq":5}')), { ok: true, value: { seq: 5 } })
    assert.deepEqual(parseServerMessage(text('{"error":"no","code":"busy"}')), { ok: true, value: { error: 'no', code: 'busy' } })
    assert.equal(parseServerMessage(text('{"data":[1],"seq":5}')).ok, false)
    assert.equal(parseServerMessage(text('{"data":{}}')).ok, false)
  })
})

describe('ObservedState', function () {
  it('integrates in seq order, ignores duplicates and refuses gaps', function () {
    const observed = new ObservedState()
    assert.deepEqual(observed.apply({ seq: 1, data: { a: 1 } }), { kind: 'gap', seq: 1, expected: null })
    assert.equal(observed.apply({ reset: true, data: { cards: { x: { v: 1 }, '@o': ['x'] } }, seq: 4 }).kind, 'reset')
    assert.deepEqual(observed.apply({ seq: 4, data: { a: 1 } }), { kind: 'duplicate', seq: 4 })
    assert.deepEqual(observed.apply({ seq: 6 }), { kind: 'gap', seq: 6, expected: 5 })
    assert.deepEqual(observed.apply({ seq: 5 }), { kind: 'frame', seq: 5, data: null })
    assert.equal(observed.apply({ seq: 6, data: { cards: { y: { v: 2 }, '@o': ['y', [0, 0]] } } }).kind, 'frame')
    assert.deepEqual(observed.state, { cards: [{ v: 2 }, { v: 1 }] })
    assert.deepEqual(keysOf(observed.state.cards as never), ['y', 'x'])
    assert.equal(observed.seq, 6)
    // a reset always wins, even to an older seq
    observed.apply({ reset: true, data: {}, seq: 2 })
    assert.deepEqual([observed.state, observed.seq], [{}, 2])
  })
})

describe('dial order', function () {
  const rtc = (port: number, peer: string): string => `/ip4/127.0.0.1/udp/${port}/webrtc-direct/certhash/uEiAVwpETi75j53O_S_c48L0WtFrllzfIs1ykWfYdZNIYXQ/p2p/${peer}`
  const ws = (port: number, peer: string): string => `/ip4/127.0.0.1/tcp/${port}/ws/p2p/${peer}`

  it('groups by super-peer in list order, WebRTC-Direct before WebSockets, unknown transports dropped', function () {
    const peerA = '12D3KooWBZ8gxquZaza4DRqyChU6wG8YnttUod3x29xgHGKDupw6'
    const peerB = '12D3KooWSZFfQau6h9Zwz2dvkRMoVPyPt7ZVao9NKhQKf8ShKLdM'
    const list = [ws(1, peerA), ws(2, peerB), rtc(3, peerA), '/ip4/1.2.3.4/tcp/5/p2p/' + peerB, 'not an address']
    assert.deepEqual(candidatesFrom(list, ['webrtc-direct', 'websockets']), [
      { key: peerA, addrs: [rtc(3, peerA), ws(1, peerA)] },
      { key: peerB, addrs: [ws(2, peerB)] }
    ])
    assert.deepEqual(candidatesFrom(list, ['websockets']).map(c => c.addrs), [[ws(1, peerA)], [ws(2, peerB)]])
  })

  it('moves to the next super-peer after the last one used, wrapping', function () {
    const candidates = [{ key: 'a', addrs: [] }, { key: 'b', addrs: [] }, { key: 'c', addrs: [] }]
    assert.equal(nextCandidate(candidates, undefined)?.key, 'a')
    assert.equal(nextCandidate(candidates, 'a')?.key, 'b')
    assert.equal(nextCandidate(candidates, 'c')?.key, 'a')
    assert.equal(nextCandidate(candidates, 'gone')?.key, 'a')
    assert.equal(nextCandidate([], 'a'), undefined)
  })

  it('backs off exponentially with jitter, within bounds', function () {
    const options = { initialMs: 100, maxMs: 1000 }
    assert.deepEqual([0, 1, 2, 3, 10, 1e6].map(n => backoffDelay(n, options, 0)), [50, 100, 200, 400, 500, 500])
    assert.deepEqual([0, 1, 2, 3, 10].map(n => backoffDelay(n, options, 1)), [100, 200, 400, 800, 1000])
  })
})
