import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { observe } from '../../browser/observe.ts'
import { createObserverNode } from '../../browser/node.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { CLI, authorityArgs, killAll, startCli, waitFor } from '../helpers/processes.ts'
import type { LiveView } from '../../browser/observe.ts'
import type { ObserverNode } from '../../browser/node.ts'
import type { Running } from '../helpers/processes.ts'

const run = promisify(execFile)

/**
 * Separate OS processes: a fleet (one trusted operator), tiers topology, two super-peers with no
 * --doc. A viewer asks one of them for a document: it is carried on demand, its authority (which
 * presents a certificate signed by the document's own key, a key no super-peer was told of) is
 * admitted as the document's source, and frames reach the viewer through the tier tree.
 */
describe('fleet with tiers: documents carried on demand', function () {
  this.timeout(180_000)

  let dir: string
  let authority: Running
  let driver: AuthorityDriver
  let docId: string
  const superPeers: Running[] = []
  const open: Array<{ view: LiveView, node: ObserverNode }> = []
  let changes = 0

  async function cli (...args: string[]): Promise<string> {
    return (await run(process.execPath, [CLI, ...args])).stdout.trim()
  }

  async function change (): Promise<number> {
    const id = driver.send({ n: ++changes })
    await driver.until(`change ${changes} acked`, () => driver.acked.has(id))
    return driver.acked.get(id)!
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deltacast-dc8-fleet-tiers-'))
    const operator = await cli('keygen', join(dir, 'operator.key'))
    const fleetFlags = ['--trust-operator', operator, '--fleet-handshake-timeout-ms', '6000']
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'ondemand', extra: fleetFlags }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
    await change()
    for (const name of ['sp1', 'sp2']) {
      await mkdir(join(dir, name))
      await cli('keygen', join(dir, name, 'peer.key'))
      const peerId = peerIdFromPrivateKey(privateKeyFromProtobuf(await readFile(join(dir, name, 'peer.key')))).toString()
      await writeFile(join(dir, `${name}.cert`), await cli('fleet-cert', '--operator-key', join(dir, 'operator.key'), '--peer', peerId, '--region', 'test', '--days', '1'))
      superPeers.push(await startCli(['super-peer', '--data-dir', join(dir, name), '--region', 'test', '--topology', 'tiers',
        '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', '127.0.0.1:0', '--observe-listen', '/ip4/127.0.0.1/tcp/0/ws',
        '--sync-interval-ms', '1000', '--fleet-cert', join(dir, `${name}.cert`), ...fleetFlags,
        ...(authority.ready.addrs as string[]).flatMap(addr => ['--bootstrap', addr])]))
    }
  })

  after(async () => {
    await Promise.all(open.map(async w => { w.view.close(); await w.node.stop() }))
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })

  async function watch (peer: Running): Promise<LiveView> {
    const node = await createObserverNode({ transports: ['websockets'], allowPrivateAddresses: true, livenessIntervalMs: 1_000, livenessTimeoutMs: 1_000 })
    const view = observe(docId, { bootstrap: peer.ready.observe.addrs, transports: ['websockets'], allowPrivateAddresses: true, node, backoff: { initialMs: 10, maxMs: 50 } })
    open.push({ view, node })
    return view
  }

  it('a super-peer with no --doc admits the document\'s authority as its source, and frames reach viewers through the tree', async () => {
    // Neither super-peer carries anything yet, and both admitted the authority as a document source.
    for (const peer of superPeers) {
      assert.deepEqual(Object.keys((await peer.admin('/topology')).docs), [])
      const fleet = await waitFor('the authority certified', async () => {
        const f = await peer.admin('/fleet')
        return f.certified.some((c: any) => c.peerId === authority.ready.peerId) ? f : undefined
      })
      assert.equal(fleet.enforcing, true)
      const cert = fleet.certified.find((c: any) => c.peerId === authority.ready.peerId)
      assert.equal(cert.scope, 'document')
      assert.deepEqual(fleet.denied, [])
    }
    const views = [await watch(superPeers[0]), await watch(superPeers[1])]
    let head = await change()
    await waitFor('both viewers at the head', async () => {
      if (views.every(v => (v.seq ?? 0) >= head)) return true
      head = await change()
      return undefined
    }, { intervalMs: 250, timeoutMs: 60_000 }).catch((err: Error) => { throw new Error(`${err.message}\n${superPeers[0].stderr().slice(-2000)}\n${superPeers[1].stderr().slice(-2000)}`) })

    // Frames come down the tree: the region proxy follows the authority, the other follows the proxy.
    const [proxy, member] = await waitFor('one proxy following the authority, one member following it', async () => {
      const docs = await Promise.all(superPeers.map(async p => (await p.admin('/topology')).docs[docId]))
      const p = docs.findIndex(t => t.role === 'proxy' && t.parent === authority.ready.peerId)
      if (p < 0) return undefined
      const m = 1 - p
      return docs[m].role === 'member' && docs[m].parent === superPeers[p].ready.peerId ? [superPeers[p], superPeers[m]] : undefined
    }, { timeoutMs: 30_000 })
    const last = head + 1
    for (let i = 0; i < 10; i++) head = await change()
    assert.ok(head >= last)
    await waitFor('both viewers at the new head', () => views.every(v => (v.seq ?? 0) >= head) ? true : undefined)
    const status = await proxy.admin('/status')
    assert.ok(status.counters.frames_relayed_from_outside_region >= 10, JSON.stringify(status.counters))
    // No gossip fallback: the frames came from the authority's relay, not the flat topic.
    assert.equal(status.counters.gossip_fallback_full ?? 0, 0)
    assert.notEqual((await proxy.admin('/topology')).docs[docId].parent, 'gossip')
  })
})
