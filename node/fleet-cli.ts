/**
 * `deltacast keygen | fleet-cert | token`: the operator's tools for fleet certificates and viewer
 * tokens. Each prints one line on stdout (a key, a certificate, a token) and nothing else there.
 */
import { access } from 'node:fs/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import { encodePublicKey, InvalidClaimsError, signFleetCertSync, signTokenSync } from '../src/identity/index.ts'
import { parseDocId } from '../src/log/index.ts'
import { helpText, parseFlags, UsageError } from './cli-args.ts'
import { KeyFileMissingError, loadKey, loadOrCreateKey } from './identity.ts'
import type { FlagSpecs } from './cli-args.ts'
import type { PrivateKey } from '@libp2p/interface'

export const KEYGEN_HELP = 'Usage: deltacast keygen <file>\n\n' +
  'Creates an ed25519 key file (mode 0600; an existing file is kept, never overwritten) and prints\n' +
  'its public key in base32: the value for --trust-operator or a policy\'s "tokenKeys".\n'

export async function runKeygen (argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) return void process.stdout.write(KEYGEN_HELP)
  const [file] = argv
  if (file === undefined || argv.length !== 1 || file.startsWith('-')) throw new UsageError('usage: deltacast keygen <file>')
  const existed = await access(file).then(() => true, () => false)
  const key = await loadOrCreateKey(file)
  if (existed) process.stderr.write(`deltacast: ${file} already exists; printing its public key\n`)
  process.stdout.write(encodePublicKey(key.publicKey.raw) + '\n')
}

const FLEET_CERT_FLAGS: FlagSpecs = {
  'operator-key': { type: 'string', value: 'file', help: 'Operator key file (deltacast keygen)' },
  peer: { type: 'string', value: 'peer id', help: 'The super-peer\'s backbone peer id (its ready line\'s "peerId")' },
  region: { type: 'string', value: 'name', help: 'Region the super-peer serves' },
  days: { type: 'number', value: 'n', default: 30, help: 'Days until the certificate expires' }
}

export const FLEET_CERT_HELP = helpText(
  'Usage: deltacast fleet-cert --operator-key <file> --peer <peer id> --region <r> [--days <n>]',
  'Certifies a super-peer as a member of the operator\'s fleet and prints the certificate. Save it\n' +
  'to a file and start the super-peer with --fleet-cert <file>; nodes started with\n' +
  '--trust-operator <operator public key> admit it to the backbone.',
  FLEET_CERT_FLAGS)

export async function runFleetCert (argv: string[]): Promise<void> {
  const flags = parseFlags(argv, FLEET_CERT_FLAGS)
  if (flags.help) return void process.stdout.write(FLEET_CERT_HELP)
  const peer = required(flags.peer, '--peer')
  const region = required(flags.region, '--region')
  try {
    peerIdFromString(peer)
  } catch (err) {
    throw new UsageError(`--peer "${peer}" is not a peer id: ${(err as Error).message}`)
  }
  const days = flags.days as number
  if (!(days > 0)) throw new UsageError('--days must be a positive number')
  const key = await operatorKey(required(flags.operatorKey, '--operator-key'))
  const now = Date.now()
  process.stdout.write(claims(() => signFleetCertSync(key, { peerId: peer, region, expires: now + days * 86_400_000 }, now)) + '\n')
}

const TOKEN_FLAGS: FlagSpecs = {
  key: { type: 'string', value: 'file', help: 'Signing key: the authority\'s document key (authority.key) or a key the document lists in "@policy".tokenKeys' },
  doc: { type: 'string', value: 'doc id', help: 'Document the token is for' },
  principal: { type: 'string', value: 'name', help: 'Who the viewer is (1-256 characters)' },
  role: { type: 'string', multiple: true, value: 'role', default: [], help: 'A role the viewer has (up to 32)' },
  'ttl-seconds': { type: 'number', value: 'n', default: 3600, help: 'Seconds until the token expires' }
}

export const TOKEN_HELP = helpText(
  'Usage: deltacast token --key <file> --doc <doc id> --principal <p> [--role <r>]... [--ttl-seconds <n>]',
  'Signs a viewer token and prints it. A browser presents it when it observes the document; the\n' +
  'super-peer checks it against the document\'s trusted keys.',
  TOKEN_FLAGS)

export async function runToken (argv: string[]): Promise<void> {
  const flags = parseFlags(argv, TOKEN_FLAGS)
  if (flags.help) return void process.stdout.write(TOKEN_HELP)
  const docId = required(flags.doc, '--doc')
  const parsed = parseDocId(docId)
  if (!parsed.ok) throw new UsageError(`bad --doc "${docId}": ${parsed.error}`)
  const principal = required(flags.principal, '--principal')
  const ttl = flags.ttlSeconds as number
  if (!Number.isInteger(ttl) || ttl <= 0) throw new UsageError('--ttl-seconds must be a positive integer')
  const key = await operatorKey(required(flags.key, '--key'))
  const now = Date.now()
  const roles = flags.role as string[]
  process.stdout.write(claims(() => signTokenSync(key, { docId, principal, roles, expires: now + ttl * 1000 }, now)) + '\n')
}

function required (value: unknown, flag: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`missing ${flag}`)
  return value
}

/** An existing key file: signing with a freshly created key would certify nothing anyone trusts. */
async function operatorKey (file: string): Promise<PrivateKey> {
  try {
    return await loadKey(file)
  } catch (err) {
    if (err instanceof KeyFileMissingError) throw new UsageError(`${err.message} (create one with: deltacast keygen ${file})`)
    throw err
  }
}

/** Bad claims from the command line are usage errors, not crashes. */
function claims (sign: () => string): string {
  try {
    return sign()
  } catch (err) {
    if (err instanceof InvalidClaimsError) throw new UsageError(err.message)
    throw err
  }
}
