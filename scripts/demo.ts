// `npm start`: the whole system on loopback, in one command.
//
// An authority (in this process, used as a library, as an application would) writes a demo
// document a few times a second; four super-peers (separate processes, regions "eu" and "us")
// replicate it; a small web server serves a page that observes it from a browser, and a
// topology server (`deltacast topology`, in this process) draws the document's tree.
//
// Environment: PORT (web server port; default 8080, a free port if taken; 0 for any),
// DEMO_TICK_MS (time between document updates; default 250), DEMO_VERBOSE (show super-peer logs).

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Authority } from '../node/authority/authority.ts'
import { startAuthorityNode } from '../node/authority/authority-node.ts'
import { loadOrCreateKey } from '../node/identity.ts'
import { createLogger } from '../node/log.ts'
import { DemoDocument } from './demo-doc.ts'
import { SuperPeerProcess } from './demo-super-peers.ts'
import { startWebServer } from './demo-web.ts'
import { startTopologyServer } from '../node/topology/topology-server.ts'
import type { TopologyServer } from '../node/topology/topology-server.ts'
import type { AuthorityNode } from '../node/authority/authority-node.ts'
import type { DemoConfig, WebServer } from './demo-web.ts'

function envNumber (name: string, fallback: number, valid: (n: number) => boolean): number {
  const value = Number(process.env[name] ?? fallback)
  if (Number.isInteger(value) && valid(value)) return value
  process.stderr.write(`ignoring ${name}=${process.env[name]}; using ${fallback}\n`)
  return fallback
}

const TICK_MS = envNumber('DEMO_TICK_MS', 250, n => n >= 10)
const PORT = envNumber('PORT', 8080, n => n >= 0 && n < 65536)
const HOST = '127.0.0.1'
const LAYOUT = [
  { name: 'sp-eu-1', region: 'eu' },
  { name: 'sp-eu-2', region: 'eu' },
  { name: 'sp-us-1', region: 'us' },
  { name: 'sp-us-2', region: 'us' }
]

const log = createLogger('demo')
const say = (line = ''): void => { process.stdout.write(line + '\n') }
const short = (peerId: string): string => `${peerId.slice(0, 8)}…${peerId.slice(-6)}`

// Everything that has been started, for shutdown (which may come at any point of startup).
let dir: string | undefined
let authority: Authority | undefined
let authorityNode: AuthorityNode | undefined
let web: WebServer | undefined
let topology: TopologyServer | undefined
let ticker: ReturnType<typeof setInterval> | undefined
const superPeers: SuperPeerProcess[] = []
let stopping = false

async function shutdown (): Promise<void> {
  stopping = true
  clearInterval(ticker)
  say('\nstopping…')
  await Promise.all(superPeers.map(async peer => {
    await peer.stop()
    const { code, signal } = await peer.exited
    say(`  ${peer.name} stopped (${signal ?? `exit ${code}`})`)
  }))
  await web?.close()
  await topology?.close()
  await authority?.flush()
  await authorityNode?.stop()
  await authority?.close()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  say('  authority, web and topology servers stopped')
}

/** The first SIGINT/SIGTERM stops everything; repeats within a second (npm forwards the
 * terminal's Ctrl-C, which the demo also gets itself) are ignored; a later one forces an exit. */
