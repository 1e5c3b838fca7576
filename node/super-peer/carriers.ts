import { parseDocId } from '../../src/log/index.ts'
import { DocCarrier } from './doc-carrier.ts'
import { FollowLimiter, Uplink } from '../tiers/uplink.ts'
import type { DocCarrierOptions } from './doc-carrier.ts'
import type { ObservableCarrier } from './observable-carrier.ts'
import type { RelaySource } from '../relay/relay-server.ts'
import type { Tiers } from '../tiers/tiers.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'
import type { PeerId } from '@libp2p/interface'

/** How frames reach this node: the flat gossipsub mesh, or the tier tree (node/tiers/). */
export type Topology = 'flat' | 'tiers'

export interface CarrierSetOptions {
  topology: Topology
  /** Documents carried always (--doc), whether anyone watches or not. */
  pinned: readonly string[]
  /** Most documents carried at once; a viewer or child asking for one more is refused. */
  maxDocs: number
  /** How long a document nobody needs any more is kept, in case someone comes back. */
  lingerMs: number
  carrier: Partial<DocCarrierOptions>
}

/**
 * Most documents on the flat topic at once under tiers (each takes two topics: frames and
 * heads). Gossipsub ignores a peer's subscriptions past its per-peer topic budget (1 MiB at
 * about 1 KiB a topic: roughly 1,000 topics), silently, so the fallback stays well under it.
 */
export const MAX_FALLBACK_DOCS = 400

export const CARRIER_SET_DEFAULTS = {
  maxDocs: 10_000,
  lingerMs: 30_000
}

export interface CarrierSetComponents {
  readonly node: BackboneNode
  readonly log: Logger
  readonly counters: Counters
  /** Present under tiers. */
  readonly tiers?: Tiers
  /** Viewers this node serves for a document now (its edge). */
  viewers (docId: string): number
  /**
   * What this node carries or proxies changed: tell the region (membership announcement).
   * `docId` names the one document concerned, when it is one (trees are recomputed for it alone).
   */
  changed (docId?: string): void
}

/** Why a document could not be carried. */
export type CarryRefusal = { code: 'bad-doc' | 'full', error: string }

interface Carried {
  readonly carrier: DocCarrier
  readonly observable: ObservableCarrier | undefined
  readonly uplink: Uplink | undefined
  /** Tier children following it from us now. */
  children: Map<string, number>
  /** When it was last needed (a viewer, a child, or pinned). */
  neededAt: number
  /** Viewers waiting for it to be level (observable()): not in a channel yet, but needing it. */
  waiting: number
}

/**
 * The documents a super-peer carries: those pinned by --doc, and under tiers whichever its
 * viewers and tier children ask for, up to a cap, each dropped a linger after the last one left.
 * Each carried document has its replica (DocCarrier), its observer view (ObservableCarrier) and,
 * under tiers, the uplink that follows its parent.
 */
export class CarrierSet {
  private readonly components: CarrierSetComponents
  private readonly options: CarrierSetOptions
  private readonly carried = new Map<string, Carried>()
  private readonly pinned: ReadonlySet<string>
  private sweeper: ReturnType<typeof setInterval> | undefined
  private readonly carryListeners: Array<(carrier: DocCarrier) => void> = []
  private lastDemand = ''
  /** Documents that took the flat topic for want of a tier parent (at most MAX_FALLBACK_DOCS). */
  private readonly fallback = new Set<string>()
  private readonly followLimiter = new FollowLimiter()

  constructor (components: CarrierSetComponents, options: CarrierSetOptions) {
    this.components = components
    this.options = options
    this.pinned = new Set(options.pinned)
  }

