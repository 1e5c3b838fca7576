/** count: how many messages. Merge adds. */
import { KIND_CODES } from './kind.ts'
import type { Reducer } from './kind.ts'

export interface CountState { n: number }

export const countReducer: Reducer<CountState> = {
  kind: 'count',
  code: KIND_CODES.count,
  empty: () => ({ n: 0 }),
  add (state) { state.n++ },
  merge: (a, b) => ({ n: a.n + b.n }),
  encode (state, out) { out.varint(state.n) },
  decode: input => ({ n: input.varint('count') }),
  result: state => state.n
}
