/**
 * Windows on a super-peer: which window a message goes in, and one state per origin window.
 *
 * Window w of a channel is the time [w * width, (w + 1) * width) on the super-peer's clock.
 * A browser stamps each first send with the window it expects (the super-peer tells it the
 * open window); the super-peer accepts the open window or the next one (clock skew) and refuses
 * anything else with `window-closed`, and the browser restamps. So the stamp a browser last
 * sent is the only window that can hold its message: that is what makes resends after
 * failover exact (src/reduce/ledger.ts). A window closes once `now` reaches its end and never
 * reopens; close() hands back its entry for the parent.
 */
import type { Json } from '../json.ts'
import { canonicalJson } from '../log/canonical-json.ts'
import { ByteWriter } from './bytes.ts'
import type { Reducer } from './kind.ts'
import type { Partial, Prior, ResentEntry, WindowEntry } from './partial.ts'
import { partialOf } from './partial.ts'

export const MIN_WINDOW_MS = 50
export const MAX_WINDOW_MS = 3_600_000

export function windowAt (now: number, widthMs: number): number {
  return Math.floor(now / widthMs)
}

export function windowStart (window: number, widthMs: number): number {
  return window * widthMs
}

export type StampVerdict = { ok: true } | { ok: false, code: 'window-closed', open: number }

/** A first send may be stamped with the open window or the next one. */
export function checkStamp (stamp: number, now: number, widthMs: number): StampVerdict {
  const open = windowAt(now, widthMs)
  return stamp === open || stamp === open + 1 ? { ok: true } : { ok: false, code: 'window-closed', open }
}

interface OpenWindow<S> {
  readonly state: S
  /** Writers with a message in this window: they are told when it is counted. */
  readonly writers: Set<string>
}

export interface ClosedWindows {
  /** The closed windows' entries and the resends accepted since the last close, or null if none. */
  readonly partial: Partial | null
  /** Per closed window, the writers with a message in it. */
  readonly writers: ReadonlyMap<number, ReadonlySet<string>>
}

export interface OriginWindowsInit<S> {
  readonly channel: string
  readonly reducer: Reducer<S>
  readonly widthMs: number
  /** This super-peer boot: "<peer id>/<boot id>", so a restart never reuses a window's key. */
  readonly origin: string
}

/** One channel's open windows on one super-peer. Messages must already be admitted (channels.ts). */
export class OriginWindows<S> {
  private readonly open = new Map<number, OpenWindow<S>>()
  private resent: ResentEntry[] = []
  /** Every window below this is closed. */
  private closedBelow = -Infinity

  private readonly init: OriginWindowsInit<S>

  constructor (init: OriginWindowsInit<S>) {
    this.init = init
  }

  /** Adds a first send stamped `stamp`; refuses a stamp that is not the open or the next window. */
  add (stamp: number, body: Json, writer: string, id: number, now: number): StampVerdict {
    const verdict = checkStamp(stamp, now, this.init.widthMs)
    if (!verdict.ok) return verdict
    // A clock that stepped back must not reopen a closed window.
    if (stamp < this.closedBelow) return { ok: false, code: 'window-closed', open: this.closedBelow }
    let window = this.open.get(stamp)
    if (window === undefined) {
      window = { state: this.init.reducer.empty(), writers: new Set() }
      this.open.set(stamp, window)
    }
    this.init.reducer.add(window.state, body, { window: stamp, writer, id })
    window.writers.add(writer)
    return { ok: true }
  }

  /** Adds a message resent after failover; it travels on its own, counted once by (writer, id). */
  addResent (body: Json, writer: string, id: number, prior: Prior | null, now: number): void {
    this.resent.push({ writer, id, origin: this.init.origin, window: windowAt(now, this.init.widthMs), prior, body: canonicalJson(body), signature: null })
  }

  /**
   * Closes every window that ended at or before `now`. Entries are unsigned: the shell signs
   * windowSigningBytes / resentSigningBytes with the super-peer's key before sending.
   */
  close (now: number): ClosedWindows {
    const openNow = windowAt(now, this.init.widthMs)
    const entries: WindowEntry[] = []
    const writers = new Map<number, ReadonlySet<string>>()
    for (const [w, window] of [...this.open].sort((a, b) => a[0] - b[0])) {
      if (w >= openNow) continue
      const out = new ByteWriter()
      this.init.reducer.encode(window.state, out)
      entries.push({ origin: this.init.origin, window: w, state: out.finish(), signature: null })
      writers.set(w, window.writers)
      this.open.delete(w)
    }
    this.closedBelow = Math.max(this.closedBelow, openNow)
    const resent = this.resent
    this.resent = []
    const kind = this.init.reducer.code
    const partial = entries.length === 0 && resent.length === 0 ? null : partialOf(this.init.channel, kind, entries, resent)
    return { partial, writers }
  }

  /** When the next window closes: the shell's timer. */
  nextCloseAt (now: number): number {
    return windowStart(windowAt(now, this.init.widthMs) + 1, this.init.widthMs)
  }
}
