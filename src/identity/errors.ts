/** Thrown errors of the identity core. Tokens and certificates from the network fail as data instead. */

/** Thrown when the claims handed to signToken or signFleetCert are out of range (a caller bug). */
export class InvalidClaimsError extends Error {
  static override name = 'InvalidClaimsError'
  override name = 'InvalidClaimsError'
}
