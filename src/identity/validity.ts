/** The time window shared by tokens and certificates: valid from "iat" (less clock skew) until "exp". */

/** Clocks of signer and verifier may disagree by this much about "iat". */
export const DEFAULT_CLOCK_SKEW_MS = 60_000

export type ValidityProblem = { code: 'expired' | 'not-yet-valid', error: string }

/** iat and exp in Unix seconds, now in ms. Expired at exp exactly. */
export function checkValidity (iat: number, exp: number, now: number, clockSkewMs: number): ValidityProblem | undefined {
  if (now >= exp * 1000) {
    return { code: 'expired', error: `expired at ${new Date(exp * 1000).toISOString()} (now ${new Date(now).toISOString()})` }
  }
  if (iat * 1000 > now + clockSkewMs) {
    return { code: 'not-yet-valid', error: `issued in the future, at ${new Date(iat * 1000).toISOString()} (now ${new Date(now).toISOString()})` }
  }
  return undefined
}
