import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { cloneTree, listInsert, listMove, listRemove, mergeInto } from '../../../src/delta/index.ts'
import { docIdFor, genesisHead, headOf, signFrameSync, snapshotBytesOf, stateHashOf } from '../../../src/log/index.ts'
import { Replica } from '../../../src/replica/index.ts'
import type { ListOpResult } from '../../../src/delta/index.ts'
import type { JsonObject } from '../../../src/json.ts'
import type { ChainHead, Frame } from '../../../src/log/index.ts'
import type { PrivateKey } from '@libp2p/interface'
import type { OfferResult } from '../../../src/replica/index.ts'

const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(11))
const docId = docIdFor(key.publicKey.raw, 'replica')

const ok = (r: ListOpResult): JsonObject => { if (!r.ok) assert.fail(r.error); return r.value }

/** A minimal authority: keeps the tree and head, signs the frames tests hand to replicas. */
class Writer {
  tree: JsonObject = {}
  head: ChainHead = genesisHead()
  readonly frames: Frame[] = []
  /** trees[seq] is the tree after frame seq (trees[0] the empty document). */
  readonly trees: JsonObject[] = [{}]
  readonly key: PrivateKey
  readonly docId: string
  epoch = 1

  constructor (privateKey = key, id = docId) {
    this.key = privateKey
    this.docId = id
  }

  /** Signs the next frame. `changes` may be deltas or functions of the tree so far. */
  next (changes: Array<JsonObject | ((tree: JsonObject) => JsonObject)>, opts: { checkpoint?: boolean, stateHash?: Uint8Array } = {}): Frame {
    const deltas: JsonObject[] = []
    for (const change of changes) {
      const delta = typeof change === 'function' ? change(this.tree) : change
      mergeInto(this.tree, delta)
      deltas.push(delta)
    }
    const stateHash = opts.stateHash ?? (opts.checkpoint === true ? stateHashOf(this.tree) : undefined)
    const frame = signFrameSync(this.key, {
      docId: this.docId, epoch: this.epoch, seq: this.head.seq + 1, time: 1000 + this.head.seq, prevHash: this.head.hash, stateHash, changes: deltas
    })
    this.head = headOf(frame)
    this.frames.push(frame)
    this.trees.push(cloneTree(this.tree))
    return frame
  }

  /** Frames seq 1..n with one list insert and one counter update each; checkpoints where asked. */
  static withFrames (n: number, checkpointsAt: number[] = []): Writer {
    const writer = new Writer()
    for (let seq = 1; seq <= n; seq++) {
      writer.next([
        tree => ok(listInsert(tree, ['cards'], `c${seq}`, { v: seq }, 0)),
        { count: seq }
      ], { checkpoint: checkpointsAt.includes(seq) })
    }
    return writer
  }

  /** A different frame for `seq` (same prevHash as the real one), for fork tests. */
  rival (seq: number, epoch = this.epoch): Frame {
    const prevHash = seq === 1 ? new Uint8Array(32) : this.frames[seq - 2].hash
    return signFrameSync(this.key, { docId: this.docId, epoch, seq, time: 1, prevHash, changes: [{ rival: seq }] })
  }

  snapshotAt (seq: number): Uint8Array {
    return snapshotBytesOf(this.trees[seq])
  }
}

function appliedSeqs (result: OfferResult): number[] {
  assert.equal(result.status, 'applied', JSON.stringify(result))
  return result.status === 'applied' ? result.applied.map(a => a.frame.seq) : []
}

function offerAll (replica: Replica, frames: Frame[]): void {
  for (const frame of frames) assert.deepEqual(appliedSeqs(replica.offer(frame)), [frame.seq])
}

