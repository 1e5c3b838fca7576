/**
 * Identity: viewer tokens (who may see what of a document) and fleet certificates (which libp2p
 * peers are super-peers of an operator's fleet). Pure and isomorphic. Formats: docs/fleet.md.
 */
export {
  MAX_PRINCIPAL_CHARS, MAX_ROLES, MAX_TOKEN_CHARS, ROLE_PATTERN, TOKEN_CONTEXT, TOKEN_KEYS, signToken, signTokenSync,
  verifyToken, verifyTokenAsync
} from './token.ts'
export type { TokenClaims, TokenErrorCode, TokenResult, VerifyTokenOptions, Viewer } from './token.ts'
export {
  FLEET_CERT_CONTEXT, FLEET_CERT_KEYS, MAX_FLEET_CERT_CHARS, PEER_ID_PATTERN, REGION_PATTERN, readFleetCert, signFleetCert,
  signFleetCertSync, verifyFleetCert, verifyFleetCertAsync
} from './fleet-cert.ts'
export type { FleetCert, FleetCertClaims, FleetCertErrorCode, FleetCertResult, FleetCertScope, VerifyFleetCertOptions } from './fleet-cert.ts'
export { decodePublicKey, encodePublicKey, signingInput } from './envelope.ts'
export { DEFAULT_CLOCK_SKEW_MS } from './validity.ts'
export { InvalidClaimsError } from './errors.ts'
