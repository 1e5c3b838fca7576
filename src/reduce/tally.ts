/**
 * tally: a count per key.
 *
 * Closed key space (the schema lists the keys, or they are booleans): exact counts, merge adds.
 * Open key space: each origin window keeps at most `capacity` counters with SpaceSaving (a new
 * key evicts the smallest counter c_min and starts at c_min + 1 with over-estimate c_min), and
 * merge adds counters, over-estimates and floors key by key. So for every key x and true count
 * c(x): count(x) - over(x) <= c(x) <= count(x) + floor, and an unlisted key has c(x) <= floor;
 * `error` = floor + max over(x) <= 2N/capacity for N messages. Merge is exact addition, so any
 * order gives the same state while the union of keys stays within STORE_FACTOR x capacity; past
 * that the store keeps its largest counters and adds the largest dropped count to the floor, so
 * the bound still holds but the state may depend on merge order.
 */
import type { Json } from '../json.ts'
import { compareStrings, PartialProblem } from './bytes.ts'
import { KIND_CODES } from './kind.ts'
import type { Reducer } from './kind.ts'

export interface TallyState {
  readonly counts: Map<string, number>
  /** Over-estimate per key (open key space only; absent means 0). */
  readonly over: Map<string, number>
  /** Bound on the count of any key not in `counts`. */
  floor: number
}

export interface TallyParams {
  /** Counters per origin window, and keys in the result (open key space). */
  readonly capacity: number
  /** The declared keys, or null for an open key space. */
  readonly keys: readonly string[] | null
}

/** The authority's running total keeps up to this many times `capacity` keys (open key space). */
export const STORE_FACTOR = 4
export const MAX_TALLY_CAPACITY = 1024
export const MAX_TALLY_KEY_BYTES = 256

/** The key a message body counts under: strings as they are, numbers and booleans as JSON text. */
export function tallyKeyOf (body: Json): string {
  return typeof body === 'string' ? body : JSON.stringify(body)
}

/** Largest count first, then the smaller key: the order of results and of compaction. */
function byCount (state: TallyState): string[] {
  return [...state.counts.keys()].sort((a, b) => (state.counts.get(b) as number) - (state.counts.get(a) as number) || compareStrings(a, b))
}

export function tallyReducer (params: TallyParams): Reducer<TallyState> {
  const closed = params.keys === null ? null : new Set(params.keys)
  const maxKeys = closed === null ? params.capacity * STORE_FACTOR : closed.size

  /** Keeps the largest maxKeys counters; every dropped key was <= the largest dropped count. */
  function compact (state: TallyState): TallyState {
    if (state.counts.size <= maxKeys) return state
    const order = byCount(state)
    state.floor += state.counts.get(order[maxKeys]) as number
    for (const key of order.slice(maxKeys)) {
      state.counts.delete(key)
      state.over.delete(key)
    }
    return state
  }

  return {
    kind: 'tally',
    code: KIND_CODES.tally,
    empty: () => ({ counts: new Map(), over: new Map(), floor: 0 }),
    add (state, body) {
      const key = tallyKeyOf(body)
      const count = state.counts.get(key)
      if (count !== undefined) {
        state.counts.set(key, count + 1)
        return
      }
      if (closed !== null || state.counts.size < params.capacity) {
        state.counts.set(key, 1)
        return
      }
      // SpaceSaving: evict the smallest counter (ties: the larger key), inherit its count.
      let victim = ''
      let least = Infinity
      for (const [k, c] of state.counts) {
        if (c < least || (c === least && compareStrings(k, victim) > 0)) {
          victim = k
          least = c
        }
      }
      state.counts.delete(victim)
      state.over.delete(victim)
      state.counts.set(key, least + 1)
      state.over.set(key, least)
      if (least > state.floor) state.floor = least
    },
    merge (a, b) {
      const counts = new Map(a.counts)
      for (const [k, c] of b.counts) counts.set(k, (counts.get(k) ?? 0) + c)
      const over = new Map(a.over)
      for (const [k, e] of b.over) over.set(k, (over.get(k) ?? 0) + e)
      return compact({ counts, over, floor: a.floor + b.floor })
    },
    encode (state, out) {
      out.varint(state.floor)
      const keys = [...state.counts.keys()].sort(compareStrings)
      out.varint(keys.length)
      for (const key of keys) {
        out.string(key)
        out.varint(state.counts.get(key) as number)
        out.varint(state.over.get(key) ?? 0)
      }
    },
    decode (input) {
      const floor = input.varint('tally floor')
      const n = input.varint('tally key count')
      if (n > maxKeys) throw new PartialProblem(`tally: ${n} keys, more than ${maxKeys}`)
      const state: TallyState = { counts: new Map(), over: new Map(), floor }
      let previous: string | null = null
      for (let i = 0; i < n; i++) {
        const key = input.string('tally key', MAX_TALLY_KEY_BYTES)
        if (previous !== null && compareStrings(previous, key) >= 0) throw new PartialProblem('tally: keys must be sorted and distinct')
        if (closed !== null && !closed.has(key)) throw new PartialProblem(`tally: ${JSON.stringify(key)} is not a declared key`)
        const count = input.varint('tally count')
        const over = input.varint('tally over-estimate')
        if (count === 0 || over >= count) throw new PartialProblem(`tally: key ${JSON.stringify(key)} has count ${count} and over-estimate ${over}`)
        if (closed !== null && over !== 0) throw new PartialProblem('tally: a declared key space is counted exactly')
        state.counts.set(key, count)
        if (over > 0) state.over.set(key, over)
        previous = key
      }
      if (closed !== null && floor !== 0) throw new PartialProblem('tally: a declared key space has no floor')
      return state
    },
    result (state) {
      const counts: Record<string, number> = {}
      if (closed !== null) {
        for (const key of params.keys as string[]) counts[key] = state.counts.get(key) ?? 0
        return { counts, error: 0 }
      }
      let over = 0
      for (const key of byCount(state).slice(0, params.capacity)) {
        counts[key] = state.counts.get(key) as number
        over = Math.max(over, state.over.get(key) ?? 0)
      }
      return { counts, error: state.floor + over }
    }
  }
}
