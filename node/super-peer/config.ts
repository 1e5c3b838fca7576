import { join } from 'node:path'
import { listenAddresses } from '../net/listen.ts'
import { helpText, parseFlags, UsageError } from '../cli-args.ts'
import type { FlagSpecs } from '../cli-args.ts'
import { FLEET_FLAGS } from '../fleet/config.ts'
import type { FleetConfig } from '../fleet/config.ts'
import { EDGE_LIMITS } from '../net/edge-node.ts'
import { DEFAULT_OBSERVER_SERVER_OPTIONS } from './observer-server.ts'

export interface SuperPeerConfig extends FleetConfig {
  dataDir: string
  keyFile?: string
  listen: string[]
  announce: string[]
  observeListen: string[]
  observeAnnounce: string[]
  maxObservers: number
  observeMaxConnectionsPerAddress: number
  observeNewConnectionsPerAddress: number
  observeHttpTimeoutMs: number
  observeUpgradeTimeoutMs: number
  observeMaxSockets: number
  observeMaxStreamsPerConnection: number
  observeStallTimeoutMs: number
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
  listen: { type: 'string', multiple: true, value: 'multiaddr', default: listenAddresses({ wsPort: null, webrtcDirectPort: null }), help: 'Backbone address (other super-peers and authorities): TCP, or /ws' },
  announce: { type: 'string', multiple: true, value: 'multiaddr', default: [], help: 'Backbone address to announce instead of the listen addresses (public address)' },
  'observe-listen': { type: 'string', multiple: true, value: 'multiaddr', default: listenAddresses({ tcpPort: null }), help: 'Address browsers observe on: /udp/../webrtc-direct and /tcp/../ws (a separate identity from the backbone)' },
  'observe-announce': { type: 'string', multiple: true, value: 'multiaddr', default: [], help: 'Observer address to announce instead of the observe-listen addresses' },
  'max-observers': { type: 'number', default: 10_000, help: 'Most browser streams served at once; more are refused as busy (size it to the host: see bench:fanout in docs/benchmarks.md)' },
  'observe-max-connections-per-address': { type: 'number', default: EDGE_LIMITS.maxConnectionsPerAddress, help: 'Observer connections one IP address may hold open; more are refused before encryption' },
  'observe-new-connections-per-address': { type: 'number', default: EDGE_LIMITS.newConnectionsPerAddress, help: 'New observer connections one IP address may open per second; more are refused' },
  'observe-http-timeout-ms': { type: 'number', value: 'ms', default: EDGE_LIMITS.httpTimeoutMs, help: 'WebSockets: a socket whose HTTP upgrade has not completed this long after accept is closed' },
  'observe-upgrade-timeout-ms': { type: 'number', value: 'ms', default: EDGE_LIMITS.upgradeTimeoutMs, help: 'Noise and muxer negotiation of an observer connection must finish within this long' },
  'observe-max-sockets': { type: 'number', default: EDGE_LIMITS.maxSockets, help: 'WebSockets: raw sockets open at once, upgraded or not; more are refused at accept' },
  'observe-max-streams-per-connection': { type: 'number', default: DEFAULT_OBSERVER_SERVER_OPTIONS.maxStreamsPerConnection, help: 'Observe streams one connection may hold open; the next is refused with "too-many-streams"' },
  'observe-stall-timeout-ms': { type: 'number', value: 'ms', default: DEFAULT_OBSERVER_SERVER_OPTIONS.stallTimeoutMs, help: 'An observer whose stream accepts nothing for this long (it stopped reading) is dropped' },
  bootstrap: { type: 'string', multiple: true, value: 'multiaddr', default: [], help: 'Peer to join the mesh through, with /p2p/<peer id>' },
  region: { type: 'string', value: 'name', default: 'default', help: 'Region this super-peer serves (shown in /status; certified in its fleet certificate)' },
  doc: { type: 'string', multiple: true, value: 'doc id', default: [], help: 'Document to carry' },
  admin: { type: 'string', value: 'host:port', help: 'Serve /status, /metrics, /peers and /docs/<id>/state over HTTP (keep it on loopback)' },
  'max-frame-bytes': { type: 'number', value: 'bytes', default: 1024 * 1024, help: 'Largest frame accepted; larger ones are rejected' },
  'max-connections': { type: 'number', default: 1000, help: 'Most open connections' },
  'sync-interval-ms': { type: 'number', value: 'ms', default: 5000, help: 'Ask peers for newer frames after this long without any' },
  ...FLEET_FLAGS,
  'log-level': { type: 'string', value: 'level', default: 'warn', help: 'fatal, error, warn, info, debug or trace (logs are JSON on stderr)' }
}

export const SUPER_PEER_HELP = helpText(
  'Usage: deltacast super-peer [options]',
  'Joins the deltacast mesh through the bootstrap list, verifies every frame of the documents it\n' +
  'carries, keeps a replica of each, serves catch-up to peers and serves browsers that observe the\n' +
  'documents. Prints one JSON line with its peer ids and addresses on stdout when ready.\n' +
  'Pass --observe-listen none to serve no browsers.',
  SUPER_PEER_FLAGS)

export function parseSuperPeerConfig (argv: string[]): SuperPeerConfig | 'help' {
  const flags = parseFlags(argv, SUPER_PEER_FLAGS)
  if (flags.help) return 'help'
  const config = flags as unknown as SuperPeerConfig & { doc: string[] }
  const docs = config.doc
  if (docs.length === 0) throw new UsageError('no documents to carry: pass --doc <doc id> at least once')
  if (config.listen.length === 0) throw new UsageError('no listen address: pass --listen <multiaddr>')
  for (const name of ['maxFrameBytes', 'maxConnections', 'syncIntervalMs', 'maxObservers', 'observeMaxConnectionsPerAddress', 'observeNewConnectionsPerAddress',
    'observeHttpTimeoutMs', 'observeUpgradeTimeoutMs', 'observeMaxSockets', 'observeMaxStreamsPerConnection', 'observeStallTimeoutMs'] as const) {
    if (!Number.isInteger(config[name]) || config[name] <= 0) throw new UsageError(`--${name.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)} must be a positive integer`)
  }
  const observeListen = config.observeListen.length === 1 && config.observeListen[0] === 'none' ? [] : config.observeListen
  return { ...config, docs, observeListen, keyFile: config.keyFile ?? (flags.key as string | undefined) ?? join(config.dataDir, 'peer.key') }
}
