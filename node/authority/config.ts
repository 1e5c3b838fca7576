import { helpText, integerProblems, parseFlags, UsageError } from '../cli-args.ts'
import { logLevelProblems, multiaddrProblems, refuseProblems } from '../startup-checks.ts'
import { isValidDocName } from '../../src/log/index.ts'
import { AUTHORITY_DEFAULTS } from './authority.ts'
import type { FlagSpecs } from '../cli-args.ts'
import { FLEET_FLAGS } from '../fleet/config.ts'
import type { FleetConfig } from '../fleet/config.ts'
import { adminOrigins, PEER_ADMIN_FLAG } from '../topology/admin-page.ts'

export interface AuthorityConfig extends FleetConfig {
  dir: string
  name: string
  listen: string[]
  announce: string[]
  bootstrap: string[]
  admin?: string
  /** Other nodes' admin endpoints, drawn on this one's topology page. */
  peerAdmin: string[]
  stdin: boolean
  checkpointEvery: number
  maxFrameBytes: number
  logLevel: string
}

export const AUTHORITY_FLAGS: FlagSpecs = {
  config: { type: 'string', value: 'file.json', help: 'JSON file with any of these settings (flags override it)' },
  dir: { type: 'string', value: 'dir', default: '.deltacast/authority', help: 'Data directory: document key (authority.key), peer key and frame log' },
  name: { type: 'string', help: 'Document name ([a-z0-9_-], up to 64); with the key it makes the doc id' },
  listen: { type: 'string', multiple: true, value: 'multiaddr', default: ['/ip4/0.0.0.0/tcp/4100'], help: 'Address super-peers reach this authority on' },
  announce: { type: 'string', multiple: true, value: 'multiaddr', default: [], help: 'Address to announce instead of the listen addresses' },
  bootstrap: { type: 'string', multiple: true, value: 'multiaddr', default: [], help: 'Super-peer to join the mesh through, with /p2p/<peer id>' },
  admin: { type: 'string', value: 'host:port', help: 'Serve /healthz, /status, /metrics, /peers, /topology/page and /docs/<id>/state over HTTP (keep it on loopback)' },
  'peer-admin': PEER_ADMIN_FLAG,
  stdin: { type: 'boolean', default: false, help: 'Read changes as JSON lines {"id":..,"change":{..}} (or {"id":..,"setPolicy":{..}} to replace the policy) on stdin; acks go to stdout' },
  'checkpoint-every': { type: 'number', value: 'frames', default: AUTHORITY_DEFAULTS.checkpointEvery, help: 'Put a state hash (snapshot point) in at least every this many frames' },
  'max-frame-bytes': { type: 'number', value: 'bytes', default: AUTHORITY_DEFAULTS.maxFrameBytes, help: 'Largest frame written; one change must fit in one frame' },
  ...FLEET_FLAGS,
  'log-level': { type: 'string', value: 'level', default: 'warn', help: 'fatal, error, warn, info, debug or trace (logs are JSON on stderr)' }
}

export const AUTHORITY_HELP = helpText(
  'Usage: deltacast authority --name <name> [options]',
  'Creates or reopens a document, publishes its signed frames on the mesh and serves catch-up.\n' +
  'Prints one JSON line with the doc id, peer id and addresses on stdout when ready.\n' +
  'Without --fleet-cert it presents a certificate signed by its document key, which super-peers\n' +
  'carrying the document accept as its source.',
  AUTHORITY_FLAGS)

export function parseAuthorityConfig (argv: string[]): AuthorityConfig | 'help' {
  const flags = parseFlags(argv, AUTHORITY_FLAGS, { deferProblems: true })
  if (flags.help) return 'help'
  const { label } = flags
  const config = flags as unknown as AuthorityConfig
  if (typeof config.name !== 'string') throw new UsageError('missing --name <document name>')
  const peerAdmin = adminOrigins(label('peer-admin'), config.peerAdmin)
  refuseProblems([
    ...flags.problems,
    ...peerAdmin.problems,
    ...(isValidDocName(config.name) ? [] : [`bad ${label('name')} "${config.name}": use 1-64 of [a-z0-9_-], starting with a letter or digit`]),
    ...multiaddrProblems(label('listen'), config.listen, { listen: 'backbone' }),
    ...multiaddrProblems(label('announce'), config.announce, 'announce'),
    ...multiaddrProblems(label('bootstrap'), config.bootstrap, 'bootstrap'),
    ...integerProblems(flags, ['checkpoint-every'], 1),
    ...integerProblems(flags, ['max-frame-bytes'], 1024),
    ...logLevelProblems(label('log-level'), config.logLevel)
  ])
  return { ...config, peerAdmin: peerAdmin.origins }
}
