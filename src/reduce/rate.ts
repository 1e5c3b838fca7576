/**
 * Per-viewer send rate: a token bucket of `messages` tokens refilled over `perMs`, so a viewer
 * may burst `messages` at once and sustain messages / perMs. Time is passed in.
 */
export interface Rate {
  readonly messages: number
  readonly perMs: number
}

export class RateBucket {
  private tokens: number
  private at: number

  private readonly rate: Rate

  constructor (rate: Rate, now: number) {
    this.rate = rate
    this.tokens = rate.messages
    this.at = now
  }

  /** Tokens there are at `now` (refilled up to then). */
  available (now: number): number {
    if (now > this.at) {
      this.tokens = Math.min(this.rate.messages, this.tokens + (now - this.at) * this.rate.messages / this.rate.perMs)
      this.at = now
    }
    return this.tokens
  }

  /** Ms from `now` until a token is there (0 when one is now). */
  waitMs (now: number): number {
    const missing = 1 - this.available(now)
    // (less a hair: refilled tokens are floats, and 0.002 * 500 is 1.0000000000000009)
    return missing <= 0 ? 0 : Math.ceil(missing * this.rate.perMs / this.rate.messages - 1e-9)
  }

  /** Takes one token; false (and nothing taken) when the viewer is over its rate. */
  take (now: number): boolean {
    if (this.available(now) < 1) return false
    this.tokens -= 1
    return true
  }

  /** Gives back the token of a message refused after admission (a closed window): refused messages take no token. */
  refund (): void {
    this.tokens = Math.min(this.rate.messages, this.tokens + 1)
  }
}

/** What admit() takes a token from: one bucket, or a viewer's buckets together (RateLimits.gate). */
export interface RateGate {
  take (now: number): boolean
  refund (): void
}

/** Where a writer stream comes from, as the super-peer sees it. */
export interface RemoteOf {
  /** The token's principal, when the token names one. */
  readonly principal: string | null
  /** The remote libp2p peer id (free to mint: never a budget on its own). */
  readonly peer: string
  /** The connection's remote multiaddr, e.g. "/ip4/203.0.113.7/tcp/4242/ws". */
  readonly address: string
}

/**
 * Anonymous viewers on one remote address share this many viewers' budgets: a household or
 * office behind one NAT keeps working, and minting peer ids buys a client at most this much.
 */
export const ADDRESS_VIEWERS = 8

/**
 * The host part of a remote multiaddr that a client cannot multiply for free: the IPv4 address,
 * an IPv6 address's /64 (one subscriber gets a /64), else the address text itself.
 */
export function remoteHostOf (address: string): string {
  const parts = address.split('/')
  if (parts[1] === 'ip4' && parts[2] !== undefined) return `ip4/${parts[2]}`
  if (parts[1] === 'ip6' && parts[2] !== undefined) {
    const groups = expandIpv6(parts[2])
    if (groups !== null) return `ip6/${groups.slice(0, 4).join(':')}::/64`
  }
  return address
}

function expandIpv6 (text: string): string[] | null {
  const halves = text.toLowerCase().split('::')
  if (halves.length > 2) return null
  const head = halves[0] === '' ? [] : halves[0].split(':')
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1].split(':') : []
  const missing = 8 - head.length - tail.length
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null
  const groups = [...head, ...Array<string>(missing).fill('0'), ...tail]
  if (!groups.every(g => /^[0-9a-f]{1,4}$/.test(g))) return null
  return groups.map(g => String(parseInt(g, 16).toString(16)))
}

/**
 * A super-peer's send budgets for one document, per viewer and channel, whatever the number of
 * streams or connections the viewer opens: an identified viewer's is keyed by its principal; an
 * anonymous viewer's by its remote peer id, and every anonymous viewer on one remote host also
 * shares ADDRESS_VIEWERS budgets (docs/privacy.md, "Who may send"). A send takes a token from
 * each of its buckets or from none.
 */
export class RateLimits {
  private readonly buckets = new Map<string, { bucket: RateBucket, rate: Rate }>()

  /** The gate admit() takes from for a send of `remote` on `channel` at `rate`. */
  gate (channel: string, rate: Rate, remote: RemoteOf, now: number): RateGate {
    const keys = remote.principal !== null
      ? [[`${channel} principal ${remote.principal}`, rate] as const]
      : [[`${channel} peer ${remote.peer}`, rate] as const, [`${channel} host ${remoteHostOf(remote.address)}`, { messages: rate.messages * ADDRESS_VIEWERS, perMs: rate.perMs }] as const]
    const buckets = keys.map(([key, r]) => this.bucketOf(key, r, now))
    return {
      take: at => {
        // All or nothing: a token is taken only when every bucket has one.
        if (!buckets.every(b => b.available(at) >= 1)) return false
        for (const b of buckets) b.take(at)
        return true
      },
      refund: () => { for (const b of buckets) b.refund() }
    }
  }

  /** Drops buckets that have refilled (a fresh bucket is the same): memory follows active viewers. */
  sweep (now: number): void {
    for (const [key, held] of this.buckets) if (held.bucket.available(now) >= held.rate.messages) this.buckets.delete(key)
  }

  get size (): number {
    return this.buckets.size
  }

  private bucketOf (key: string, rate: Rate, now: number): RateBucket {
    const held = this.buckets.get(key)
    // A channel declared again with another rate starts a new bucket.
    if (held !== undefined && held.rate.messages === rate.messages && held.rate.perMs === rate.perMs) return held.bucket
    const bucket = new RateBucket(rate, now)
    this.buckets.set(key, { bucket, rate })
    return bucket
  }
}
