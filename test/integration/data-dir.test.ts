import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, killAll, runCli, startCli } from '../helpers/processes.ts'
import type { Finished } from '../helpers/processes.ts'

const run = async (args: string[]): Promise<Finished> => await runCli(args)

/** Name, size, mtime and content hash of every file in a directory tree. */
async function snapshotDir (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name)
    const info = await stat(path)
    const hash = entry.isFile() ? createHash('sha256').update(await readFile(path)).digest('hex') : 'dir'
    out.push(`${path} ${info.size} ${info.mtimeMs} ${hash}`)
  }
  return out.sort()
}

/** Starts an authority on dir and has it acknowledge `count` changes, one frame each. */
async function authorityWithFrames (dir: string, count: number, from = 1): Promise<AuthorityDriver> {
  const driver = new AuthorityDriver(await startCli(authorityArgs({ dir, name: 'doc' })))
  for (let i = from; i < from + count; i++) {
    const id = driver.send({ [`k${i}`]: i })
    await driver.until(`ack ${id}`, () => driver.acked.has(id))
  }
  return driver
}

/** Offsets of the records in a frame log (u32 length, u32 crc, payload). */
function recordOffsets (log: Buffer): number[] {
  const offsets: number[] = []
  for (let pos = 0; pos < log.length; pos += 8 + log.readUInt32BE(pos)) offsets.push(pos)
  return offsets
}

