// Per-stream and per-request deadlines that can be cleared.
//
// AbortSignal.timeout(ms) cannot be cleared: it fires even after the operation it guarded has
// finished, and builds a DOMException with its stack (about 1 ms) each time, once for every
// stream that ever used it. A deadline here is a plain timer the caller clears once the
// operation settles, so only the operations that really time out pay for the exception.
//
// For one operation, withDeadline starts it and clears the deadline when it settles:
//
//   const raw = await withDeadline(REQUEST_TIMEOUT_MS, 'relay request', signal => lp.read({ signal }))
//
// startDeadline is the timer itself, for a deadline whose signal is also read elsewhere.

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

/**
 * Starts `operation` with a deadline of `ms` (see startDeadline; `also`, when given, aborts it
 * too) and clears the deadline once the operation settles. Returns the operation's own promise,
 * not one chained to it: awaiting it takes no more turns than awaiting the operation (a wrapper
 * that awaited it would, and the observe path's ordering tests notice).
 */
export function withDeadline<T> (ms: number, what: string, operation: (signal: AbortSignal) => Promise<T>, also?: AbortSignal): Promise<T> {
  const deadline = startDeadline(ms, what)
  let settled: Promise<T>
  try {
    settled = operation(also === undefined ? deadline.signal : AbortSignal.any([also, deadline.signal]))
  } catch (err) {
    deadline.clear()
    throw err
  }
  settled.then(deadline.clear, deadline.clear)
  return settled
}
