import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { lpStream } from '@libp2p/utils'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { OBSERVE_PROTOCOL, parseServerMessage } from '../../src/observe/protocol.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import type { Running } from '../helpers/processes.ts'

/** The documented metrics table: name → the processes (A, S) that have it. */
function documentedMetrics (): Map<string, Set<string>> {
  const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8')
  const table = doc.slice(doc.indexOf('<!-- metrics:start'), doc.indexOf('<!-- metrics:end -->'))
  const rows = new Map<string, Set<string>>()
  for (const match of table.matchAll(/^\| `(deltacast_\w+)` \| \w+ \|[\w, ]*\| ([AS ]+) \|/gm)) rows.set(match[1], new Set(match[2].trim().split(' ')))
  return rows
}

/** Metric names in a scrape, with their HELP texts. */
function scraped (text: string, prefix = 'deltacast_'): Map<string, string> {
  const help = new Map<string, string>()
  for (const match of text.matchAll(/^# HELP (\S+) (.*)$/gm)) if (match[1].startsWith(prefix)) help.set(match[1], match[2])
  return help
}

/**
 * Metrics and the admin endpoint of real processes: every metric documented in
 * docs/operations.md is served, and everything served is documented.
 */
describe('metrics and admin endpoint', function () {
  this.timeout(120_000)

  let dir: string
  let authority: Running
  let superPeer: Running
  let docId: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc7b-metrics-'))
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'metrics' }))
    docId = authority.ready.docId
    superPeer = await startCli(superPeerArgs({ dataDir: join(dir, 'sp'), docId, bootstrap: authority.ready.addrs, observe: true, extra: ['--log-level', 'info', '--region', 'eu-test'] }))
    const driver = new AuthorityDriver(authority)
    const ids = [driver.send({ a: 1 }), driver.send({ b: 2 })]
    await driver.until('changes acked', () => ids.every(id => driver.acked.has(id)))
    const { seq } = await authority.admin('/status')
    await waitFor('the super-peer level', async () => (await superPeer.admin('/status')).docs[docId].seq === seq ? true : undefined)
  })

  after(async () => {
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('serves exactly the documented metrics, each with a HELP line, plus libp2p and process metrics', async () => {
    const documented = documentedMetrics()
    assert.ok(documented.size >= 40, `the table was read (${documented.size} rows)`)
    for (const [role, proc] of [['A', authority], ['S', superPeer]] as const) {
      const text = await proc.admin('/metrics') as string
      const served = scraped(text)
      const expected = [...documented].filter(([, on]) => on.has(role)).map(([name]) => name).sort()
      assert.deepEqual([...served.keys()].sort(), expected, `${role === 'A' ? 'authority' : 'super-peer'} metrics match docs/operations.md`)
      for (const [name, help] of served) assert.ok(help.length > 10 && !help.startsWith('deltacast counter'), `${name} has a real HELP line`)
      for (const name of ['process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'libp2p_data_transfer_bytes_total']) {
        assert.ok(scraped(text, name).has(name), `${name} is served`)
      }
    }
  })

  it('fills the latency histograms and per-document gauges', async () => {
    const a = await authority.admin('/metrics') as string
    assert.match(a, /deltacast_change_durable_seconds_count\{document="[^"]+"\} 2/)
    const s = await superPeer.admin('/metrics') as string
    assert.match(s, /deltacast_frame_applied_seconds_count\{document="[^"]+"\} [1-9]/)
    assert.match(s, /deltacast_seq\{document="[^"]+"\} [1-9]/)
    assert.match(s, /deltacast_upstream_silent\{document="[^"]+"\} 0/)
    assert.match(s, /deltacast_frames_applied_total [1-9]/)
  })

  it('counts a refused viewer by reason and logs it at info', async () => {
    const client = await createLibp2p({
      transports: [webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() },
      connectionGater: { denyDialMultiaddr: () => false }
    })
    try {
      const addr = (superPeer.ready.observe.addrs as string[]).find(a => a.includes('/ws/'))!
      const stream = await client.dialProtocol(multiaddr(addr), OBSERVE_PROTOCOL)
      const lp = lpStream(stream)
      await lp.write(new TextEncoder().encode(JSON.stringify({ doc: 'not-carried-here', after: null })))
      const reply = parseServerMessage((await lp.read()).subarray())
      assert.deepEqual(reply.ok && reply.value, { error: 'unknown doc not-carried-here', code: 'unknown-doc' })
    } finally {
      await client.stop()
    }
    await waitFor('the refusal counted', async () => /deltacast_observe_refused_total\{reason="unknown_doc"\} 1/.test(await superPeer.admin('/metrics') as string) ? true : undefined)
    assert.equal((await superPeer.admin('/status')).counters.observe_refused_unknown_doc, 1)
    await waitFor('the refusal logged at info', () => superPeer.stderr().split('\n').some(line => line.includes('"level":30') && line.includes('observer refused') && line.includes('unknown-doc')) ? true : undefined)
  })

  it('answers /healthz, shows version, uptime and missing patches (none), and lists peers with address, role, region and direction', async () => {
    for (const proc of [authority, superPeer]) {
      const res = await fetch(`${proc.ready.admin as string}/healthz`)
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), { ok: true })
      const status = await proc.admin('/status')
      assert.equal(status.version, JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version)
      assert.ok(Number.isInteger(status.uptimeSeconds) && status.uptimeSeconds >= 0)
      assert.deepEqual(status.patches, { missing: [] }, 'a clone runs with every dependency patch')
    }
    assert.match(await superPeer.admin('/metrics') as string, /^deltacast_dependency_patches_missing\{severity="security"\} 0$/m)
    assert.ok(!superPeer.stderr().includes("runs without deltacast's patch"), 'no patch warning from a clone')
    const fromAuthority = await authority.admin('/peers') as any[]
    const sp = fromAuthority.find(p => p.peerId === superPeer.ready.peerId)
    assert.ok(sp !== undefined, 'the authority serves /peers and lists the super-peer')
    assert.equal(sp.direction, 'inbound')
    assert.equal(sp.role, 'super-peer')
    assert.equal(sp.region, 'eu-test')
    assert.match(sp.addr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+/)
    const fromSuperPeer = await superPeer.admin('/peers') as any[]
    const auth = fromSuperPeer.find(p => p.peerId === authority.ready.peerId)
    assert.equal(auth?.direction, 'outbound')
    assert.equal(auth?.role, 'authority')
    assert.equal(typeof auth?.score, 'number')
  })
})
