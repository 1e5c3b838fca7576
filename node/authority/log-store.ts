/**
 * Append-only, crash-safe file of opaque records (the authority's frame log).
 *
 * Record layout (integers big-endian):
 *   0  u32  payload length N (1..MAX_RECORD_BYTES)
 *   4  u32  CRC-32 (zlib/IEEE polynomial) of the payload
 *   8  N    payload
 *
 * Recovery on open: damage found at offset P (bad length, bad CRC, or a record running past
 * end of file) is a torn tail only if no intact record starts anywhere after P; then the file
 * is truncated to P. If an intact record does follow, acknowledged data sits behind the damage
 * and open throws LogCorruptError(P) instead of dropping it.
 *
 * Single writer: nothing here stops two processes from opening the same file; the authority
 * holds its directory's lock (dir-lock.ts) first.
 */
import { open, mkdir } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { crc32 } from 'node:zlib'

export const HEADER_BYTES = 8
/** Frames stay far below this (gossipsub drops RPCs above ~4 MiB); it bounds recovery scans. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024
/** Read size while loading: large enough for few syscalls, small enough for huge logs. */
const READ_CHUNK_BYTES = 4 * 1024 * 1024

/** Thrown by open when damage is followed by intact records (not a torn tail). */
export class LogCorruptError extends Error {
  static override name = 'LogCorruptError'
  override name = 'LogCorruptError'
  readonly path: string
  readonly offset: number
  constructor (path: string, offset: number, reason: string) {
    super(`frame log ${path} is corrupt at byte ${offset} (${reason}); intact records follow, refusing to truncate (see deltacast log verify)`)
    this.path = path
    this.offset = offset
  }
}

/** Thrown by append after close. */
export class LogClosedError extends Error {
  static override name = 'LogClosedError'
  override name = 'LogClosedError'
  constructor (message = 'frame log is closed') { super(message) }
}

/** Thrown by append once a write or sync has failed: the file's tail is no longer trusted. */
export class LogWriteFailedError extends Error {
  static override name = 'LogWriteFailedError'
  override name = 'LogWriteFailedError'
  constructor (path: string, cause: unknown) {
    super(`frame log ${path}: a write or sync failed; reopen the log to recover`, { cause })
  }
}

export interface OpenedLog {
  store: FrameLogStore
  records: Uint8Array[]
  truncatedBytes: number
}

export class FrameLogStore {
  readonly path: string
  #handle: FileHandle
  #size: number
  #queue: Promise<void> = Promise.resolve()
  #failure: Error | undefined
  #closed = false

  private constructor (path: string, handle: FileHandle, size: number) {
    this.path = path
    this.#handle = handle
    this.#size = size
  }

  /** Bytes of intact records in the file. */
  get byteLength (): number { return this.#size }

  static async open (path: string): Promise<OpenedLog> {
    const handle = await openOrCreate(path)
    try {
      const fileSize = (await handle.stat()).size
      const reader = new ChunkReader(handle, fileSize)
      const { records, end, damage } = await readRecords(reader)
      if (damage !== undefined && await hasIntactRecordAfter(reader, end)) {
        throw new LogCorruptError(path, end, damage)
      }
      const truncatedBytes = fileSize - end
      if (truncatedBytes > 0) {
        await handle.truncate(end)
        await handle.sync()
      }
      return { store: new FrameLogStore(path, handle, end), records, truncatedBytes }
    } catch (err) {
      await handle.close()
      throw err
    }
  }

  /** Appends all records with one write and one fdatasync; resolves once durable. Calls run in order. */
  async append (records: Uint8Array[]): Promise<void> {
    if (this.#closed) throw new LogClosedError()
    const batch = encodeBatch(records)
    const result = this.#queue.then(async () => { await this.#write(batch) })
    this.#queue = result.catch(() => {})
    return result
  }

  /** Lets appends already queued finish, then closes the file; later appends reject. Idempotent. */
  async close (): Promise<void> {
    if (!this.#closed) {
      this.#closed = true
      const handle = this.#handle
      this.#queue = this.#queue.then(async () => { await handle.close() })
    }
    await this.#queue
  }

  async #write (batch: Uint8Array): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure
    if (batch.length === 0) return
    try {
      let written = 0
      while (written < batch.length) {
        const { bytesWritten } = await this.#handle.write(batch, written, batch.length - written, this.#size + written)
        if (bytesWritten === 0) throw new Error('write made no progress')
        written += bytesWritten
      }
      await this.#handle.datasync()
      this.#size += batch.length
    } catch (err) {
      // After a failed fsync the page cache may lie about what is on disk: refuse further appends.
      this.#failure = new LogWriteFailedError(this.path, err)
      await this.#handle.truncate(this.#size).catch(() => {})
      throw this.#failure
    }
  }
}

/** The bytes of records in the file layout above. */
export function encodeBatch (records: Uint8Array[]): Uint8Array {
  let total = 0
  for (const record of records) {
    if (!(record instanceof Uint8Array)) throw new TypeError('frame log records must be Uint8Array')
    if (record.length === 0 || record.length > MAX_RECORD_BYTES) {
      throw new RangeError(`frame log record length ${record.length} outside 1..${MAX_RECORD_BYTES}`)
    }
    total += HEADER_BYTES + record.length
  }
  const batch = new Uint8Array(total)
  const view = new DataView(batch.buffer)
  let offset = 0
  for (const record of records) {
    view.setUint32(offset, record.length)
    view.setUint32(offset + 4, crc32(record))
    batch.set(record, offset + HEADER_BYTES)
    offset += HEADER_BYTES + record.length
  }
  return batch
}

/** Opens read-write with explicit positions (O_APPEND would ignore them); creates durably if missing. */
async function openOrCreate (path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+')
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err
  }
  const dir = dirname(path)
  const firstCreated = await mkdir(dir, { recursive: true })
  let handle: FileHandle
  try {
    handle = await open(path, 'wx+')
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return await open(path, 'r+')
    throw err
  }
  try {
    // Make the new directory entries durable, from the first created directory's parent down.
    const dirs = [resolve(dir)]
    if (firstCreated !== undefined) {
      const stop = resolve(dirname(firstCreated))
      for (let d = dirs[0]; d !== stop && dirname(d) !== d;) { d = dirname(d); dirs.push(d) }
    }
    for (const d of dirs) await syncDirectory(d)
    return handle
  } catch (err) {
    await handle.close()
    throw err
  }
}

