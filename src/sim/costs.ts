/**
 * Unit costs the model multiplies: bytes measured from the real codecs and CPU times measured on
 * this machine, both by the shell (scripts/simulate.ts), plus the modelled per-packet overheads.
 */
export interface UnitCosts {
  /** Mean bytes of a signed frame (signFrameSync over the representative deltas). */
  readonly frameBytes: number
  /** Mean bytes of one viewer message on the observe stream ({"data":…,"seq":N} with its length prefix). */
  readonly viewerMessageBytes: number
  /** Mean bytes of one membership announcement of a host (encodeBody + signature, over sampled hosts). */
  readonly announcementBytes: number
  /** Bytes of a partial's fixed part, and per window entry (real encodePartial, signed entries). */
  readonly partialHeaderBytes: number
  readonly partialEntryBytes: number
  /**
   * Modelled: framing per backbone message, one TCP segment: Ethernet 14 + IPv4 20 + TCP with
   * timestamps 32 + Noise tag 16 and length 2 + yamux header 12 + length prefix and message type
   * about 4 (bench:tiers measures it: docs/benchmarks.md).
   */
  readonly backboneOverheadBytes: number
  /** Modelled: UDP/IP + DTLS + SCTP per WebRTC message to a browser. */
  readonly viewerOverheadBytes: number
  /** Measured: verifyFrameSync of one frame, µs. */
  readonly verifyFrameUs: number
  /** Measured: one rendezvous score (one sha256 and a log), µs. */
  readonly hashUs: number
  /** Measured: merging one window entry at a tier (Outbox.add), µs. */
  readonly mergeEntryUs: number
  /** Modelled: sending one message (encrypt + syscall share), µs. */
  readonly sendUs: number
}

/** Plausible costs for tests and for sizing when no measurement is at hand. */
export const NOMINAL_COSTS: UnitCosts = {
  frameBytes: 300,
  viewerMessageBytes: 90,
  announcementBytes: 400,
  partialHeaderBytes: 8,
  partialEntryBytes: 190,
  backboneOverheadBytes: 100,
  viewerOverheadBytes: 70,
  verifyFrameUs: 60,
  hashUs: 4,
  mergeEntryUs: 1,
  sendUs: 3
}
