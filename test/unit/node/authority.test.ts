import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { cloneTree, listInsert } from '../../../src/delta/index.ts'
import {
  GENESIS_HASH, decodeFrame, docIdFor, headOf, snapshotBytesOf, verifyFrameSync, verifySnapshot
} from '../../../src/log/index.ts'
import { Replica } from '../../../src/replica/index.ts'
import { AUTHORITY_DEFAULTS, Authority } from '../../../node/authority/authority.ts'
import { FrameLogStore } from '../../../node/authority/log-store.ts'
import { loadKey } from '../../../node/identity.ts'
import type { JsonObject } from '../../../src/json.ts'
import type { Frame } from '../../../src/log/index.ts'
import type { AuthorityOptions } from '../../../node/authority/authority.ts'

const NAME = 'board'
const LIMITS = { maxFrameBytes: 16 * 1024 * 1024 }

/** Inserts item `id` at the end of the "cards" list of the authority's current tree. */
function insertCard (authority: Authority, id: string, value: JsonObject = { id }): JsonObject {
  const cards = authority.tree.cards as { '@o': unknown[] } | undefined
  const result = listInsert(authority.tree, ['cards'], id, value, cards?.['@o'].length ?? 0)
  if (!result.ok) assert.fail(result.error)
  return result.value
}

/** Every frame in the authority's log file, decoded, read with a fresh store after close. */
async function framesOnDisk (dir: string): Promise<Frame[]> {
  const { store, records } = await FrameLogStore.open(join(dir, `${NAME}.frames`))
  await store.close()
  return records.map(record => {
    const decoded = decodeFrame(record, LIMITS)
    if (!decoded.ok) assert.fail(decoded.error.message)
    return decoded.frame
  })
}

/** Record payloads in the log file right now (u32 length, u32 crc, payload), without opening a store. */
async function recordsInFile (dir: string): Promise<Uint8Array[]> {
  const bytes = await readFile(join(dir, `${NAME}.frames`))
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Uint8Array[] = []
  for (let at = 0; at + 8 <= bytes.length;) {
    const length = view.getUint32(at)
    out.push(new Uint8Array(bytes.subarray(at + 8, at + 8 + length)))
    at += 8 + length
  }
  return out
}

function assertChain (frames: Frame[], docId: string): void {
  let prevHash = GENESIS_HASH
  frames.forEach((frame, i) => {
    assert.equal(frame.seq, i + 1)
    assert.deepEqual(frame.prevHash, prevHash, `frame ${frame.seq} chains to the one before`)
    assert.equal(verifyFrameSync(frame.bytes, docId, LIMITS).ok, true, `signature of frame ${frame.seq}`)
    prevHash = frame.hash
  })
}

