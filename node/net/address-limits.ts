// Per-address admission for a public listener: how many connections one IP may hold, and how
// fast it may open new ones. Runs as the edge node's connection gater, before Noise.

import type { ConnectionGater, MultiaddrConnection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface AddressLimits {
  /** Connections one IP address may hold open at once (counted from before encryption). */
  maxConnectionsPerAddress: number
  /** New connections one IP address may open per rateWindowMs. */
  newConnectionsPerAddress: number
  rateWindowMs: number
}

export type AddressRefusal = 'per_address' | 'rate'

/** The remote IP of a multiaddr, or undefined for transports without one. */
export function remoteIp (addr: Multiaddr): string | undefined {
  return addr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
}

interface AddressState { open: number, windowStart: number, opened: number }

/**
 * Counts open connections and recent opens per IP. State for an address is dropped once it has
 * no open connection and its rate window has passed, so memory follows live addresses only.
 */
export class AddressLimiter {
  private readonly limits: AddressLimits
  private readonly now: () => number
  private readonly addresses = new Map<string, AddressState>()
  private readonly onRefused: (reason: AddressRefusal) => void
  private lastSweep = 0

  constructor (limits: AddressLimits, onRefused: (reason: AddressRefusal) => void, now: () => number = Date.now) {
    this.limits = limits
    this.onRefused = onRefused
    this.now = now
  }

  /** Admits a new connection from `ip`, or says why not; an admitted one must be released once. */
  admit (ip: string): AddressRefusal | undefined {
    const now = this.now()
    if (now - this.lastSweep >= this.limits.rateWindowMs) this.sweep(now)
    let state = this.addresses.get(ip)
    if (state === undefined) {
      state = { open: 0, windowStart: now, opened: 0 }
      this.addresses.set(ip, state)
    }
    if (now - state.windowStart >= this.limits.rateWindowMs) {
      state.windowStart = now
      state.opened = 0
    }
    let refusal: AddressRefusal | undefined
    if (state.open >= this.limits.maxConnectionsPerAddress) refusal = 'per_address'
    else if (state.opened >= this.limits.newConnectionsPerAddress) refusal = 'rate'
    if (refusal !== undefined) {
      this.onRefused(refusal)
      this.forgetIfIdle(ip, state, now)
      return refusal
    }
    state.open++
    state.opened++
    return undefined
  }

  release (ip: string): void {
    const state = this.addresses.get(ip)
    if (state === undefined || state.open === 0) return
    state.open--
    this.forgetIfIdle(ip, state, this.now())
  }

  /** Addresses with state kept (for tests and /status). */
  get size (): number {
    return this.addresses.size
  }

  /** Drops addresses that went quiet (a flood from many addresses leaves nothing behind). */
  private sweep (now: number): void {
    this.lastSweep = now
    for (const [ip, state] of this.addresses) this.forgetIfIdle(ip, state, now)
  }

  private forgetIfIdle (ip: string, state: AddressState, now: number): void {
    if (state.open === 0 && (state.opened === 0 || now - state.windowStart >= this.limits.rateWindowMs)) this.addresses.delete(ip)
  }

  /**
   * A connection gater applying these limits to inbound connections. The count is released when
   * the raw connection closes, whether or not its upgrade finished.
   */
  gater (): ConnectionGater {
    return {
      denyInboundConnection: (maConn: MultiaddrConnection) => {
        const ip = remoteIp(maConn.remoteAddr)
        if (ip === undefined) return false
        if (this.admit(ip) !== undefined) return true
        maConn.addEventListener('close', () => { this.release(ip) }, { once: true })
        return false
      }
    }
  }
}
