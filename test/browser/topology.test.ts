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
  const tickers: Array<ReturnType<typeof setInterval>> = []
  const viewers: Array<{ view: LiveView, node: ObserverNode }> = []

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'dc11-topology-'))
    mkdirSync(RESULTS, { recursive: true })
  })

  after(async function () {
    for (const ticker of tickers) clearInterval(ticker)
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
    tickers.push(setInterval(() => { driver.send({ n: ++n }) }, 200))
    const superPeers: Running[] = await Promise.all([0, 1, 2, 3].map(async i => await startCli(superPeerArgs({
      dataDir: join(dir, `sp${i}`), docId, bootstrap: authority.ready.addrs as string[], observe: true, extra: ['--topology', 'tiers']
    }))))
    const byId = new Map(superPeers.map(peer => [peer.ready.peerId as string, peer]))

    // Viewers on two super-peers, so the page has observer streams to count.
    for (const peer of superPeers.slice(0, 2)) {
      const node = await createObserverNode({ transports: ['websockets'], allowPrivateAddresses: true, livenessIntervalMs: 1_000, livenessTimeoutMs: 1_000 })
      const view = observe(docId, { bootstrap: peer.ready.observe.addrs, transports: ['websockets'], allowPrivateAddresses: true, node })
      viewers.push({ view, node })
    }

    // The region proxy as the super-peers' views agree on it: it elects the authority as its parent, every other node elects it.
    let lastSeen = ''
    const elected = async (peers: Running[]): Promise<string | undefined> => {
      const docs = await Promise.all(peers.map(async peer => (await peer.admin('/topology')).docs[docId]))
      lastSeen = JSON.stringify(docs.map((doc, i) => ({ id: peers[i].ready.peerId, role: doc?.role, parent: doc?.parent, elected: doc?.electedParent })))
      const proxies = peers.filter((_peer, i) => docs[i]?.role === 'proxy' && docs[i].electedParent !== undefined && !byId.has(docs[i].electedParent))
      if (proxies.length !== 1) return undefined
      const id = proxies[0].ready.peerId as string
      return docs.every((doc, i) => peers[i] === proxies[0] || doc?.electedParent === id) ? id : undefined
    }
    // The runner-up as the survivors act on it (at once, not when the dead proxy's lease ends):
    // it takes the document from the authority, the others from it, and nobody from the dead one.
    const takenOver = async (peers: Running[], dead: string): Promise<string | undefined> => {
      const docs = await Promise.all(peers.map(async peer => (await peer.admin('/topology')).docs[docId]))
      lastSeen = JSON.stringify(docs.map((doc, i) => ({ id: peers[i].ready.peerId, role: doc?.role, parent: doc?.parent, elected: doc?.electedParent })))
      if (docs.some(doc => doc?.parent === dead)) return undefined
      const heads = peers.filter((_peer, i) => docs[i]?.parent !== undefined && docs[i].parent !== 'gossip' && !byId.has(docs[i].parent))
        .map(peer => peer.ready.peerId as string).filter(id => docs.some(doc => doc?.parent === id))
      return heads.length === 1 ? heads[0] : undefined
    }
    const failed = async (err: Error): Promise<never> => {
      console.error(lastSeen)
      await page.screenshot({ path: join(RESULTS, 'topology-failure.png'), fullPage: true })
      throw err
    }

    const admins = [authority, ...superPeers].flatMap(peer => ['--admin', peer.ready.admin as string])
    const topology = await startCli(['topology', ...admins, '--listen', '127.0.0.1:0', '--interval-ms', '500'])
    assert.equal(topology.ready.ready, 'topology')
    assert.match(topology.ready.url as string, /^http:\/\/127\.0\.0\.1:\d+$/)
    browser ??= await launchChromium()
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    await page.goto(topology.ready.url as string)

    const proxy = await waitFor('the page to show the elected proxy, all nodes up, with viewers and frames/s', async () => {
      const id = await elected(superPeers)
      const nodes = await shown(page, docId)
      const text = await page.textContent('#docs') ?? ''
      const ok = id !== undefined && nodes.length === 5 && nodes.some(node => node.peer === '@authority') &&
        nodes.some(node => node.peer === id && node.role === 'proxy') && nodes.every(node => node.up === 'true') &&
        /viewers 1 \(ws 1\)/.test(text) && /[1-9]\.\d fr\/s/.test(text)
      return ok ? id : undefined
    }).catch(failed)
    await page.screenshot({ path: join(RESULTS, 'topology-before.png'), fullPage: true })

    await byId.get(proxy)!.kill('SIGKILL')
    const survivors = superPeers.filter(peer => peer.ready.peerId !== proxy)
    const after = await waitFor('the page to show the dead proxy down and the runner-up as proxy', async () => {
      const successor = await takenOver(survivors, proxy)
      const nodes = await shown(page, docId)
      const dead = nodes.find(node => node.peer === proxy)
      const next = nodes.find(node => node.peer === successor)
      const ok = successor !== undefined && dead?.up === 'false' && next?.up === 'true' && next.role === 'proxy' &&
        nodes.some(node => node.health.includes('failed over'))
      return ok ? nodes : undefined
    }, { timeoutMs: 30_000 }).catch(failed)
    assert.equal(after.filter(node => node.up === 'true').length, 4, 'the authority and three survivors up')
    const row = await page.textContent(`#endpoints tr[data-url="${byId.get(proxy)!.ready.admin as string}"]`)
    assert.match(row ?? '', /down/)

    const screenshot = join(RESULTS, 'topology-takeover.png')
    await page.screenshot({ path: screenshot, fullPage: true })
    assert.ok(statSync(screenshot).size > 0)
  })

  it('a super-peer\'s own admin endpoint serves the page: itself, its --peer-admin nodes and the tree they elect', async function () {
    const authority = await startCli(authorityArgs({ dir: join(dir, 'authority-admin'), name: 'topo-admin' }))
    const docId = authority.ready.docId as string
    const driver = new AuthorityDriver(authority)
    let n = 0
    tickers.push(setInterval(() => { driver.send({ n: ++n }) }, 200))
    const peer = async (i: number, extra: string[] = []): Promise<Running> => await startCli(superPeerArgs({
      dataDir: join(dir, `admin-sp${i}`), docId, bootstrap: authority.ready.addrs as string[], observe: true, extra: ['--topology', 'tiers', ...extra]
    }))
    const others = await Promise.all([0, 1].map(async i => await peer(i)))
    // The page's node knows the others only through --peer-admin (admin addresses are in no announcement).
    const host = await peer(2, [authority, ...others].flatMap(p => ['--peer-admin', p.ready.admin as string]))
    const superPeers = [...others, host]

    browser ??= await launchChromium()
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    await page.goto(`${host.ready.admin as string}/topology/page`)
    const drawn = await waitFor('the page on the super-peer to draw all three super-peers under the authority, up, with frames/s', async () => {
      const docs = await Promise.all(superPeers.map(async p => (await p.admin('/topology')).docs[docId]))
      const proxies = superPeers.filter((_p, i) => docs[i]?.role === 'proxy').map(p => p.ready.peerId as string)
      const nodes = await shown(page, docId)
      const text = await page.textContent('#docs') ?? ''
      const ok = proxies.length === 1 && nodes.length === 4 && nodes.some(node => node.peer === '@authority') &&
        nodes.some(node => node.peer === proxies[0] && node.role === 'proxy') && nodes.every(node => node.up === 'true') && /[1-9]\.\d fr\/s/.test(text)
      return ok ? { nodes, text } : undefined
    }, { timeoutMs: 60_000 }).catch(async (err: Error) => {
      await page.screenshot({ path: join(RESULTS, 'topology-admin-failure.png'), fullPage: true })
      throw err
    })
    assert.deepEqual(new Set(drawn.nodes.map(node => node.peer)), new Set(['@authority', ...superPeers.map(p => p.ready.peerId as string)]))
    // Every super-peer keeps partials_sent (none sent here: no writers), so each box shows a rate.
    assert.match(drawn.text, /partials ↑ \d+\.\d\/s/)
    const rows = await page.$$eval('#endpoints tr[data-url]', trs => trs.map(tr => tr.getAttribute('data-url')))
    assert.deepEqual(new Set(rows), new Set([host, authority, ...others].map(p => p.ready.admin as string)))
    await page.screenshot({ path: join(RESULTS, 'topology-admin.png'), fullPage: true })
  })
})
