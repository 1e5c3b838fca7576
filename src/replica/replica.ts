import { checkDelta, composeDeltas, mergeInto, UncomposableDeltasError } from '../delta/index.ts'
import { classifyNext, genesisHead, headOf, snapshotBytesOf, verifySnapshot } from '../log/index.ts'
import { bytesEqual } from '../log/bytes.ts'
import { FrameWindow } from './frame-window.ts'
import type { JsonObject } from '../json.ts'
import type { ChainHead, Frame } from '../log/index.ts'
import type { FrameWindowLimits } from './frame-window.ts'

/**
 * One document's replica: its tree, its chain head, the frames it can serve, and the verified
 * frames that arrived ahead of a gap. Frames handed to it must already have a valid signature
 * for this document; the replica checks the chain and the content and decides what to apply.
 */
export interface ReplicaOptions extends Partial<FrameWindowLimits> {
  /** Frames buffered ahead of a gap; past it the newest are dropped and fetched again later. */
  maxPendingFrames?: number
  /** Also compute one composed delta per applied frame (what observers receive). */
  composeDeltas?: boolean
  /**
   * Called right after each frame is applied, while `tree` is exactly the state after that frame
   * (several frames can be applied by one offer when a gap fills).
   */
  onApply?: (applied: AppliedFrame) => void
}

export interface AppliedFrame {
  frame: Frame
  /**
   * The frame's changes composed into one delta, when asked for: null if nothing changed,
   * 'uncomposable' when no single delta expresses the frame (a list replaced by an object within
   * it), so viewers need the whole state instead.
   */
  delta?: JsonObject | null | 'uncomposable'
}

export type OfferResult =
  /** divergedAfter: a buffered frame drained after these broke the replica (see diverged). */
  | { status: 'applied', applied: AppliedFrame[], divergedAfter?: string }
  | { status: 'duplicate' }
  | { status: 'stale' }
  | { status: 'gap', missingFrom: number }
  | { status: 'fork', error: string }
  | { status: 'invalid', error: string }
  /** A previous frame broke this replica; nothing is applied until restore() or resetToGenesis(). */
  | { status: 'diverged' }

export type RestoreResult = { ok: true } | { ok: false, error: string }

const DEFAULT_MAX_PENDING = 4096
const decoder = new TextDecoder()

export class Replica {
  readonly docId: string
  readonly window: FrameWindow
  private treeValue: JsonObject = {}
  private headValue: ChainHead = genesisHead()
  private readonly pending = new Map<number, Frame>()
  private readonly maxPending: number
  private readonly compose: boolean
  private readonly onApply: (applied: AppliedFrame) => void
  private divergedValue = false

  constructor (docId: string, options: ReplicaOptions = {}) {
    this.docId = docId
    this.window = new FrameWindow(options)
    this.maxPending = options.maxPendingFrames ?? DEFAULT_MAX_PENDING
    this.compose = options.composeDeltas ?? false
    this.onApply = options.onApply ?? (() => {})
  }

  /** The document as of head. Callers must not mutate it. */
  get tree (): JsonObject {
    return this.treeValue
  }

  get head (): ChainHead {
    return this.headValue
  }

  /** True once a checkpoint disagreed with our state: only a snapshot can repair it. */
  get diverged (): boolean {
    return this.divergedValue
  }

  /**
   * The viewer deltas of the frames after `seq`, from the frame window (composeDeltas only), or
   * undefined when some of them are not kept.
   */
  deltasAfter (seq: number): Array<{ seq: number, data: JsonObject | null }> | undefined {
    return this.window.deltasAfter(seq)
  }

  /** Lowest seq we still need, if frames are buffered ahead of a gap. */
  get missingFrom (): number | undefined {
    return this.pending.size > 0 ? this.headValue.seq + 1 : undefined
  }

