import { join } from 'node:path'
import { docIdFor } from '../src/log/index.ts'
import { loadOrCreateKey } from './identity.ts'
import { createLogger } from './log.ts'
import { UsageError } from './cli-args.ts'
import { Authority } from './authority/authority.ts'
import { startAuthorityNode } from './authority/authority-node.ts'
import { AUTHORITY_HELP, parseAuthorityConfig } from './authority/config.ts'
import { driveFromLines } from './authority/stdin-driver.ts'
import { parseSuperPeerConfig, SUPER_PEER_HELP } from './super-peer/config.ts'
import { startSuperPeer } from './super-peer/super-peer.ts'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FleetGuard, loadAuthorityFleetSettings } from './fleet/index.ts'
import { runFleetCert, runKeygen, runToken } from './fleet-cli.ts'
import { runLog } from './log-cli.ts'
import { parseTopologyConfig, startTopologyServer, TOPOLOGY_HELP } from './topology/topology-server.ts'
import { checkWritableDir, explainListenFailure, StartupError } from './startup-checks.ts'

const HELP = `Usage: deltacast <command> [options]

Commands:
  super-peer   Run a super-peer: join the mesh, verify and replicate documents, serve peers
  authority    Run a document's authority: sign, log and publish its frames
  doc-id       Print the doc id for a key file and a name: deltacast doc-id <key file> <name>
  keygen       Create an ed25519 key file and print its base32 public key
  fleet-cert   Certify a super-peer's peer id with an operator key (prints the certificate)
  token        Sign a viewer token for a document (prints the token)
  log          Check or repair an authority's frame log: deltacast log verify|repair --dir <dir>
  topology     Serve a live page of each document's tree, polled from admin endpoints

Run 'deltacast <command> --help' for a command's options.
`

/** Stop cleanly on the first SIGINT/SIGTERM; a second one exits at once. */
function onShutdown (stop: () => Promise<void>): void {
  let stopping = false
  const handler = (): void => {
    if (stopping) process.exit(130)
    stopping = true
    stop().then(() => process.exit(0), err => {
      console.error(err)
      process.exit(1)
    })
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
}

async function runSuperPeer (argv: string[]): Promise<void> {
  const config = parseSuperPeerConfig(argv)
  if (config === 'help') return void process.stdout.write(SUPER_PEER_HELP)
  const log = createLogger('super-peer', config.logLevel)
  await checkWritableDir('data-dir', config.dataDir)
  const peer = await startSuperPeer(config, log).catch((err: unknown) => {
    throw explainListenFailure(err, { listen: config.listen, 'observe-listen': config.observeListen })
  })
  onShutdown(peer.stop)
  process.stdout.write(JSON.stringify({
    ready: 'super-peer',
    peerId: peer.node.peerId.toString(),
    region: config.region,
    addrs: peer.node.getMultiaddrs().map(String),
    observe: peer.edge === undefined ? undefined : { peerId: peer.edge.peerId, addrs: peer.edge.addrs() },
    admin: peer.admin?.url
  }) + '\n')
}

async function runAuthority (argv: string[]): Promise<void> {
  const config = parseAuthorityConfig(argv)
  if (config === 'help') return void process.stdout.write(AUTHORITY_HELP)
  const log = createLogger('authority', config.logLevel)
  const authority = await Authority.open({
    dir: config.dir,
    name: config.name,
    checkpointEvery: config.checkpointEvery,
    maxFrameBytes: config.maxFrameBytes,
    log
  })
  const peerKey = await loadOrCreateKey(join(config.dir, 'peer.key'))
  const docKey = await loadOrCreateKey(join(config.dir, 'authority.key'))
  const fleetSettings = await loadAuthorityFleetSettings(config, peerIdFromPrivateKey(peerKey).toString(), docKey, Date.now())
  const node = await startAuthorityNode(authority, {
    fleet: new FleetGuard({ ...fleetSettings, docIds: [] }),
    peerKey,
    dataDir: config.dir,
    listen: config.listen,
    announce: config.announce,
    bootstrap: config.bootstrap,
    admin: config.admin,
    peerAdmin: config.peerAdmin
  }, log).catch((err: unknown) => { throw explainListenFailure(err, { listen: config.listen }) })
  const stop = async (): Promise<void> => {
    await authority.flush()
    await node.stop()
    await authority.close()
  }
  onShutdown(stop)
  process.stdout.write(JSON.stringify({
    ready: 'authority',
    docId: authority.docId,
    peerId: node.node.peerId.toString(),
    seq: authority.head.seq,
    addrs: node.node.getMultiaddrs().map(String),
    admin: node.admin?.url
  }) + '\n')
  if (config.stdin) {
    // The input hook, for whoever drives the authority: each channel's merged value as it is written.
    node.input.on('merged', merged => { process.stdout.write(JSON.stringify({ merged: merged.channel, value: merged.value, seq: merged.seq }) + '\n') })
    await driveFromLines(authority, process.stdin, process.stdout, node.counters)
  }
}

async function runTopology (argv: string[]): Promise<void> {
  const config = parseTopologyConfig(argv)
  if (config === 'help') return void process.stdout.write(TOPOLOGY_HELP)
  const server = await startTopologyServer(config)
  onShutdown(server.close)
  process.stdout.write(JSON.stringify({ ready: 'topology', url: server.url, admins: config.admins }) + '\n')
}

async function runDocId (argv: string[]): Promise<void> {
  const [keyFile, name] = argv
  if (keyFile === undefined || name === undefined || argv.length !== 2) throw new UsageError('usage: deltacast doc-id <key file> <name>')
  const key = await loadOrCreateKey(keyFile)
  process.stdout.write(docIdFor(key.publicKey.raw, name) + '\n')
}

/** Errors an operator can cause and fix: printed as one message, no stack trace. */
const EXPECTED_ERRORS = new Set([
  'StartupError', 'DataDirLockedError', 'DataDirUnusableError', 'LogCorruptError', 'LogReplayError',
  'LogToolError', 'KeyFileInvalidError', 'KeyFileMissingError', 'AdminListenError'
])

export async function main (argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'super-peer': return await runSuperPeer(rest)
      case 'authority': return await runAuthority(rest)
      case 'doc-id': return await runDocId(rest)
      case 'keygen': return await runKeygen(rest)
      case 'fleet-cert': return await runFleetCert(rest)
      case 'token': return await runToken(rest)
      case 'log': return await runLog(rest)
      case 'topology': return await runTopology(rest)
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(HELP)
        return
      case undefined:
        process.stderr.write(HELP)
        process.exit(2)
        break
      default:
        throw new UsageError(`unknown command "${command}"`)
    }
  } catch (err) {
    if (err instanceof UsageError) {
      const known = command !== undefined && ['super-peer', 'authority', 'doc-id', 'keygen', 'fleet-cert', 'token', 'log', 'topology'].includes(command)
      process.stderr.write(`deltacast: ${err.message}\nRun 'deltacast ${known ? `${command} ` : ''}--help' for usage.\n`)
      process.exit(2)
    }
    const name = (err as Error)?.name
    const dirError = name === 'DataDirUnusableError' || name === 'DataDirLockedError'
    const dirFlag = dirError && command === 'authority' ? '--dir: ' : dirError && command === 'super-peer' ? '--data-dir: ' : ''
    process.stderr.write(`deltacast: ${EXPECTED_ERRORS.has(name) ? dirFlag + (err as Error).message : (err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  }
}