describe('node/Authority', () => {
  let dir: string
  const opened: Authority[] = []
  const open = async (options: Partial<AuthorityOptions> = {}): Promise<Authority> => {
    const authority = await Authority.open({ dir, name: NAME, ...options })
    opened.push(authority)
    return authority
  }
  /** Collects the frames an authority announces. */
  const announced = (authority: Authority): Frame[] => {
    const frames: Frame[] = []
    authority.on('frame', frame => frames.push(frame))
    return frames
  }

  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'deltacast-authority-')) })
  afterEach(async () => {
    for (const authority of opened.splice(0)) await authority.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('creates the key in the data dir and derives the doc id from it', async () => {
    const authority = await open()
    const key = await loadKey(join(dir, 'authority.key'))
    assert.equal(authority.docId, docIdFor(key.publicKey.raw, NAME))
    assert.equal(authority.head.seq, 0)
    assert.equal(authority.currentEpoch, 1)
    assert.deepEqual(authority.tree, {})
  })

  it('uses a given private key instead of a key file', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const authority = await open({ privateKey })
    assert.equal(authority.docId, docIdFor(privateKey.publicKey.raw, NAME))
  })

  it('batches synchronous changes into fewer frames, and acks each with its frame seq', async () => {
    const authority = await open()
    const frames = announced(authority)
    const changes: JsonObject[] = []
    const acks = []
    for (let i = 0; i < 50; i++) {
      const change = insertCard(authority, `c${i}`)
      changes.push(change)
      acks.push(authority.change(change))
    }
    const results = await Promise.all(acks)
    assert.ok(frames.length < 50, `${frames.length} frames for 50 changes`)
    assert.ok(frames.length >= 1)
    assert.deepEqual(frames.flatMap(f => f.changes), changes, 'every change once, in order')
    const seqOfChange = frames.flatMap(f => f.changes.map(() => f.seq))
    assert.deepEqual(results, seqOfChange.map(seq => ({ seq })))
    assert.deepEqual(authority.head, headOf(frames[frames.length - 1]))
    assert.deepEqual((authority.tree.cards as JsonObject)['@o'], changes.map((_, i) => `c${i}`))
  })

  it('cuts a batch at maxChangesPerFrame', async () => {
    const authority = await open({ maxChangesPerFrame: 2 })
    const frames = announced(authority)
    const acks = await Promise.all([1, 2, 3, 4, 5].map(async n => await authority.change({ [`k${n}`]: n })))
    assert.deepEqual(frames.map(f => f.changes.length), [2, 2, 1])
    assert.deepEqual(acks.map(a => a.seq), [1, 1, 2, 2, 3])
    assertChain(frames, authority.docId)
  })

  it('cuts a batch so that every frame stays within maxFrameBytes', async () => {
    const maxFrameBytes = 2048
    const authority = await open({ maxFrameBytes })
    const frames = announced(authority)
    await Promise.all(Array.from({ length: 20 }, async (_, i) => await authority.change({ [`k${i}`]: 'x'.repeat(500) })))
    assert.ok(frames.length >= 5, `${frames.length} frames`)
    for (const frame of frames) assert.ok(frame.bytes.byteLength <= maxFrameBytes, `frame ${frame.seq}: ${frame.bytes.byteLength} bytes`)
    assert.equal(frames.flatMap(f => f.changes).length, 20)
  })

  it('acknowledges a change only once its frame is in the log file', async () => {
    const authority = await open()
    const ack = await authority.change({ a: 1 })
    const records = await recordsInFile(dir)
    assert.equal(records.length, ack.seq)
    assert.deepEqual(records[ack.seq - 1], authority.window.framesAfter(ack.seq - 1, 0)?.[0].bytes)
  })

  it('rejects an invalid change with ChangeRejectedError and leaves the document unchanged', async () => {
    const authority = await open()
    await authority.change(insertCard(authority, 'a'))
    const before = cloneTree(authority.tree)
    const head = authority.head
    const frames = announced(authority)
    await assert.rejects(authority.change({ cards: { '@o': ['a', 'ghost'] } }), (err: Error) => {
      assert.equal(err.name, 'ChangeRejectedError')
      assert.match(err.message, /ghost/)
      return true
    })
    await assert.rejects(authority.change(JSON.parse('{"__proto__":{"x":1}}')), { name: 'ChangeRejectedError' })
    await authority.flush()
    assert.deepEqual(authority.tree, before)
    assert.deepEqual(authority.head, head)
    assert.deepEqual(frames, [])
  })

  it('rejects only the invalid change of a burst', async () => {
    const authority = await open()
    const good1 = authority.change({ a: 1 })
    const bad = authority.change({ l: { '@o': [[0, 3]] } })
    const good2 = authority.change({ b: 2 })
    await assert.rejects(bad, { name: 'ChangeRejectedError' })
    assert.equal((await good1).seq, 1)
    assert.equal((await good2).seq, 1)
    assert.deepEqual(authority.tree, { a: 1, b: 2 })
  })

  it('rejects a change too large for one frame with ChangeTooLargeError, leaving the document unchanged', async () => {
    const authority = await open({ maxFrameBytes: 1024 })
    let limit = 0
    await assert.rejects(authority.change({ big: 'x'.repeat(1024) }), (err: Error) => {
      assert.equal(err.name, 'ChangeTooLargeError')
      const match = /change of (\d+) bytes exceeds the (\d+)-byte limit of one frame/.exec(err.message)
      assert.ok(match !== null, err.message)
      assert.equal(Number(match[1]), 1024 + '{"big":""}'.length)
      limit = Number(match[2])
      return true
    })
    assert.ok(limit > 0 && limit < 1024)
    assert.deepEqual(authority.tree, {})
    await authority.flush()
    assert.equal(authority.head.seq, 0)
    // One byte over the limit is refused; a change of exactly the limit fits in a frame under maxFrameBytes.
    const ofSize = (bytes: number): JsonObject => ({ big: 'x'.repeat(bytes - '{"big":""}'.length) })
    await assert.rejects(authority.change(ofSize(limit + 1)), { name: 'ChangeTooLargeError' })
    const frames = announced(authority)
    await authority.change(ofSize(limit))
    assert.equal(frames.length, 1)
    assert.ok(frames[0].bytes.byteLength <= 1024, `${frames[0].bytes.byteLength} bytes`)
  })

  it('keeps a change of exactly the accepted limit within maxFrameBytes for the longest doc id', async () => {
    const name = 'n'.repeat(64) // doc id of 117 characters, the most the overhead allows for
    const authority = await Authority.open({ dir, name, maxFrameBytes: 1024 })
    opened.push(authority)
    let limit = 0
    await assert.rejects(authority.change({ big: 'x'.repeat(1024) }), (err: Error) => {
      limit = Number(/(\d+)-byte limit/.exec(err.message)?.[1])
      return err.name === 'ChangeTooLargeError'
    })
    const frames = announced(authority)
    await authority.change({ big: 'x'.repeat(limit - '{"big":""}'.length) })
    assert.notEqual(frames[0].stateHash, undefined, 'the first frame carries a state hash, the largest header')
    assert.ok(frames[0].bytes.byteLength <= 1024, `frame of ${frames[0].bytes.byteLength} bytes, limit 1024`)
  })

  it('opens each run with a checkpoint whose snapshot bytes verify', async () => {
    const authority = await open()
    const frames = announced(authority)
    await authority.change({ title: 'hello' })
    assert.equal(frames[0].seq, 1)
    assert.notEqual(frames[0].stateHash, undefined)
    assert.equal(verifySnapshot(snapshotBytesOf({ title: 'hello' }), frames[0]), true)
    assert.equal(authority.window.checkpoint.seq, 1)
    assert.equal(authority.window.checkpoint.frame, frames[0])
    assert.equal(verifySnapshot(authority.window.checkpoint.stateBytes, frames[0]), true)
    await authority.change({ title: 'again' })
    assert.equal(frames[1].stateHash, undefined, `not every frame is a checkpoint (every ${AUTHORITY_DEFAULTS.checkpointEvery})`)
  })

  it('puts a checkpoint in every checkpointEvery frames, each matching the tree at that frame', async () => {
    const authority = await open({ checkpointEvery: 3 })
    const frames = announced(authority)
    const trees: JsonObject[] = []
    for (let i = 1; i <= 8; i++) {
      await authority.change({ n: i })
      trees.push(cloneTree(authority.tree))
    }
    assert.equal(frames.length, 8)
    assert.deepEqual(frames.filter(f => f.stateHash !== undefined).map(f => f.seq), [1, 4, 7])
    for (const frame of frames.filter(f => f.stateHash !== undefined)) {
      assert.equal(verifySnapshot(snapshotBytesOf(trees[frame.seq - 1]), frame), true, `checkpoint ${frame.seq}`)
    }
    assert.equal(authority.window.checkpoint.seq, 7)
  })

  it('signs every frame with the doc key', async () => {
    const authority = await open()
    const frames = announced(authority)
    for (let i = 0; i < 3; i++) await authority.change({ i })
    assertChain(frames, authority.docId)
    const other = docIdFor((await generateKeyPair('Ed25519')).publicKey.raw, NAME)
    assert.equal(verifyFrameSync(frames[0].bytes, other, LIMITS).ok, false)
  })

  it('refuses changes after close', async () => {
    const authority = await open()
    await authority.close()
    await assert.rejects(authority.change({ a: 1 }), { name: 'AuthorityClosedError' })
  })

  it('close waits for pending changes to be durable', async () => {
    const authority = await open()
    const ack = authority.change({ a: 1 })
    await authority.close()
    assert.deepEqual(await ack, { seq: 1 })
    assert.equal((await framesOnDisk(dir)).length, 1)
  })

  describe('reopen', () => {
    it('continues the chain in a new epoch with the same doc id and tree', async () => {
      const first = await open({ checkpointEvery: 4 })
      for (let i = 0; i < 6; i++) await first.change(insertCard(first, `c${i}`, { v: i }))
      const { docId } = first
      const tree = cloneTree(first.tree)
      const head = first.head
      await first.close()

      const second = await open({ checkpointEvery: 4 })
      assert.equal(second.docId, docId)
      assert.deepEqual(second.tree, tree)
      assert.deepEqual(second.head, head)
      assert.equal(second.currentEpoch, 2)
      const frames = announced(second)
      assert.deepEqual(await second.change({ more: true }), { seq: 7 })
      assert.equal(frames[0].epoch, 2)
      assert.deepEqual(frames[0].prevHash, head.hash)
      assert.notEqual(frames[0].stateHash, undefined, 'a new epoch opens with a checkpoint')
      assert.equal(verifySnapshot(snapshotBytesOf(second.tree), frames[0]), true)
      await second.close()

      const onDisk = await framesOnDisk(dir)
      assertChain(onDisk, docId)
      assert.deepEqual(onDisk.map(f => f.epoch), [1, 1, 1, 1, 1, 1, 2])
      assert.deepEqual(onDisk.filter(f => f.stateHash !== undefined).map(f => f.seq), [1, 5, 7])

      const third = await open()
      assert.equal(third.currentEpoch, 3)
      assert.deepEqual(third.tree, { ...tree, more: true })
      assert.equal(third.window.checkpoint.seq, 7)
      assert.equal(third.window.lastSeq, 7)
    })

    it('opening without writing does not use up an epoch', async () => {
      const first = await open()
      await first.change({ a: 1 })
      await first.close()
      await (await open()).close()
      const third = await open()
      assert.equal(third.currentEpoch, 2)
    })
  })

  describe('serving catch-up from its window', () => {
    /** Drives a fresh replica from the authority's window until it is up to date. */
    function catchUpReplica (authority: Authority, maxBytes: number): { replica: Replica, kinds: string[] } {
      const replica = new Replica(authority.docId)
      const kinds: string[] = []
      for (let round = 0; round < 100; round++) {
        const answer = authority.window.catchUp(replica.head.seq, authority.head.seq, maxBytes)
        kinds.push(answer.kind)
        if (answer.kind === 'up-to-date') return { replica, kinds }
        if (answer.kind === 'snapshot') {
          const checkpoint = answer.checkpoint
          assert.equal(verifyFrameSync(checkpoint.frame.bytes, authority.docId, LIMITS).ok, true)
          assert.deepEqual(replica.restore(checkpoint.stateBytes, checkpoint.frame), { ok: true })
        }
        for (const frame of answer.frames) {
          assert.equal(verifyFrameSync(frame.bytes, authority.docId, LIMITS).ok, true)
          assert.equal(replica.offer(frame).status, 'applied')
        }
      }
      assert.fail(`no catch-up after 100 rounds: ${kinds.join(',')}`)
    }

    it('serves frames that take a fresh replica to the same tree and head', async () => {
      const authority = await open({ checkpointEvery: 3 })
      for (let i = 0; i < 10; i++) await authority.change(insertCard(authority, `c${i}`, { v: i }))
      const { replica, kinds } = catchUpReplica(authority, 1) // one frame per answer
      assert.deepEqual(kinds, [...Array(10).fill('frames'), 'up-to-date'])
      assert.deepEqual(replica.tree, authority.tree)
      assert.deepEqual(replica.head, authority.head)
      assert.equal(replica.diverged, false)
    })

    it('serves a snapshot once old frames are trimmed, after a reopen as well', async () => {
      const window = { retainFrames: 2, retainBytes: 1 << 20 }
      const first = await open({ checkpointEvery: 4, window })
      for (let i = 0; i < 12; i++) await first.change(insertCard(first, `c${i}`, { v: i }))
      await first.close()
      const authority = await open({ checkpointEvery: 4, window })
      assert.ok((authority.window.firstSeq ?? 0) > 1, `window starts at ${authority.window.firstSeq}`)
      await authority.change({ after: 'reopen' })
      await authority.change({ after: 'reopen again' })

      const { replica, kinds } = catchUpReplica(authority, 1 << 20)
      assert.equal(kinds[0], 'snapshot')
      assert.equal(kinds[kinds.length - 1], 'up-to-date')
      assert.deepEqual(replica.tree, authority.tree)
      assert.deepEqual(replica.head, authority.head)
      assert.equal(replica.head.seq, 14)
      assert.equal(replica.head.epoch, 2)
    })
  })
})
