/** Thrown errors of the log core. Expected failures (bad input from the network) are returned as data instead. */

/** Thrown when docIdFor is given a key that is not 32 bytes or a name that breaks the name rule. */
export class InvalidDocIdInputError extends Error {
  static override name = 'InvalidDocIdInputError'
  override name = 'InvalidDocIdInputError'
}

/** Thrown when a frame to be signed has out-of-range fields (a bug in the authority, never network input). */
export class InvalidUnsignedFrameError extends Error {
  static override name = 'InvalidUnsignedFrameError'
  override name = 'InvalidUnsignedFrameError'
}

/** Thrown when a head announcement to be signed has out-of-range fields (a bug in the authority, never network input). */
export class InvalidHeadAnnouncementError extends Error {
  static override name = 'InvalidHeadAnnouncementError'
  override name = 'InvalidHeadAnnouncementError'
}

/** Thrown by the *Sync functions when the key implementation is asynchronous (WebCrypto in browsers). */
export class SyncCryptoUnavailableError extends Error {
  static override name = 'SyncCryptoUnavailableError'
  override name = 'SyncCryptoUnavailableError'
  constructor (message = 'this ed25519 implementation is asynchronous; use the async function') {
    super(message)
  }
}

/** Thrown when a key of another type than Ed25519 is handed to the log core. */
export class UnsupportedKeyTypeError extends Error {
  static override name = 'UnsupportedKeyTypeError'
  override name = 'UnsupportedKeyTypeError'
}
