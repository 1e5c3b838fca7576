/** min and max: the smallest or largest number sent (null before any). Merge takes the extreme. */
import { PartialProblem } from './bytes.ts'
import { KIND_CODES } from './kind.ts'
import type { Reducer } from './kind.ts'

export interface ExtremeState { value: number | null }

function extremeReducer (kind: 'min' | 'max'): Reducer<ExtremeState> {
  const better = kind === 'min' ? (a: number, b: number) => a < b : (a: number, b: number) => a > b
  return {
    kind,
    code: KIND_CODES[kind],
    empty: () => ({ value: null }),
    add (state, body) {
      // -0 and 0 are one value here, so that the bytes of equal states are equal.
      const value = (body as number) + 0
      if (state.value === null || better(value, state.value)) state.value = value
    },
    merge (a, b) {
      if (a.value === null) return { value: b.value }
      if (b.value === null) return { value: a.value }
      return { value: better(b.value, a.value) ? b.value : a.value }
    },
    encode (state, out) {
      if (state.value === null) {
        out.u8(0)
      } else {
        out.u8(1)
        out.f64(state.value)
      }
    },
    decode (input) {
      const flag = input.u8(kind)
      if (flag === 0) return { value: null }
      if (flag !== 1) throw new PartialProblem(`${kind}: flag must be 0 or 1, got ${flag}`)
      const value = input.f64(kind)
      if (!Number.isFinite(value) || Object.is(value, -0)) throw new PartialProblem(`${kind}: ${value} is not a finite number (or is -0)`)
      return { value }
    },
    result: state => state.value
  }
}

export const minReducer = extremeReducer('min')
export const maxReducer = extremeReducer('max')
