import { peerIdFromString } from '@libp2p/peer-id'
import { RelayRefusal } from '../../src/relay/messages.ts'
import { followRelay } from '../relay/relay-client.ts'
import type { RelayEnd } from '../relay/relay-client.ts'
import type { DocCarrier } from '../super-peer/doc-carrier.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'

/** How long a parent that failed us is passed over, unless the tree offers no one else. */
export const SUSPECT_MS = 30_000
/**
 * How long a parent that answered "not carried" is passed over: it is alive, and carries the
 * document as soon as it sees the role the tree gives it, so it is asked again soon.
 */
export const NOT_CARRIED_SUSPECT_MS = 2_000
/** Pause after a failed attempt before the next, doubling up to MAX_RETRY_MS: no hot loop. */
export const FIRST_RETRY_MS = 50
export const MAX_RETRY_MS = 2_000

/** Relay streams being opened and caught up at once, per host (see FollowLimiter). */
export const MAX_CONCURRENT_FOLLOWS = 64

/**
 * Bounds how many uplinks open and catch up their relay streams at once. A host starting with
 * 10,000 documents would otherwise open 10,000 streams on one connection in the same instant;
 * their protocol negotiations then outlast libp2p's negotiation timeout, every one fails and
 * is retried together. In waves, each is answered in milliseconds; once caught up a stream
 * costs only its frames, so the slot is given back.
 */
export class FollowLimiter {
  private active = 0
  private readonly waiting: Array<() => void> = []
  private readonly max: number

  constructor (max = MAX_CONCURRENT_FOLLOWS) {
    this.max = max
  }

  /** Resolves with a release function once a slot is free, or with undefined if `signal` aborts first. */
  async acquire (signal: AbortSignal): Promise<(() => void) | undefined> {
    if (this.active >= this.max) {
      const admitted = await new Promise<boolean>(resolve => {
        const go = (): void => { signal.removeEventListener('abort', cancel); resolve(true) }
        const cancel = (): void => {
          const i = this.waiting.indexOf(go)
          if (i >= 0) this.waiting.splice(i, 1)
          resolve(false)
        }
        this.waiting.push(go)
        signal.addEventListener('abort', cancel, { once: true })
      })
      if (!admitted) return undefined
    } else {
      this.active++
    }
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.waiting.shift()
      if (next !== undefined) next() // the slot passes straight on
      else this.active--
    }
  }
}

export interface UplinkComponents {
  readonly node: Libp2p
  readonly carrier: DocCarrier
  readonly log: Logger
  readonly counters: Counters
  /** Shared by the host's uplinks: how many may be opening their streams at once. */
  readonly limiter: FollowLimiter
  /**
   * The peer to follow the document from now, passing over `suspects`; undefined when there is
   * none to follow (then the uplink waits for reconsider()).
   */
  parentOf (suspects: ReadonlySet<string>): string | undefined
  /** True if frames from `parent` cross into this node's region (the authority, or another region's proxy). */
  crossesRegion (parent: string): boolean
  /** Called when the parent followed changes (this node's role may have too). */
  moved (): void
}

/**
 * Keeps one carried document flowing from its tier parent: follows the parent's relay stream,
 * resumes from the replica's head on every new stream (so a failover has no gap and no
 * duplicate), and when the parent dies or refuses, moves at once to the next one the tree names.
 */
export class Uplink {
  private readonly components: UplinkComponents
  private readonly suspects = new Map<string, number>()
  private current: string | undefined
  private switching: AbortController | undefined
  private wake: (() => void) | undefined
  private stopped = false
  private retryMs = FIRST_RETRY_MS
  private loop: Promise<void> | undefined

  constructor (components: UplinkComponents) {
    this.components = components
  }

  /** The parent followed now, if any. */
  get parent (): string | undefined {
    return this.current
  }

  start (): void {
    this.loop ??= this.run()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.switching?.abort()
    this.wake?.()
    await this.loop
  }