  /**
   * Offer a signature-checked frame of this document.
   *
   * The authority checks every change against the same state before signing, so a signed frame
   * that fails here means the authority misbehaved or this replica is corrupt. Its earlier changes
   * may already be merged (rolling back would cost a copy of the document per frame), so the
   * replica marks itself diverged and refuses everything until it is rebuilt from a snapshot or
   * from genesis: a half-applied tree is never built on, nor served as a checkpoint.
   */
  offer (frame: Frame): OfferResult {
    if (this.divergedValue) return { status: 'diverged' }
    const kind = classifyNext(this.headValue, frame)
    switch (kind) {
      case 'duplicate': return { status: 'duplicate' }
      case 'stale': return this.classifyStale(frame)
      case 'fork': return { status: 'fork', error: `frame ${frame.seq} does not chain to our head ${this.headValue.seq}` }
      case 'bad-epoch': return { status: 'fork', error: `frame ${frame.seq} has epoch ${frame.epoch}, below our head's ${this.headValue.epoch}` }
      case 'gap': {
        if (this.pending.has(frame.seq)) return { status: 'duplicate' }
        if (this.pending.size < this.maxPending) this.pending.set(frame.seq, frame)
        return { status: 'gap', missingFrom: this.headValue.seq + 1 }
      }
      case 'next': {
        const first = this.applyNext(frame)
        if (!first.ok) return { status: 'invalid', error: first.error }
        const applied = [first.applied]
        for (let next = this.pending.get(this.headValue.seq + 1); next !== undefined; next = this.pending.get(this.headValue.seq + 1)) {
          this.pending.delete(next.seq)
          if (classifyNext(this.headValue, next) !== 'next') break
          const more = this.applyNext(next)
          if (!more.ok) return { status: 'applied', applied, divergedAfter: more.error }
          applied.push(more.applied)
        }
        this.dropPendingAtOrBelowHead()
        return { status: 'applied', applied }
      }
    }
  }

  /**
   * Replace the state by a snapshot: canonical state bytes certified by a checkpoint frame whose
   * signature the caller has checked. Only moves forward.
   */
  restore (stateBytes: Uint8Array, checkpoint: Frame): RestoreResult {
    if (checkpoint.docId !== this.docId) return { ok: false, error: 'snapshot is for another document' }
    if (!verifySnapshot(stateBytes, checkpoint)) return { ok: false, error: 'snapshot state does not match the checkpoint state hash' }
    if (checkpoint.seq <= this.headValue.seq && !this.divergedValue) return { ok: false, error: `snapshot seq ${checkpoint.seq} is not ahead of head ${this.headValue.seq}` }
    let tree: JsonObject
    try {
      tree = JSON.parse(decoder.decode(stateBytes))
    } catch {
      return { ok: false, error: 'snapshot state is not JSON' }
    }
    this.treeValue = tree
    this.headValue = headOf(checkpoint)
    this.window.resetTo(checkpoint, stateBytes)
    this.divergedValue = false
    this.dropPendingAtOrBelowHead()
    return { ok: true }
  }

  /** Start over from the empty document (to replay the log from seq 1 after diverging). */
  resetToGenesis (): void {
    this.treeValue = {}
    this.headValue = genesisHead()
    this.window.resetToGenesis()
    this.pending.clear()
    this.divergedValue = false
  }

  private classifyStale (frame: Frame): OfferResult {
    // An old frame is a harmless replay if it is the one we hold; a different one is a fork.
    const held = this.window.framesAfter(frame.seq - 1, 0)?.[0]
    if (held !== undefined && held.seq === frame.seq && !bytesEqual(held.hash, frame.hash)) {
      return { status: 'fork', error: `frame ${frame.seq} differs from the one in our log` }
    }
    return { status: 'stale' }
  }

  private applyNext (frame: Frame): { ok: true, applied: AppliedFrame } | { ok: false, error: string } {
    const applied: AppliedFrame = { frame }
    // Composing needs the state before the frame, so it happens first.
    if (this.compose) applied.delta = composeFrame(this.treeValue, frame.changes)
    for (const change of frame.changes) {
      // Check each change against the state it applies to; the authority did the same.
      const check = checkDelta(this.treeValue, change)
      if (!check.ok) {
        this.divergedValue = true
        return { ok: false, error: `frame ${frame.seq} has an invalid change: ${check.error}` }
      }
      mergeInto(this.treeValue, change)
    }
    this.headValue = headOf(frame)
    // The window keeps the delta beside its frame: the one copy of the sequence (docs/architecture.md).
    this.window.push(frame, applied.delta === 'uncomposable' ? undefined : applied.delta)
    if (frame.stateHash !== undefined) {
      const stateBytes = snapshotBytesOf(this.treeValue)
      if (!verifySnapshot(stateBytes, frame)) {
        this.divergedValue = true
        return { ok: false, error: `state after frame ${frame.seq} does not match its state hash` }
      }
      this.window.setCheckpoint(frame, stateBytes)
    }
    this.onApply(applied)
    return { ok: true, applied }
  }

  private dropPendingAtOrBelowHead (): void {
    for (const seq of this.pending.keys()) {
      if (seq <= this.headValue.seq) this.pending.delete(seq)
    }
  }
}

function composeFrame (before: JsonObject, changes: JsonObject[]): JsonObject | null | 'uncomposable' {
  if (changes.length === 0) return null
  try {
    return composeDeltas(before, changes)
  } catch (err) {
    if (err instanceof UncomposableDeltasError) return 'uncomposable'
    throw err
  }
}
