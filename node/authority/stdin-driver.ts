import { createInterface } from 'node:readline'
import { isJsonObject } from '../../src/json.ts'
import type { Authority, ChangeAck } from './authority.ts'
import type { JsonObject } from '../../src/json.ts'
import type { Counters } from '../metrics.ts'

/**
 * Feeds changes from JSON lines on a stream into the authority and writes one JSON line per
 * line: {"ack": id, "seq": n} once durable, or {"id": id, "error": "..."}. A line is
 * {"id": ..., "change": {...}} (Authority.change) or {"id": ..., "setPolicy": {...} | null}
 * (Authority.setPolicy: replace the whole policy in one frame). A line without a string or
 * number id is refused (applied, its ack could not be matched to it). Lets any program (or a
 * test) drive an authority process without embedding the library.
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
    const request = isJsonObject(message) ? requestOf(authority, message) : undefined
    if (request === undefined) {
      counters.inc('input_lines_rejected')
      write({ id, error: 'expected {"id": ..., "change": {...}} or {"id": ..., "setPolicy": {...} | null}' })
      return
    }
    // An ack nobody can correlate is as good as none: every change needs its id.
    if (typeof id !== 'string' && typeof id !== 'number') {
      counters.inc('input_lines_rejected')
      write({ id, error: 'missing "id": give each change a string or number id to match its ack' })
      return
    }
    const done = request().then(
      ack => { write({ ack: id, seq: ack.seq }) },
      (err: Error) => { counters.inc('changes_rejected'); write({ id, error: err.message }) })
    pending.add(done)
    void done.finally(() => pending.delete(done))
  })
  return new Promise(resolve => {
    lines.on('close', () => { void Promise.all(pending).then(() => { resolve() }) })
  })
}

/** The authority call a line asks for, or undefined when the line is neither form. */
function requestOf (authority: Authority, message: JsonObject): (() => Promise<ChangeAck>) | undefined {
  const change = message.change
  const hasPolicy = Object.hasOwn(message, 'setPolicy')
  if (isJsonObject(change) && !hasPolicy) return async () => await authority.change(change)
  const policy = message.setPolicy
  if (hasPolicy && change === undefined && (policy === null || isJsonObject(policy))) return async () => await authority.setPolicy(policy)
  return undefined
}
