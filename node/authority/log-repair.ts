/**
 * Offline check and repair of an authority's frame log (`deltacast log verify|repair`).
 *
 * verify reads the log without changing anything: every intact record, every damaged byte range,
 * and how far the signed chain holds (frames decoded, signatures checked against the doc id,
 * hash chain and state hashes replayed from seq 1).
 *
 * repair keeps the chain and only the chain: it writes the chained records to a new file, keeps
 * the original byte for byte as a backup, and swaps them atomically. It refuses (changing
 * nothing) when an intact frame beyond the chain's head would be lost: such a frame may already
 * be on replicas, and an authority restarted below it would fork the document.
 */
import { link, open, readFile, readdir, rename, unlink } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { mergeInto } from '../../src/delta/index.ts'
import { classifyNext, docIdFor, genesisHead, headOf, snapshotBytesOf, verifyFrameSync, verifySnapshot } from '../../src/log/index.ts'
import type { ChainHead } from '../../src/log/index.ts'
import type { JsonObject } from '../../src/json.ts'
import { loadKey } from '../identity.ts'
import { DirLock } from '../dir-lock.ts'
import { encodeBatch, HEADER_BYTES, MAX_RECORD_BYTES, scanRecordFile, syncDirectory } from './log-store.ts'
import type { DamagedRange } from './log-store.ts'

export type LogStatus = 'intact' | 'torn-tail' | 'corrupt'

/** An intact record that is not part of the chain. */
export interface OutsideRecord { offset: number, seq?: number, reason: string }

export interface LogReport {
  file: string
  docId: string
  status: LogStatus
  fileBytes: number
  /** Frames in the chain from seq 1, and its head. */
  frames: number
  seq: number
  epoch: number
  damage: DamagedRange[]
  /** Damaged ranges that still hold a whole signed frame that chains (only its header was hit). */
  recovered: DamagedRange[]
  /** Damaged ranges whose bytes are lost. */
  unrecovered: DamagedRange[]
  /** Intact records that do not extend the chain (duplicates, rival history, gaps, bad frames). */
  outside: OutsideRecord[]
  /** Whether repair can rewrite the log without losing an intact frame beyond the head. */
  repairable: boolean
  /** Why not, when not. */
  problem?: string
}

/** Thrown for a log that cannot be found or checked at all (not for damage, which is reported). */
export class LogToolError extends Error {
  static override name = 'LogToolError'
  override name = 'LogToolError'
}

interface Analysis { report: LogReport, chained: Uint8Array[] }

export async function verifyLog (dir: string, name?: string): Promise<LogReport> {
  return (await analyse(dir, name)).report
}

export interface RepairResult { report: LogReport, repaired: boolean, backup?: string, removedBytes: number }

/** Rewrites a damaged log to its chain, keeping a backup; a no-op for an intact log. */
export async function repairLog (dir: string, name?: string, now: () => number = Date.now): Promise<RepairResult> {
  const lock = await DirLock.acquire(dir, 'authority')
  try {
    const { report, chained } = await analyse(dir, name)
    if (report.status === 'intact') return { report, repaired: false, removedBytes: 0 }
    if (!report.repairable) throw new LogToolError(`${report.file}: not repaired, nothing changed: ${report.problem ?? 'unrepairable'}`)
    const bytes = encodeBatch(chained)
    const backup = `${report.file}.${new Date(now()).toISOString().replace(/[:.]/g, '-')}.bak`
    const tmp = `${report.file}.repair.tmp`
    const handle = await open(tmp, 'wx', 0o600)
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    // The original stays, unchanged, under the backup name; then the repaired file takes its place.
    await link(report.file, backup)
    await rename(tmp, report.file).catch(async (err: unknown) => { await unlink(tmp); throw err })
    await syncDirectory(dir)
    return { report, repaired: true, backup, removedBytes: report.fileBytes - bytes.length }
  } finally {
    await lock.release()
  }
}

