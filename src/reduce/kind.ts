/**
 * The reducer contract every kind implements (merge rules: docs/protocol.md, "Reducer kinds").
 *
 * A state is what one origin's window, or the authority's running total, holds. `add` folds one
 * accepted message into a window's own accumulator (in place: the accumulator belongs to one
 * window of one origin). `merge` is associative and commutative and leaves its inputs alone.
 * Re-delivery is handled one level up: a partial keys states by (origin, window), so the same
 * state is never merged twice (src/reduce/partial.ts, src/reduce/ledger.ts).
 */
import type { Json } from '../json.ts'
import type { ByteReader, ByteWriter } from './bytes.ts'

export type KindName = 'count' | 'sum' | 'min' | 'max' | 'tally' | 'distinct' | 'sample'

/** One byte on the wire (docs/protocol.md). */
export const KIND_CODES: Readonly<Record<KindName, number>> = {
  count: 1, sum: 2, min: 3, max: 4, tally: 5, distinct: 6, sample: 7
}

/** Which message a body came from: sample order and re-delivery need it. */
export interface MessageRef {
  /** The origin window it was counted in. */
  readonly window: number
  /** The writer (a browser session) and its message number, 1, 2, 3 ... */
  readonly writer: string
  readonly id: number
}

export interface Reducer<S> {
  readonly kind: KindName
  readonly code: number
  empty (): S
  /** Folds one message body (already valid for the channel's schema) into `state`, in place. */
  add (state: S, body: Json, ref: MessageRef): void
  /** a ⊔ b as a new state; associative and commutative. */
  merge (a: S, b: S): S
  /** Canonical bytes: equal states encode to equal bytes. */
  encode (state: S, out: ByteWriter): void
  /** Throws PartialProblem on bytes that are not a canonical state of this reducer. */
  decode (input: ByteReader): S
  /** The JSON the authority writes to the channel's field. */
  result (state: S): Json
}
