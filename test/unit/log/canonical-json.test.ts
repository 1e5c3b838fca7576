import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { canonicalJson, stateHashOf } from '../../../src/log/index.ts'
import type { Json } from '../../../src/json.ts'

describe('log/canonical-json', () => {
  it('sorts keys by UTF-16 code units, recursively, with no whitespace', () => {
    const value: Json = { b: 1, a: [{ z: true, y: null }, 'x'], '10': 0, '9': 0, B: 'é', '\u{1F600}': 1, '\uFF61': 2 }
    assert.equal(canonicalJson(value), '{"10":0,"9":0,"B":"é","a":[{"y":null,"z":true},"x"],"b":1,"\u{1F600}":1,"\uFF61":2}')
  })

  it('writes numbers and strings as JSON.stringify does', () => {
    assert.equal(canonicalJson([1e21, 0.1, -0, 1.5e-7, 'a"\\\n\u0001\ud800']), '[1e+21,0.1,0,1.5e-7,"a\\"\\\\\\n\\u0001\\ud800"]')
  })

  it('rejects non-finite numbers and non-JSON values', () => {
    assert.throws(() => canonicalJson({ a: NaN }), RangeError)
    assert.throws(() => canonicalJson([Infinity]), RangeError)
    assert.throws(() => canonicalJson({ a: undefined } as unknown as Json), TypeError)
  })

  it('hashes the UTF-8 bytes of the canonical JSON with sha256', () => {
    const tree: Json = { z: 'ü', a: { '@o': ['x'], x: 1 } }
    const expected = createHash('sha256').update('{"a":{"@o":["x"],"x":1},"z":"ü"}', 'utf8').digest()
    assert.deepEqual(Buffer.from(stateHashOf(tree)), expected)
    assert.equal(Buffer.from(stateHashOf({})).toString('hex'), '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a')
  })
})
