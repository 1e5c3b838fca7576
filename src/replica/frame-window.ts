import type { Frame } from '../log/index.ts'
import type { JsonObject } from '../json.ts'

/**
 * The frames a node keeps to serve peers that fall behind, plus the newest checkpoint: a frame
 * carrying a state hash and the canonical state bytes it certifies. On a super-peer that serves
 * viewers it is also the one place the sequence is kept for them: the newest frames keep their
 * viewer delta beside them, so a viewer resumes from the same entries a peer catches up from.
 *
 * Frames after the checkpoint are never dropped, so a peer can always be served either frames
 * (if it is inside the window) or the checkpoint state followed by every frame after it.
 */
export interface FrameWindowLimits {
  /** Frames kept before the checkpoint, for cheap catch-up of small gaps. */
  retainFrames: number
  /** Byte budget for frames before the checkpoint. */
  retainBytes: number
  /**
   * Newest frames whose viewer delta is kept (docs/protocol.md, "Resuming"); their frames are
   * kept too, whatever the two limits above say.
   */
  retainDeltas: number
}

export const DEFAULT_WINDOW_LIMITS: FrameWindowLimits = {
  retainFrames: 10_000,
  retainBytes: 32 * 1024 * 1024,
  retainDeltas: 1024
}

/** A frame's changes composed into one delta as viewers receive it; null when nothing changed. */
export type ViewerDelta = JsonObject | null

interface Entry {
  readonly frame: Frame
  /** undefined: not kept (never composed, no single delta expresses it, or too old). */
  delta: ViewerDelta | undefined
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
  private entries: Entry[] = []
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
    return this.entries[0]?.frame.seq
  }

  get lastSeq (): number | undefined {
    return this.entries[this.entries.length - 1]?.frame.seq
  }

  get size (): number {
    return this.entries.length
  }

  /** Append the next frame of the chain (the caller has verified it), with its viewer delta if composed. */
  push (frame: Frame, delta?: ViewerDelta): void {
    const last = this.lastSeq
    if (last !== undefined && frame.seq !== last + 1) {
      throw new Error(`frame window expects seq ${last + 1}, got ${frame.seq}`)
    }
    this.entries.push({ frame, delta })
    this.bytes += frame.bytes.byteLength
    // Only the newest retainDeltas keep theirs: older viewers get a reset (docs/protocol.md).
    const aged = this.entries[this.entries.length - 1 - this.limits.retainDeltas]
    if (aged !== undefined) aged.delta = undefined
    this.trim()
  }

  /**
   * The viewer deltas of every frame after `after` up to the newest, oldest first, or undefined
   * when one of them is not kept (too old, never composed, or lost to a snapshot or a rebuild).
   */
  deltasAfter (after: number): Array<{ seq: number, data: ViewerDelta }> | undefined {
    if (after >= (this.lastSeq ?? this.checkpointValue.seq)) return []
    const first = this.firstSeq
    if (first === undefined || after + 1 < first) return undefined
    const out: Array<{ seq: number, data: ViewerDelta }> = []
    for (let i = after + 1 - first; i < this.entries.length; i++) {
      const { frame, delta } = this.entries[i]
      if (delta === undefined) return undefined
      out.push({ seq: frame.seq, data: delta })
    }
    return out
  }

  /** Record a verified checkpoint; the frame must already be in the window. */
  setCheckpoint (frame: Frame, stateBytes: Uint8Array): void {
    this.checkpointValue = { seq: frame.seq, stateBytes, frame }
    this.trim()
  }

  /** Forget everything and start from a verified snapshot. */
  resetTo (checkpointFrame: Frame, stateBytes: Uint8Array): void {
    // No delta leads a viewer to a snapshot: resuming from before it takes a reset.
    this.entries = [{ frame: checkpointFrame, delta: undefined }]
    this.bytes = checkpointFrame.bytes.byteLength
    this.checkpointValue = { seq: checkpointFrame.seq, stateBytes, frame: checkpointFrame }
  }

  /** Forget everything: back to the empty document at seq 0. */
  resetToGenesis (): void {
    this.entries = []
    this.bytes = 0
    this.checkpointValue = { seq: 0, stateBytes: EMPTY_STATE }
  }

  /** Frames with seq > after, at most maxBytes of them (always at least one). */
  framesAfter (after: number, maxBytes: number): Frame[] | undefined {
    const first = this.firstSeq
    if (first === undefined || after + 1 < first) return undefined
    const out: Frame[] = []
    let size = 0
    for (let i = after + 1 - first; i < this.entries.length; i++) {
      const frame = this.entries[i].frame
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
    const entries = this.entries
    if (entries.length <= retainFrames * slack && this.bytes <= retainBytes * slack) return
    let drop = 0
    let bytes = this.bytes
    // A frame whose delta a viewer may still resume from stays, like those after the checkpoint.
    while (drop < entries.length &&
      (entries.length - drop > retainFrames || bytes > retainBytes) &&
      entries[drop].frame.seq < this.checkpointValue.seq && entries[drop].delta === undefined) {
      bytes -= entries[drop].frame.bytes.byteLength
      drop++
    }
    if (drop > 0) {
      entries.splice(0, drop)
      this.bytes = bytes
    }
  }
}
