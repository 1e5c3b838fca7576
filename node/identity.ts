/**
 * The node's long-lived libp2p private key, kept in a protobuf-encoded file readable only by
 * its owner. The authority's key is also its document identity, so losing or silently
 * replacing it would orphan every document: creation never overwrites an existing file.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export const KEY_FILE_MODE = 0o600

/** Thrown by loadKey when no key file exists at the path. */
export class KeyFileMissingError extends Error {
  static override name = 'KeyFileMissingError'
  override name = 'KeyFileMissingError'
  readonly path: string
  constructor (path: string) {
    super(`no private key file at ${path}`)
    this.path = path
  }
}

/** Thrown when a key file exists but cannot be read or does not hold a private key. */
export class KeyFileInvalidError extends Error {
  static override name = 'KeyFileInvalidError'
  override name = 'KeyFileInvalidError'
  readonly path: string
  constructor (path: string, reason: string, cause: unknown) {
    super(`private key file ${path} ${reason}`, { cause })
    this.path = path
  }
}

/** Loads the key at `path`; fails with KeyFileMissingError or KeyFileInvalidError. */
export async function loadKey (path: string): Promise<PrivateKey> {
  const key = await readKeyIfPresent(path)
  if (key === undefined) throw new KeyFileMissingError(path)
  return key
}

/** Loads the key at `path`, or creates a new Ed25519 key there (mode 0600) if none exists. */
export async function loadOrCreateKey (path: string): Promise<PrivateKey> {
  const existing = await readKeyIfPresent(path)
  if (existing !== undefined) return existing
  const key = await generateKeyPair('Ed25519')
  const created = await writeNewKeyFile(path, privateKeyToProtobuf(key))
  // Another process created the file first: use its key, so everyone agrees on one identity.
  return created ? key : await loadKey(path)
}

async function readKeyIfPresent (path: string): Promise<PrivateKey | undefined> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined
    throw new KeyFileInvalidError(path, `cannot be read (${errnoCode(err) ?? String(err)})`, err)
  }
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new KeyFileInvalidError(path, 'is not a protobuf-encoded libp2p private key', err)
  }
}

/**
 * Writes a temporary file, syncs it, then hard-links it into place: like rename it is atomic,
 * but unlike rename it fails (EEXIST) instead of replacing a key that appeared meanwhile.
 * Returns false if the path already existed.
 */
async function writeNewKeyFile (path: string, bytes: Uint8Array): Promise<boolean> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const handle = await open(tmp, 'wx', KEY_FILE_MODE)
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    try {
      await link(tmp, path)
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') return false
      throw err
    }
    await syncDirectory(dir)
    return true
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

async function syncDirectory (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try { await handle.sync() } finally { await handle.close() }
}

function errnoCode (err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' ? code : undefined
}
