// Per-stream and per-request deadlines that can be cleared.
//
// AbortSignal.timeout(ms) cannot be cleared: it fires even after the operation it guarded has
// finished, and builds a DOMException with its stack (about 1 ms) each time, once for every
// stream that ever used it. A deadline here is a plain timer the caller clears once the
// operation settles, so only the operations that really time out pay for the exception.
//
// Use it synchronously, with no await between creating it and starting the operation:
//
//   const deadline = startDeadline(REQUEST_TIMEOUT_MS, 'relay request')
//   try {
//     raw = await lp.read({ signal: deadline.signal })
//   } finally {
//     deadline.clear()
//   }

/** setTimeout's longest delay; a longer one would fire at once. */
export const MAX_DEADLINE_MS = 2 ** 31 - 1

export interface Deadline {
  /** Aborts with a TimeoutError naming what timed out, unless cleared first. */
  readonly signal: AbortSignal
  /** Stops the timer; the signal never aborts afterwards. Safe to call more than once. */
  clear: () => void
}

/**
 * A deadline of `ms` for `what` (e.g. 'relay request'): its signal aborts with a DOMException
 * named TimeoutError, "<what> timed out after <ms> ms". The timer does not keep the process
 * alive. Delays beyond MAX_DEADLINE_MS are capped at it (about 24.8 days).
 */
export function startDeadline (ms: number, what: string): Deadline {
  if (!(ms >= 0)) throw new RangeError(`deadline for ${what} must be a number of ms >= 0, got ${ms}`)
  const controller = new AbortController()
  const timer = setTimeout(() => {
    controller.abort(new DOMException(`${what} timed out after ${ms} ms`, 'TimeoutError'))
  }, Math.min(ms, MAX_DEADLINE_MS))
  timer.unref()
  return {
    signal: controller.signal,
    clear: () => { clearTimeout(timer) }
  }
}