function onSignals (): void {
  let first: number | undefined
  const handler = (): void => {
    if (first !== undefined) {
      if (Date.now() - first < 1000) return
      say('forced exit')
      for (const peer of superPeers) peer.child.kill('SIGKILL')
      process.exit(130)
    }
    first = Date.now()
    shutdown().then(() => process.exit(0), err => {
      console.error(err)
      process.exit(1)
    })
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  // a crash must not leave super-peers behind (their guard also covers kill -9)
  process.on('exit', () => { for (const peer of superPeers) if (peer.running) peer.child.kill('SIGTERM') })
}

async function startSuperPeer (name: string, region: string, docId: string, bootstrap: string[]): Promise<SuperPeerProcess> {
  const peer = SuperPeerProcess.spawn({ name, region, docId, dataDir: join(dir as string, name), bootstrap })
  superPeers.push(peer)
  await peer.waitReady()
  void peer.exited.then(({ code, signal }) => {
    if (stopping) return
    say(`!! super-peer ${peer.name} (pid ${peer.pid}) exited unexpectedly (${signal ?? `exit ${code}`}); pages fail over to the others`)
    if (peer.stderr !== '') say(peer.stderr.split('\n').map(line => `   ${line}`).join('\n'))
  })
  return peer
}

/** Waits (bounded) until every super-peer has caught up to `seq`; says which did not. */
async function waitForReplicas (docId: string, seq: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let behind = superPeers
  while (!stopping) {
    const heads = await Promise.all(behind.map(async peer => (await peer.status().catch(() => undefined))?.docs?.[docId]?.seq ?? 0))
    behind = behind.filter((_peer, i) => heads[i] < seq)
    if (behind.length === 0) return
    if (Date.now() > deadline) {
      say(`  (still catching up: ${behind.map(peer => peer.name).join(', ')})`)
      return
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

function config (docId: string): DemoConfig {
  return {
    docId,
    superPeers: superPeers.filter(peer => peer.running && peer.ready !== undefined).map(peer => ({
      name: peer.name,
      region: peer.region,
      peerId: peer.ready!.observe.peerId,
      addrs: peer.ready!.observe.addrs
    })),
    topologyUrl: topology?.url
  }
}

async function main (): Promise<void> {
  onSignals()
  say('deltacast demo: starting an authority, 4 super-peers and a web server on 127.0.0.1…')
  dir = await mkdtemp(join(tmpdir(), 'deltacast-demo-'))

  authority = await Authority.open({ dir: join(dir, 'authority'), name: 'demo', checkpointEvery: 100, log })
  const docId = authority.docId
  const document = new DemoDocument(authority)
  await document.seed()
  authorityNode = await startAuthorityNode(authority, {
    peerKey: await loadOrCreateKey(join(dir, 'authority', 'peer.key')),
    listen: [`/ip4/${HOST}/tcp/0`]
  }, log)
  if (stopping) return
  const authorityAddrs = authorityNode.node.getMultiaddrs().map(String)
  say(`  document    ${docId}`)
  say(`  authority   ${short(authorityNode.node.peerId.toString())}  ${authorityAddrs.join(' ')}`)

  // The page bundle builds while the super-peers start.
  const webStarting = startWebServer({ host: HOST, port: PORT, buildDir: join(dir, 'page'), config: () => config(docId) })
  webStarting.catch(() => {})

  const [first, ...rest] = LAYOUT
  const seed = await startSuperPeer(first.name, first.region, docId, authorityAddrs)
  if (stopping) return
  await Promise.all(rest.map(async ({ name, region }) => await startSuperPeer(name, region, docId, seed.ready!.addrs)))
  if (stopping) return
  for (const peer of superPeers) {
    const transports = peer.ready!.observe.addrs.map(addr => addr.includes('/webrtc-direct') ? 'webrtc-direct' : addr.includes('/ws') ? 'ws' : '?')
    say(`  super-peer  ${peer.name}  region ${peer.region}  pid ${peer.pid}  observe ${short(peer.ready!.observe.peerId)} (${transports.join(', ')})  admin ${peer.ready!.admin}`)
  }
  // The live tree, polled from every super-peer's admin endpoint (what `deltacast topology` serves).
  topology = await startTopologyServer({ admins: superPeers.map(peer => peer.ready!.admin), listen: `${HOST}:0`, intervalMs: 1000 })
  if (stopping) return
  await waitForReplicas(docId, authority.head.seq, 15_000)

  ticker = setInterval(() => {
    try {
      document.tick()
    } catch (err) {
      log.error({ err }, 'demo document update failed; the document stops changing')
      clearInterval(ticker)
    }
  }, TICK_MS)

  web = await webStarting
  if (stopping) return
  say(`  the document changes every ${TICK_MS} ms (seq ${authority.head.seq} so far)`)
  say()
  say(`  ➜  Open ${web.url} in a browser`)
  say(`  ➜  The topology page (each document's tree, live): ${topology.url}`)
  say()
  say('  Ctrl-C stops everything.')
}

main().catch(async (err: Error) => {
  if (stopping) return
  console.error(`demo failed: ${err.stack ?? String(err)}`)
  await shutdown().catch(() => {})
  process.exit(1)
})
