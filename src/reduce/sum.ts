/**
 * sum: the exact sum of integer messages. Floating-point addition is not associative, so the
 * schema must be "integer"; the state is exact at any size (a safe-integer fast path spilling
 * into a bigint), so any split and merge order gives the same total.
 */
import { KIND_CODES } from './kind.ts'
import type { Reducer } from './kind.ts'

export interface SumState {
  /** Kept below 2^53 in magnitude, so every addition to it is exact. */
  small: number
  big: bigint
}

const SAFE = Number.MAX_SAFE_INTEGER

function total (state: SumState): bigint {
  return state.big + BigInt(state.small)
}

export const sumReducer: Reducer<SumState> = {
  kind: 'sum',
  code: KIND_CODES.sum,
  empty: () => ({ small: 0, big: 0n }),
  add (state, body) {
    const value = body as number
    if (Math.abs(state.small) + Math.abs(value) > SAFE) {
      state.big += BigInt(state.small)
      state.small = 0
    }
    state.small += value
  },
  merge: (a, b) => ({ small: 0, big: total(a) + total(b) }),
  encode (state, out) { out.bigint(total(state)) },
  decode: input => ({ small: 0, big: input.bigint('sum') }),
  /** A number while exact, else its decimal digits (JSON numbers beyond 2^53 lose digits). */
  result (state) {
    const value = total(state)
    return value >= -BigInt(SAFE) && value <= BigInt(SAFE) ? Number(value) : value.toString()
  }
}
