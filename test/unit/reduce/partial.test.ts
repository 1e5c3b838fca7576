import assert from 'node:assert/strict'
import {
  decodePartial, encodePartial, KIND_CODES, mergePartials, MismatchedPartialsError, partialOf, tallyReducer, windowSigningBytes
} from '../../../src/reduce/index.ts'
import type { Partial, ResentEntry, WindowEntry } from '../../../src/reduce/index.ts'
import { bytesOf, hex, stateOf } from './helpers.ts'

const poll = tallyReducer({ capacity: 2, keys: ['no', 'yes'] })

/** The test vector of docs/protocol.md, "Partials". */
function vector (): Partial {
  const window: WindowEntry = {
    origin: 'sp1/a',
    window: 7,
    state: bytesOf(poll, stateOf(poll, [
      { writer: 'w1', id: 1, window: 7, body: 'yes' },
      { writer: 'w2', id: 1, window: 7, body: 'no' },
      { writer: 'w3', id: 1, window: 7, body: 'yes' }
    ])),
    signature: null
  }
  const resent: ResentEntry = { writer: 'w1', id: 3, origin: 'sp2/b', window: 8, prior: { origin: 'sp1/a', window: 7 }, body: '"yes"', signature: null }
  return partialOf('poll', KIND_CODES.tally, [window], [resent])
}

const VECTOR_HEX =
  '0105' + '04706f6c6c' + // version 1, kind 5 (tally), channel "poll"
  '01' + '057370312f61' + '07' + '0d' + '00' + '02' + '026e6f' + '01' + '00' + '03796573' + '02' + '00' + '00' + // one window entry
  '01' + '027731' + '03' + '057370322f62' + '08' + '01' + '057370312f61' + '07' + '0522796573' + '22' + '00' // one resent entry

describe('partials', () => {
  it('encode to the bytes docs/protocol.md gives', () => {
    assert.equal(hex(encodePartial(vector())), VECTOR_HEX)
    const decoded = decodePartial(Buffer.from(VECTOR_HEX, 'hex'))
    assert.ok(decoded.ok)
    assert.equal(hex(encodePartial(decoded.partial)), VECTOR_HEX)
  })

  it('carry an unconfirmed prior as flag 2', () => {
    const base = vector()
    const resent = [...base.resent.values()][0]
    const unconfirmed = partialOf('poll', KIND_CODES.tally, [...base.windows.values()], [{ ...resent, prior: { origin: 'sp1/a', window: 7, unconfirmed: true } }])
    const bytes = hex(encodePartial(unconfirmed))
    assert.equal(bytes, VECTOR_HEX.replace('08' + '01' + '057370312f61', '08' + '02' + '057370312f61'))
    const decoded = decodePartial(Buffer.from(bytes, 'hex'))
    assert.ok(decoded.ok)
    assert.deepEqual([...decoded.partial.resent.values()][0].prior, { origin: 'sp1/a', window: 7, unconfirmed: true })
    assert.equal(hex(encodePartial(decoded.partial)), bytes)
  })

  it('sign the domain prefix, kind, channel and entry without its signature', () => {
    const entry = [...vector().windows.values()][0]
    const signed = windowSigningBytes('poll', KIND_CODES.tally, entry)
    assert.equal(Buffer.from(signed.subarray(0, 19)).toString('ascii'), 'deltacast/partial/1')
    assert.equal(hex(signed.subarray(19)), '05' + '04706f6c6c' + '057370312f61' + '07' + '0d' + '00' + '02' + '026e6f' + '01' + '00' + '03796573' + '02' + '00')
  })

  it('refuse bytes that are not a canonical partial, saying why', () => {
    const bytes = Buffer.from(VECTOR_HEX, 'hex')
    const cases: Array<[Uint8Array, RegExp]> = [
      [Uint8Array.from([2, 5]), /version 2/],
      [bytes.subarray(0, bytes.length - 1), /truncated/],
      [Buffer.concat([bytes, Uint8Array.from([0])]), /trailing/],
      [Buffer.from('0105' + '04506f6c6c' + '0000', 'hex'), /channel "Poll"/],
      [Buffer.from('0105' + '04706f6c6c' + '02' + '0161' + '02' + '00' + '00' + '0161' + '01' + '00' + '00' + '00', 'hex'), /sorted/],
      [Buffer.from('0105' + '04706f6c6c' + '01' + '0161' + '01' + '00' + '03' + '010203' + '00', 'hex'), /signature: 3 bytes/],
      [Buffer.from('0105' + '04706f6c6c' + '01' + '0161' + '8000' + '00' + '00' + '00', 'hex'), /redundant/],
      [Buffer.from(VECTOR_HEX.replace('08' + '01' + '057370312f61', '08' + '03' + '057370312f61'), 'hex'), /prior flag must be 0, 1 or 2, got 3/]
    ]
    for (const [input, why] of cases) {
      const result = decodePartial(input)
      assert.equal(result.ok, false)
      if (!result.ok) assert.match(result.error, why)
    }
  })

  it('merge as a union: the same entry twice is one entry, and conflicts are counted and settled by bytes', () => {
    const p = vector()
    const twice = mergePartials(p, p)
    assert.equal(twice.conflicts, 0)
    assert.equal(hex(encodePartial(twice.partial)), VECTOR_HEX)
    const other: WindowEntry = { origin: 'sp1/a', window: 7, state: Uint8Array.from([0, 0]), signature: null }
    const q = partialOf('poll', KIND_CODES.tally, [other])
    const ab = mergePartials(p, q)
    const ba = mergePartials(q, p)
    assert.equal(ab.conflicts, 1)
    assert.equal(hex(encodePartial(ab.partial)), hex(encodePartial(ba.partial)))
    assert.throws(() => mergePartials(p, partialOf('vote', KIND_CODES.tally, [])), MismatchedPartialsError)
  })
})
