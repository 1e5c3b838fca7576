import { join } from 'node:path'
import { availableParallelism } from 'node:os'
import { autoEdgeWorkers, WORKER_MAX_BACKLOG_BYTES } from './edge-workers.ts'
import { listenAddresses } from '../net/listen.ts'
import { helpText, integerProblems, parseFlags } from '../cli-args.ts'
import { docIdProblems, logLevelProblems, multiaddrProblems, refuseProblems } from '../startup-checks.ts'
import type { FlagSpecs } from '../cli-args.ts'
import { FLEET_FLAGS } from '../fleet/config.ts'
import type { FleetConfig } from '../fleet/config.ts'
import { CARRIER_SET_DEFAULTS } from './carriers.ts'
import type { Topology } from './carriers.ts'
import { DEFAULT_FANOUT } from '../tiers/tiers.ts'
import { EDGE_LIMITS } from '../net/edge-node.ts'
import { DEFAULT_OBSERVER_SERVER_OPTIONS } from './observer-server.ts'
import { adminOrigins, PEER_ADMIN_FLAG } from '../topology/admin-page.ts'

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
  observeHeartbeatMs: number
  /** Edge worker processes serving browsers (0: the edge runs in this process's own thread). */
  edgeWorkers: number
  /** Bytes of messages waiting for one edge worker; one over them for a second is restarted. */
  edgeWorkerMaxBacklogBytes: number
  bootstrap: string[]
  region: string
  docs: string[]
  admin?: string
  /** Other nodes' admin endpoints, drawn on this one's topology page. */
  peerAdmin: string[]
  maxFrameBytes: number
  maxConnections: number
  syncIntervalMs: number
  topology: Topology
  maxDocs: number
  lingerMs: number
  fanout: number
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
  'observe-heartbeat-ms': { type: 'number', value: 'ms', default: DEFAULT_OBSERVER_SERVER_OPTIONS.heartbeatMs, help: 'An observer sent nothing for this long gets a heartbeat, so its browser notices a dead super-peer within 1.5 s; keep it below the browsers\' heartbeatTimeoutMs minus 100 (0: none; browsers then probe once per session and rely on their 60 s probes)' },
  'edge-workers': { type: 'string', value: 'n|auto', default: '0', help: 'Processes serving browsers, each with its own listeners (WebSockets share the port; WebRTC-Direct takes the port plus the worker\'s index); auto: one per core but one. 0: the super-peer process serves browsers itself. See docs/operations.md' },
  'edge-worker-max-backlog-bytes': { type: 'number', value: 'bytes', default: WORKER_MAX_BACKLOG_BYTES, help: 'Bytes of messages waiting for one edge worker (it is stopped or starved); one over them for a second is restarted like a hung worker, and its browsers reconnect and resume by deltas' },
  bootstrap: { type: 'string', multiple: true, value: 'multiaddr', default: [], help: 'Peer to join the mesh through, with /p2p/<peer id>' },
  region: { type: 'string', value: 'name', default: 'default', help: 'Region this super-peer serves (shown in /status; certified in its fleet certificate)' },
  doc: { type: 'string', multiple: true, value: 'doc id', default: [], help: 'Document to carry always; under tiers others are carried while viewers or tier children ask for them' },
  topology: { type: 'string', value: 'flat|tiers', default: 'tiers', help: 'tiers: per-document proxies elected per region relay frames down a tree; flat: every carrier on the document\'s gossipsub topic' },
  'max-docs': { type: 'number', default: CARRIER_SET_DEFAULTS.maxDocs, help: 'Most documents carried at once; viewers asking for one more are refused' },
  'linger-ms': { type: 'number', value: 'ms', default: CARRIER_SET_DEFAULTS.lingerMs, help: 'Keep a document this long after its last viewer and tier child left' },
  fanout: { type: 'number', default: DEFAULT_FANOUT, help: 'Most tier children one proxy serves; more split its scope into sub-scopes' },
  admin: { type: 'string', value: 'host:port', help: 'Serve /healthz, /status, /metrics, /peers, /fleet, /topology, /topology/page and /docs/<id>/state over HTTP (keep it on loopback)' },
  'peer-admin': PEER_ADMIN_FLAG,
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
  const flags = parseFlags(argv, SUPER_PEER_FLAGS, { deferProblems: true })
  if (flags.help) return 'help'
  const { label } = flags
  const config = flags as unknown as SuperPeerConfig & { doc: string[] }
  const docs = config.doc
  const observeListen = config.observeListen.length === 1 && config.observeListen[0] === 'none' ? [] : config.observeListen
  const topology = config.topology as string
  const peerAdmin = adminOrigins(label('peer-admin'), config.peerAdmin)
  const edgeWorkers = parseEdgeWorkers(label('edge-workers'), String(flags.edgeWorkers), availableParallelism())
  const edgeWorkerProblems = typeof edgeWorkers === 'string' ? [edgeWorkers] : []
  if (typeof edgeWorkers === 'number' && edgeWorkers > 0 && config.observeAnnounce.length > 0) {
    for (const addr of observeListen) {
      if (/\/(tcp|udp)\/0(\/|$)/.test(addr)) edgeWorkerProblems.push(`${label('edge-workers')} with ${label('observe-announce')} needs fixed listen ports (worker n announces the WebRTC-Direct port plus n), not port 0 in ${addr}`)
    }
  }
  refuseProblems([
    ...(topology !== 'flat' && topology !== 'tiers' ? [`${label('topology')} must be flat or tiers, not "${topology}"`] : []),
    ...(docs.length === 0 && topology === 'flat' ? ['no documents to carry: pass --doc <doc id> at least once (or use --topology tiers, which carries what viewers ask for)'] : []),
    ...(config.listen.length === 0 ? ['no listen address: pass --listen <multiaddr>'] : []),
    ...flags.problems,
    ...docIdProblems(label('doc'), docs),
    ...multiaddrProblems(label('listen'), config.listen, { listen: 'backbone' }),
    ...multiaddrProblems(label('announce'), config.announce, 'announce'),
    ...multiaddrProblems(label('observe-listen'), observeListen, { listen: 'observe' }),
    ...multiaddrProblems(label('observe-announce'), config.observeAnnounce, 'announce'),
    ...multiaddrProblems(label('bootstrap'), config.bootstrap, 'bootstrap'),
    ...peerAdmin.problems,
    ...edgeWorkerProblems,
    ...integerProblems(flags, ['max-frame-bytes', 'max-connections', 'sync-interval-ms', 'max-observers', 'max-docs', 'linger-ms',
      'observe-max-connections-per-address', 'observe-new-connections-per-address', 'observe-http-timeout-ms', 'observe-upgrade-timeout-ms',
      'observe-max-sockets', 'observe-max-streams-per-connection', 'observe-stall-timeout-ms', 'edge-worker-max-backlog-bytes'], 1),
    ...integerProblems(flags, ['fanout'], 2),
    ...integerProblems(flags, ['observe-heartbeat-ms'], 0),
    ...logLevelProblems(label('log-level'), config.logLevel)
  ])
  return { ...config, docs, observeListen, peerAdmin: peerAdmin.origins, edgeWorkers: typeof edgeWorkers === 'number' ? edgeWorkers : 0, keyFile: config.keyFile ?? (flags.key as string | undefined) ?? join(config.dataDir, 'peer.key') }
}

/** Most edge workers one process may start. */
export const MAX_EDGE_WORKERS = 64

/** `--edge-workers`: a count, or auto (one per core but one); a string says what is wrong. */
export function parseEdgeWorkers (flag: string, value: string, cores: number): number | string {
  if (value === 'auto') return autoEdgeWorkers(cores)
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(n) || n > MAX_EDGE_WORKERS) return `${flag} must be auto or a whole number from 0 to ${MAX_EDGE_WORKERS}, not "${value}"`
  return n
}
