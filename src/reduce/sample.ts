/**
 * sample: the first or last N messages by (window, writer, message id), a total order that does
 * not depend on arrival, so merge (union, then keep the N extreme) is associative, commutative
 * and idempotent. The result lists the kept bodies in that order.
 */
import type { Json } from '../json.ts'
import { canonicalJson } from '../log/canonical-json.ts'
import { compareStrings, PartialProblem } from './bytes.ts'
import { KIND_CODES } from './kind.ts'
import type { MessageRef, Reducer } from './kind.ts'
import { MAX_BODY_BYTES, MAX_WRITER_BYTES } from './partial.ts'

export interface SampleItem extends MessageRef {
  /** Canonical JSON of the body. */
  readonly text: string
}

export interface SampleState {
  items: SampleItem[]
  /** True while `items` is sorted, distinct and at most N long. */
  normal: boolean
}

export interface SampleParams {
  readonly size: number
  readonly keep: 'first' | 'last'
}

export const MAX_SAMPLE_SIZE = 100

export function compareRefs (a: MessageRef, b: MessageRef): number {
  return a.window - b.window || compareStrings(a.writer, b.writer) || a.id - b.id
}

export function sampleReducer (params: SampleParams): Reducer<SampleState> {
  const { size, keep } = params

  /** Sorts, dedups and trims in place: the value is unchanged, only its form is made canonical. */
  function normalize (state: SampleState): SampleItem[] {
    if (state.normal) return state.items
    const sorted = state.items.slice().sort(compareRefs)
    const distinct: SampleItem[] = []
    for (const item of sorted) {
      if (distinct.length === 0 || compareRefs(distinct[distinct.length - 1], item) !== 0) distinct.push(item)
    }
    state.items = keep === 'first' ? distinct.slice(0, size) : distinct.slice(Math.max(0, distinct.length - size))
    state.normal = true
    return state.items
  }

  return {
    kind: 'sample',
    code: KIND_CODES.sample,
    empty: () => ({ items: [], normal: true }),
    add (state, body, ref) {
      state.items.push({ window: ref.window, writer: ref.writer, id: ref.id, text: canonicalJson(body) })
      state.normal = false
      if (state.items.length >= 2 * size) normalize(state)
    },
    merge (a, b) {
      const merged: SampleState = { items: [...a.items, ...b.items], normal: false }
      normalize(merged)
      return merged
    },
    encode (state, out) {
      const items = normalize(state)
      out.varint(items.length)
      for (const item of items) {
        out.varint(item.window)
        out.string(item.writer)
        out.varint(item.id)
        out.string(item.text)
      }
    },
    decode (input) {
      const n = input.varint('sample count')
      if (n > size) throw new PartialProblem(`sample: ${n} items, more than ${size}`)
      const items: SampleItem[] = []
      for (let i = 0; i < n; i++) {
        const window = input.varint('sample window')
        const writer = input.string('sample writer', MAX_WRITER_BYTES)
        const id = input.varint('sample message id')
        const text = input.string('sample body', MAX_BODY_BYTES)
        let body: Json
        try {
          body = JSON.parse(text) as Json
        } catch {
          throw new PartialProblem('sample: a body is not JSON')
        }
        if (canonicalJson(body) !== text) throw new PartialProblem('sample: a body is not canonical JSON')
        const item = { window, writer, id, text }
        if (items.length > 0 && compareRefs(items[items.length - 1], item) >= 0) throw new PartialProblem('sample: items must be sorted and distinct')
        items.push(item)
      }
      return { items, normal: true }
    },
    result: state => normalize(state).map(item => JSON.parse(item.text) as Json)
  }
}
