import type { Frame } from '../log/index.ts'

/**
 * The frames a node keeps to serve peers that fall behind, plus the newest checkpoint: a frame
 * carrying a state hash and the canonical state bytes it certifies.
 *
 * Frames after the checkpoint are never dropped, so a peer can always be served either frames
 * (if it is inside the window) or the checkpoint state followed by every frame after it.
 */
export interface FrameWindowLimits {
  /** Frames kept before the checkpoint, for cheap catch-up of small gaps. */
  retainFrames: number
  /** Byte budget for frames before the checkpoint. */
  retainBytes: number
}

export const DEFAULT_WINDOW_LIMITS: FrameWindowLimits = {
  retainFrames: 10_000,
  retainBytes: 32 * 1024 * 1024
}

export interface Checkpoint {
  /** seq 0 is genesis: the empty document, no frame. */
  seq: number
  stateBytes: Uint8Array
  frame?: Frame
}

export type CatchUp =
  | { kind: 'up-to-date' }
  | { kind: 'frames', frames: Frame[] }
  | { kind: 'snapshot', checkpoint: Checkpoint & { frame: Frame }, frames: Frame[] }

const EMPTY_STATE = new TextEncoder().encode('{}')

export class FrameWindow {
  private readonly limits: FrameWindowLimits
  private frames: Frame[] = []
  private bytes = 0
  private checkpointValue: Checkpoint = { seq: 0, stateBytes: EMPTY_STATE }

  constructor (limits: Partial<FrameWindowLimits> = {}) {
    this.limits = { ...DEFAULT_WINDOW_LIMITS, ...limits }
  }

  get checkpoint (): Checkpoint {
    return this.checkpointValue
  }

  /** Seq of the oldest retained frame, or undefined when empty. */
  get firstSeq (): number | undefined {
    return this.frames[0]?.seq
  }

  get lastSeq (): number | undefined {
    return this.frames[this.frames.length - 1]?.seq
  }

  get size (): number {
    return this.frames.length
  }

  /** Append the next frame of the chain (the caller has verified it). */
  push (frame: Frame): void {
    const last = this.lastSeq
    if (last !== undefined && frame.seq !== last + 1) {
      throw new Error(`frame window expects seq ${last + 1}, got ${frame.seq}`)
    }
    this.frames.push(frame)
    this.bytes += frame.bytes.byteLength
    this.trim()
  }

  /** Record a verified checkpoint; the frame must already be in the window. */
  setCheckpoint (frame: Frame, stateBytes: Uint8Array): void {
    this.checkpointValue = { seq: frame.seq, stateBytes, frame }
    this.trim()
  }

  /** Forget everything and start from a verified snapshot. */
  resetTo (checkpointFrame: Frame, stateBytes: Uint8Array): void {
    this.frames = [checkpointFrame]
    this.bytes = checkpointFrame.bytes.byteLength
    this.checkpointValue = { seq: checkpointFrame.seq, stateBytes, frame: checkpointFrame }
  }

  /** Forget everything: back to the empty document at seq 0. */
  resetToGenesis (): void {
    this.frames = []
    this.bytes = 0
    this.checkpointValue = { seq: 0, stateBytes: EMPTY_STATE }
  }

  /** Frames with seq > after, at most maxBytes of them (always at least one). */
  framesAfter (after: number, maxBytes: number): Frame[] | undefined {
    const first = this.firstSeq
    if (first === undefined || after + 1 < first) return undefined
    const out: Frame[] = []
    let size = 0
    for (let i = after + 1 - first; i < this.frames.length; i++) {
      const frame = this.frames[i]
      if (out.length > 0 && size + frame.bytes.byteLength > maxBytes) break
      out.push(frame)
      size += frame.bytes.byteLength
    }
    return out
  }

  /** What a peer whose head is `after` needs next, bounded to about maxBytes of frames. */
  catchUp (after: number, headSeq: number, maxBytes: number): CatchUp {
    if (after >= headSeq) return { kind: 'up-to-date' }
    const frames = this.framesAfter(after, maxBytes)
    if (frames !== undefined) return { kind: 'frames', frames }
    const checkpoint = this.checkpointValue
    if (checkpoint.frame === undefined) {
      // Cannot happen: frames after a genesis checkpoint are never trimmed.
      throw new Error('frame window lost frames after a genesis checkpoint')
    }
    return {
      kind: 'snapshot',
      checkpoint: { ...checkpoint, frame: checkpoint.frame },
      frames: this.framesAfter(checkpoint.seq, maxBytes) ?? []
    }
  }

  private trim (): void {
    const { retainFrames, retainBytes } = this.limits
    // Trim in batches (once 1/8 over a limit) so the O(window) splice is amortised over many pushes.
    const slack = 1.125
    if (this.frames.length <= retainFrames * slack && this.bytes <= retainBytes * slack) return
    let drop = 0
    let bytes = this.bytes
    while (drop < this.frames.length &&
      (this.frames.length - drop > retainFrames || bytes > retainBytes) &&
      this.frames[drop].seq < this.checkpointValue.seq) {
      bytes -= this.frames[drop].bytes.byteLength
      drop++
    }
    if (drop > 0) {
      this.frames.splice(0, drop)
      this.bytes = bytes
    }
  }
}
