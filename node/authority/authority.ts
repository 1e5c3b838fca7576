import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { checkDelta, mergeInto } from '../../src/delta/index.ts'
import { sha256 } from '@noble/hashes/sha2.js'
import { classifyNext, decodeFrame, docIdFor, genesisHead, headOf, signFrameSync, signHeadSync, snapshotBytesOf, verifySnapshot } from '../../src/log/index.ts'
import { FrameWindow } from '../../src/replica/index.ts'
import { checkPolicyChange, policyProblemOfTree, policyReplacement } from '../../src/privacy/index.ts'
import { loadOrCreateKey } from '../identity.ts'
import { FrameLogStore } from './log-store.ts'
import { DirLock } from '../dir-lock.ts'
import { AuthorityClosedError, AuthorityFailedError, ChangeRejectedError, ChangeTooLargeError, LogReplayError } from './errors.ts'
import type { Json, JsonObject } from '../../src/json.ts'
import type { ChainHead, Frame } from '../../src/log/index.ts'
import type { FrameWindowLimits } from '../../src/replica/index.ts'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from '../log.ts'

/**
 * The document's single writer. Changes are validated and applied to the in-memory tree at once,
 * batched into frames, signed, appended to the durable log and fsynced; only then is a change
 * acknowledged and its frame announced (the 'frame' event), so nothing is published that a crash
 * could take back.
 */
export interface AuthorityOptions {
  /** Data directory: holds the key (authority.key unless privateKey is given) and the log. */
  dir: string
  /** Document name; with the key it makes the self-certifying doc id. */
  name: string
  privateKey?: PrivateKey
  /** Most changes in one frame. */
  maxChangesPerFrame?: number
  /** Largest encoded frame; must stay well under gossipsub's ~4 MiB RPC limit. */
  maxFrameBytes?: number
  /** Put a state hash (a checkpoint) in at least every this many frames. */
  checkpointEvery?: number
  window?: Partial<FrameWindowLimits>
  now?: () => number
  log?: Logger
}

export const AUTHORITY_DEFAULTS = {
  maxChangesPerFrame: 2048,
  maxFrameBytes: 1024 * 1024,
  checkpointEvery: 256
}

/**
 * Bytes a frame adds around its changes: header (doc id up to 117 bytes), hashes, body length,
 * signature, and the body's enclosing brackets.
 */
const FRAME_OVERHEAD_BYTES = 4 + 117 + 4 + 8 + 8 + 32 + 32 + 4 + 64 + 2

interface QueuedChange {
  /** UTF-8 size of the change's JSON, for cutting frames under the size limit. */
  bytes: number
  change: JsonObject
  /** performance.now() when change() accepted it (for the change → durable histogram). */
  acceptedAt: number
  resolve: (ack: ChangeAck) => void
  reject: (err: Error) => void
}

export interface ChangeAck { seq: number }

export interface AuthorityEvents {
  frame: [Frame]
  /** After a frame is durable: performance.now() at which each of its changes was accepted. */
  durable: [Frame, number[]]
}

export class Authority extends EventEmitter<AuthorityEvents> {
  readonly docId: string
  readonly window: FrameWindow
  private readonly privateKey: PrivateKey
  private readonly store: FrameLogStore
  private readonly lock: DirLock
  private readonly options: typeof AUTHORITY_DEFAULTS
  private readonly now: () => number
  private readonly log?: Logger
  private readonly treeValue: JsonObject
  private headValue: ChainHead
  private readonly epoch: number
  private queue: QueuedChange[] = []
  private flushing: Promise<void> | undefined
  private framesSinceCheckpoint: number
  private failure: Error | undefined
  private closed = false

  private constructor (init: {
    docId: string, privateKey: PrivateKey, store: FrameLogStore, lock: DirLock, tree: JsonObject, head: ChainHead,
    window: FrameWindow, framesSinceCheckpoint: number, options: AuthorityOptions
  }) {
    super()
    this.docId = init.docId
    this.privateKey = init.privateKey
    this.store = init.store
    this.lock = init.lock
    this.treeValue = init.tree
    this.headValue = init.head
    this.window = init.window
    this.epoch = init.head.epoch + 1
    // A new epoch opens with a checkpoint, so peers can always start from this run's state.
    this.framesSinceCheckpoint = Number.POSITIVE_INFINITY
    this.options = {
      maxChangesPerFrame: init.options.maxChangesPerFrame ?? AUTHORITY_DEFAULTS.maxChangesPerFrame,
      maxFrameBytes: init.options.maxFrameBytes ?? AUTHORITY_DEFAULTS.maxFrameBytes,
      checkpointEvery: init.options.checkpointEvery ?? AUTHORITY_DEFAULTS.checkpointEvery
    }
    this.now = init.options.now ?? Date.now
    this.log = init.options.log
  }

