import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { TestNetwork } from '../helpers/netns.ts'
import { killAll, startCli, waitFor } from '../helpers/processes.ts'
import { Workload } from '../helpers/workload.ts'
import type { Site } from '../helpers/netns.ts'
import type { Running } from '../helpers/processes.ts'

/**
 * Hosts with addresses of their own: the authority in one network namespace, a region's
 * super-peers in another, and the region's link cut while frames keep coming.
 */
describe('backbone across network namespaces', function () {
  this.timeout(180_000)

  let dir: string
  let network: TestNetwork
  let authoritySite: Site
  let region: Site
  let authority: Running
  let driver: AuthorityDriver
  const workload = new Workload(11)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deltacast-netns-'))
    network = await TestNetwork.create()
    authoritySite = await network.addSite('auth')
    region = await network.addSite('eu', 2)
    const [authorityAddress] = authoritySite.addresses
    authority = await startCli(['authority', '--dir', join(dir, 'authority'), '--name', 'game',
      '--listen', `/ip4/${authorityAddress}/tcp/4100`, '--admin', `${authorityAddress}:0`, '--stdin'], { netns: authoritySite.netns })
    driver = new AuthorityDriver(authority)
  })

  after(async () => {
    await killAll()
    await network?.destroy()
    await rm(dir, { recursive: true, force: true })
  })

  async function sendAndAck (count: number): Promise<void> {
    const ids = Array.from({ length: count }, () => driver.send(workload.next()))
    await driver.until(`${count} acks`, () => ids.every(id => driver.acked.has(id)))
    assert.equal(driver.errors.size, 0, `authority refused changes: ${JSON.stringify([...driver.errors])}`)
  }

  it('serves a region on its own addresses, and a region cut off converges once healed', async () => {
    const docId = authority.ready.docId as string
    const superPeers = await Promise.all(region.addresses.map(async (address, i) => await startCli(['super-peer',
      '--data-dir', join(dir, `eu${i}`), '--region', 'eu', '--doc', docId,
      '--listen', `/ip4/${address}/tcp/4200`, '--admin', `${address}:0`, '--observe-listen', 'none',
      '--sync-interval-ms', '1000', ...(authority.ready.addrs as string[]).flatMap(addr => ['--bootstrap', addr])], { netns: region.netns })))
    for (const peer of superPeers) {
      assert.ok((peer.ready.addrs as string[]).every(addr => addr.includes(`/ip4/${region.addresses[superPeers.indexOf(peer)]}/`)),
        `listens on its own address only: ${JSON.stringify(peer.ready.addrs)}`)
    }

    await sendAndAck(200)
    await converged(superPeers)

    await region.cut()
    await assert.rejects(fetch(`${superPeers[0].ready.admin as string}/status`, { signal: AbortSignal.timeout(1_000) }), 'the cut region is unreachable')
    // While the region is cut off, the authority carries on: the region can see none of it.
    await sendAndAck(300)
    await region.heal()
    await converged(superPeers)
  })

  /** Every super-peer reaches the authority's head with the same hash and the same document. */
  async function converged (peers: Running[]): Promise<void> {
    const docId = authority.ready.docId as string
    const truth = await authority.admin(`/docs/${docId}/state`)
    assert.deepEqual(truth.tree, JSON.parse(JSON.stringify(workload.model)), 'the authority holds every change')
    for (const peer of peers) {
      const state = await waitFor(`${peer.ready.peerId as string} at seq ${truth.seq as number}`, async () => {
        const s = await peer.admin(`/docs/${docId}/state`)
        return s.seq === truth.seq ? s : undefined
      }, { timeoutMs: 60_000 })
      assert.equal(state.head, truth.head, 'same head hash')
      assert.deepEqual(state.tree, truth.tree, 'same document')
    }
  }
})
