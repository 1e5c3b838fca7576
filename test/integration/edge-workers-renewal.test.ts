// Edge workers over time, end to end: an authority and a super-peer with --edge-workers 2 as OS
// processes, viewers as the browser library's observe() in Node over WebRTC-Direct. The edge's
// WebRTC-Direct certificate is made to end a day and 20 s from now, so it is due for renewal
// while the test runs: the workers take the new one without dropping a viewer. Then a worker is
// SIGSTOPped while large frames flow: the messages waiting for it stay over
// --edge-worker-max-backlog-bytes, it is restarted (counted), and its viewer is served again.

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { loadOrCreateKey } from '../../node/identity.ts'
import { loadEdgeCertificate } from '../../node/net/edge-node.ts'
import { observe } from '../../browser/observe.ts'
import { createObserverNode } from '../../browser/node.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import type { ConnectionInfo, LiveView } from '../../browser/observe.ts'
import type { ObserverNode } from '../../browser/node.ts'
import type { JsonObject } from '../../src/json.ts'
import type { Running } from '../helpers/processes.ts'

const POLICY: JsonObject = { version: 1, observe: { anonymous: true, identified: true }, fields: { '/score': 'public', '/filler': 'public' } }
const DAY_MS = 86_400_000
const MAX_BACKLOG_BYTES = 256 * 1024

interface Watcher { name: string, view: LiveView, drops: number, resets: number }

