/**
 * Exclusive ownership of a data directory. Two authorities on one frame log fork the chain and
 * corrupt the file; two super-peers on one --data-dir share an identity key and a peer store, so
 * the mesh sees one peer id at two addresses. The second process must refuse before it touches
 * anything.
 *
 * The lock is an fcntl open-file-description lock (fs-native-extensions) on <dir>/<owner>.lock.
 * The kernel drops it when its holder exits, however it exits (kill -9 included), so a stale lock
 * file never blocks a restart; the file's contents (the holder's pid) are only for the message.
 */
import { tryLock } from 'fs-native-extensions'
import { constants } from 'node:fs'
import { mkdir, open, readFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'

/** Who takes the lock: it names the lock file, and the flag an operator changes to pick another directory. */
export type DirOwner = 'authority' | 'super-peer'

const DIR_FLAG: Record<DirOwner, string> = { authority: '--dir', 'super-peer': '--data-dir' }

export function lockFileOf (owner: DirOwner): string {
  return `${owner}.lock`
}

/** Thrown when another live process holds the directory. */
export class DataDirLockedError extends Error {
  static override name = 'DataDirLockedError'
  override name = 'DataDirLockedError'
  readonly dir: string
  constructor (dir: string, owner: DirOwner, holder: string | undefined) {
    super(`data directory ${dir} is in use by another ${owner}${holder === undefined ? '' : ` (pid ${holder})`}: ` +
      `it holds ${join(dir, lockFileOf(owner))}; stop it first, or use another ${DIR_FLAG[owner]}`)
    this.dir = dir
  }
}

/** Thrown when the directory cannot be created, opened or locked at all. */
export class DataDirUnusableError extends Error {
  static override name = 'DataDirUnusableError'
  override name = 'DataDirUnusableError'
  readonly dir: string
  constructor (dir: string, reason: string, cause?: unknown) {
    super(`data directory ${dir} is unusable: ${reason}`, { cause })
    this.dir = dir
  }
}

export class DirLock {
  readonly dir: string
  #handle: FileHandle | undefined

  private constructor (dir: string, handle: FileHandle) {
    this.dir = dir
    this.#handle = handle
  }

  /** Creates the directory if needed and locks it, or throws without having changed any file in it. */
  static async acquire (dir: string, owner: DirOwner): Promise<DirLock> {
    const path = join(dir, lockFileOf(owner))
    let handle: FileHandle
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
      // O_CREAT without O_TRUNC: opening an existing lock file changes nothing in it.
      handle = await open(path, constants.O_RDWR | constants.O_CREAT, 0o600)
    } catch (err) {
      throw new DataDirUnusableError(dir, describeErrno(err, path), err)
    }
    let locked: boolean
    try {
      locked = tryLock(handle.fd)
    } catch (err) {
      await handle.close()
      throw new DataDirUnusableError(dir, `cannot lock ${path} (${(err as Error).message})`, err)
    }
    if (!locked) {
      await handle.close()
      const holder = (await readFile(path, 'utf8').catch(() => '')).trim()
      throw new DataDirLockedError(dir, owner, /^\d+$/.test(holder) ? holder : undefined)
    }
    // Ours now: record who holds it, for the next process's message.
    await handle.truncate(0)
    await handle.write(`${process.pid}\n`, 0)
    return new DirLock(dir, handle)
  }

  /** Releases the lock (closing the file drops it). Idempotent. */
  async release (): Promise<void> {
    const handle = this.#handle
    this.#handle = undefined
    await handle?.close()
  }
}

function describeErrno (err: unknown, path: string): string {
  const code = (err as { code?: unknown }).code
  switch (code) {
    case 'EACCES': case 'EPERM': return `permission denied (${path})`
    case 'ENOTDIR': case 'EEXIST': return 'a path component is not a directory'
    case 'EROFS': return 'read-only file system'
    case 'ENOSPC': return 'no space left on device'
    default: return `${typeof code === 'string' ? code : (err as Error).message} (${path})`
  }
}
