// The part of fs-native-extensions (holepunch) we use; the package ships no types.
declare module 'fs-native-extensions' {
  /** Takes an exclusive (or shared) fcntl OFD lock without waiting; false if another holds it. */
  export function tryLock (fd: number, opts?: { shared?: boolean }): boolean
  export function unlock (fd: number): void
}