export async function syncDirectory (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try { await handle.sync() } finally { await handle.close() }
}

interface ReadResult { records: Uint8Array[], end: number, damage: string | undefined }

async function readRecords (reader: ChunkReader): Promise<ReadResult> {
  const records: Uint8Array[] = []
  let pos = 0
  while (pos < reader.fileSize) {
    const check = await checkRecordAt(reader, pos)
    if (!check.ok) return { records, end: pos, damage: check.reason }
    // Copy out so callers do not pin multi-MiB read chunks.
    records.push(new Uint8Array(check.payload))
    pos += HEADER_BYTES + check.payload.length
  }
  return { records, end: pos, damage: undefined }
}

type RecordCheck = { ok: true, payload: Uint8Array } | { ok: false, reason: string }

async function checkRecordAt (reader: ChunkReader, pos: number): Promise<RecordCheck> {
  if (pos + HEADER_BYTES > reader.fileSize) return { ok: false, reason: 'partial length header' }
  const header = await reader.bytes(pos, HEADER_BYTES)
  const view = new DataView(header.buffer, header.byteOffset, HEADER_BYTES)
  const length = view.getUint32(0)
  if (length === 0 || length > MAX_RECORD_BYTES) return { ok: false, reason: `invalid length ${length}` }
  if (pos + HEADER_BYTES + length > reader.fileSize) return { ok: false, reason: 'partial record' }
  const payload = await reader.bytes(pos + HEADER_BYTES, length)
  if (crc32(payload) !== view.getUint32(4)) return { ok: false, reason: 'checksum mismatch' }
  return { ok: true, payload }
}

export interface ScannedRecord { offset: number, payload: Uint8Array }
export interface DamagedRange { offset: number, end: number, reason: string }

/**
 * Every intact record of a whole log file held in memory, and the damaged byte ranges between
 * them: after damage the scan resumes at the next offset where an intact record starts.
 * For offline checking and repair (`deltacast log verify|repair`); open() never skips damage.
 */
export async function scanRecordFile (bytes: Uint8Array): Promise<{ records: ScannedRecord[], damage: DamagedRange[] }> {
  const reader = ChunkReader.ofBytes(bytes)
  const records: ScannedRecord[] = []
  const damage: DamagedRange[] = []
  let pos = 0
  while (pos < bytes.length) {
    const check = await checkRecordAt(reader, pos)
    if (check.ok) {
      records.push({ offset: pos, payload: check.payload.slice() })
      pos += HEADER_BYTES + check.payload.length
      continue
    }
    let next = pos + 1
    while (next + HEADER_BYTES < bytes.length && !(await checkRecordAt(reader, next)).ok) next++
    if (next + HEADER_BYTES >= bytes.length) next = bytes.length
    damage.push({ offset: pos, end: next, reason: check.reason })
    pos = next
  }
  return { records, damage }
}

/** Looks for any intact record starting after `damageAt`; only runs when damage was found. */
async function hasIntactRecordAfter (reader: ChunkReader, damageAt: number): Promise<boolean> {
  for (let pos = damageAt + 1; pos + HEADER_BYTES < reader.fileSize; pos++) {
    if ((await checkRecordAt(reader, pos)).ok) return true
  }
  return false
}

/** Serves byte ranges from a cached chunk, reading a new chunk (at least the range) on a miss. */
class ChunkReader {
  readonly fileSize: number
  #handle: FileHandle | undefined
  #chunk: Uint8Array = new Uint8Array(0)
  #chunkStart = 0

  constructor (handle: FileHandle | undefined, fileSize: number) {
    this.#handle = handle
    this.fileSize = fileSize
  }

  /** A reader over bytes already in memory. */
  static ofBytes (bytes: Uint8Array): ChunkReader {
    const reader = new ChunkReader(undefined, bytes.length)
    reader.#chunk = bytes
    return reader
  }

  /** Returns a view valid until the next call. The range must lie inside the file. */
  async bytes (pos: number, length: number): Promise<Uint8Array> {
    const start = pos - this.#chunkStart
    if (start < 0 || start + length > this.#chunk.length) {
      const size = Math.min(Math.max(READ_CHUNK_BYTES, length), this.fileSize - pos)
      const chunk = new Uint8Array(size)
      let filled = 0
      while (filled < size) {
        if (this.#handle === undefined) throw new RangeError(`read past the end at byte ${pos + filled}`)
        const { bytesRead } = await this.#handle.read(chunk, filled, size - filled, pos + filled)
        if (bytesRead === 0) throw new Error(`frame log shrank while reading at byte ${pos + filled}`)
        filled += bytesRead
      }
      this.#chunk = chunk
      this.#chunkStart = pos
      return chunk.subarray(0, length)
    }
    return this.#chunk.subarray(start, start + length)
  }
}

function isErrno (err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}