  /** Create the document, or reopen it and continue its chain in a new epoch. */
  static async open (options: AuthorityOptions): Promise<Authority> {
    // Before any file is read or created: a second writer must change nothing.
    const lock = await DirLock.acquire(options.dir, 'authority')
    try {
      return await Authority.openLocked(options, lock)
    } catch (err) {
      await lock.release()
      throw err
    }
  }

  private static async openLocked (options: AuthorityOptions, lock: DirLock): Promise<Authority> {
    const privateKey = options.privateKey ?? await loadOrCreateKey(join(options.dir, 'authority.key'))
    const docId = docIdFor(privateKey.publicKey.raw, options.name)
    const maxFrameBytes = options.maxFrameBytes ?? AUTHORITY_DEFAULTS.maxFrameBytes
    const { store, records, truncatedBytes } = await FrameLogStore.open(join(options.dir, `${options.name}.frames`))
    if (truncatedBytes > 0) options.log?.warn({ docId, truncatedBytes }, 'dropped a torn tail of the frame log (never acknowledged)')

    try {
      return Authority.replay(options, { docId, privateKey, store, lock, records, maxFrameBytes })
    } catch (err) {
      await store.close()
      throw err
    }
  }

  private static replay (options: AuthorityOptions, init: {
    docId: string, privateKey: PrivateKey, store: FrameLogStore, lock: DirLock, records: Uint8Array[], maxFrameBytes: number
  }): Authority {
    const { docId, privateKey, store, lock, records, maxFrameBytes } = init
    const tree: JsonObject = {}
    const window = new FrameWindow(options.window)
    let head = genesisHead()
    let framesSinceCheckpoint = 0
    for (const [index, record] of records.entries()) {
      // Our own log: the hash chain and the state hashes prove its integrity without re-verifying
      // every signature (which would make opening a long log slow).
      const decoded = decodeFrame(record, { maxFrameBytes: Math.max(maxFrameBytes, record.byteLength) })
      if (!decoded.ok) throw new LogReplayError(`frame log record ${index}: ${decoded.error.message}`)
      const frame = decoded.frame
      if (frame.docId !== docId) throw new LogReplayError(`frame log record ${index} belongs to ${frame.docId}, not ${docId}`)
      if (classifyNext(head, frame) !== 'next') throw new LogReplayError(`frame log record ${index} (seq ${frame.seq}) does not chain to seq ${head.seq}`)
      for (const change of frame.changes) mergeInto(tree, change)
      head = headOf(frame)
      window.push(frame)
      framesSinceCheckpoint++
      if (frame.stateHash !== undefined) {
        const stateBytes = snapshotBytesOf(tree)
        if (!verifySnapshot(stateBytes, frame)) throw new LogReplayError(`state after seq ${frame.seq} does not match its state hash`)
        window.setCheckpoint(frame, stateBytes)
        framesSinceCheckpoint = 0
      }
    }
    const authority = new Authority({ docId, privateKey, store, lock, tree, head, window, framesSinceCheckpoint, options })
    options.log?.info({ docId, seq: head.seq, epoch: authority.epoch }, 'authority open')
    // Written before changes were checked: say so, since super-peers admit no viewer meanwhile.
    const problem = policyProblemOfTree(tree)
    if (problem !== undefined) options.log?.warn({ docId, problem }, 'the document\'s policy is invalid; replace it (setPolicy) to admit viewers again')
    return authority
  }

  /** The current document, including changes not yet in a frame. Read-only. */
  get tree (): JsonObject {
    return this.treeValue
  }

  /** Head of the durable, published chain. */
  get head (): ChainHead {
    return this.headValue
  }

  get currentEpoch (): number {
    return this.epoch
  }

  /** Why the authority stopped accepting changes (its log could not be written), if it did. */
  get failed (): Error | undefined {
    return this.failure
  }

  /** A signed head announcement (docs/protocol.md): this epoch, the durable head, the time now. */
  signHead (): Uint8Array {
    return signHeadSync(this.privateKey, { docId: this.docId, epoch: this.epoch, seq: this.headValue.seq, time: this.now(), hash: this.headValue.hash })
  }

  /**
   * Apply one change (an Adama delta). Resolves with the seq of the frame that carries it once
   * that frame is durable; rejects with ChangeRejectedError if the change is invalid, including
   * one that would leave "@policy" invalid (the error names the rule at fault).
   */
  async change (change: JsonObject): Promise<ChangeAck> {
    if (this.closed) throw new AuthorityClosedError()
    if (this.failure !== undefined) throw new AuthorityFailedError(this.failure)
    const check = checkDelta(this.treeValue, change)
    if (!check.ok) throw new ChangeRejectedError(check.error)
    const policy = checkPolicyChange(this.treeValue, change)
    if (!policy.ok) throw new ChangeRejectedError(policy.error)
    const bytes = Buffer.byteLength(JSON.stringify(change))
    if (bytes + FRAME_OVERHEAD_BYTES > this.options.maxFrameBytes) {
      throw new ChangeTooLargeError(bytes, this.options.maxFrameBytes - FRAME_OVERHEAD_BYTES)
    }
    mergeInto(this.treeValue, change)
    return await new Promise<ChangeAck>((resolve, reject) => {
      this.queue.push({ bytes, change, acceptedAt: performance.now(), resolve, reject })
      this.flushing ??= this.flushLoop()
    })
  }

