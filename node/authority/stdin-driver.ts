import { createInterface } from 'node:readline'
import { isJsonObject } from '../../src/json.ts'
import type { Authority } from './authority.ts'
import type { Counters } from '../metrics.ts'

/**
 * Feeds changes from JSON lines on a stream into the authority and writes one JSON line per
 * change: {"ack": id, "seq": n} once durable, or {"id": id, "error": "..."}. A change without a
 * string or number id is refused (applied, its ack could not be matched to it). Lets any program
 * (or a test) drive an authority process without embedding the library.
 */
export function driveFromLines (authority: Authority, input: NodeJS.ReadableStream, output: NodeJS.WritableStream, counters: Counters): Promise<void> {
  const lines = createInterface({ input, crlfDelay: Infinity })
  const pending = new Set<Promise<void>>()
  const write = (value: unknown): void => { output.write(JSON.stringify(value) + '\n') }
  lines.on('line', line => {
    if (line.trim() === '') return
    let message: unknown
    try {
      message = JSON.parse(line)
    } catch {
      counters.inc('input_lines_rejected')
      write({ id: null, error: 'line is not JSON' })
      return
    }
    const id = isJsonObject(message) ? message.id ?? null : null
    if (!isJsonObject(message) || !isJsonObject(message.change)) {
      counters.inc('input_lines_rejected')
      write({ id, error: 'expected {"id": ..., "change": {...}}' })
      return
    }
    // An ack nobody can correlate is as good as none: every change needs its id.
    if (typeof id !== 'string' && typeof id !== 'number') {
      counters.inc('input_lines_rejected')
      write({ id, error: 'missing "id": give each change a string or number id to match its ack' })
      return
    }
    const done = authority.change(message.change).then(
      ack => { write({ ack: id, seq: ack.seq }) },
      (err: Error) => { counters.inc('changes_rejected'); write({ id, error: err.message }) })
    pending.add(done)
    void done.finally(() => pending.delete(done))
  })
  return new Promise(resolve => {
    lines.on('close', () => { void Promise.all(pending).then(() => { resolve() }) })
  })
}
