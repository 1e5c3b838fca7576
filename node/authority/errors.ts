/** Thrown when a change is not a valid delta against the current document. */
export class ChangeRejectedError extends Error {
  static override name = 'ChangeRejectedError'
  override name = 'ChangeRejectedError'
  constructor (reason: string) {
    super(`change rejected: ${reason}`)
  }
}

/** Thrown when one change alone would not fit in a frame. */
export class ChangeTooLargeError extends Error {
  static override name = 'ChangeTooLargeError'
  override name = 'ChangeTooLargeError'
  constructor (bytes: number, limit: number) {
    super(`change of ${bytes} bytes exceeds the ${limit}-byte limit of one frame (raise maxFrameBytes or split the change)`)
  }
}

/** Thrown by change() after close(). */
export class AuthorityClosedError extends Error {
  static override name = 'AuthorityClosedError'
  override name = 'AuthorityClosedError'
  constructor () {
    super('authority is closed')
  }
}

/** Thrown once the durable log could not be written: the process must restart to recover. */
export class AuthorityFailedError extends Error {
  static override name = 'AuthorityFailedError'
  override name = 'AuthorityFailedError'
  constructor (cause: Error) {
    super(`authority stopped after a log write failed: ${cause.message}`, { cause })
  }
}

/** Thrown when the frame log on disk does not form one valid chain for this document. */
export class LogReplayError extends Error {
  static override name = 'LogReplayError'
  override name = 'LogReplayError'
}
