/**
 * Keeps the backbone fleet-only. Private fields leave the authority only towards super-peers an
 * operator certified; a pre-shared-key private network does not protect WebRTC-Direct, so
 * admission is decided per peer id, after Noise authenticated it:
 *
 * - handshake (handshake.ts): each side presents its certificate on every new connection;
 * - gossipsub (appSpecificScore): until a peer is certified its score is far below the graylist
 *   threshold, so gossipsub ignores its RPCs (its subscriptions included) and never publishes or
 *   forwards to it; an authority certified by its doc key scores between the graylist and publish
 *   thresholds: its frames are accepted, nothing is ever sent to it;
 * - topic validators and the sync server (guards.ts) refuse uncertified peers as well;
 * - a peer that fails, or presents nothing within the handshake timeout, is hung up on and denied
 *   by the connection gater for a while.
 *
 * Without trusted operators the guard does not enforce (dev mode): everyone is admitted.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { DOC_ID_SEPARATOR, parseDocId, docIdOfTopic } from '../../src/log/index.ts'
import { encodePublicKey, verifyFleetCert } from '../../src/identity/index.ts'
import { answerPresentation, FLEET_PROTOCOL, presentCert } from './handshake.ts'
import { isFleetHookable, rescore } from './gossip-hooks.ts'
import { startDeadline, withDeadline } from '../deadline.ts'
import type { HandshakeReply } from './handshake.ts'
import type { FleetHookablePubSub } from './gossip-hooks.ts'
import type { FleetCert } from '../../src/identity/index.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Logger } from '../log.ts'
import type { Connection, ConnectionGater, PeerId } from '@libp2p/interface'

/**
 * Application scores (gossipsub multiplies them by appSpecificWeight, 10). With the default
 * thresholds (gossip -10, publish -50, graylist -80) and topic scores capped at +10:
 * uncertified peers sit near -10,000 (graylisted); authorities between -65 and -55 (their RPCs
 * accepted, below the publish threshold so nothing is published or forwarded to them, negative so
 * never in a mesh); members at 0 plus their topic score.
 */
export const UNCERTIFIED_SCORE = -1000
export const DOCUMENT_SCOPE_SCORE = -6.5
export const MEMBER_SCORE = 0

export interface FleetGuardOptions {
  /** This node's certificate, presented to every backbone peer (none: peers that enforce refuse us). */
  cert?: string
  /** Operator keys (raw) whose certificates admit a peer. Empty: dev mode, nothing enforced. */
  trustedOperators: Uint8Array[]
  /** Doc ids this node carries: their authorities may present doc-key certificates. */
  docIds: string[]
  /**
   * Admit an authority certified by any doc key, as the source of that key's documents only:
   * a super-peer that carries documents on demand (tiers) cannot list their keys in advance.
   */
  anyDocKey: boolean
  /** A connected peer must be certified within this long. */
  handshakeTimeoutMs: number
  /** How long a refused peer id stays denied by the connection gater. */
  denyTtlMs: number
  now: () => number
  /** Counts denials by reason, as `backbone_denied_<reason>` (e.g. the process's Counters). */
  counters?: { inc (name: string): void }
}

export const FLEET_GUARD_DEFAULTS = { handshakeTimeoutMs: 10_000, denyTtlMs: 5 * 60_000, now: Date.now, anyDocKey: false }

interface Denial { reason: string, until: number }

/** Emits 'certified' (a CustomEvent with the FleetCert) when a peer is admitted. */
export class FleetGuard extends EventTarget {
  readonly enforcing: boolean
  private readonly options: FleetGuardOptions
  private readonly docKeys: Uint8Array[]
  private readonly certified = new Map<string, FleetCert>()
  /** Document-scope certificates by signing key (base32): each key's sources, by peer id. */
  private readonly documentSources = new Map<string, Map<string, PeerId>>()
  private readonly denied = new Map<string, Denial>()
  private readonly expiryTimers = new Map<string, ReturnType<typeof setTimeout>>()
  private node: BackboneNode | undefined
  private pubsub: FleetHookablePubSub | undefined
  private log: Logger | undefined
  private readonly stopController = new AbortController()

