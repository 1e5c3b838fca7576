/** Small builders the reducer tests share. */
import type { Json } from '../../../src/json.ts'
import { ByteReader, ByteWriter } from '../../../src/reduce/bytes.ts'
import type { Reducer } from '../../../src/reduce/index.ts'

export interface Msg { writer: string, id: number, window: number, body: Json }

/** The state of these messages added in order to one accumulator. */
export function stateOf<S> (reducer: Reducer<S>, msgs: readonly Msg[]): S {
  const state = reducer.empty()
  for (const m of msgs) reducer.add(state, m.body, m)
  return state
}

export function bytesOf<S> (reducer: Reducer<S>, state: S): Uint8Array {
  const out = new ByteWriter()
  reducer.encode(state, out)
  return out.finish()
}

export function decodeState<S> (reducer: Reducer<S>, bytes: Uint8Array): S {
  const input = new ByteReader(bytes)
  const state = reducer.decode(input)
  input.done()
  return state
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