  /** The tree may have changed: move to the parent it names now, if that is another one. */
  reconsider (): void {
    const wanted = this.components.parentOf(this.liveSuspects())
    if (wanted === this.current) return
    if (this.current === undefined) this.wake?.()
    else this.switching?.abort() // the loop picks `wanted` next; the new stream resumes by seq
  }

  private liveSuspects (now = Date.now()): Set<string> {
    for (const [peer, until] of this.suspects) if (until <= now) this.suspects.delete(peer)
    return new Set(this.suspects.keys())
  }

  private async run (): Promise<void> {
    const { node, carrier, log, counters } = this.components
    while (!this.stopped) {
      let parent = this.components.parentOf(this.liveSuspects())
      if (parent === undefined) {
        // Everyone the tree names has failed us lately: ask the best of them again, with backoff.
        parent = this.components.parentOf(new Set())
        if (parent !== undefined) await this.pause()
        if (this.stopped) break
      }
      if (parent === undefined) {
        if (this.current !== undefined) {
          this.current = undefined
          this.components.moved()
        }
        await new Promise<void>(resolve => { this.wake = resolve })
        this.wake = undefined
        continue
      }
      if (this.current !== parent) {
        this.current = parent
        this.components.moved()
      }
      const crossing = this.components.crossesRegion(parent) ? 'frames_relayed_from_outside_region' : 'frames_relayed_within_region'
      const switching = new AbortController()
      this.switching = switching
      let end: RelayEnd | 'switched' | Error
      const after = carrier.replica.diverged ? 0 : carrier.replica.head.seq
      const peer = peerIdFromString(parent)
      const release = await this.components.limiter.acquire(switching.signal)
      if (release === undefined) {
        if (this.stopped) break
        continue // switched while waiting for a slot
      }
      try {
        counters.inc('uplink_follows')
        end = await followRelay(node, peer, carrier.docId, after, {
          caughtUp: messages => {
            release()
            counters.inc(crossing, messages.filter(m => m.type === 'frame').length)
            carrier.applyCatchUp(peer, messages)
            this.retryMs = FIRST_RETRY_MS // a working stream resets the backoff
            // Level with the parent: viewers may be served, and the flat topic (if we were on it) is not needed.
            carrier.markLevel()
            carrier.leaveTopic()
          },
          frame: bytes => {
            counters.inc(crossing)
            carrier.receive(bytes, peer)
          },
          head: bytes => { carrier.receiveHead(bytes, peer) }
        }, { signal: switching.signal })
      } catch (err) {
        end = switching.signal.aborted ? 'switched' : err as Error
      } finally {
        release()
      }
      if (this.stopped) break
      if (end === 'switched') continue
      // Anything else means this parent cannot serve us now: pass it over, and if the tree
      // names the same one again (it is the only one), wait a little before asking again.
      const retry = !(end instanceof Error) && end.reason === 'refused' &&
        (end.code === RelayRefusal.TOO_SLOW || end.code === RelayRefusal.RESET)
      const notCarried = !(end instanceof Error) && end.reason === 'refused' && end.code === RelayRefusal.NOT_CARRIED
      if (!retry) this.suspects.set(parent, Date.now() + (notCarried ? NOT_CARRIED_SUSPECT_MS : SUSPECT_MS))
      counters.inc(`uplink_lost_${end instanceof Error ? 'error' : end.reason === 'closed' ? 'closed' : (end.code ?? 'refused').replaceAll('-', '_')}`)
      log.info({ docId: carrier.docId, parent, end: end instanceof Error ? end.message : end }, 'lost tier parent')
      if (retry) await this.pause()
    }
    this.current = undefined
  }

  private async pause (): Promise<void> {
    const ms = this.retryMs
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2)
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, ms)
      this.wake = () => { clearTimeout(timer); resolve() }
    })
    this.wake = undefined
  }
}