  constructor (options: Partial<FleetGuardOptions> & Pick<FleetGuardOptions, 'trustedOperators' | 'docIds'>) {
    super()
    this.options = { ...FLEET_GUARD_DEFAULTS, ...options }
    this.enforcing = this.options.trustedOperators.length > 0
    this.docKeys = this.options.docIds.map(docId => {
      const parsed = parseDocId(docId)
      if (!parsed.ok) throw new RangeError(`bad doc id ${docId}: ${parsed.error}`)
      return parsed.value.publicKey
    })
  }

  /** For gossipsub's scoreParams.appSpecificScore: called with the peer id string. */
  readonly appSpecificScore = (peerId: string): number => {
    if (!this.enforcing) return MEMBER_SCORE
    const cert = this.certified.get(peerId)
    if (cert === undefined) return UNCERTIFIED_SCORE
    return cert.scope === 'fleet' ? MEMBER_SCORE : DOCUMENT_SCOPE_SCORE
  }

  /**
   * For the backbone node: refuses denied peer ids for the whole deny window. Inbound, the peer
   * id is first known once Noise has authenticated it (denyInboundEncryptedConnection), so a
   * denied peer's connection is refused before any muxer, stream or handler sees it.
   */
  readonly connectionGater: ConnectionGater = {
    denyDialPeer: (peerId: PeerId) => this.gate(peerId, 'dial'),
    denyInboundEncryptedConnection: (peerId: PeerId) => this.gate(peerId, 'inbound'),
    denyOutboundEncryptedConnection: (peerId: PeerId) => this.gate(peerId, 'outbound')
  }

  private gate (peerId: PeerId, direction: 'dial' | 'inbound' | 'outbound'): boolean {
    if (!this.isDenied(peerId.toString())) return false
    this.options.counters?.inc(`backbone_denied_gater_${direction}`)
    return true
  }

  /** Operator keys this guard trusts (raw 32 bytes). */
  get trustedOperators (): Uint8Array[] {
    return this.options.trustedOperators
  }

  /** A fleet member: may receive frames, request catch-up, publish on any topic. */
  isMember (peerId: string): boolean {
    return !this.enforcing || this.certified.get(peerId)?.scope === 'fleet'
  }

  /** May this peer's messages on `topic` be accepted? Members anywhere; authorities on their documents. */
  mayPublish (peerId: string, topic: string): boolean {
    if (!this.enforcing) return true
    const cert = this.certified.get(peerId)
    if (cert === undefined) return false
    if (cert.scope === 'fleet') return true
    const docId = docIdOfTopic(topic)
    if (!docId.ok) return false
    const parsed = parseDocId(docId.value)
    return parsed.ok && encodePublicKey(parsed.value.publicKey) === cert.operator
  }

  /**
   * Connected peers certified by the document's own key: its authority, known from the
   * handshake alone (no gossipsub subscription to find it by). Cheap: called for every carried
   * document whenever the tier trees are looked at.
   */
  sourcesOf (docId: string): string[] {
    // A doc id is base32(key) "." name, the same spelling as a certificate's op (a malformed id matches none).
    const dot = docId.indexOf(DOC_ID_SEPARATOR)
    const holders = dot < 0 ? undefined : this.documentSources.get(docId.slice(0, dot))
    if (holders === undefined || this.node === undefined) return []
    const sources: string[] = []
    for (const peerId of holders.values()) if (this.node.getConnections(peerId).length > 0) sources.push(peerId.toString())
    return sources
  }

  isDenied (peerId: string): boolean {
    const denial = this.denied.get(peerId)
    if (denial === undefined) return false
    if (denial.until > this.options.now()) return true
    this.denied.delete(peerId)
    return false
  }

