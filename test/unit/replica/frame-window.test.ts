import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { GENESIS_HASH, docIdFor, signFrameSync } from '../../../src/log/index.ts'
import { DEFAULT_WINDOW_LIMITS, FrameWindow } from '../../../src/replica/frame-window.ts'
import type { Frame } from '../../../src/log/index.ts'

const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))
const docId = docIdFor(key.publicKey.raw, 'window')
const state = (text: string): Uint8Array => new TextEncoder().encode(text)

/** Frames 1..n of one chain, each body padded to the same length so every frame has the same size. */
function chain (n: number): Frame[] {
  const frames: Frame[] = []
  let prevHash = GENESIS_HASH
  for (let seq = 1; seq <= n; seq++) {
    const frame = signFrameSync(key, { docId, epoch: 1, seq, time: seq, prevHash, changes: [{ n: String(seq).padStart(4, '0') }] })
    frames.push(frame)
    prevHash = frame.hash
  }
  return frames
}

const frames = chain(40)
const FRAME_BYTES = frames[0].bytes.byteLength
const seqs = (list: Frame[] | undefined): number[] | undefined => list?.map(f => f.seq)

function windowWith (count: number, limits: ConstructorParameters<typeof FrameWindow>[0] = {}): FrameWindow {
  const window = new FrameWindow(limits)
  for (const frame of frames.slice(0, count)) window.push(frame)
  return window
}

