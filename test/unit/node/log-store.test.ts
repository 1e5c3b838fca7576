import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { appendFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import {
  FrameLogStore, HEADER_BYTES, LogClosedError, LogCorruptError, MAX_RECORD_BYTES
} from '../../../node/authority/log-store.ts'
import { expectedRecord } from './fixtures/append-loop.ts'

const FIXTURE = fileURLToPath(new URL('./fixtures/append-loop.ts', import.meta.url))

/** Record i: small, distinct, varying length. */
function rec (i: number): Uint8Array {
  return new TextEncoder().encode(`frame-${i}-${'x'.repeat(i % 37)}`)
}

function range (n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, k) => from + k)
}

/** Byte offset where record `index` starts, for records rec(0..). */
function offsetOf (index: number): number {
  return range(index).reduce((sum, i) => sum + HEADER_BYTES + rec(i).length, 0)
}

async function writeRecords (path: string, ids: number[]): Promise<void> {
  const { store } = await FrameLogStore.open(path)
  await store.append(ids.map(rec))
  await store.close()
}

async function flipByte (path: string, offset: number): Promise<void> {
  const bytes = await readFile(path)
  bytes[offset] ^= 0xff
  await writeFile(path, bytes)
}

describe('FrameLogStore', () => {
  let dir: string
  let path: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deltacast-log-'))
    path = join(dir, 'nested', 'deeper', 'frames.log')
  })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('creates the file and missing parent directories', async () => {
    const { store, records, truncatedBytes } = await FrameLogStore.open(path)
    assert.deepEqual(records, [])
    assert.equal(truncatedBytes, 0)
    assert.equal((await stat(path)).size, 0)
    await store.close()
  })

  it('writes the exact record layout: u32 length, u32 CRC-32, payload', async () => {
    const { store } = await FrameLogStore.open(path)
    await store.append([Uint8Array.of(1, 2, 3)])
    await store.close()
    assert.equal((await readFile(path)).toString('hex'), '00000003' + '55bc801d' + '010203')
  })

  it('round-trips 5,000 records across reopen', async () => {
    const { store } = await FrameLogStore.open(path)
    for (let i = 0; i < 5000; i += 100) await store.append(range(100, i).map(rec))
    assert.equal(store.byteLength, offsetOf(5000))
    await store.close()
    const started = performance.now()
    const reopened = await FrameLogStore.open(path)
    assert.ok(performance.now() - started < 1000, 'opening 5,000 records should be quick')
    assert.equal(reopened.truncatedBytes, 0)
    assert.equal(reopened.records.length, 5000)
    reopened.records.forEach((r, i) => { assert.deepEqual(r, rec(i)) })
    await reopened.store.close()
  })

  it('reads records larger than one read chunk', async () => {
    const big = new Uint8Array(5 * 1024 * 1024).map((_, i) => i % 251)
    const { store } = await FrameLogStore.open(path)
    await store.append([rec(0), big, rec(1)])
    await store.close()
    const { records, store: again } = await FrameLogStore.open(path)
    assert.deepEqual(records, [rec(0), big, rec(1)])
    await again.close()
  })

  describe('torn tail', () => {
    const cases: Array<[string, (p: string) => Promise<void>]> = [
      ['cut inside the length header', async (p) => { await truncate(p, offsetOf(3) + 3) }],
      ['cut between header and payload', async (p) => { await truncate(p, offsetOf(3) + HEADER_BYTES) }],
      ['cut inside the payload', async (p) => { await truncate(p, offsetOf(4) - 2) }],
      ['last record has a bad CRC', async (p) => { await flipByte(p, offsetOf(4) - 1) }],
      ['zero-filled tail', async (p) => { await truncate(p, offsetOf(3)); await appendFile(p, new Uint8Array(100)) }]
    ]
    for (const [name, damage] of cases) {
      it(`${name}: truncated, then appends work and survive reopen`, async () => {
        await writeRecords(path, range(4))
        await damage(path)
        const damagedSize = (await stat(path)).size
        const { store, records, truncatedBytes } = await FrameLogStore.open(path)
        assert.deepEqual(records, range(3).map(rec))
        assert.equal(truncatedBytes, damagedSize - offsetOf(3))
        assert.equal((await stat(path)).size, offsetOf(3))
        await store.append([rec(3), rec(4)])
        await store.close()
        const again = await FrameLogStore.open(path)
        assert.deepEqual(again.records, range(5).map(rec))
        assert.equal(again.truncatedBytes, 0)
        await again.store.close()
      })
    }
  })

  describe('corruption before the tail', () => {
    const cases: Array<[string, (p: string) => Promise<void>]> = [
      ['bad CRC in a middle record', async (p) => { await flipByte(p, offsetOf(3) - 1) }],
      ['length of a middle record points past end of file', async (p) => { await flipByte(p, offsetOf(2) + 1) }],
      ['zero length in a middle record', async (p) => {
        const bytes = await readFile(p)
        bytes.fill(0, offsetOf(2), offsetOf(2) + 4)
        await writeFile(p, bytes)
      }]
    ]
    for (const [name, damage] of cases) {
      it(`${name}: throws LogCorruptError with the offset and leaves the file alone`, async () => {
        await writeRecords(path, range(6))
        await damage(path)
        const before = await readFile(path)
        await assert.rejects(FrameLogStore.open(path), (err: unknown) => {
          assert.ok(err instanceof LogCorruptError)
          assert.equal(err.name, 'LogCorruptError')
          assert.equal(err.offset, offsetOf(2))
          assert.match(err.message, new RegExp(`byte ${offsetOf(2)}`))
          return true
        })
        assert.deepEqual(await readFile(path), before)
      })
    }
  })

  it('serializes concurrent appends in call order', async () => {
    const { store } = await FrameLogStore.open(path)
    await Promise.all(range(200).map(async (i) => { await store.append([rec(2 * i), rec(2 * i + 1)]) }))
    await store.close()
    const { records, store: again } = await FrameLogStore.open(path)
    assert.deepEqual(records, range(400).map(rec))
    await again.close()
  })

  it('close waits for queued appends; later appends reject with LogClosedError', async () => {
    const { store } = await FrameLogStore.open(path)
    const pending = store.append([rec(0)])
    await store.close()
    await pending
    await assert.rejects(store.append([rec(1)]), { name: 'LogClosedError' })
    await assert.rejects(store.append([rec(1)]), LogClosedError)
    const { records, store: again } = await FrameLogStore.open(path)
    assert.deepEqual(records, [rec(0)])
    await again.close()
  })

  it('rejects empty and oversized records without writing anything', async () => {
    const { store } = await FrameLogStore.open(path)
    await assert.rejects(store.append([rec(0), new Uint8Array(0)]), RangeError)
    await assert.rejects(store.append([new Uint8Array(MAX_RECORD_BYTES + 1)]), RangeError)
    await store.append([rec(1)])
    await store.close()
    assert.equal((await stat(path)).size, HEADER_BYTES + rec(1).length)
  })

  describe('kill -9 during appends', () => {
    let child: ChildProcess | undefined
    afterEach(() => { child?.kill('SIGKILL') })

    /** Runs the fixture until it has acked at least `target` records, SIGKILLs it, returns the last ack. */
    async function runAndKill (target: number): Promise<number> {
      const proc = spawn(process.execPath, [FIXTURE, path], { stdio: ['ignore', 'pipe', 'pipe'] })
      child = proc
      let stderr = ''
      proc.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
      let acked = 0
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const match = /^acked (\d+)$/.exec(line)
        assert.ok(match !== null, `unexpected child output: ${line}`)
        acked = Number(match[1])
        if (acked >= target) proc.kill('SIGKILL')
      })
      const [code, signal] = await once(proc, 'close') as [number | null, string | null]
      assert.equal(signal, 'SIGKILL', `child exited early (code ${code}): ${stderr}`)
      return acked
    }

    it('keeps every acknowledged record intact, across two kills', async () => {
      for (const target of [200, 400]) {
        const acked = await runAndKill(target)
        assert.ok(acked >= target)
        const { store, records } = await FrameLogStore.open(path)
        assert.ok(records.length >= acked, `${records.length} records on disk, ${acked} acked`)
        records.forEach((r, i) => { assert.deepEqual(r, expectedRecord(i), `record ${i}`) })
        await store.close()
      }
    })
  })
})