  /** Registers the handshake and starts watching connections. Call once, right after the node starts. */
  async attach (node: BackboneNode, log: Logger): Promise<void> {
    const pubsub = node.services.pubsub
    if (!isFleetHookable(pubsub)) throw new TypeError('this @libp2p/gossipsub does not expose score.scoreCache and sendSubscriptions')
    this.node = node
    this.pubsub = pubsub
    this.log = log.child({ component: 'fleet' })
    if (!this.enforcing) this.log.warn('no --trust-operator given: the backbone is open to any peer (dev mode); private fields are not protected')
    await node.handle(FLEET_PROTOCOL, async (stream, connection) => {
      await withDeadline(this.options.handshakeTimeoutMs, 'fleet certificate presentation', signal => answerPresentation(stream, cert => this.judge(connection.remotePeer.toString(), cert), signal))
    }, { maxInboundStreams: 2 })
    node.addEventListener('connection:open', event => { this.onConnection(event.detail) })
    for (const connection of node.getConnections()) this.onConnection(connection)
  }

  stop (): void {
    this.stopController.abort()
    for (const timer of this.expiryTimers.values()) clearTimeout(timer)
    this.expiryTimers.clear()
  }

  /** Our gossipsub mesh for a topic (for the admin endpoint and tests). */
  meshPeers (topic: string): string[] {
    return this.pubsub?.getMeshPeers(topic) ?? []
  }

  /** What the admin endpoint shows. */
  status (): { enforcing: boolean, certified: Array<FleetCert>, denied: Array<{ peerId: string } & Denial> } {
    return {
      enforcing: this.enforcing,
      certified: [...this.certified.values()],
      denied: [...this.denied].filter(([peerId]) => this.isDenied(peerId)).map(([peerId, denial]) => ({ peerId, ...denial }))
    }
  }

  /** Verifies a presented certificate and records the verdict before it is sent back. */
  private judge (peerId: string, cert: string): HandshakeReply {
    if (this.isDenied(peerId)) return { ok: false, code: 'denied', error: this.denied.get(peerId)?.reason ?? 'denied' }
    const result = cert === ''
      ? { ok: false as const, code: 'no-certificate', error: 'no fleet certificate presented' }
      : verifyFleetCert(cert, { peerId, trustedOperators: this.options.trustedOperators, docKeys: this.docKeys, anyDocKey: this.options.anyDocKey, now: this.options.now() })
    if (result.ok) {
      this.certify(result.cert)
      return { ok: true }
    }
    if (!this.enforcing) return { ok: true } // dev mode: admitted anyway
    this.refuse(peerId, `${result.code}: ${result.error}`, result.code)
    return { ok: false, code: result.code, error: result.error }
  }

  private certify (cert: FleetCert): void {
    this.uncertify(cert.peerId)
    this.certified.set(cert.peerId, cert)
    if (cert.scope === 'document') {
      const holders = this.documentSources.get(cert.operator) ?? new Map<string, PeerId>()
      holders.set(cert.peerId, peerIdFromString(cert.peerId))
      this.documentSources.set(cert.operator, holders)
    }
    this.denied.delete(cert.peerId)
    if (this.pubsub !== undefined) rescore(this.pubsub, cert.peerId)
    this.armExpiry(cert)
    this.dispatchEvent(new CustomEvent('certified', { detail: cert }))
    this.log?.info({ peer: cert.peerId, region: cert.region, scope: cert.scope, expires: new Date(cert.expires).toISOString() }, 'fleet peer certified')
  }

  /** Forget a peer's certificate (it expired, or the peer was refused). */
  private uncertify (peerId: string): void {
    const cert = this.certified.get(peerId)
    if (cert === undefined) return
    this.certified.delete(peerId)
    const holders = this.documentSources.get(cert.operator)
    holders?.delete(peerId)
    if (holders?.size === 0) this.documentSources.delete(cert.operator)
  }