describe('replica/Replica', () => {
  it('starts at genesis with the empty document', () => {
    const replica = new Replica(docId)
    assert.deepEqual(replica.tree, {})
    assert.deepEqual(replica.head, genesisHead())
    assert.equal(replica.diverged, false)
    assert.equal(replica.missingFrom, undefined)
    assert.equal(replica.window.size, 0)
  })

  it('applies a chain of signed frames in order', () => {
    const writer = Writer.withFrames(5)
    const replica = new Replica(docId)
    for (const frame of writer.frames) {
      const result = replica.offer(frame)
      assert.deepEqual(result, { status: 'applied', applied: [{ frame }] })
      assert.deepEqual(replica.tree, writer.trees[frame.seq])
      assert.deepEqual(replica.head, headOf(frame))
    }
    assert.deepEqual(replica.tree.cards, { '@o': ['c5', 'c4', 'c3', 'c2', 'c1'], c1: { v: 1 }, c2: { v: 2 }, c3: { v: 3 }, c4: { v: 4 }, c5: { v: 5 } })
    assert.equal(replica.window.firstSeq, 1)
    assert.equal(replica.window.lastSeq, 5)
  })

  it('applies a frame without changes', () => {
    const writer = Writer.withFrames(1)
    writer.next([])
    const replica = new Replica(docId)
    offerAll(replica, writer.frames)
    assert.equal(replica.head.seq, 2)
    assert.deepEqual(replica.tree, writer.trees[1])
  })

  describe('outcomes other than applied', () => {
    const writer = Writer.withFrames(5)
    let replica: Replica
    beforeEach(() => {
      replica = new Replica(docId)
      offerAll(replica, writer.frames.slice(0, 3))
    })
    const unchanged = (): void => {
      assert.deepEqual(replica.head, headOf(writer.frames[2]))
      assert.deepEqual(replica.tree, writer.trees[3])
    }

    it('the head frame again is a duplicate', () => {
      assert.deepEqual(replica.offer(writer.frames[2]), { status: 'duplicate' })
      unchanged()
    })

    it('an older frame we hold is stale', () => {
      assert.deepEqual(replica.offer(writer.frames[0]), { status: 'stale' })
      assert.deepEqual(replica.offer(writer.frames[1]), { status: 'stale' })
      unchanged()
    })

    it('an older frame that differs from the one we hold is a fork', () => {
      const result = replica.offer(writer.rival(2))
      assert.equal(result.status, 'fork')
      assert.match((result as { error: string }).error, /frame 2 differs/)
      unchanged()
    })

    it('another frame at the head seq is a fork', () => {
      assert.equal(replica.offer(writer.rival(3)).status, 'fork')
      unchanged()
    })

    it('a next frame that does not chain to the head is a fork', () => {
      const other = new Writer()
      for (let i = 0; i < 3; i++) other.next([{ other: i }])
      const result = replica.offer(other.next([{ x: 1 }])) // seq 4, other prevHash
      assert.equal(result.status, 'fork')
      assert.match((result as { error: string }).error, /does not chain to our head 3/)
      unchanged()
    })

    it('a chained frame whose epoch goes backwards is a fork (bad epoch)', () => {
      const high = new Writer()
      high.epoch = 5
      const first = high.next([{ a: 1 }])
      const fresh = new Replica(docId)
      offerAll(fresh, [first])
      high.epoch = 4
      const result = fresh.offer(high.next([{ a: 2 }]))
      assert.equal(result.status, 'fork')
      assert.match((result as { error: string }).error, /epoch 4, below our head's 5/)
      assert.deepEqual(fresh.head, headOf(first))
      assert.deepEqual(fresh.tree, { a: 1 })
    })

    it('a frame past head + 1 is a gap and is kept for later', () => {
      assert.deepEqual(replica.offer(writer.frames[4]), { status: 'gap', missingFrom: 4 })
      assert.equal(replica.missingFrom, 4)
      unchanged()
      assert.deepEqual(replica.offer(writer.frames[4]), { status: 'duplicate' }, 'a pending frame offered again')
      assert.deepEqual(appliedSeqs(replica.offer(writer.frames[3])), [4, 5])
      assert.equal(replica.missingFrom, undefined)
      assert.deepEqual(replica.tree, writer.trees[5])
    })
  })

  it('applies frames delivered out of order (3, 4, 2, 1) in chain order once the gap fills', () => {
    const writer = Writer.withFrames(5)
    const [f1, f2, f3, f4, f5] = writer.frames
    const replica = new Replica(docId)
    assert.deepEqual(replica.offer(f3), { status: 'gap', missingFrom: 1 })
    assert.deepEqual(replica.offer(f4), { status: 'gap', missingFrom: 1 })
    assert.deepEqual(replica.offer(f2), { status: 'gap', missingFrom: 1 })
    assert.equal(replica.missingFrom, 1)
    assert.deepEqual(replica.head, genesisHead())
    const result = replica.offer(f1)
    assert.deepEqual(result, { status: 'applied', applied: [{ frame: f1 }, { frame: f2 }, { frame: f3 }, { frame: f4 }] })
    assert.equal(replica.missingFrom, undefined)
    assert.deepEqual(replica.tree, writer.trees[4])
    assert.deepEqual(replica.head, headOf(f4))
    assert.deepEqual(appliedSeqs(replica.offer(f5)), [5])
  })

  it('buffers at most maxPendingFrames ahead of a gap', () => {
    const writer = Writer.withFrames(5)
    const replica = new Replica(docId, { maxPendingFrames: 2 })
    for (const frame of writer.frames.slice(2)) assert.equal(replica.offer(frame).status, 'gap')
    assert.deepEqual(appliedSeqs(replica.offer(writer.frames[1 - 1])), [1])
    assert.deepEqual(appliedSeqs(replica.offer(writer.frames[1])), [2, 3, 4])
    assert.equal(replica.head.seq, 4)
    assert.equal(replica.missingFrom, undefined, 'frame 5 was dropped, not kept')
  })

  it('stops draining pending frames at one that does not chain', () => {
    const writer = Writer.withFrames(4)
    const elsewhere = new Writer()
    for (let i = 0; i < 3; i++) elsewhere.next([{ elsewhere: i }])
    const replica = new Replica(docId)
    assert.equal(replica.offer(elsewhere.frames[2]).status, 'gap') // a seq 3 that chains to another seq 2
    assert.equal(replica.offer(writer.frames[3]).status, 'gap')
    assert.deepEqual(appliedSeqs(replica.offer(writer.frames[0])), [1])
    assert.deepEqual(appliedSeqs(replica.offer(writer.frames[1])), [2])
    assert.equal(replica.head.seq, 2)
    assert.equal(replica.missingFrom, 3)
    assert.deepEqual(appliedSeqs(replica.offer(writer.frames[2])), [3, 4])
  })

  describe('content checks', () => {
    it('refuses a signed frame with a change that fails checkDelta, and marks itself diverged', () => {
      const writer = Writer.withFrames(2)
      // "@o" names an id the list does not hold: the authority would never sign this.
      const bad = signFrameSync(key, {
        docId, epoch: 1, seq: 3, time: 3, prevHash: writer.head.hash, changes: [{ cards: { '@o': ['c1', 'nope'] } }]
      })
      const replica = new Replica(docId)
      offerAll(replica, writer.frames)
      const result = replica.offer(bad)
      assert.equal(result.status, 'invalid')
      assert.match((result as { error: string }).error, /frame 3 has an invalid change: .*"nope"/)
      assert.equal(replica.diverged, true)
      assert.deepEqual(replica.head, writer.head)
      assert.deepEqual(replica.tree, writer.trees[2])
      assert.equal(replica.window.lastSeq, 2)
    })

    it('never builds on a frame it could only half apply, and can be rebuilt from genesis', () => {
      const writer = Writer.withFrames(2)
      const bad = signFrameSync(key, {
        docId, epoch: 1, seq: 3, time: 3, prevHash: writer.head.hash, changes: [{ count: 99 }, { cards: { '@o': ['nope'] } }]
      })
      const replica = new Replica(docId)
      offerAll(replica, writer.frames)
      assert.equal(replica.offer(bad).status, 'invalid')
      assert.equal(replica.diverged, true)
      assert.equal(replica.head.seq, 2, 'the head does not move past the broken frame')
      writer.next([{ count: 3 }])
      assert.equal(replica.offer(writer.frames[2]).status, 'diverged', 'nothing is applied on top of a half-applied frame')
      assert.equal(replica.head.seq, 2)

      replica.resetToGenesis()
      assert.equal(replica.diverged, false)
      offerAll(replica, writer.frames)
      assert.deepEqual(replica.tree, writer.trees[3])
      assert.equal(replica.head.seq, 3)
    })

    it('marks itself diverged when a checkpoint disagrees with its state', () => {
      const writer = Writer.withFrames(2)
      writer.next([{ count: 3 }], { stateHash: stateHashOf({ something: 'else' }) })
      const replica = new Replica(docId)
      offerAll(replica, writer.frames.slice(0, 2))
      const result = replica.offer(writer.frames[2])
      assert.equal(result.status, 'invalid')
      assert.match((result as { error: string }).error, /state after frame 3 does not match its state hash/)
      assert.equal(replica.diverged, true)
      assert.equal(replica.window.checkpoint.seq, 0, 'a wrong checkpoint is not recorded')
    })

    it('records a matching checkpoint in its window', () => {
      const writer = Writer.withFrames(4, [3])
      const replica = new Replica(docId)
      offerAll(replica, writer.frames)
      assert.equal(replica.diverged, false)
      assert.equal(replica.window.checkpoint.seq, 3)
      assert.equal(replica.window.checkpoint.frame, writer.frames[2])
      assert.deepEqual(replica.window.checkpoint.stateBytes, writer.snapshotAt(3))
    })
  })

  describe('restore', () => {
    it('starts from a snapshot and continues applying the frames after it', () => {
      const writer = Writer.withFrames(10, [6])
      const replica = new Replica(docId)
      assert.deepEqual(replica.restore(writer.snapshotAt(6), writer.frames[5]), { ok: true })
      assert.deepEqual(replica.tree, writer.trees[6])
      assert.deepEqual(replica.head, headOf(writer.frames[5]))
      assert.equal(replica.window.checkpoint.seq, 6)
      assert.equal(replica.window.firstSeq, 6)
      offerAll(replica, writer.frames.slice(6))
      assert.deepEqual(replica.tree, writer.trees[10])
      assert.deepEqual(replica.head, writer.head)
      // What it serves afterwards: frames from the snapshot on, the snapshot for anyone older.
      assert.equal(replica.window.catchUp(2, 10, Infinity).kind, 'snapshot')
      assert.deepEqual(replica.window.catchUp(6, 10, Infinity), { kind: 'frames', frames: writer.frames.slice(6) })
    })

    it('moves a replica that is behind forward and drops pending frames it covers', () => {
      const writer = Writer.withFrames(10, [6])
      const replica = new Replica(docId)
      offerAll(replica, writer.frames.slice(0, 2))
      replica.offer(writer.frames[4]) // pending seq 5
      replica.offer(writer.frames[8]) // pending seq 9
      assert.deepEqual(replica.restore(writer.snapshotAt(6), writer.frames[5]), { ok: true })
      assert.equal(replica.missingFrom, 7, 'seq 9 is still pending, 5 is gone')
      assert.deepEqual(appliedSeqs(replica.offer(writer.frames[6])), [7])
      assert.deepEqual(appliedSeqs(replica.offer(writer.frames[7])), [8, 9])
      assert.deepEqual(replica.tree, writer.trees[9])
    })

    it('rejects state bytes that do not match the checkpoint', () => {
      const writer = Writer.withFrames(6, [6])
      const replica = new Replica(docId)
      const result = replica.restore(writer.snapshotAt(5), writer.frames[5])
      assert.deepEqual(result, { ok: false, error: 'snapshot state does not match the checkpoint state hash' })
      assert.deepEqual(replica.head, genesisHead())
      assert.deepEqual(replica.tree, {})
    })

    it('rejects a frame without a state hash', () => {
      const writer = Writer.withFrames(6)
      const result = new Replica(docId).restore(writer.snapshotAt(6), writer.frames[5])
      assert.equal(result.ok, false)
    })

    it('rejects a snapshot of another document', async () => {
      const otherKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(12))
      const other = new Writer(otherKey, docIdFor(otherKey.publicKey.raw, 'replica'))
      other.next([{ a: 1 }], { checkpoint: true })
      const result = new Replica(docId).restore(other.snapshotAt(1), other.frames[0])
      assert.deepEqual(result, { ok: false, error: 'snapshot is for another document' })
    })

    it('rejects a snapshot that is not ahead of the head', () => {
      const writer = Writer.withFrames(8, [6])
      const replica = new Replica(docId)
      offerAll(replica, writer.frames.slice(0, 6))
      assert.deepEqual(replica.restore(writer.snapshotAt(6), writer.frames[5]), { ok: false, error: 'snapshot seq 6 is not ahead of head 6' })
      offerAll(replica, writer.frames.slice(6))
      assert.equal(replica.restore(writer.snapshotAt(6), writer.frames[5]).ok, false)
      assert.deepEqual(replica.head, writer.head)
      assert.deepEqual(replica.tree, writer.trees[8])
    })

    it('repairs a diverged replica, even from a snapshot at its own seq', () => {
      const writer = Writer.withFrames(3, [3])
      const bad = new Writer()
      bad.next([{ wrong: true }])
      bad.next([{ wrong: 2 }])
      // A replica that took the wrong frames 1-2 (signed by the same key): frame 3 cannot check out.
      const replica = new Replica(docId)
      offerAll(replica, bad.frames)
      const real3 = signFrameSync(key, { docId, epoch: 1, seq: 3, time: 3, prevHash: bad.head.hash, stateHash: stateHashOf(writer.trees[3]), changes: [] })
      assert.equal(replica.offer(real3).status, 'invalid')
      assert.equal(replica.diverged, true)
      assert.deepEqual(replica.restore(writer.snapshotAt(3), writer.frames[2]), { ok: true })
      assert.equal(replica.diverged, false)
      assert.deepEqual(replica.tree, writer.trees[3])
      assert.deepEqual(replica.head, writer.head)
    })
  })

  describe('composeDeltas option', () => {
    it('is off by default: no delta on applied frames', () => {
      const writer = Writer.withFrames(1)
      const result = new Replica(docId).offer(writer.frames[0])
      assert.deepEqual(result, { status: 'applied', applied: [{ frame: writer.frames[0] }] })
    })

    it('yields one delta per frame that takes the previous state to the new one', () => {
      const writer = new Writer()
      writer.next([tree => ok(listInsert(tree, ['cards'], 'a', { v: 1 }, 0)), tree => ok(listInsert(tree, ['cards'], 'b', { v: 2 }, 1)), { title: 'x' }])
      writer.next([tree => ok(listMove(tree, ['cards'], 'a', 1)), { cards: { b: { v: 3 } } }, { title: null }])
      writer.next([tree => ok(listRemove(tree, ['cards'], 'a')), tree => ok(listInsert(tree, ['cards'], 'c', { v: 4 }, 0))])
      writer.next([{ n: 1 }, { n: null }]) // cancels out
      writer.next([])
      const replica = new Replica(docId, { composeDeltas: true })
      const deltas: unknown[] = []
      for (const frame of writer.frames) {
        const result = replica.offer(frame)
        assert.equal(result.status, 'applied')
        if (result.status !== 'applied') continue
        const [applied] = result.applied
        const delta = applied.delta
        deltas.push(delta)
        assert.notEqual(delta, undefined)
        assert.notEqual(delta, 'uncomposable')
        const before = cloneTree(writer.trees[frame.seq - 1])
        if (delta !== null && delta !== undefined && delta !== 'uncomposable') mergeInto(before, delta)
        assert.deepEqual(before, writer.trees[frame.seq], `delta of frame ${frame.seq}`)
      }
      assert.equal(deltas[3], null)
      assert.equal(deltas[4], null)
      assert.deepEqual(deltas[0], { cards: { '@o': ['a', 'b'], a: { v: 1 }, b: { v: 2 } }, title: 'x' })
    })

    it('composes every frame drained from the pending buffer against its own previous state', () => {
      const writer = Writer.withFrames(4)
      const replica = new Replica(docId, { composeDeltas: true })
      for (const frame of writer.frames.slice(1)) replica.offer(frame)
      const result = replica.offer(writer.frames[0])
      assert.equal(result.status, 'applied')
      if (result.status !== 'applied') return
      assert.equal(result.applied.length, 4)
      for (const { frame, delta } of result.applied) {
        const before = cloneTree(writer.trees[frame.seq - 1])
        assert.ok(delta !== null && delta !== undefined && delta !== 'uncomposable')
        mergeInto(before, delta)
        assert.deepEqual(before, writer.trees[frame.seq])
      }
    })

    it('reports "uncomposable" for a frame that replaces a list by an object, and still applies it', () => {
      const writer = Writer.withFrames(1)
      writer.next([{ cards: null }, { cards: { plain: true } }])
      const replica = new Replica(docId, { composeDeltas: true })
      replica.offer(writer.frames[0])
      const result = replica.offer(writer.frames[1])
      assert.deepEqual(result, { status: 'applied', applied: [{ frame: writer.frames[1], delta: 'uncomposable' }] })
      assert.deepEqual(replica.tree, { count: 1, cards: { plain: true } })
    })

    it('still refuses an invalid frame (no exception from composing it)', () => {
      const writer = Writer.withFrames(1)
      const bad = signFrameSync(key, { docId, epoch: 1, seq: 2, time: 2, prevHash: writer.head.hash, changes: [{ cards: { '@o': [[0, 5]] } }] })
      const replica = new Replica(docId, { composeDeltas: true })
      replica.offer(writer.frames[0])
      assert.equal(replica.offer(bad).status, 'invalid')
      assert.equal(replica.diverged, true)
    })
  })
})