describe('authority data directory (OS processes)', function () {
  this.timeout(120_000)
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dc7-data-')) })
  afterEach(async () => {
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('a second authority on a live --dir refuses at once and touches nothing; after kill -9 a restart works', async () => {
    const first = await authorityWithFrames(dir, 3)
    // Paused, the holder stays alive (and keeps its lock) but writes nothing itself meanwhile.
    first.proc.child.kill('SIGSTOP')
    const before = await snapshotDir(dir)
    const second = await run(authorityArgs({ dir, name: 'doc' }))
    const after = await snapshotDir(dir)
    first.proc.child.kill('SIGCONT')
    assert.equal(second.code, 1)
    assert.match(second.stderr, /^deltacast: --dir: data directory .* is in use by another authority \(pid \d+\)/m)
    assert.doesNotMatch(second.stderr, /^\s+at /m, 'no stack trace')
    assert.equal(second.stdout, '', 'never ready, never acknowledged')
    assert.deepEqual(after, before, 'no file created, truncated or appended')

    assert.equal(await first.proc.kill('SIGKILL'), 'SIGKILL')
    const restarted = await startCli(authorityArgs({ dir, name: 'doc' }))
    assert.equal(restarted.ready.seq, 3, 'the stale lock file does not block the restart')
  })

  it('a change on --stdin without an id is refused with an error line', async () => {
    const driver = new AuthorityDriver(await startCli(authorityArgs({ dir, name: 'doc' })))
    driver.sendRaw(JSON.stringify({ change: { a: 1 } }))
    driver.sendRaw(JSON.stringify({ id: null, change: { a: 2 } }))
    const id = driver.send({ b: 1 })
    await driver.until('the ack of the change with an id', () => driver.acked.has(id))
    assert.match(driver.errors.get(null) ?? '', /missing "id"/)
    assert.equal(driver.acked.get(id), 1, 'the refused changes made no frame')
    const state = await driver.proc.admin(`/docs/${driver.proc.ready.docId as string}/state`)
    assert.deepEqual(state.tree, { b: 1 }, 'the refused changes were not applied')
    assert.equal((await driver.proc.admin('/status')).counters.input_lines_rejected, 2)
  })

  it('log verify reports the intact chain; repair keeps a backup and the authority continues the chain', async () => {
    await (await authorityWithFrames(dir, 5)).proc.kill('SIGKILL')
    const file = join(dir, 'doc.frames')
    const original = await readFile(file)
    const offsets = recordOffsets(original)
    assert.equal(offsets.length, 5)

    const clean = await run(['log', 'verify', '--dir', dir])
    assert.equal(clean.code, 0, clean.stderr)
    assert.deepEqual(pick(JSON.parse(clean.stdout)), { status: 'intact', seq: 5, frames: 5, repairable: true })

    // Hit the checksum of record 3: the frame's bytes (and its signature) are still whole.
    const damaged = Buffer.from(original)
    damaged[offsets[2] + 4] ^= 0xff
    await writeFile(file, damaged)
    const refused = await startCli(authorityArgs({ dir, name: 'doc' })).then(() => 'started', (err: Error) => err.message)
    assert.match(refused, /corrupt at byte \d+ \(checksum mismatch\).*deltacast log verify/)
    assert.doesNotMatch(refused, /^\s+at /m, 'no stack trace')

    const verify = await run(['log', 'verify', '--dir', dir])
    assert.equal(verify.code, 1)
    const report = JSON.parse(verify.stdout)
    assert.deepEqual(pick(report), { status: 'corrupt', seq: 5, frames: 5, repairable: true })
    assert.equal(report.damage[0].offset, offsets[2])
    assert.match(verify.stderr, /damaged bytes/)
    assert.deepEqual(await readFile(file), damaged, 'verify changes nothing')

    const repair = await run(['log', 'repair', '--dir', dir])
    assert.equal(repair.code, 0, repair.stderr)
    const repaired = JSON.parse(repair.stdout)
    assert.equal(repaired.repaired, true)
    assert.deepEqual(await readFile(repaired.backup), damaged, 'the backup is the damaged file, byte for byte')
    assert.deepEqual(await readFile(file), original, 'every acknowledged frame kept')

    const driver = await authorityWithFrames(dir, 1, 6)
    assert.equal(driver.proc.ready.seq, 5)
    assert.deepEqual([...driver.acked.values()], [6], 'the chain continues')
    const again = await run(['log', 'verify', '--dir', dir])
    assert.deepEqual(pick(JSON.parse(again.stdout)), { status: 'intact', seq: 6, frames: 6, repairable: true })
  })

  it('log repair refuses, changing nothing, when intact frames follow a lost one', async () => {
    await (await authorityWithFrames(dir, 4)).proc.kill('SIGKILL')
    const file = join(dir, 'doc.frames')
    const damaged = await readFile(file)
    damaged[recordOffsets(damaged)[1] + 20] ^= 0xff // inside frame 2's bytes
    await writeFile(file, damaged)

    const verify = await run(['log', 'verify', '--dir', dir])
    assert.equal(verify.code, 1)
    assert.deepEqual(pick(JSON.parse(verify.stdout)), { status: 'corrupt', seq: 1, frames: 1, repairable: false })
    const repair = await run(['log', 'repair', '--dir', dir])
    assert.equal(repair.code, 1)
    assert.match(repair.stderr, /^deltacast: .*not repaired, nothing changed: 2 intact record\(s\) after seq 1/m)
    assert.deepEqual(await readFile(file), damaged)
    assert.deepEqual((await readdir(dir)).filter(name => name.includes('.bak')), [])
  })

  it('a torn tail is reported as such and verify exits 0', async () => {
    await (await authorityWithFrames(dir, 2)).proc.kill('SIGKILL')
    const file = join(dir, 'doc.frames')
    await writeFile(file, Buffer.concat([await readFile(file), Buffer.from([0, 0, 1, 0, 9, 9])]))
    const verify = await run(['log', 'verify', '--dir', dir])
    assert.equal(verify.code, 0, verify.stderr)
    assert.deepEqual(pick(JSON.parse(verify.stdout)), { status: 'torn-tail', seq: 2, frames: 2, repairable: true })
  })
})

describe('super-peer data directory (OS processes)', function () {
  this.timeout(120_000)
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dc7-spdata-')) })
  afterEach(async () => {
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })
  const superPeer = (): string[] => ['super-peer', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--observe-listen', 'none']

  it('a second super-peer on a live --data-dir refuses at once and touches nothing; after kill -9 a restart keeps the identity', async () => {
    const first = await startCli(superPeer())
    first.child.kill('SIGSTOP')
    const before = await snapshotDir(dir)
    const second = await run(superPeer())
    const after = await snapshotDir(dir)
    first.child.kill('SIGCONT')
    assert.equal(second.code, 1)
    assert.match(second.stderr, /^deltacast: --data-dir: data directory .* is in use by another super-peer \(pid \d+\): .*use another --data-dir$/m)
    assert.doesNotMatch(second.stderr, /^\s+at /m, 'no stack trace')
    assert.equal(second.stdout, '', 'never ready')
    assert.deepEqual(after, before, 'no key, certificate or peer store touched')

    assert.equal(await first.kill('SIGKILL'), 'SIGKILL')
    const restarted = await startCli(superPeer())
    assert.equal(restarted.ready.peerId, first.ready.peerId, 'the stale lock file does not block the restart')
  })
})

function pick (report: { status: string, seq: number, frames: number, repairable: boolean }): object {
  return { status: report.status, seq: report.seq, frames: report.frames, repairable: report.repairable }
}
