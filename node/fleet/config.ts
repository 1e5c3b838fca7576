/** The fleet flags shared by `deltacast super-peer` and `deltacast authority`, and loading them. */
import { readFile } from 'node:fs/promises'
import { decodePublicKey, readFleetCert, signFleetCertSync } from '../../src/identity/index.ts'
import { UsageError } from '../cli-args.ts'
import type { FlagSpecs } from '../cli-args.ts'
import type { PrivateKey } from '@libp2p/interface'
import { FLEET_GUARD_DEFAULTS } from './fleet-guard.ts'

export const FLEET_FLAGS: FlagSpecs = {
  'fleet-cert': { type: 'string', value: 'file', help: 'This node\'s fleet certificate (deltacast fleet-cert), presented to every backbone peer' },
  'trust-operator': { type: 'string', multiple: true, value: 'base32 key', default: [], help: 'Admit only backbone peers certified by this operator key; none: open backbone (dev mode)' },
  'fleet-handshake-timeout-ms': { type: 'number', value: 'ms', default: FLEET_GUARD_DEFAULTS.handshakeTimeoutMs, help: 'Time a new backbone peer has to present a valid certificate' },
  'fleet-deny-ms': { type: 'number', value: 'ms', default: FLEET_GUARD_DEFAULTS.denyTtlMs, help: 'How long a peer that failed the fleet handshake is refused by the connection gater' }
}

export interface FleetConfig {
  fleetCert?: string
  trustOperator: string[]
  fleetHandshakeTimeoutMs: number
  fleetDenyMs: number
}

export interface FleetSettings {
  cert?: string
  trustedOperators: Uint8Array[]
  handshakeTimeoutMs: number
  denyTtlMs: number
}

/** Checks flag values (throws UsageError) and reads the certificate file. */
export async function loadFleetSettings (config: FleetConfig, ownPeerId: string, now: number): Promise<FleetSettings> {
  const trustedOperators = config.trustOperator.map(text => {
    const key = decodePublicKey(text)
    if (!key.ok) throw new UsageError(`bad --trust-operator "${text}": ${key.error}`)
    return key.value
  })
  if (!Number.isInteger(config.fleetHandshakeTimeoutMs) || config.fleetHandshakeTimeoutMs <= 0) throw new UsageError('--fleet-handshake-timeout-ms must be a positive integer')
  if (!Number.isInteger(config.fleetDenyMs) || config.fleetDenyMs <= 0) throw new UsageError('--fleet-deny-ms must be a positive integer')
  let cert: string | undefined
  if (config.fleetCert !== undefined) {
    try {
      cert = (await readFile(config.fleetCert, 'utf8')).trim()
    } catch (err) {
      throw new UsageError(`cannot read --fleet-cert ${config.fleetCert}: ${(err as Error).message}`)
    }
    const read = readFleetCert(cert)
    if (!read.ok) throw new UsageError(`--fleet-cert ${config.fleetCert}: ${read.error}`)
    if (read.peerId !== ownPeerId) throw new UsageError(`--fleet-cert ${config.fleetCert} certifies peer ${read.peerId}, but this node is ${ownPeerId}`)
    if (read.expires <= now) throw new UsageError(`--fleet-cert ${config.fleetCert} expired at ${new Date(read.expires).toISOString()}`)
  }
  return { cert, trustedOperators, handshakeTimeoutMs: config.fleetHandshakeTimeoutMs, denyTtlMs: config.fleetDenyMs }
}

/** Lifetime of the certificate an authority signs for itself with its doc key at each start. */
export const AUTHORITY_CERT_DAYS = 365
export const AUTHORITY_REGION = 'authority'

/**
 * An authority's settings: without --fleet-cert it certifies its own peer id with its doc key,
 * which super-peers carrying its documents accept as the documents' source (not as a member).
 */
export async function loadAuthorityFleetSettings (config: FleetConfig, ownPeerId: string, docKey: PrivateKey, now: number): Promise<FleetSettings> {
  const settings = await loadFleetSettings(config, ownPeerId, now)
  if (settings.cert !== undefined) return settings
  const cert = signFleetCertSync(docKey, { peerId: ownPeerId, region: AUTHORITY_REGION, expires: now + AUTHORITY_CERT_DAYS * 86_400_000 }, now)
  return { ...settings, cert }
}