async function analyse (dir: string, name: string | undefined): Promise<Analysis> {
  const docName = name ?? await onlyLogName(dir)
  const file = join(dir, `${docName}.frames`)
  let bytes: Uint8Array
  try {
    bytes = await readFile(file)
  } catch (err) {
    throw new LogToolError(`cannot read frame log ${file} (${(err as { code?: string }).code ?? (err as Error).message})`)
  }
  const key = await loadKey(join(dir, 'authority.key'))
  const docId = docIdFor(key.publicKey.raw, docName)
  const { records, damage } = await scanRecordFile(bytes)

  // In file order: intact records, and damaged ranges whose bytes may still hold a frame whose
  // header (length or checksum) alone was hit: its signature and chain position prove it intact.
  const items = [
    ...records.map(r => ({ offset: r.offset, payload: r.payload, damaged: undefined })),
    ...damage.map(d => ({ offset: d.offset, payload: bytes.subarray(d.offset + HEADER_BYTES, d.end), damaged: d }))
  ].sort((a, b) => a.offset - b.offset)
  const tree: JsonObject = {}
  let head: ChainHead = genesisHead()
  let frames = 0
  const chained: Uint8Array[] = []
  const outside: OutsideRecord[] = []
  const unrecovered: DamagedRange[] = []
  const recovered: DamagedRange[] = []
  for (const { offset, payload, damaged } of items) {
    const checked = payload.length === 0 ? undefined : verifyFrameSync(payload, docId, { maxFrameBytes: MAX_RECORD_BYTES })
    const step = checked?.ok === true ? classifyNext(head, checked.frame) : undefined
    if (damaged !== undefined) {
      if (step !== 'next') { unrecovered.push(damaged); continue }
      recovered.push(damaged)
    } else if (checked === undefined || !checked.ok) {
      outside.push({ offset, reason: checked === undefined ? 'empty' : `${checked.error.code}: ${checked.error.message}` })
      continue
    } else if (step !== 'next') {
      outside.push({ offset, seq: checked.frame.seq, reason: step ?? 'unknown' })
      continue
    }
    if (checked?.ok !== true) continue
    const frame = checked.frame
    // A state hash that disagrees with the replayed tree means the chain cannot go on.
    for (const change of frame.changes) mergeInto(tree, change)
    if (frame.stateHash !== undefined && !verifySnapshot(snapshotBytesOf(tree), frame)) {
      outside.push({ offset, seq: frame.seq, reason: 'state hash does not match the replayed state' })
      break
    }
    head = headOf(frame)
    frames++
    chained.push(payload.slice())
  }

  const lastDamage = damage.at(-1)
  const tornTail = damage.length === 1 && lastDamage !== undefined && lastDamage.end === bytes.length && outside.length === 0 && recovered.length === 0
  const status: LogStatus = damage.length === 0 && outside.length === 0 ? 'intact' : tornTail ? 'torn-tail' : 'corrupt'
  // Bad frames (no seq) and frames beyond the head would be lost; duplicates and a rival
  // history at or below the head are not part of the document and stay in the backup.
  const lost = outside.filter(record => record.seq === undefined || record.seq > head.seq)
  const problem = lost.length === 0
    ? undefined
    : `${lost.length} intact record(s) after seq ${head.seq} cannot join the chain (first at byte ${lost[0].offset}: ` +
      `${lost[0].seq === undefined ? '' : `seq ${lost[0].seq}, `}${lost[0].reason}); the frames between are lost, ` +
      'and an authority restarted below them would fork the document'
  return {
    report: { file, docId, status, fileBytes: bytes.length, frames, seq: head.seq, epoch: head.epoch, damage, recovered, unrecovered, outside, repairable: lost.length === 0, problem },
    chained
  }
}

/** The one `<name>.frames` in dir; --name is needed when there are several. */
async function onlyLogName (dir: string): Promise<string> {
  let entries: string[]
  try {
    entries = await readdir(dir)
  } catch (err) {
    throw new LogToolError(`cannot read --dir ${dir} (${(err as { code?: string }).code ?? (err as Error).message})`)
  }
  const logs = entries.filter(entry => entry.endsWith('.frames')).map(entry => basename(entry, '.frames'))
  if (logs.length === 1) return logs[0]
  throw new LogToolError(logs.length === 0
    ? `no frame log (<name>.frames) in ${dir}`
    : `${dir} holds several frame logs (${logs.join(', ')}): pass --name`)
}
