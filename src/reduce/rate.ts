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

  /** Takes one token; false (and nothing taken) when the viewer is over its rate. */
  take (now: number): boolean {
    if (now > this.at) {
      this.tokens = Math.min(this.rate.messages, this.tokens + (now - this.at) * this.rate.messages / this.rate.perMs)
      this.at = now
    }
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  /** Gives back the token of a message refused after admission (a closed window): refused messages take no token. */
  refund (): void {
    this.tokens = Math.min(this.rate.messages, this.tokens + 1)
  }
}