  /**
   * Replace the document's whole policy with `policy` in one change (so in one frame): old keys
   * are deleted and new ones set, so "@policy" is exactly `policy` from that frame on and there
   * is no frame without a policy or with a mix of two. `null` removes the policy (the document
   * becomes a public broadcast). Resolves like change(); when the policy is already in force,
   * once everything accepted so far is durable, with no new frame.
   */
  async setPolicy (policy: Json): Promise<ChangeAck> {
    if (this.closed) throw new AuthorityClosedError()
    if (this.failure !== undefined) throw new AuthorityFailedError(this.failure)
    const replacement = policyReplacement(this.treeValue, policy)
    if (!replacement.ok) throw new ChangeRejectedError(replacement.error)
    if (replacement.delta !== null) return await this.change(replacement.delta)
    await this.flush()
    return { seq: this.headValue.seq }
  }

  /** Wait until every change accepted so far is durable. */
  async flush (): Promise<void> {
    while (this.flushing !== undefined) await this.flushing
  }

  async close (): Promise<void> {
    this.closed = true
    await this.flush()
    await this.store.close()
    await this.lock.release()
  }

  private async flushLoop (): Promise<void> {
    try {
      // Yield once so a burst of synchronous change() calls lands in one frame.
      await new Promise<void>(resolve => setImmediate(resolve))
      while (this.queue.length > 0 && this.failure === undefined) {
        const batch = this.queue
        this.queue = []
        await this.writeBatch(batch)
      }
    } finally {
      this.flushing = undefined
      if (this.queue.length > 0 && this.failure === undefined) this.flushing = this.flushLoop()
    }
  }

  /** Cut a batch into frames, sign, append and fsync them in one write, then acknowledge. */
  private async writeBatch (batch: QueuedChange[]): Promise<void> {
    const frames: Array<{ frame: Frame, changes: QueuedChange[], stateBytes?: Uint8Array }> = []
    let head = this.headValue
    for (let start = 0; start < batch.length;) {
      const end = this.frameEnd(batch, start)
      const changes = batch.slice(start, end)
      const last = end === batch.length
      // A state hash is only correct on a frame that ends the batch: the tree includes the batch.
      const checkpoint = last && this.framesSinceCheckpoint + frames.length + 1 >= this.options.checkpointEvery
      // Taken now: more changes may land in the tree while the batch is being written.
      const stateBytes = checkpoint ? snapshotBytesOf(this.treeValue) : undefined
      const frame = signFrameSync(this.privateKey, {
        docId: this.docId,
        epoch: this.epoch,
        seq: head.seq + 1,
        time: this.now(),
        prevHash: head.hash,
        stateHash: stateBytes === undefined ? undefined : sha256(stateBytes),
        changes: changes.map(c => c.change)
      })
      frames.push({ frame, changes, stateBytes })
      head = headOf(frame)
      start = end
    }
    try {
      await this.store.append(frames.map(f => f.frame.bytes))
    } catch (err) {
      // The tree already holds changes that are not durable: stop, and let a restart recover.
      this.failure = err as Error
      this.log?.error({ err, docId: this.docId }, 'frame log append failed; authority stopped')
      for (const change of [...batch, ...this.queue]) change.reject(new AuthorityFailedError(this.failure))
      this.queue = []
      return
    }
    for (const { frame, changes, stateBytes } of frames) {
      this.headValue = headOf(frame)
      this.window.push(frame)
      this.framesSinceCheckpoint++
      if (stateBytes !== undefined) {
        this.window.setCheckpoint(frame, stateBytes)
        this.framesSinceCheckpoint = 0
      }
      for (const change of changes) change.resolve({ seq: frame.seq })
      this.emit('frame', frame)
      if (this.listenerCount('durable') > 0) this.emit('durable', frame, changes.map(c => c.acceptedAt))
    }
  }

  /** End (exclusive) of the frame starting at `start`, within the change and byte limits. */
  private frameEnd (batch: QueuedChange[], start: number): number {
    let bytes = FRAME_OVERHEAD_BYTES
    let end = start
    while (end < batch.length && end - start < this.options.maxChangesPerFrame) {
      const size = batch[end].bytes + 1 // and a comma
      if (end > start && bytes + size > this.options.maxFrameBytes) break
      bytes += size
      end++
    }
    return end
  }
}
