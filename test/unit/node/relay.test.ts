import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { GENESIS_HASH, docIdFor, signFrameSync, verifyFrameSync } from '../../../src/log/index.ts'
import { Replica } from '../../../src/replica/index.ts'
import { RelayRefusal } from '../../../src/relay/messages.ts'
import { followRelayStream } from '../../../node/relay/relay-client.ts'
import { handleRelayStream } from '../../../node/relay/relay-server.ts'
import { createLogger } from '../../../node/log.ts'
import { Counters } from '../../../node/metrics.ts'
import type { RelayEnd, RelayFollower } from '../../../node/relay/relay-client.ts'
import type { RelaySource } from '../../../node/relay/relay-server.ts'
import type { RelayMessage } from '../../../src/relay/messages.ts'
import type { Frame } from '../../../src/log/index.ts'

const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(9))
const docId = docIdFor(key.publicKey.raw, 'relay')
const child = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(10)))
const log = createLogger('relay-test', 'silent')

/** Frames 1..n of one chain, each changing one counter. */
function chain (n: number, padding = 0): Frame[] {
  const frames: Frame[] = []
  let prevHash = GENESIS_HASH
  for (let seq = 1; seq <= n; seq++) {
    const frame = signFrameSync(key, { docId, epoch: 1, seq, time: seq, prevHash, changes: [{ n: seq, pad: 'x'.repeat(padding) }] })
    frames.push(frame)
    prevHash = frame.hash
  }
  return frames
}

/** A parent's replica as a relay source: the same adapter a shell writes around its carrier. */
class ReplicaSource implements RelaySource {
  readonly replica: Replica
  private readonly listeners = new Set<{ frame: (frame: Frame) => void, reset: () => void, head?: (bytes: Uint8Array) => void }>()

  constructor () {
    this.replica = new Replica(docId, { onApply: applied => { for (const l of this.listeners) l.frame(applied.frame) } })
  }

  get followers (): number { return this.listeners.size }
  get head () { return this.replica.head }
  get window () { return this.replica.window }

  follow (frame: (frame: Frame) => void, reset: () => void, head?: (bytes: Uint8Array) => void): () => void {
    const entry = { frame, reset, head }
    this.listeners.add(entry)
    return () => { this.listeners.delete(entry) }
  }

  apply (frames: Frame[]): void {
    for (const frame of frames) assert.equal(this.replica.offer(frame).status, 'applied')
  }

  reset (): void {
    for (const l of this.listeners) l.reset()
  }

  announce (bytes: Uint8Array): void {
    for (const l of this.listeners) l.head?.(bytes)
  }
}

/** A child that verifies and applies what it is relayed, as a carrier does. */
class ChildReplica implements RelayFollower {
  readonly replica = new Replica(docId)
  readonly seen: number[] = []
  readonly batches: RelayMessage[][] = []
  readonly heads: Uint8Array[] = []
  private readonly waiters = new Set<() => void>()

  caughtUp (messages: RelayMessage[]): void {
    this.batches.push(messages)
    for (const message of messages) if (message.type === 'frame') this.apply(message.bytes)
  }

  frame (bytes: Uint8Array): void {
    this.apply(bytes)
  }

  head (bytes: Uint8Array): void {
    this.heads.push(bytes)
    for (const w of this.waiters) w()
  }

  private apply (bytes: Uint8Array): void {
    const verified = verifyFrameSync(bytes, docId, { maxFrameBytes: 1 << 24 })
    assert.ok(verified.ok, 'every relayed frame verifies')
    this.seen.push(verified.frame.seq)
    assert.equal(this.replica.offer(verified.frame).status, 'applied')
    for (const w of this.waiters) w()
  }

  async until (seq: number): Promise<void> {
    while (this.replica.head.seq < seq) await new Promise<void>(resolve => { this.waiters.add(resolve) })
  }
}

async function connect (source: RelaySource, follower: RelayFollower, after: number, options: { maxQueuedBytes?: number, capacity?: number } = {}) {
  const [outbound, inbound] = await streamPair({ capacity: options.capacity })
  const counters = new Counters()
  const controller = new AbortController()
  const served = handleRelayStream(inbound, child, id => id === docId ? source : undefined, log, counters, { maxQueuedBytes: options.maxQueuedBytes })
  const followed: Promise<RelayEnd> = followRelayStream(outbound, docId, after, follower, { signal: controller.signal })
  return { served, followed, counters, controller, outbound, inbound }
}

