import assert from 'node:assert/strict'
import {
  MAX_SYNC_REQUEST_BYTES, SyncType, decodeSyncMessage, decodeSyncRequest, encodeSyncMessage, encodeSyncRequest
} from '../../../src/sync/messages.ts'
import type { SyncMessage } from '../../../src/sync/messages.ts'

const DOC = 'a'.repeat(52) + '.board'
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

function decodeOk (bytes: Uint8Array): SyncMessage {
  const decoded = decodeSyncMessage(bytes)
  if (!decoded.ok) assert.fail(decoded.error)
  return decoded.value
}

function requestError (bytes: Uint8Array): string {
  const decoded = decodeSyncRequest(bytes)
  assert.equal(decoded.ok, false, `expected a rejection of ${new TextDecoder().decode(bytes)}`)
  return decoded.ok ? '' : decoded.error
}

describe('sync/messages', () => {
  describe('requests', () => {
    it('encode as the JSON {"doc","after"} and round-trip', () => {
      const bytes = encodeSyncRequest({ doc: DOC, after: 42 })
      assert.equal(new TextDecoder().decode(bytes), `{"doc":"${DOC}","after":42}`)
      assert.deepEqual(decodeSyncRequest(bytes), { ok: true, value: { doc: DOC, after: 42 } })
      assert.deepEqual(decodeSyncRequest(encodeSyncRequest({ doc: DOC, after: 0 })), { ok: true, value: { doc: DOC, after: 0 } })
      assert.deepEqual(decodeSyncRequest(encodeSyncRequest({ doc: DOC, after: Number.MAX_SAFE_INTEGER })),
        { ok: true, value: { doc: DOC, after: Number.MAX_SAFE_INTEGER } })
    })

    it('encode only doc and after', () => {
      const request = { doc: DOC, after: 1, extra: 'x' }
      assert.equal(new TextDecoder().decode(encodeSyncRequest(request)), `{"doc":"${DOC}","after":1}`)
    })

    it('decode ignores unknown fields', () => {
      assert.deepEqual(decodeSyncRequest(utf8(`{"doc":"${DOC}","after":3,"v":2}`)), { ok: true, value: { doc: DOC, after: 3 } })
    })

    it('rejects what is not UTF-8 JSON', () => {
      assert.match(requestError(utf8('not json')), /not UTF-8 JSON/)
      assert.match(requestError(new Uint8Array([0x7b, 0xff, 0x7d])), /not UTF-8 JSON/)
      assert.match(requestError(new Uint8Array(0)), /not UTF-8 JSON/)
    })

    it('rejects JSON that is not an object', () => {
      assert.match(requestError(utf8('null')), /must be an object/)
      assert.match(requestError(utf8('7')), /must be an object/)
    })

    it('rejects a missing or non-string doc', () => {
      assert.match(requestError(utf8('{"after":1}')), /string "doc"/)
      assert.match(requestError(utf8('{"doc":5,"after":1}')), /string "doc"/)
      assert.match(requestError(utf8('[]')), /string "doc"/)
    })

    it('rejects an after that is not a non-negative safe integer', () => {
      for (const after of ['-1', '1.5', '"3"', 'null', '9007199254740992', '1e400']) {
        assert.match(requestError(utf8(`{"doc":"${DOC}","after":${after}}`)), /non-negative integer "after"/, after)
      }
      assert.match(requestError(utf8(`{"doc":"${DOC}"}`)), /non-negative integer "after"/)
    })

    it(`rejects requests over ${MAX_SYNC_REQUEST_BYTES} bytes, accepts one at the limit`, () => {
      const pad = (total: number): Uint8Array => {
        const base = `{"doc":"${DOC}","after":1,"p":""}`
        return utf8(base.replace('"p":""', `"p":"${'x'.repeat(total - base.length)}"`))
      }
      assert.equal(pad(MAX_SYNC_REQUEST_BYTES).byteLength, MAX_SYNC_REQUEST_BYTES)
      assert.equal(decodeSyncRequest(pad(MAX_SYNC_REQUEST_BYTES)).ok, true)
      assert.match(requestError(pad(MAX_SYNC_REQUEST_BYTES + 1)), /too large/)
    })
  })

  describe('response messages', () => {
    it('use the type bytes 1 frame, 2 snapshot, 3 end, 4 error, and 5 head (relay streams only)', () => {
      assert.deepEqual(SyncType, { FRAME: 1, SNAPSHOT: 2, END: 3, ERROR: 4, HEAD: 5 })
    })

    it('head: type byte then the announcement bytes, round trip', () => {
      const bytes = encodeSyncMessage({ type: 'head', bytes: new Uint8Array([7, 7]) })
      assert.deepEqual(bytes, new Uint8Array([0x05, 7, 7]))
      assert.deepEqual(decodeOk(bytes), { type: 'head', bytes: new Uint8Array([7, 7]) })
    })

    it('frame: type byte then the frame bytes, round trip', () => {
      const bytes = encodeSyncMessage({ type: 'frame', bytes: new Uint8Array([9, 8, 7]) })
      assert.deepEqual(bytes, new Uint8Array([0x01, 9, 8, 7]))
      assert.deepEqual(decodeOk(bytes), { type: 'frame', bytes: new Uint8Array([9, 8, 7]) })
    })

    it('snapshot: type byte then the state bytes, round trip', () => {
      const state = utf8('{"a":1}')
      const bytes = encodeSyncMessage({ type: 'snapshot', state })
      assert.deepEqual(bytes, new Uint8Array([0x02, ...state]))
      assert.deepEqual(decodeOk(bytes), { type: 'snapshot', state })
    })

    it('error: type byte then UTF-8 text, round trip', () => {
      const bytes = encodeSyncMessage({ type: 'error', message: 'unknown doc é' })
      assert.deepEqual(bytes, new Uint8Array([0x04, ...utf8('unknown doc é')]))
      assert.deepEqual(decodeOk(bytes), { type: 'error', message: 'unknown doc é' })
    })

    it('empty payloads round-trip', () => {
      assert.deepEqual(decodeOk(encodeSyncMessage({ type: 'frame', bytes: new Uint8Array(0) })), { type: 'frame', bytes: new Uint8Array(0) })
      assert.deepEqual(decodeOk(encodeSyncMessage({ type: 'error', message: '' })), { type: 'error', message: '' })
    })

    it('end: exactly type 0x03 and the head as a big-endian u64', () => {
      assert.deepEqual(encodeSyncMessage({ type: 'end', head: 0x0102030405 }),
        new Uint8Array([0x03, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05]))
      assert.deepEqual(encodeSyncMessage({ type: 'end', head: 0 }), new Uint8Array([0x03, 0, 0, 0, 0, 0, 0, 0, 0]))
      assert.deepEqual(encodeSyncMessage({ type: 'end', head: Number.MAX_SAFE_INTEGER }),
        new Uint8Array([0x03, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))
      for (const head of [0, 1, 255, 256, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
        assert.deepEqual(decodeOk(encodeSyncMessage({ type: 'end', head })), { type: 'end', head })
      }
    })

    it('decodes from a view into a larger buffer', () => {
      const buffer = new Uint8Array([0xee, 0x03, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0xee])
      assert.deepEqual(decodeOk(buffer.subarray(1, 10)), { type: 'end', head: 256 })
    })

    it('rejects an END that is not 8 bytes', () => {
      assert.deepEqual(decodeSyncMessage(new Uint8Array([0x03, 0, 0, 0, 0, 0, 0, 1])), { ok: false, code: 'bad-field', error: 'sync END must carry 8 bytes' })
      assert.deepEqual(decodeSyncMessage(new Uint8Array([0x03, 0, 0, 0, 0, 0, 0, 0, 1, 0])), { ok: false, code: 'bad-field', error: 'sync END must carry 8 bytes' })
      assert.deepEqual(decodeSyncMessage(new Uint8Array([0x03])), { ok: false, code: 'bad-field', error: 'sync END must carry 8 bytes' })
    })

    it('rejects an END head above MAX_SAFE_INTEGER', () => {
      assert.deepEqual(decodeSyncMessage(new Uint8Array([0x03, 0x00, 0x20, 0, 0, 0, 0, 0, 0])), { ok: false, code: 'bad-field', error: 'sync END head out of range' })
      assert.equal(decodeSyncMessage(new Uint8Array([0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).ok, false)
    })

    it('rejects an unknown type byte and an empty message', () => {
      assert.deepEqual(decodeSyncMessage(new Uint8Array([0x06, 1])), { ok: false, code: 'unknown-type', error: 'unknown sync message type 0x6' })
      assert.deepEqual(decodeSyncMessage(new Uint8Array([0x00])), { ok: false, code: 'unknown-type', error: 'unknown sync message type 0x0' })
      assert.deepEqual(decodeSyncMessage(new Uint8Array([0xff])), { ok: false, code: 'unknown-type', error: 'unknown sync message type 0xff' })
      assert.deepEqual(decodeSyncMessage(new Uint8Array(0)), { ok: false, code: 'empty', error: 'empty sync message' })
    })

    it('rejects an ERROR that is not UTF-8', () => {
      assert.deepEqual(decodeSyncMessage(new Uint8Array([0x04, 0xc3])), { ok: false, code: 'bad-field', error: 'sync ERROR is not UTF-8' })
    })
  })
})
