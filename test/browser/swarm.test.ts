// Relaying between browsers, end to end: an authority and a super-peer as OS processes, and
// Chromium pages of one privacy class that feed each other over browser-to-browser WebRTC,
// signalled through the super-peer's relay.

import assert from 'node:assert/strict'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { materialize, mergeInto } from '../../src/delta/index.ts'
import { filterView, policyOfTree } from '../../src/privacy/index.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import { useChromiumSite } from './helpers/harness.ts'
import type { Json, JsonObject } from '../../src/json.ts'
import type { Running } from '../helpers/processes.ts'
import type { Page } from 'playwright-core'

const TAMPER_CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'tamper-client.ts')

/** Everyone sees the counter and the score; the secret never reaches a browser. */
const POLICY = (relay: boolean): JsonObject => ({
  version: 1,
  observe: { anonymous: true, identified: false },
  relay,
  fields: { '/n': 'public', '/score': 'public' }
})

interface Seat { peer: string, class: string | null, capacity: number, parent: string | null, feed: string | null }
interface SwarmStatus { classes: Array<{ viewers: number, direct: number, relayed: number, bytesDirect: number, bytesRelayed: number }>, seats: Seat[] }

describe('relaying between browsers in Chromium', function () {
  this.timeout(300_000)

  // host candidates as IP addresses, not mDNS names, and only on the default interface: both
  // ends are on this machine, whose other interfaces come and go with other tests
  const chromium = useChromiumSite({
    tempPrefix: 'dc12-swarm-',
    pages: { tamper: TAMPER_CLIENT },
    chromiumArgs: ['--disable-features=WebRtcHideLocalIpsWithMdns', '--force-webrtc-ip-handling-policy=default_public_interface_only']
  })
  let authority: Running
  let superPeer: Running
  let driver: AuthorityDriver
  let docId: string
  const model: JsonObject = {}
  /** The anonymous view after each frame, by seq. */
  const expected = new Map<number, Json>()
  let counter = 0

  async function change (delta: JsonObject): Promise<number> {
    mergeInto(model, structuredClone(delta))
    const id = driver.send(delta)
    await driver.until(`change ${id} acked`, () => driver.acked.has(id) || driver.errors.has(id))
    assert.equal(driver.errors.get(id), undefined)
    const seq: number = (await authority.admin('/status')).seq
    expected.set(seq, materialize(filterView(policyOfTree(model), { roles: [] }, {}, model)))
    return seq
  }

  async function tick (): Promise<number> {
    counter++
    return await change({ n: counter, score: counter * 7, secret: `s${counter}` })
  }

  async function swarm (): Promise<SwarmStatus> {
    return await superPeer.admin(`/docs/${encodeURIComponent(docId)}/swarm`)
  }

  async function open (entry: 'observe' | 'tamper' = 'observe'): Promise<Page> {
    const page = await chromium.browser.newPage()
    // every RTCPeerConnection the page makes (the super-peer is reached over WebSockets, so each is browser to browser)
    await page.addInitScript(() => {
      const Native = globalThis.RTCPeerConnection
      const g = globalThis as any
      g.peerConnections = 0
      g.RTCPeerConnection = class extends Native {
        constructor (...args: any[]) {
          super(...args)
          g.peerConnections++
        }
      }
    })
    await page.goto(`${chromium.site.url}/${entry}.html`)
    await page.waitForFunction(() => (globalThis as any).loaded === true)
    await page.evaluate((init: { docId: string, addrs: string[] }) => {
      const g = globalThis as any
      g.seen = []
      g.notes = []
      g.view = g.deltacast.observe(init.docId, { bootstrap: init.addrs, allowPrivateAddresses: true, transports: ['websockets'], swarm: { capacity: 3 } })
      g.view.addEventListener('change', (event: CustomEvent) => { g.seen.push([event.detail.seq, JSON.stringify(g.view.state)]) })
      g.view.addEventListener("swarm", (event: CustomEvent) => { g.notes.push(`${Date.now() % 100000} ${event.detail}`) })
      g.view.addEventListener('state', (event: CustomEvent) => { if (event.detail.state !== 'live') g.notes.push(`${Date.now() % 100000} state ${event.detail.state as string} ${event.detail.error?.code as string ?? ''} ${event.detail.error?.message as string ?? ''}`) })
    }, { docId, addrs: superPeer.ready.observe.addrs })
    return page
  }

  async function peerOf (page: Page): Promise<string> {
    return await page.evaluate(async () => {
      const g = globalThis as any
      while (g.view.connection.state !== 'live') await new Promise(resolve => setTimeout(resolve, 50))
      return g.view.node.peerId.toString()
    })
  }

  async function historyOf (page: Page): Promise<Array<[number, string]>> {
    return await page.evaluate(() => (globalThis as any).seen)
  }

  /** Every state the page held after a frame is its class's view after that frame; seqs have no gap and no repeat after `from`. */
  async function checkHistory (page: Page, from: number): Promise<void> {
    const history = (await historyOf(page)).filter(([seq]) => seq > from)
    for (const [seq, state] of history) assert.deepEqual(JSON.parse(state), expected.get(seq), `state after seq ${seq}`)
    const seqs = history.map(([seq]) => seq)
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i), 'no gap, no repeat')
  }

  async function waitForSeq (pages: Page[], seq: number): Promise<void> {
    await Promise.all(pages.map(async page => await page.waitForFunction(seq => (globalThis as any).view.seq >= seq, seq, { timeout: 30_000, polling: 50 })))
  }

  /** Until every page has a seat and every non-root is fed by its planned parent. */
  async function settled (count: number): Promise<SwarmStatus> {
    return await waitFor('swarm settled', async () => {
      const status = await swarm()
      const seats = status.seats
      return seats.length === count && seats.every(s => s.feed === s.parent) && seats.some(s => s.parent !== null) ? status : undefined
    }, { timeoutMs: 60_000, intervalMs: 200 })
  }

  before(async () => {
    authority = await startCli(authorityArgs({ dir: join(chromium.dir, 'authority'), name: 'swarm' }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
    superPeer = await startCli(superPeerArgs({ dataDir: join(chromium.dir, 'sp'), docId, bootstrap: [authority.ready.addrs[0]], observe: true }))
    await change({ '@policy': POLICY(false), n: 0, score: 0, secret: 's0' })
  })

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed') return
    for (const page of chromium.browser.contexts().flatMap(c => c.pages())) {
      console.log(await page.evaluate(() => JSON.stringify({ peer: (globalThis as any).view.node.peerId.toString(), notes: (globalThis as any).notes, seq: (globalThis as any).view.seq, pcs: (globalThis as any).peerConnections })).catch(() => 'closed'))
    }
    console.log(Date.now() % 100000, JSON.stringify((await swarm()).seats))
  })

  it('a document with relaying off: pages asking to relay are fed directly and open no browser-to-browser connection', async () => {
    const pages = await Promise.all([1, 2, 3].map(async () => await open()))
    for (let i = 0; i < 5; i++) await tick()
    const seq = await tick()
    await waitForSeq(pages, seq)
    for (const page of pages) {
      await checkHistory(page, 0)
      assert.equal(await page.evaluate(() => (globalThis as any).peerConnections), 0)
    }
    assert.deepEqual((await swarm()).seats, [])
    await Promise.all(pages.map(async page => await page.close()))
  })

  describe('with relaying on', () => {
    let pages: Page[]
    let peers: string[]

    before(async () => {
      await change({ '@policy': POLICY(true) })
      pages = []
      for (let i = 0; i < 8; i++) pages.push(await open())
      peers = await Promise.all(pages.map(peerOf))
    })

    it('eight pages of one class: each page holds its view after every frame, and the super-peer sends each frame to at most a third', async () => {
      const status = await settled(8)
      assert.ok(status.seats.filter(s => s.feed === null).length <= 8 / 3)
      const start = await tick()
      await waitForSeq(pages, start)
      const before = (await swarm()).classes[0]
      let seq = start
      for (let i = 0; i < 10; i++) seq = await tick()
      await waitForSeq(pages, seq)
      const after = (await swarm()).classes[0]
      const direct = after.bytesDirect - before.bytesDirect
      const relayed = after.bytesRelayed - before.bytesRelayed
      assert.ok(direct > 0 && relayed > 0)
      assert.ok(direct / (direct + relayed) <= 1 / 3, `super-peer sent ${direct} of ${direct + relayed} bytes itself`)
      for (const page of pages) await checkHistory(page, 0)
      // a parent and up to 3 children, plus a retry each when a link could not be opened in time
      for (const page of pages) assert.ok(await page.evaluate(() => (globalThis as any).peerConnections) <= 8, 'few, long-lived peer connections')
    })

    it('killing a relay page re-parents its children within 2 s, with no gap', async () => {
      const status = await settled(8)
      const relay = status.seats.find(s => s.parent === null && status.seats.some(c => c.parent === s.peer))!
      const children = status.seats.filter(s => s.parent === relay.peer).map(s => s.peer)
      const relayPage = pages[peers.indexOf(relay.peer)]
      const from = await tick()
      await waitForSeq(pages, from)
      // frames keep coming while the relay goes
      let flowing = true
      const flow = (async () => { while (flowing) await tick() })()
      const killedAt = Date.now()
      await relayPage.close()
      // fed again: by the super-peer (resumed by seq) or by the new parent, never by the dead relay
      const reparented = await waitFor('children fed again', async () => {
        const seats = (await swarm()).seats
        return children.every(c => { const seat = seats.find(s => s.peer === c); return seat !== undefined && seat.feed !== relay.peer && (seat.feed === null || seat.feed === seat.parent) }) ? Date.now() : undefined
      }, { timeoutMs: 30_000, intervalMs: 50 })
      flowing = false
      await flow
      const last = await tick()
      const survivors = pages.filter(p => p !== relayPage)
      await waitForSeq(survivors, last)
      for (const page of survivors) await checkHistory(page, 0)
      assert.ok(reparented - killedAt <= 2000, `re-parented in ${reparented - killedAt} ms`)
      pages = survivors
    })

    it('a relay that alters messages is detected and bypassed, and no page integrates a forged message', async () => {
      await Promise.all(pages.map(async page => await page.close()))
      // the tampering page joins first, so it is fed directly and given children
      const tamper = await open('tamper')
      const tamperPeer = await peerOf(tamper)
      pages = [tamper]
      for (let i = 0; i < 7; i++) pages.push(await open())
      const honest = pages.slice(1)
      await waitFor('tamperer has children', async () => (await swarm()).seats.some(s => s.parent === tamperPeer) || undefined, { timeoutMs: 60_000 })
      const from = await tick()
      let seq = from
      for (let i = 0; i < 5; i++) seq = await tick()
      await waitForSeq(honest, seq)
      assert.ok(await tamper.evaluate(() => (globalThis as any).tampered ?? 0) > 0, 'the tamperer did alter messages')
      const status = await waitFor('tamperer bypassed', async () => {
        const status = await swarm()
        return status.seats.length === 8 && status.seats.every(s => s.parent !== tamperPeer && s.feed !== tamperPeer) ? status : undefined
      }, { timeoutMs: 30_000 })
      const counters = (await superPeer.admin('/status')).counters
      assert.ok(counters.swarm_relays_reported >= 1)
      for (const page of honest) await checkHistory(page, 0)
      const notes: string[] = (await Promise.all(honest.map(async page => await page.evaluate(() => (globalThis as any).notes)))).flat()
      assert.ok(notes.some(note => note.includes('bad-signature')), 'a child saw the bad signature')
    })
  })
})