describe('replica/FrameWindow', () => {
  it('every test frame has the same size', () => {
    assert.ok(frames.every(f => f.bytes.byteLength === FRAME_BYTES))
  })

  it('starts empty at the genesis checkpoint with the empty document', () => {
    const window = new FrameWindow()
    assert.equal(window.size, 0)
    assert.equal(window.firstSeq, undefined)
    assert.equal(window.lastSeq, undefined)
    assert.equal(window.checkpoint.seq, 0)
    assert.equal(window.checkpoint.frame, undefined)
    assert.equal(new TextDecoder().decode(window.checkpoint.stateBytes), '{}')
    assert.deepEqual(DEFAULT_WINDOW_LIMITS, { retainFrames: 10_000, retainBytes: 32 * 1024 * 1024, retainDeltas: 1024 })
  })

  it('push appends consecutive frames and refuses any other seq', () => {
    const window = windowWith(3)
    assert.equal(window.firstSeq, 1)
    assert.equal(window.lastSeq, 3)
    assert.equal(window.size, 3)
    assert.throws(() => { window.push(frames[4]) }, /expects seq 4, got 5/)
    assert.throws(() => { window.push(frames[2]) }, /expects seq 4, got 3/)
    assert.equal(window.lastSeq, 3)
    window.push(frames[3])
    assert.equal(window.lastSeq, 4)
  })

  it('the first push may start anywhere (a window that starts after a snapshot)', () => {
    const window = new FrameWindow()
    window.push(frames[9])
    assert.equal(window.firstSeq, 10)
  })

  describe('framesAfter', () => {
    const window = windowWith(10)

    it('returns the frames with seq > after', () => {
      assert.deepEqual(seqs(window.framesAfter(0, Infinity)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      assert.deepEqual(seqs(window.framesAfter(7, Infinity)), [8, 9, 10])
      assert.deepEqual(window.framesAfter(7, Infinity)?.[0], frames[7])
    })

    it('returns an empty list at or past the newest frame', () => {
      assert.deepEqual(window.framesAfter(10, Infinity), [])
      assert.deepEqual(window.framesAfter(15, Infinity), [])
    })

    it('returns undefined when frames before the window are needed', () => {
      const trimmedWindow = new FrameWindow()
      for (const frame of frames.slice(4, 8)) trimmedWindow.push(frame) // seqs 5..8
      assert.equal(trimmedWindow.framesAfter(3, Infinity), undefined) // would need 4
      assert.deepEqual(seqs(trimmedWindow.framesAfter(4, Infinity)), [5, 6, 7, 8])
    })

    it('caps the answer at maxBytes', () => {
      assert.deepEqual(seqs(window.framesAfter(2, 3 * FRAME_BYTES)), [3, 4, 5])
      assert.deepEqual(seqs(window.framesAfter(2, 3 * FRAME_BYTES + FRAME_BYTES - 1)), [3, 4, 5])
      assert.deepEqual(seqs(window.framesAfter(2, 3 * FRAME_BYTES - 1)), [3, 4])
    })

    it('always returns at least one frame, however small maxBytes', () => {
      assert.deepEqual(seqs(window.framesAfter(2, 0)), [3])
      assert.deepEqual(seqs(window.framesAfter(2, FRAME_BYTES - 1)), [3])
    })

    it('returns undefined from an empty window', () => {
      assert.equal(new FrameWindow().framesAfter(0, Infinity), undefined)
    })
  })

  describe('trimming', () => {
    it('keeps everything while the checkpoint is genesis, whatever the limits', () => {
      const window = windowWith(40, { retainFrames: 4, retainBytes: 1 })
      assert.equal(window.size, 40)
      assert.equal(window.firstSeq, 1)
    })

    it('drops frames older than the checkpoint once past retainFrames (with 1/8 slack)', () => {
      const window = windowWith(20, { retainFrames: 8 })
      window.setCheckpoint(frames[19], state('{"at":20}'))
      // 20 frames > 8 * 1.125: trimmed down to 8, all of them up to and including the checkpoint.
      assert.equal(window.size, 8)
      assert.equal(window.firstSeq, 13)
      assert.equal(window.lastSeq, 20)
      // Pushing past the limit again drops the rest before the checkpoint, but nothing after it.
      for (const frame of frames.slice(20, 30)) window.push(frame)
      assert.equal(window.firstSeq, 20)
      assert.equal(window.lastSeq, 30)
    })

    it('never drops the checkpoint frame or anything after it', () => {
      const window = windowWith(10, { retainFrames: 2 })
      window.setCheckpoint(frames[4], state('{"at":5}'))
      assert.equal(window.firstSeq, 5)
      for (const frame of frames.slice(10, 30)) window.push(frame)
      assert.equal(window.firstSeq, 5)
      assert.equal(window.size, 26)
      assert.deepEqual(window.checkpoint.frame, frames[4])
    })

    it('drops frames older than the checkpoint once past retainBytes', () => {
      const window = windowWith(20, { retainBytes: 5 * FRAME_BYTES })
      window.setCheckpoint(frames[19], state('{"at":20}'))
      assert.equal(window.size, 5)
      assert.equal(window.firstSeq, 16)
    })

    it('tolerates up to 1/8 over a limit before trimming (amortised)', () => {
      const window = windowWith(8, { retainFrames: 8 })
      window.setCheckpoint(frames[7], state('{"at":8}'))
      window.push(frames[8]) // 9 frames = 8 * 1.125: not trimmed yet
      assert.equal(window.size, 9)
      window.setCheckpoint(frames[8], state('{"at":9}'))
      assert.equal(window.size, 9)
      window.push(frames[9]) // 10 frames: trimmed back to 8
      assert.equal(window.size, 8)
      assert.equal(window.firstSeq, 3)
    })
  })

  describe('catchUp', () => {
    it('is up to date when the requester is at or past the head', () => {
      const window = windowWith(5)
      assert.deepEqual(window.catchUp(5, 5, Infinity), { kind: 'up-to-date' })
      assert.deepEqual(window.catchUp(9, 5, Infinity), { kind: 'up-to-date' })
    })

    it('serves frames when the requester is inside the window', () => {
      const window = windowWith(5)
      assert.deepEqual(window.catchUp(0, 5, Infinity), { kind: 'frames', frames: frames.slice(0, 5) })
      assert.deepEqual(window.catchUp(3, 5, Infinity), { kind: 'frames', frames: frames.slice(3, 5) })
      assert.deepEqual(window.catchUp(3, 5, 0), { kind: 'frames', frames: [frames[3]] })
    })

    it('serves the checkpoint and the frames after it when the requester is older than the window', () => {
      const window = windowWith(20, { retainFrames: 4 })
      window.setCheckpoint(frames[14], state('{"at":15}'))
      assert.equal(window.firstSeq, 15)
      const answer = window.catchUp(5, 20, Infinity)
      assert.equal(answer.kind, 'snapshot')
      assert.equal(answer.checkpoint.seq, 15)
      assert.equal(answer.checkpoint.frame, frames[14])
      assert.deepEqual(answer.checkpoint.stateBytes, state('{"at":15}'))
      assert.deepEqual(seqs(answer.frames), [16, 17, 18, 19, 20])
      // Just inside the window: frames, no snapshot; one before it: the snapshot.
      assert.deepEqual(seqs((window.catchUp(14, 20, Infinity) as { frames: Frame[] }).frames), [15, 16, 17, 18, 19, 20])
      assert.equal(window.catchUp(13, 20, Infinity).kind, 'snapshot')
    })

    it('bounds the frames that follow a snapshot by maxBytes', () => {
      const window = windowWith(20, { retainFrames: 4 })
      window.setCheckpoint(frames[14], state('{"at":15}'))
      const answer = window.catchUp(0, 20, 2 * FRAME_BYTES)
      assert.equal(answer.kind, 'snapshot')
      assert.deepEqual(seqs(answer.frames), [16, 17])
    })

    it('serves a snapshot with no frames when the checkpoint is the head', () => {
      const window = windowWith(20, { retainFrames: 4 })
      window.setCheckpoint(frames[19], state('{"at":20}'))
      const answer = window.catchUp(3, 20, Infinity)
      assert.equal(answer.kind, 'snapshot')
      assert.deepEqual(answer.frames, [])
    })
  })

  describe('resetTo', () => {
    it('forgets every frame and starts from the snapshot', () => {
      const window = windowWith(10)
      window.resetTo(frames[29], state('{"at":30}'))
      assert.equal(window.size, 1)
      assert.equal(window.firstSeq, 30)
      assert.equal(window.lastSeq, 30)
      assert.equal(window.checkpoint.seq, 30)
      assert.equal(window.checkpoint.frame, frames[29])
      assert.deepEqual(window.checkpoint.stateBytes, state('{"at":30}'))
      assert.throws(() => { window.push(frames[10]) }, /expects seq 31/)
      window.push(frames[30])
      assert.deepEqual(window.catchUp(30, 31, Infinity), { kind: 'frames', frames: [frames[30]] })
      assert.equal(window.catchUp(10, 31, Infinity).kind, 'snapshot')
    })

    it('counts only the snapshot frame towards the byte budget', () => {
      const window = windowWith(10, { retainBytes: 3 * FRAME_BYTES })
      window.resetTo(frames[29], state('{}'))
      for (const frame of frames.slice(30, 33)) window.push(frame) // 4 frames: over 3 * 1.125
      window.setCheckpoint(frames[32], state('{}'))
      assert.equal(window.size, 3)
      assert.equal(window.firstSeq, 31)
    })
  })

  describe('viewer deltas kept beside the frames', () => {
    const delta = (seq: number) => ({ n: String(seq).padStart(4, '0') })
    function withDeltas (count: number, limits: ConstructorParameters<typeof FrameWindow>[0] = {}): FrameWindow {
      const window = new FrameWindow(limits)
      for (const frame of frames.slice(0, count)) window.push(frame, delta(frame.seq))
      return window
    }

    it('answers the deltas after a seq, oldest first, with null for a frame that changed nothing', () => {
      const window = withDeltas(5)
      window.push(frames[5], null)
      assert.deepEqual(window.deltasAfter(3), [{ seq: 4, data: delta(4) }, { seq: 5, data: delta(5) }, { seq: 6, data: null }])
      assert.deepEqual(window.deltasAfter(0)?.map(d => d.seq), [1, 2, 3, 4, 5, 6])
      assert.deepEqual(window.deltasAfter(6), [])
      assert.deepEqual(new FrameWindow().deltasAfter(0), [], 'genesis: nothing to send')
    })

    it('keeps only the newest retainDeltas deltas: further back is a reset', () => {
      const window = withDeltas(10, { retainDeltas: 4 })
      assert.deepEqual(window.deltasAfter(6)?.map(d => d.seq), [7, 8, 9, 10])
      assert.equal(window.deltasAfter(5), undefined)
      assert.equal(window.size, 10, 'the frames stay for peers')
    })

    it('has no delta for a frame pushed without one, nor across a snapshot', () => {
      const window = withDeltas(3)
      window.push(frames[3]) // uncomposable: no single delta expresses it
      window.push(frames[4], delta(5))
      assert.equal(window.deltasAfter(2), undefined)
      assert.deepEqual(window.deltasAfter(4), [{ seq: 5, data: delta(5) }])
      window.resetTo(frames[29], state('{}'))
      window.push(frames[30], delta(31))
      assert.equal(window.deltasAfter(10), undefined)
      assert.equal(window.deltasAfter(29), undefined, 'no delta leads to the snapshot')
      assert.deepEqual(window.deltasAfter(30), [{ seq: 31, data: delta(31) }])
    })

    it('never trims a frame whose delta is still kept, whatever the frame limits', () => {
      const window = withDeltas(20, { retainFrames: 2, retainBytes: 1, retainDeltas: 6 })
      window.setCheckpoint(frames[19], state('{"at":20}'))
      assert.equal(window.firstSeq, 15, 'the six frames that keep a delta, nothing older')
      assert.deepEqual(window.deltasAfter(14)?.map(d => d.seq), [15, 16, 17, 18, 19, 20])
    })
  })
})
