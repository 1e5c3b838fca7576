import assert from 'node:assert/strict'
import { mkdirSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { observe } from '../../browser/observe.ts'
import { createObserverNode } from '../../browser/node.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import { launchChromium } from './helpers/harness.ts'
import type { Browser, Page } from 'playwright-core'
import type { LiveView } from '../../browser/observe.ts'
import type { ObserverNode } from '../../browser/node.ts'
import type { Running } from '../helpers/processes.ts'

const RESULTS = fileURLToPath(new URL('../../test-results/', import.meta.url))

interface ShownNode { peer: string, role: string, up: string, health: string }

/** What the page draws for the document now: one entry per node box. */
async function shown (page: Page, docId: string): Promise<ShownNode[]> {
  return await page.$$eval(`g.node[data-doc="${docId}"]`, nodes => nodes.map(node => ({
    peer: node.getAttribute('data-peer') ?? '',
    role: node.getAttribute('data-role') ?? '',
    up: node.getAttribute('data-up') ?? '',
    health: node.getAttribute('data-health') ?? ''
  })))
}

/**
 * `deltacast topology` against an authority and four super-peers in one region (OS processes on
 * loopback, --topology tiers): Chromium shows the elected proxy at the top of the tree; after
 * the proxy is killed -9 it shows the node down and the runner-up as proxy.
 */
describe('topology page in Chromium', function () {
  this.timeout(180_000)

  let dir: string
  let browser: Browser | undefined
  let ticker: ReturnType<typeof setInterval> | undefined
  const viewers: Array<{ view: LiveView, node: ObserverNode }> = []

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'dc11-topology-'))
  })

  after(async function () {
    clearInterval(ticker)
    for (const { view, node } of viewers) {
      await view.close()
      await node.stop()
    }
    await browser?.close()
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('draws the tree with the elected proxy, then the takeover when the proxy is killed', async function () {
    const authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'topo' }))
    const docId = authority.ready.docId as string
    const driver = new AuthorityDriver(authority)
    let n = 0
    // A steady trickle of frames, so that the page has frames/s to show.
    ticker = setInterval(() => { driver.send({ n: ++n }) }, 200)
    const superPeers: Running[] = await Promise.all([0, 1, 2, 3].map(async i => await startCli(superPeerArgs({
      dataDir: join(dir, `sp${i}`), docId, bootstrap: authority.ready.addrs as string[], observe: true, extra: ['--topology', 'tiers']
    }))))
    const byId = new Map(superPeers.map(peer => [peer.ready.peerId as string, peer]))

    // The proxy: it takes the document from the authority, and every other super-peer's view elects it.
    let lastSeen = ''
    const elected = async (peers: Running[]): Promise<string | undefined> => {
      const docs = await Promise.all(peers.map(async peer => (await peer.admin('/topology')).docs[docId]))
      lastSeen = JSON.stringify(docs.map((doc, i) => ({ id: peers[i].ready.peerId, role: doc?.role, parent: doc?.parent, elected: doc?.electedParent })))
      const fromAuthority = peers.filter((_peer, i) => docs[i]?.role === 'proxy' && docs[i].parent !== undefined && docs[i].parent !== 'gossip' && !byId.has(docs[i].parent))
      if (fromAuthority.length !== 1) return undefined
      const id = fromAuthority[0].ready.peerId as string
      return docs.every((doc, i) => peers[i] === fromAuthority[0] || doc?.electedParent === id) ? id : undefined
    }
    const proxy = await waitFor('one elected proxy that the others elect too', async () => await elected(superPeers)).catch(err => { console.error(lastSeen); throw err })
    const members = superPeers.filter(peer => peer.ready.peerId !== proxy)

    // Viewers on two members, so the page has observer streams to count.
    for (const peer of members.slice(0, 2)) {
      const node = await createObserverNode({ transports: ['websockets'], allowPrivateAddresses: true, livenessIntervalMs: 1_000, livenessTimeoutMs: 1_000 })
      const view = observe(docId, { bootstrap: peer.ready.observe.addrs, transports: ['websockets'], allowPrivateAddresses: true, node })
      viewers.push({ view, node })
    }

    const admins = [authority, ...superPeers].flatMap(peer => ['--admin', peer.ready.admin as string])
    const topology = await startCli(['topology', ...admins, '--listen', '127.0.0.1:0', '--interval-ms', '500'])
    assert.equal(topology.ready.ready, 'topology')
    browser = await launchChromium()
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    await page.goto(topology.ready.url as string)

    const before = await waitFor('the page to show the elected proxy and three members, all up, with viewers', async () => {
      lastSeen = JSON.stringify(await shown(page, docId)) + (await page.textContent('body') ?? '')
      const nodes = await shown(page, docId)
      const text = await page.textContent('body') ?? ''
      const ok = nodes.length === 5 && nodes.some(node => node.peer === proxy && node.role === 'proxy') && nodes.every(node => node.up === 'true') &&
        /viewers 1 \(ws 1\)/.test(text) && /[1-9]\.\d fr\/s/.test(text)
      return ok ? nodes : undefined
    }).catch(err => { console.error(lastSeen); throw err })
    assert.ok(before.some(node => node.peer === '@authority'))
    mkdirSync(RESULTS, { recursive: true })
    await page.screenshot({ path: join(RESULTS, 'topology-before.png'), fullPage: true })

    await byId.get(proxy)!.kill('SIGKILL')
    // The runner-up: the survivor that now takes the document from the authority.
    const successor = await waitFor('a survivor to take the document from the authority', async () => {
      const docs = await Promise.all(members.map(async peer => (await peer.admin('/topology')).docs[docId]))
      lastSeen = JSON.stringify(docs.map((doc, i) => ({ id: members[i].ready.peerId, role: doc?.role, parent: doc?.parent, elected: doc?.electedParent })))
      const fromAuthority = members.filter((_peer, i) => docs[i]?.parent !== undefined && docs[i].parent !== 'gossip' && !byId.has(docs[i].parent))
      return fromAuthority.length === 1 && docs.every(doc => doc?.parent !== proxy) ? fromAuthority[0].ready.peerId as string : undefined
    }, { timeoutMs: 30_000 }).catch(err => { console.error(lastSeen); throw err })
    const after = await waitFor('the page to show the dead proxy down and the runner-up as proxy', async () => {
      const nodes = await shown(page, docId)
      const dead = nodes.find(node => node.peer === proxy)
      const next = nodes.find(node => node.peer === successor)
      return dead?.up === 'false' && next?.up === 'true' && next.role === 'proxy' && next.health.includes('failed over') ? nodes : undefined
    }, { timeoutMs: 30_000 }).catch(async err => {
      console.error(successor, JSON.stringify(await shown(page, docId)), await (await fetch(`${topology.ready.url as string}/api/topology`)).text())
      await page.screenshot({ path: join(RESULTS, 'topology-failure.png'), fullPage: true })
      throw err
    })
    assert.equal(after.filter(node => node.up === 'true').length, 4, 'the authority and three survivors up')
    const row = await page.textContent(`#endpoints tr[data-url="${byId.get(proxy)!.ready.admin as string}"]`)
    assert.match(row ?? '', /down/)

    const screenshot = join(RESULTS, 'topology-takeover.png')
    await page.screenshot({ path: screenshot, fullPage: true })
    assert.ok(statSync(screenshot).size > 0)
  })
})