  /** A certificate ran out: the peer must reconnect with a new one. */
  /** setTimeout caps delays at 2^31-1 ms (~24.8 days): longer certificates re-arm on the way. */
  private armExpiry (cert: FleetCert): void {
    clearTimeout(this.expiryTimers.get(cert.peerId))
    const timer = setTimeout(() => { this.expire(cert.peerId) }, Math.min(Math.max(0, cert.expires - this.options.now()), 2 ** 31 - 1))
    timer.unref()
    this.expiryTimers.set(cert.peerId, timer)
  }

  private expire (peerId: string): void {
    const cert = this.certified.get(peerId)
    if (cert === undefined) return
    if (cert.expires > this.options.now()) {
      this.armExpiry(cert)
      return
    }
    this.uncertify(peerId)
    this.expiryTimers.delete(peerId)
    if (this.pubsub !== undefined) rescore(this.pubsub, peerId)
    if (this.enforcing) {
      this.log?.warn({ peer: peerId }, 'fleet certificate expired: disconnecting')
      this.hangUp(peerId)
    }
  }

  /** Deny the peer id for a while and hang up on it; `code` names the reason in the counters. */
  private refuse (peerId: string, reason: string, code: string): void {
    this.options.counters?.inc(`backbone_denied_${code.replaceAll('-', '_')}`)
    this.uncertify(peerId)
    const now = this.options.now()
    for (const [id, denial] of this.denied) if (denial.until <= now) this.denied.delete(id) // keep the map bounded by live denials
    this.denied.set(peerId, { reason, until: now + this.options.denyTtlMs })
    if (this.pubsub !== undefined) rescore(this.pubsub, peerId)
    this.log?.warn({ peer: peerId, reason }, 'peer refused: not in the fleet')
    // Let the refusal reach the peer before the connection goes.
    setTimeout(() => { this.hangUp(peerId) }, 100).unref()
  }

  private hangUp (peerId: string): void {
    const node = this.node
    if (node === undefined) return
    for (const connection of node.getConnections()) {
      if (connection.remotePeer.toString() === peerId) connection.abort(new Error(`not in the fleet: ${peerId}`))
    }
  }

  /** Every new connection: present our certificate, and give the peer a deadline to present its own. */
  private onConnection (connection: Connection): void {
    const peerId = connection.remotePeer.toString()
    if (this.enforcing) {
      if (this.isDenied(peerId)) {
        // The gater refuses these; reaching here would mean a path around it.
        this.options.counters?.inc('backbone_denied_open_connection')
        connection.abort(new Error('denied'))
        return
      }
      const certDeadline = setTimeout(() => {
        if (!this.certified.has(peerId) && connection.status === 'open') this.refuse(peerId, `no fleet certificate within ${this.options.handshakeTimeoutMs} ms`, 'handshake-timeout')
      }, this.options.handshakeTimeoutMs)
      certDeadline.unref()
    }
    const presentation = startDeadline(this.options.handshakeTimeoutMs, 'fleet handshake reply')
    const signal = AbortSignal.any([this.stopController.signal, presentation.signal])
    presentCert(connection, this.options.cert, signal).then(reply => {
      presentation.clear()
      if (reply.ok) {
        // The peer dropped our subscriptions while it did not know us; now it accepts them.
        this.pubsub?.sendSubscriptions(peerId, this.node?.services.pubsub.getTopics() ?? [], true)
      } else {
        this.log?.warn({ peer: peerId, code: reply.code, error: reply.error }, 'peer refused our fleet certificate')
      }
    }, (err: Error) => {
      presentation.clear()
      // A peer that does not answer in time is the deadline's to refuse, with a clearer reason.
      if (connection.status !== 'open' || signal.aborted) return
      if (this.enforcing && !this.certified.has(peerId)) this.refuse(peerId, `fleet handshake failed: ${err.message}`, 'handshake-failed')
      else this.log?.debug({ peer: peerId, err }, 'fleet handshake failed')
    })
  }
}