describe('node/relay: catch-up that stays open', () => {
  it('catches a child up to the head, then sends every frame as it is applied, in order', async () => {
    const frames = chain(30)
    const source = new ReplicaSource()
    source.apply(frames.slice(0, 10))
    const follower = new ChildReplica()
    const { served, followed, counters, outbound } = await connect(source, follower, 0)
    await follower.until(10)
    assert.equal(follower.batches.length, 1)
    assert.deepEqual(follower.batches[0].at(-1), { type: 'end', head: 10 })

    source.apply(frames.slice(10, 30))
    await follower.until(30)
    assert.deepEqual(follower.seen, Array.from({ length: 30 }, (_, i) => i + 1), 'no gap, no duplicate')
    assert.deepEqual(follower.replica.head.hash, source.head.hash)
    assert.equal(counters.get('relay_frames_sent'), 20)

    await outbound.close() // the child unsubscribes
    await served
    assert.deepEqual(await followed, { reason: 'closed' })
    assert.equal(source.followers, 0, 'no listener left behind')
  })

  it('passes head announcements down once the child is level, between frames in order', async () => {
    const frames = chain(4)
    const source = new ReplicaSource()
    source.apply(frames.slice(0, 2))
    const follower = new ChildReplica()
    const { followed, outbound } = await connect(source, follower, 0)
    await follower.until(2)
    source.announce(Uint8Array.of(1, 2, 3))
    source.apply(frames.slice(2))
    source.announce(Uint8Array.of(4))
    await follower.until(4)
    await waitFor(() => follower.heads.length === 2)
    assert.deepEqual(follower.heads.map(h => [...h]), [[1, 2, 3], [4]])
    await outbound.close()
    await followed
  })

  it('resumes from the seq a child already holds', async () => {
    const frames = chain(12)
    const source = new ReplicaSource()
    source.apply(frames)
    const follower = new ChildReplica()
    for (const frame of frames.slice(0, 7)) follower.replica.offer(frame)
    const { followed, outbound } = await connect(source, follower, 7)
    await follower.until(12)
    assert.deepEqual(follower.seen, [8, 9, 10, 11, 12])
    await outbound.close()
    await followed
  })

  it('loses no frame applied while the catch-up is still being written', async () => {
    const frames = chain(400, 2000) // ~800 KB of catch-up, written in pieces
    const source = new ReplicaSource()
    source.apply(frames.slice(0, 300))
    const follower = new ChildReplica()
    const { followed, outbound } = await connect(source, follower, 0)
    source.apply(frames.slice(300)) // before the child has read anything
    await follower.until(400)
    assert.deepEqual(follower.seen, Array.from({ length: 400 }, (_, i) => i + 1))
    await outbound.close()
    await followed
  })

  it('refuses a document it does not carry, with a code', async () => {
    const source = new ReplicaSource()
    const [outbound, inbound] = await streamPair()
    const counters = new Counters()
    const served = handleRelayStream(inbound, child, () => undefined, log, counters)
    const end = await followRelayStream(outbound, docId, 0, new ChildReplica(), { signal: AbortSignal.timeout(5_000) })
    await served
    assert.equal(end.reason, 'refused')
    assert.equal(end.reason === 'refused' && end.code, RelayRefusal.NOT_CARRIED)
    assert.equal(counters.get('relay_refused_not_carried'), 1)
    void source
  })

  it('cuts off a child that reads too slowly, and keeps no listener', async () => {
    const frames = chain(200, 4000)
    const source = new ReplicaSource()
    const follower = new ChildReplica()
    const { served, followed, counters, inbound, outbound } = await connect(source, follower, 0, { maxQueuedBytes: 64 * 1024, capacity: 1 })
    await waitFor(() => follower.batches.length === 1) // level: the END arrived
    outbound.pause() // the child stops reading
    source.apply(frames) // ~800 KB at once, far more than the 64 KiB the parent will queue
    await assert.rejects(followed, 'the child sees its stream cut')
    await served
    assert.equal(counters.get('relay_ended_too_slow'), 1)
    assert.notEqual(inbound.status, 'open')
    assert.ok(follower.replica.head.seq < 200, 'it did not receive everything')
    assert.equal(source.followers, 0, 'no listener left behind')
  })

  it('ends the stream with "reset" when the parent\'s chain jumps, so the child re-subscribes', async () => {
    const source = new ReplicaSource()
    source.apply(chain(3))
    const follower = new ChildReplica()
    const { served, followed, counters } = await connect(source, follower, 0)
    await follower.until(3)
    source.reset()
    const end = await followed
    await served
    assert.equal(end.reason === 'refused' && end.code, RelayRefusal.RESET)
    assert.equal(counters.get('relay_ended_reset'), 1)
    assert.equal(source.followers, 0)
  })
})

/** Resolves once `condition` holds, checking after each turn of the event loop. */
async function waitFor (condition: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !condition(); i++) await new Promise(resolve => setImmediate(resolve))
  assert.ok(condition())
}
