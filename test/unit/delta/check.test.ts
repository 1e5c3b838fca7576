import assert from 'node:assert/strict'
import type { Json, JsonObject } from '../../../src/json.ts'
import { checkDelta, MAX_DEPTH } from '../../../src/delta/index.ts'

const tree: JsonObject = {
  l: { '@o': ['a', 'b', 'c'], a: { v: 1 }, b: { v: 2 }, c: { v: 3 } },
  n: { '@o': [0, 1], 0: 'x', 1: 'y' },
  o: { p: 1 }
}

function rejects (delta: Json, message: RegExp, on: JsonObject = tree): void {
  const result = checkDelta(on, delta)
  assert.equal(result.ok, false, `accepted ${JSON.stringify(delta)}`)
  assert.match((result as { error: string }).error, message)
}

function accepts (delta: Json, on: JsonObject = tree): void {
  assert.deepEqual(checkDelta(on, delta), { ok: true })
}

describe('delta/check', () => {
  it('accepts valid deltas', () => {
    accepts({})
    accepts({ o: { p: null, q: [1, { r: 'x' }] }, z: 'new' })
    accepts({ l: { d: { v: 4 }, '@o': [[0, 1], 'd', [2, 2]] } })
    accepts({ l: { a: null, '@o': [[1, 2]] } })
    accepts({ l: { a: null } })
    accepts({ l: { b: { v: 5 } } })
    accepts({ n: { 2: 'z', '@s': 3 } })
    accepts({ n: { '@s': 0 } })
    accepts({ l: { '@o': ['c', 'b', 'a'] } })
    accepts({ o: { x: 1, '@o': ['x'] } })
    accepts({ l: 5 })
    accepts({ l: { zz: null } })
  })

  it('refuses a delta that is not a plain JSON object', () => {
    rejects(null, /delta must be a JSON object/)
    rejects([1], /delta must be a JSON object/)
    rejects('x', /delta must be a JSON object/)
    rejects(new Date() as unknown as Json, /delta must be a JSON object/)
  })

  it('refuses "@o" or "@s" at the root', () => {
    rejects({ '@o': [] }, /root is not a list/)
    rejects({ '@s': 0 }, /root is not a list/)
  })

  it('refuses "__proto__" keys anywhere', () => {
    rejects(JSON.parse('{"__proto__": {"x": 1}}'), /"__proto__" is not allowed at \/__proto__/)
    rejects(JSON.parse('{"o": {"__proto__": 1}}'), /at \/o\/__proto__/)
    rejects(JSON.parse('{"o": [{"__proto__": 1}]}'), /at \/o\/0\/__proto__/)
    rejects(JSON.parse('{"l": {"__proto__": 1, "@o": []}}'), /at \/l\/__proto__/)
    rejects({ l: { '@o': ['__proto__'] } }, /\/l\/@o\[0\] must be an id/)
  })

  it('refuses values that are not JSON', () => {
    rejects({ x: NaN }, /number at \/x is not finite/)
    rejects({ x: [Infinity] }, /number at \/x\/0 is not finite/)
    rejects({ x: undefined } as unknown as Json, /value at \/x is not JSON \(undefined\)/)
    rejects({ x: { y: () => 1 } } as unknown as Json, /value at \/x\/y is not JSON \(function\)/)
  })

  it('refuses malformed "@o"', () => {
    rejects({ l: { '@o': 'a' } }, /\/l\/@o must be an array/)
    rejects({ l: { '@o': [1.5] } }, /\/l\/@o\[0\] must be an id/)
    rejects({ l: { '@o': [true] } }, /\/l\/@o\[0\] must be an id/)
    rejects({ l: { '@o': [null] } }, /\/l\/@o\[0\] must be an id/)
    rejects({ l: { '@o': [[0]] } }, /\/l\/@o\[0\] must be an id or a \[start, end\] pair of integers/)
    rejects({ l: { '@o': [[0, 1, 2]] } }, /pair of integers/)
    rejects({ l: { '@o': [['0', 1]] } }, /pair of integers/)
    rejects({ l: { '@o': [[0, 3]] } }, /range \[0,3\] is outside the previous order \(length 3\)/)
    rejects({ l: { '@o': [[2, 1]] } }, /range \[2,1\] .*reversed/)
    rejects({ l: { '@o': [[-1, 0]] } }, /range \[-1,0\]/)
  })

  it('refuses duplicate ids in the new order', () => {
    rejects({ l: { '@o': ['a', 'a', 'b', 'c'] } }, /id "a" appears twice in the new order of the list at \/l/)
    rejects({ l: { '@o': [[0, 2], 'b'] } }, /id "b" appears twice/)
    rejects({ l: { '@o': [[0, 2], [0, 2], [0, 2]] } }, /repeats ids|appears twice/)
    rejects({ n: { '@o': [0, '0', 1] } }, /id "0" appears twice/)
  })

  it('refuses order ids without items', () => {
    rejects({ l: { '@o': ['a', 'b', 'c', 'd'] } }, /id "d" in the new order of the list at \/l has no item/)
    rejects({ l: { b: null, '@o': [[0, 2]] } }, /id "b" in the new order .* has no item/)
    rejects({ x: { '@o': [1] } }, /id 1 in the new order of the list at \/x has no item/)
  })

  it('refuses items left outside the order', () => {
    rejects({ l: { d: 1 } }, /item "d" of the list at \/l is not in its order/)
    rejects({ l: { d: 1, '@o': [[0, 2]] } }, /item "d" of the list at \/l is not in its order/)
    rejects({ n: { 5: 'z', '@s': 2 } }, /item "5" .* not in its order/)
  })

  it('refuses bad "@s" and "@o" with "@s"', () => {
    rejects({ n: { '@s': -1 } }, /\/n\/@s must be a non-negative safe integer/)
    rejects({ n: { '@s': 1.5 } }, /non-negative safe integer/)
    rejects({ n: { '@s': '1' } }, /non-negative safe integer/)
    rejects({ n: { '@s': 4, 2: 'z' } }, /grows the list from 2 to 4 but the delta carries only 1 items/)
    rejects({ n: { '@s': Number.MAX_SAFE_INTEGER } }, /grows the list/)
    rejects({ n: { '@s': 3, 3: 'z', 4: 'w' } }, /id 2 in the new order .* has no item/)
    rejects({ n: { '@s': 1, '@o': [0] } }, /carries both "@o" and "@s"/)
  })

  it('checks nested deltas against the nested tree values', () => {
    const nested: JsonObject = { l: { '@o': ['a'], a: { sub: { '@o': ['p'], p: 1 } } } }
    accepts({ l: { a: { sub: { q: 2, '@o': [[0, 0], 'q'] } } } }, nested)
    rejects({ l: { a: { sub: { q: 2 } } } }, /item "q" of the list at \/l\/a\/sub is not in its order/, nested)
    rejects({ l: { a: { sub: { '@o': [[0, 1]] } } } }, /\/l\/a\/sub\/@o\[0\] range \[0,1\]/, nested)
  })

  it(`refuses deltas nested deeper than ${MAX_DEPTH} levels`, () => {
    let deep: JsonObject = { x: 1 }
    for (let i = 0; i < MAX_DEPTH + 1; i++) deep = { d: deep }
    rejects(deep, /nests deeper than 100 levels/)
    let arrays: Json = 1
    for (let i = 0; i < MAX_DEPTH + 1; i++) arrays = [arrays]
    rejects({ a: arrays }, /nests deeper/)
  })

  it('does not change the tree', () => {
    const copy = structuredClone(tree)
    checkDelta(tree, { l: { d: { v: 4 }, a: null, '@o': [[1, 2], 'd'] }, o: { p: null } })
    assert.deepEqual(tree, copy)
  })
})