describe('edge workers over time (certificate renewal, a worker too far behind)', function () {
  this.timeout(180_000)

  let dir: string
  let authority: Running
  let driver: AuthorityDriver
  let superPeer: Running
  let docId: string
  let oldCerthash: string
  const nodes: ObserverNode[] = []
  const watchers: Watcher[] = []

  const certhashOf = (addr: string): string | undefined => multiaddr(addr).getComponents().find(c => c.name === 'certhash')?.value

  async function changes (deltas: JsonObject[]): Promise<void> {
    const ids = deltas.map(delta => driver.send(delta))
    await driver.until(`changes ${ids.join(',')}`, () => ids.every(id => driver.acked.has(id) || driver.errors.has(id)))
    for (const id of ids) assert.equal(driver.errors.get(id), undefined)
  }

  async function status (): Promise<any> {
    return (await superPeer.admin('/status')).observe
  }

  async function watch (name: string, addr: string): Promise<Watcher> {
    const node = await createObserverNode({ transports: ['webrtc-direct'], allowPrivateAddresses: true, livenessIntervalMs: 5_000, livenessTimeoutMs: 5_000 })
    nodes.push(node)
    const view = observe(docId, { bootstrap: [addr], transports: ['webrtc-direct'], allowPrivateAddresses: true, node, backoff: { initialMs: 10, maxMs: 200 } })
    const watcher: Watcher = { name, view, drops: 0, resets: 0 }
    let live = false
    view.addEventListener('state', (event: Event) => {
      const state = (event as CustomEvent<ConnectionInfo>).detail.state
      if (live && state !== 'live') watcher.drops++
      live = state === 'live'
    })
    view.addEventListener('change', (event: Event) => { if ((event as CustomEvent<{ reset: boolean }>).detail.reset) watcher.resets++ })
    watchers.push(watcher)
    await waitFor(`${name} to be live`, () => view.connection.state === 'live' ? true : undefined, { intervalMs: 20 })
    return watcher
  }

  async function allAtHead (): Promise<void> {
    const { seq } = await authority.admin(`/docs/${docId}/state`)
    for (const watcher of watchers) {
      await waitFor(`${watcher.name} at seq ${seq}`, () => watcher.view.seq === seq ? true : undefined, { intervalMs: 20, timeoutMs: 60_000 })
    }
  }

  const counter = async (name: string): Promise<number> => {
    const metrics = await superPeer.admin('/metrics') as string
    return Number(new RegExp(`^deltacast_${name}_total (\\d+)$`, 'm').exec(metrics)?.[1] ?? NaN)
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dcedgerev-'))
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'renewal' }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
    await changes([{ '@policy': POLICY, score: 0 }])
    // the edge certificate the super-peer will find: due for renewal (a day before its end) in 20 s
    const dataDir = join(dir, 'sp')
    const edgeKey = await loadOrCreateKey(join(dataDir, 'edge.key'))
    oldCerthash = (await loadEdgeCertificate(edgeKey, dataDir, DAY_MS + 20_000)).certhash
    superPeer = await startCli(superPeerArgs({
      dataDir, docId, bootstrap: [authority.ready.addrs[0]], observe: true,
      extra: ['--edge-workers', '2', '--edge-worker-max-backlog-bytes', String(MAX_BACKLOG_BYTES), '--log-level', 'info']
    }))
  })

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(superPeer.stderr().slice(-5000), JSON.stringify(watchers.map(w => [w.name, w.view.connection, w.view.seq, w.drops])))
  })

  after(async () => {
    for (const watcher of watchers) await watcher.view.close()
    for (const node of nodes) await node.stop()
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('passes a renewed certificate to the workers: open connections stay up, new ones get it', async () => {
    const addrs = superPeer.ready.observe.addrs as string[]
    const rtc = addrs.filter(addr => addr.includes('/webrtc-direct'))
    assert.equal(rtc.length, 2)
    assert.deepEqual(rtc.map(certhashOf), [oldCerthash, oldCerthash], 'the workers start with the stored certificate')
    await watch('rtc 0 (old certificate)', rtc[0])
    await watch('rtc 1 (old certificate)', rtc[1])
    const renewed = await waitFor('every worker address to carry a new certhash', async () => {
      const now = ((await status()).addrs as string[]).filter(addr => addr.includes('/webrtc-direct'))
      return now.length === 2 && now.every(addr => certhashOf(addr) !== oldCerthash) ? now : undefined
    }, { timeoutMs: 60_000, intervalMs: 250 })
    assert.equal(new Set(renewed.map(certhashOf)).size, 1, 'one certhash for every worker')
    assert.equal(await counter('edge_certificate_renewals'), 1)
    assert.match(superPeer.stderr(), /edge certificate renewed/)
    const workers = (await status()).workers as Array<{ restarts: number }>
    assert.deepEqual(workers.map(w => w.restarts), [0, 0], 'no worker was restarted for it')
    // a viewer dialling the new address (its certhash is checked in the DTLS handshake) gets in
    await watch('rtc 1 (new certificate)', renewed.find(addr => addr.includes(`/udp/${multiaddr(rtc[1]).getComponents().find(c => c.name === 'udp')?.value}/`)) ?? renewed[1])
    await changes([{ score: 1 }, { score: 2 }])
    await allAtHead()
    for (const watcher of watchers) {
      assert.equal(watcher.drops, 0, `${watcher.name} kept its connection`)
      assert.equal(watcher.view.connection.state, 'live', watcher.name)
    }
  })

  it('restarts a worker that stopped taking its messages once they stay over the bound; its viewer is served again', async () => {
    const before = (await status()).workers as Array<{ pid: number, restarts: number }>
    // worker 1's viewer with the old certhash goes: once its worker restarts, only the new address lets it back in
    const [stale] = watchers.splice(1, 1)
    await stale.view.close()
    const viewer = watchers[1] // on worker 1, at the new certificate's address
    const resets = viewer.resets
    process.kill(before[1].pid, 'SIGSTOP')
    try {
      // well past the bound plus what the kernel's socket buffers take, well within the 5 s silence
      // (each change its own field: changes batched into one frame would otherwise merge into one;
      // rounds, so that several frames are due while the first still waits)
      for (let round = 0; round < 4; round++) {
        await changes(Array.from({ length: 6 }, (_, i) => ({ score: 10 + round * 6 + i, filler: { [`part${round * 6 + i}`]: randomBytes(30_000).toString('base64') } })))
      }
      await waitFor('the overflow to be counted', async () => await counter('edge_worker_backlog_overflows') === 1 ? true : undefined, { timeoutMs: 20_000 })
    } finally {
      try { process.kill(before[1].pid, 'SIGCONT') } catch {} // it was killed
    }
    assert.match(superPeer.stderr(), /edge worker too far behind; killing it/)
    assert.doesNotMatch(superPeer.stderr(), /edge worker silent; killing it/, 'the bound, not the silence, stopped it')
    await waitFor('worker 1 to be started again', async () => {
      const w = (await status()).workers[1]
      return w.restarts === before[1].restarts + 1 && w.status === 'started' && w.pid !== before[1].pid ? true : undefined
    }, { timeoutMs: 60_000 })
    await changes([{ score: 100 }])
    await allAtHead()
    assert.ok(viewer.drops >= 1, 'the viewer of the stopped worker lost its connection')
    assert.equal(viewer.view.connection.state, 'live')
    assert.equal(viewer.resets, resets, 'it resumed by deltas')
    assert.deepEqual((await status()).workers.map((w: { backlogBytes: number }) => w.backlogBytes <= MAX_BACKLOG_BYTES), [true, true])
    assert.equal(watchers[0].drops, 0, 'the other worker\'s viewer was untouched')
  })
})
