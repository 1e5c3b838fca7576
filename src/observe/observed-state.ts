/**
 * A viewer's copy of one document, fed by observe-protocol messages: what the browser keeps.
 * Pure: no I/O, so the resume rules (no gap, no duplicate) are testable in Node.
 */
import { integrate } from '../delta/index.ts'
import type { JsonObject } from '../json.ts'
import type { FrameMessage, ResetMessage } from './protocol.ts'

export type Applied =
  /** The state was replaced by the message's full tree. */
  | { kind: 'reset', seq: number, data: JsonObject }
  /** The next frame; data is null when it changed nothing for this viewer. */
  | { kind: 'frame', seq: number, data: JsonObject | null }
  /** Already integrated (seq <= current seq): ignored. */
  | { kind: 'duplicate', seq: number }
  /** A frame that does not follow the current seq (or arrived before any reset): ignored. */
  | { kind: 'gap', seq: number, expected: number | null }

export class ObservedState {
  /** The document in browser form: lists as arrays, item ids through keysOf. */
  state: JsonObject = {}
  /** Seq of the last integrated message; null until the first reset (or resume point). */
  seq: number | null = null

  /** Starts from a state the caller already holds (e.g. restored from storage) at `seq`. */
  static resume (state: JsonObject, seq: number): ObservedState {
    const observed = new ObservedState()
    observed.state = state
    observed.seq = seq
    return observed
  }

  apply (message: ResetMessage | FrameMessage): Applied {
    if ('reset' in message) {
      this.state = integrate({}, message.data)
      this.seq = message.seq
      return { kind: 'reset', seq: message.seq, data: message.data }
    }
    if (this.seq !== null && message.seq <= this.seq) return { kind: 'duplicate', seq: message.seq }
    if (this.seq === null || message.seq !== this.seq + 1) return { kind: 'gap', seq: message.seq, expected: this.seq === null ? null : this.seq + 1 }
    const data = message.data ?? null
    if (data !== null) this.state = integrate(this.state, data)
    this.seq = message.seq
    return { kind: 'frame', seq: message.seq, data }
  }
}
