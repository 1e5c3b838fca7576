/**
 * Membership snapshots over `/deltacast/members/1.0.0` (src/membership/protocol.ts): a joining
 * node hands one peer its own announcement and gets the region's announcements back, so it
 * knows its region at once, and the region knows it at once (the peer relays the newcomer's
 * announcement on the topic), instead of both waiting up to a refresh period.
 */
import { lpStream } from '@libp2p/utils'
import { withDeadline } from '../deadline.ts'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { decodeAnnouncement } from '../../src/membership/index.ts'
import { MAX_MEMBERSHIP_MESSAGE_BYTES, MAX_SNAPSHOT_ANNOUNCEMENTS, MEMBERSHIP_PROTOCOL } from '../../src/membership/index.ts'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'
import type { MembershipService } from './membership-service.ts'

export const SNAPSHOT_TIMEOUT_MS = 10_000
const END = new Uint8Array(0)
/** Refusals of a newcomer's announcement that still leave it worth a snapshot (it is genuine). */
const STILL_SERVED = new Set(['stale', 'flood'])

/** Thrown when a peer's snapshot breaks the protocol. */
export class MembershipProtocolError extends Error {
  static override name = 'MembershipProtocolError'
  override name = 'MembershipProtocolError'
}

export async function serveMembershipSnapshots (libp2p: Pick<Libp2p, 'handle'>, service: MembershipService, counters: Counters, log: Logger): Promise<void> {
  await libp2p.handle(MEMBERSHIP_PROTOCOL, async (stream, connection) => {
    const lp = lpStream(stream, { maxDataLength: MAX_MEMBERSHIP_MESSAGE_BYTES })
    const remote = connection.remotePeer.toString()
    try {
      const request = (await withDeadline(SNAPSHOT_TIMEOUT_MS, 'membership snapshot request', signal => lp.read({ signal }))).subarray()
      const decoded = decodeAnnouncement(request)
      // Only a member's own announcement buys a snapshot: it proves who asks and which region.
      if (!decoded.ok || decoded.value.peerId !== remote) {
        counters.inc('membership_snapshot_refused')
        stream.abort(new MembershipProtocolError(decoded.ok ? `announcement is for ${decoded.value.peerId}, not the requester` : decoded.error))
        return
      }
      const result = service.receive(request)
      if (!result.ok && !STILL_SERVED.has(result.reason)) {
        counters.inc('membership_snapshot_refused')
        stream.abort(new MembershipProtocolError(`announcement refused: ${result.reason}`))
        return
      }
      if (result.ok && result.change !== 'refreshed') service.relay(request, decoded.value.region)
      const snapshot = service.regionAnnouncements(decoded.value.region, remote).slice(0, MAX_SNAPSHOT_ANNOUNCEMENTS)
      await lp.writeV([...snapshot, END])
      counters.inc('membership_snapshots_served')
      await stream.close()
    } catch (err) {
      counters.inc('membership_snapshot_errors')
      log.debug({ err, peer: remote }, 'membership snapshot stream failed')
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 4 })
}

/** Asks `peer` for its view of this node's region; returns how many announcements were accepted. */
export async function requestMembershipSnapshot (libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId, service: MembershipService,
  options: { signal: AbortSignal }): Promise<number> {
  const own = service.ownAnnouncement()
  if (own === undefined) throw new MembershipProtocolError('membership is not started')
  const stream = await libp2p.dialProtocol(peer, MEMBERSHIP_PROTOCOL, options)
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_MEMBERSHIP_MESSAGE_BYTES })
    await lp.write(own, options)
    let accepted = 0
    for (let received = 0; ; received++) {
      const bytes = (await lp.read(options)).subarray()
      if (bytes.length === 0) break
      if (received === MAX_SNAPSHOT_ANNOUNCEMENTS) throw new MembershipProtocolError(`more than ${MAX_SNAPSHOT_ANNOUNCEMENTS} announcements`)
      if (service.receive(bytes).ok) accepted++
    }
    await stream.close(options)
    return accepted
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

export const JOIN_RETRY_MS = 1_000

/**
 * Gets a snapshot once per stretch of connectivity: from the first peer that answers after the
 * node has gone from no connections to some (at start, and after being cut off). Peers that
 * refuse (e.g. before the fleet handshake has certified this node) are retried every second.
 */
export function joinRegion (libp2p: Pick<Libp2p, 'dialProtocol' | 'getPeers' | 'addEventListener' | 'removeEventListener'>, service: MembershipService,
  counters: Counters, log: Logger): () => void {
  let synced = false
  let inFlight = false
  let stopped = false
  const attempt = async (): Promise<void> => {
    if (synced || inFlight || stopped) return
    inFlight = true
    try {
      for (const peer of libp2p.getPeers()) {
        try {
          const accepted = await withDeadline(SNAPSHOT_TIMEOUT_MS, 'membership snapshot', signal => requestMembershipSnapshot(libp2p, peer, service, { signal }))
          counters.inc('membership_snapshots_received')
          log.debug({ peer: peer.toString(), accepted }, 'membership snapshot received')
          synced = true
          return
        } catch (err) {
          log.debug({ err: (err as Error).message, peer: peer.toString() }, 'membership snapshot failed; trying the next peer')
        }
      }
    } finally {
      inFlight = false
    }
  }
  const onConnect = (): void => { void attempt() }
  const onDisconnect = (): void => { if (libp2p.getPeers().length === 0) synced = false }
  libp2p.addEventListener('peer:connect', onConnect)
  libp2p.addEventListener('peer:disconnect', onDisconnect)
  const timer = setInterval(() => { void attempt() }, JOIN_RETRY_MS)
  timer.unref?.()
  void attempt()
  return () => {
    stopped = true
    clearInterval(timer)
    libp2p.removeEventListener('peer:connect', onConnect)
    libp2p.removeEventListener('peer:disconnect', onDisconnect)
  }
}
