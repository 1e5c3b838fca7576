import { join } from 'node:path'
import { listenAddresses } from '../net/listen.ts'
import { helpText, parseFlags, UsageError } from '../cli-args.ts'
import type { FlagSpecs } from '../cli-args.ts'

export interface SuperPeerConfig {
  dataDir: string
  keyFile?: string
  listen: string[]
  announce: string[]
  bootstrap: string[]
  region: string
  docs: string[]
  admin?: string
  maxFrameBytes: number
  maxConnections: number
  syncIntervalMs: number
  logLevel: string
}

export const SUPER_PEER_FLAGS: FlagSpecs = {
  config: { type: 'string', value: 'file.json', help: 'JSON file with any of these settings (flags override it)' },
  'data-dir': { type: 'string', value: 'dir', default: '.deltacast/super-peer', help: 'Where the identity key, WebRTC certificate and peer store live' },
  key: { type: 'string', value: 'file', help: 'Identity key file (created if missing; default <data-dir>/peer.key)' },
  listen: { type: 'string', multiple: true, value: 'multiaddr', default: listenAddresses(), help: 'Address to listen on: TCP, /ws WebSockets, /udp/../webrtc-direct' },
  announce: { type: 'string', multiple: true, value: 'multiaddr', default: [], help: 'Address to announce instead of the listen addresses (public address)' },
  bootstrap: { type: 'string', multiple: true, value: 'multiaddr', default: [], help: 'Peer to join the mesh through, with /p2p/<peer id>' },
  region: { type: 'string', value: 'name', default: 'default', help: 'Region this super-peer serves (tier election groups by region)' },
  doc: { type: 'string', multiple: true, value: 'doc id', default: [], help: 'Document to carry' },
  admin: { type: 'string', value: 'host:port', help: 'Serve /status, /metrics, /peers and /docs/<id>/state over HTTP (keep it on loopback)' },
  'max-frame-bytes': { type: 'number', value: 'bytes', default: 1024 * 1024, help: 'Largest frame accepted; larger ones are rejected' },
  'max-connections': { type: 'number', default: 1000, help: 'Most open connections' },
  'sync-interval-ms': { type: 'number', value: 'ms', default: 5000, help: 'Ask peers for newer frames after this long without any' },
  'log-level': { type: 'string', value: 'level', default: 'warn', help: 'fatal, error, warn, info, debug or trace (logs are JSON on stderr)' }
}

export const SUPER_PEER_HELP = helpText(
  'Usage: deltacast super-peer [options]',
  'Joins the deltacast mesh through the bootstrap list, verifies every frame of the documents it\n' +
  'carries, keeps a replica of each and serves catch-up to peers. Prints one JSON line with its\n' +
  'peer id and addresses on stdout when ready.',
  SUPER_PEER_FLAGS)

export function parseSuperPeerConfig (argv: string[]): SuperPeerConfig | 'help' {
  const flags = parseFlags(argv, SUPER_PEER_FLAGS)
  if (flags.help) return 'help'
  const config = flags as unknown as SuperPeerConfig & { doc: string[] }
  const docs = config.doc
  if (docs.length === 0) throw new UsageError('no documents to carry: pass --doc <doc id> at least once')
  if (config.listen.length === 0) throw new UsageError('no listen address: pass --listen <multiaddr>')
  for (const name of ['maxFrameBytes', 'maxConnections', 'syncIntervalMs'] as const) {
    if (!Number.isInteger(config[name]) || config[name] <= 0) throw new UsageError(`--${name.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)} must be a positive integer`)
  }
  return { ...config, docs, keyFile: config.keyFile ?? (flags.key as string | undefined) ?? join(config.dataDir, 'peer.key') }
}