  start (): void {
    for (const docId of this.pinned) {
      const carried = this.carry(docId)
      if ('code' in carried) throw new Error(`cannot carry --doc ${docId}: ${carried.error}`)
    }
    this.sweeper = setInterval(() => { this.sweep(Date.now()) }, Math.max(250, Math.min(5_000, this.options.lingerMs / 4)))
    this.sweeper.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.sweeper)
    await Promise.all([...this.carried.keys()].map(async docId => { await this.drop(docId) }))
  }

  /** Calls `listener` with each carrier as it is created, before it starts (metrics hook in here). */
  onCarry (listener: (carrier: DocCarrier) => void): void {
    this.carryListeners.push(listener)
  }

  get size (): number {
    return this.carried.size
  }

  docIds (): IterableIterator<string> {
    return this.carried.keys()
  }

  /**
   * Documents this host wants for itself: pinned, or with viewers here. This is the demand it
   * announces; a document it relays only for tier children is not demand, or a relay that lost
   * its viewers would keep itself in the tree (and its children on it) forever.
   */
  demanded (): string[] {
    return [...this.carried.keys()].filter(docId => this.pinned.has(docId) || this.components.viewers(docId) > 0)
  }

  /** demanded() for one document. */
  demands (docId: string): boolean {
    return this.carried.has(docId) && (this.pinned.has(docId) || this.components.viewers(docId) > 0)
  }

  has (docId: string): boolean {
    return this.carried.has(docId)
  }

  get (docId: string): DocCarrier | undefined {
    return this.carried.get(docId)?.carrier
  }

  entries (): Array<[string, DocCarrier]> {
    return [...this.carried].map(([docId, c]) => [docId, c.carrier])
  }

  /** Where a carried document comes from now (a peer id, 'gossip', or undefined while looking). */
  upstream (docId: string): string | undefined {
    const c = this.carried.get(docId)
    if (c === undefined) return undefined
    return c.uplink?.parent ?? (c.carrier.onTopic ? 'gossip' : undefined)
  }

  /** Tier children following a document from this node now. */
  childrenOf (docId: string): string[] {
    return [...(this.carried.get(docId)?.children.keys() ?? [])]
  }

  /**
   * The document as observers see it, once the replica is level with its upstream. Under tiers
   * an uncarried document is carried from now on; flat, only pinned documents are served.
   */
  async observable (docId: string, signal: AbortSignal): Promise<ObservableCarrier | CarryRefusal | undefined> {
    const c = this.onDemand(docId)
    if (c === undefined || 'code' in c) return c
    c.neededAt = Date.now()
    // A catch-up can outlast the linger (a loaded host, a slow parent): the viewer waiting for
    // it is in no channel yet, so the sweep would otherwise drop the document under it.
    c.waiting++
    try {
      await Promise.race([c.carrier.level, new Promise<void>(resolve => { signal.addEventListener('abort', () => { resolve() }, { once: true }) })])
    } finally {
      c.waiting--
      c.neededAt = Date.now()
    }
    // dropped meanwhile (stopping): no document to join; the browser may ask again
    if (this.carried.get(docId) !== c) return undefined
    return c.observable
  }

  /** The document as a tier child follows it from us; carried from now on if it was not. */
  relaySource (docId: string, child: PeerId): RelaySource | undefined {
    const entry = this.onDemand(docId)
    if (entry === undefined || 'code' in entry) return undefined
    // A child that is our own parent would make a loop that no frame enters.
    if (entry.uplink?.parent === child.toString()) return undefined
    const source = entry.carrier.relaySource()
    const id = child.toString()
    return {
      get head () { return source.head },
      window: source.window,
      follow: (onFrame, onReset, onHead) => {
        entry.children.set(id, (entry.children.get(id) ?? 0) + 1)
        entry.neededAt = Date.now()
        const stop = source.follow(onFrame, onReset, onHead)
        return () => {
          stop()
          const n = (entry.children.get(id) ?? 1) - 1
          if (n > 0) entry.children.set(id, n)
          else entry.children.delete(id)
          entry.neededAt = Date.now()
        }
      }
    }
  }

  /** A carried document, carrying it from now on under tiers; flat, only pinned ones exist. */
  private onDemand (docId: string): Carried | CarryRefusal | undefined {
    const c = this.carried.get(docId)
    if (c !== undefined) return c
    return this.options.topology === 'tiers' ? this.carry(docId) : undefined
  }

  /** The tree may have changed (membership): every uplink looks again at where it should follow from. */
  reconsider (): void {
    for (const c of this.carried.values()) c.uplink?.reconsider()
  }

  private carry (docId: string): Carried | CarryRefusal {
    const existing = this.carried.get(docId)
    if (existing !== undefined) return existing
    const parsed = parseDocId(docId)
    if (!parsed.ok) return { code: 'bad-doc', error: `bad document id: ${parsed.error}` }
    if (this.carried.size >= this.options.maxDocs) {
      this.components.counters.inc('docs_refused_full')
      return { code: 'full', error: `this super-peer carries ${this.options.maxDocs} documents already (--max-docs)` }
    }
    const { node, log, counters, tiers } = this.components
    const tiered = this.options.topology === 'tiers' && tiers !== undefined
    const carrier = new DocCarrier(node, docId, { ...this.options.carrier, gossip: !tiered }, log, counters)
    const observable = carrier.observable
    const uplink = tiered
      ? new Uplink({
        node,
        carrier,
        log,
        counters,
        limiter: this.followLimiter,
        parentOf: suspects => {
          const { parent } = tiers.standing(docId, suspects)
          // No one to follow (no tree yet, or a region proxy with no direct link to the
          // authority): take the flat topic meanwhile, so frames keep coming.
          if (parent === undefined) this.fallBack(carrier)
          return parent
        },
        crossesRegion: parent => tiers.crossesRegion(parent),
        moved: () => { this.components.changed(docId) }
      })
      : undefined
    const c: Carried = { carrier, observable, uplink, children: new Map(), neededAt: Date.now(), waiting: 0 }
    this.carried.set(docId, c)
    for (const listener of this.carryListeners) listener(carrier)
    carrier.start()
    uplink?.start()
    counters.inc('docs_carried')
    log.info({ docId, topology: this.options.topology }, 'carrying document')
    this.components.changed(docId)
    return c
  }

  /** Take the flat topic for a document with no tier parent, while the fallback has room. */
  private fallBack (carrier: DocCarrier): void {
    if (carrier.onTopic) return
    if (this.fallback.size >= MAX_FALLBACK_DOCS) {
      this.components.counters.inc('gossip_fallback_full')
      return
    }
    this.fallback.add(carrier.docId)
    carrier.joinTopic()
  }

  private async drop (docId: string): Promise<void> {
    const c = this.carried.get(docId)
    if (c === undefined) return
    this.carried.delete(docId)
    this.fallback.delete(docId)
    await c.uplink?.stop()
    c.carrier.stop()
    this.components.changed(docId)
  }

  /** Drop documents that no viewer, no child and no --doc has needed for a linger. */
  private sweep (now: number): void {
    // Viewers come and go without the carrier set hearing of it: demand is checked here.
    const demand = this.demanded().sort().join(' ')
    if (demand !== this.lastDemand) {
      this.lastDemand = demand
      this.components.changed()
    }
    // Uplinks leave the topic once level with a parent: their fallback places are free again.
    for (const docId of this.fallback) if (this.carried.get(docId)?.carrier.onTopic !== true) this.fallback.delete(docId)
    for (const [docId, c] of this.carried) {
      // A safety net under the change events: an uplink that follows a parent its view no
      // longer names moves (cheap: standings are cached until something changes).
      c.uplink?.reconsider()
      if (this.pinned.has(docId) || c.children.size > 0 || c.waiting > 0 || this.components.viewers(docId) > 0) {
        c.neededAt = now
        continue
      }
      if (now - c.neededAt >= this.options.lingerMs) {
        this.components.counters.inc('docs_dropped_idle')
        this.components.log.info({ docId }, 'no longer carrying document (no viewers, no tier children)')
        void this.drop(docId)
      }
    }
  }
}
