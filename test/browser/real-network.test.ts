// End to end with the real system: an authority and super-peers as separate OS processes, real
// gossipsub between them, and headless Chromium observing through a super-peer's edge node.

import assert from 'node:assert/strict'
import { join } from 'node:path'
import { materialize } from '../../src/delta/index.ts'
import { SYNC_PROTOCOL } from '../../src/sync/messages.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import { Workload } from '../helpers/workload.ts'
import { useChromiumSite } from './helpers/harness.ts'
import type { Running } from '../helpers/processes.ts'
import type { Page } from 'playwright-core'

describe('Chromium observing a live document through real super-peers', function () {
  this.timeout(180_000)

  const chromium = useChromiumSite({ tempPrefix: 'deltacast-browser-e2e-' })
  let authority: Running
  let driver: AuthorityDriver
  let docId: string
  const workload = new Workload(11)
  const superPeers: Running[] = []

  async function startSuperPeer (name: string, bootstrap: string[], extra: string[] = []): Promise<Running> {
    const peer = await startCli(superPeerArgs({ dataDir: join(chromium.dir, name), docId, bootstrap, observe: true, extra }))
    superPeers.push(peer)
    return peer
  }

  /** Sends `count` changes in small bursts, so they spread over many frames. */
  async function change (count: number): Promise<void> {
    const ids: number[] = []
    for (let i = 0; i < count; i++) {
      ids.push(driver.send(workload.next()))
      if (i % 10 === 9) await driver.until('a burst acked', () => driver.acked.has(ids[ids.length - 1]))
    }
    await driver.until(`${count} acks`, () => ids.every(id => driver.acked.has(id)))
    assert.equal(driver.errors.size, 0)
  }

  function observeAddrs (transport: 'webrtc-direct' | 'ws'): string[] {
    return superPeers.filter(p => p.child.exitCode === null && p.child.signalCode === null)
      .flatMap(p => (p.ready.observe.addrs as string[]).filter(a => a.includes(`/${transport}/`)))
  }

  /**
   * A page observing over `transport`; with `defaults` it keeps observe()'s own liveness and
   * backoff settings (as a real page would), else it probes every second. Every state event is
   * recorded with its Date.now() (the same clock as this process's).
   */
  async function observingPage (transport: 'webrtc-direct' | 'websockets', defaults = false): Promise<Page> {
    const page = await chromium.browser.newPage()
    await page.goto(`${chromium.site.url}/observe.html`)
    await page.waitForFunction(() => (globalThis as any).loaded === true)
    const addrs = observeAddrs(transport === 'websockets' ? 'ws' : 'webrtc-direct')
    await page.evaluate(({ docId, transport, addrs, defaults }) => {
      const g = globalThis as any
      g.seen = []
      g.states = []
      g.view = g.deltacast.observe(docId, {
        bootstrap: addrs,
        transports: [transport],
        allowPrivateAddresses: true,
        ...(defaults ? {} : { livenessIntervalMs: 1000, livenessTimeoutMs: 1000, backoff: { initialMs: 100, maxMs: 1000 } })
      })
      g.view.addEventListener('change', (event: CustomEvent) => { g.seen.push([event.detail.seq, event.detail.reset]) })
      g.view.addEventListener('state', (event: CustomEvent) => { g.states.push({ ...event.detail, at: Date.now() }) })
    }, { docId, transport, addrs, defaults })
    return page
  }

  async function authorityView (): Promise<{ seq: number, tree: any }> {
    return await authority.admin(`/docs/${docId}/state`)
  }

  /** Replaces the super-peers with two new ones (the second joins through the first), both at the authority's head. */
  async function freshSuperPeers (name: string, extra: string[] = []): Promise<void> {
    for (const peer of superPeers.splice(0)) await peer.kill('SIGKILL')
    const first = await startSuperPeer(`${name}-1`, authority.ready.addrs, extra)
    await startSuperPeer(`${name}-2`, [...first.ready.addrs, ...authority.ready.addrs], extra)
    await waitFor('super-peers at the authority\'s head', async () => {
      const truth = await authorityView()
      const heads = await Promise.all(superPeers.map(async p => (await p.admin('/status')).docs[docId].seq))
      return heads.every(seq => seq === truth.seq) ? true : undefined
    })
  }

  async function assertPageMatches (page: Page): Promise<void> {
    const truth = await authorityView()
    await page.waitForFunction(seq => (globalThis as any).view.seq === seq, truth.seq, { timeout: 60_000, polling: 50 }).catch(async (err: Error) => {
      const view = await page.evaluate(() => { const g = globalThis as any; return { seq: g.view.seq, connection: g.view.connection, seen: g.seen.slice(-5) } })
      const statuses = await Promise.all(superPeers.filter(p => p.child.exitCode === null && p.child.signalCode === null).map(async p => await p.admin('/status')))
      const dead = superPeers.filter(p => p.child.exitCode !== null || p.child.signalCode !== null).map(p => `${p.child.exitCode ?? p.child.signalCode}: ${p.stderr().slice(-2000)}`)
      throw new Error(`${err.message}: dead ${JSON.stringify(dead)} authority at ${truth.seq}, page ${JSON.stringify(view)}, super-peers ${JSON.stringify(statuses.map(s => ({ docs: s.docs, observe: s.observe })))}`)
    })
    assert.deepEqual(await page.evaluate(() => (globalThis as any).view.state), materialize(truth.tree))
    const ids = await page.evaluate(() => { const g = globalThis as any; return g.deltacast.keysOf(g.view.state.cards) })
    assert.deepEqual(ids, truth.tree.cards['@o'])
  }

  /** After the first snapshot the page saw every seq exactly once, in order. */
  async function assertNoGapNoDuplicate (page: Page): Promise<void> {
    const seen = await page.evaluate(() => (globalThis as any).seen) as Array<[number, boolean]>
    assert.equal(seen[0][1], true, 'starts with a snapshot')
    assert.equal(seen.filter(([, reset]) => reset).length, 1, 'exactly one snapshot, even across the failover')
    for (let i = 1; i < seen.length; i++) assert.equal(seen[i][0], seen[i - 1][0] + 1, `seq ${seen[i][0]} follows ${seen[i - 1][0]}`)
  }

  before(async () => {
    authority = await startCli(authorityArgs({ dir: join(chromium.dir, 'authority'), name: 'cards' }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
    await change(20) // the document exists before the first viewer
  })

  for (const transport of ['webrtc-direct', 'websockets'] as const) {
    it(`follows 1,000 changes over ${transport}, and resumes on another super-peer when its own is killed`, async () => {
      // Fresh super-peers for each transport: the page must find a live one in its list.
      for (const peer of superPeers.splice(0)) await peer.kill('SIGKILL')
      const first = await startSuperPeer(`${transport}-1`, authority.ready.addrs)
      await startSuperPeer(`${transport}-2`, [...first.ready.addrs, ...authority.ready.addrs])
      await startSuperPeer(`${transport}-3`, [...first.ready.addrs, ...authority.ready.addrs])
      await waitFor('super-peers at the authority\'s head', async () => {
        const truth = await authorityView()
        const heads = await Promise.all(superPeers.map(async p => (await p.admin('/status')).docs[docId].seq))
        return heads.every(seq => seq === truth.seq) ? true : undefined
      })

      const page = await observingPage(transport)
      await page.waitForFunction(() => (globalThis as any).view.connection.state === 'live', undefined, { timeout: 30_000 })
      await change(1_000)
      await assertPageMatches(page)

      const servedBy = await page.evaluate(() => (globalThis as any).view.connection.peerId)
      const serving = superPeers.find(p => p.ready.observe.peerId === servedBy)
      assert.ok(serving !== undefined, 'the page names the super-peer serving it')
      await serving.kill('SIGKILL')
      await change(300)
      await assertPageMatches(page)
      const now = await page.evaluate(() => (globalThis as any).view.connection.peerId)
      assert.notEqual(now, servedBy, 'served by another super-peer')
      await assertNoGapNoDuplicate(page)
      await page.close()
    })
  }

  for (const transport of ['webrtc-direct', 'websockets'] as const) {
    it(`is live on the next super-peer within 2 s of its own being killed (SIGKILL, quiet document, default settings, ${transport})`, async () => {
      await freshSuperPeers(`failover-${transport}`)
      const page = await observingPage(transport, true)
      await page.waitForFunction(() => (globalThis as any).view.connection.state === 'live', undefined, { timeout: 30_000 })
      await change(20)
      await assertPageMatches(page)
      // the document goes quiet: only heartbeats tell the page its super-peer is alive
      await page.waitForFunction(() => { const g = globalThis as any; return g.states.at(-1).at < Date.now() - 3000 }, undefined, { timeout: 10_000, polling: 100 })

      const servedBy = await page.evaluate(() => (globalThis as any).view.connection.peerId)
      const serving = superPeers.find(p => p.ready.observe.peerId === servedBy)
      assert.ok(serving !== undefined, 'the page names the super-peer serving it')
      const killedAt = Date.now()
      await serving.kill('SIGKILL')
      await page.waitForFunction(killed => {
        const view = (globalThis as any).view
        return view.connection.state === 'live' && view.connection.peerId !== killed
      }, servedBy, { timeout: 30_000, polling: 20 })
      const states = await page.evaluate(() => (globalThis as any).states) as Array<{ state: string, peerId?: string, transport?: string, at: number }>
      const noticed = states.find(s => s.at >= killedAt && s.state === 'reconnecting')
      const liveAgain = states.find(s => s.at >= killedAt && s.state === 'live' && s.peerId !== servedBy)
      assert.ok(noticed !== undefined && liveAgain !== undefined)
      const failoverMs = liveAgain.at - killedAt
      console.log(`      failover over ${transport}: noticed after ${noticed.at - killedAt} ms, live on the next super-peer after ${failoverMs} ms`)
      assert.ok(failoverMs <= 2000, `live on the next super-peer ${failoverMs} ms after the kill (at most 2,000)`)
      assert.equal(liveAgain.transport, transport, 'the state event names the transport serving the view')
      assert.equal(await page.evaluate(() => (globalThis as any).view.transport), transport)

      await change(20)
      await assertPageMatches(page)
      await assertNoGapNoDuplicate(page)
      await page.close()
    })
  }

  /**
   * Stops the page's super-peer with `signal` right after the page became live (before its first
   * heartbeat was due), then waits until the page is live on the other one; returns when the page
   * noticed (ms after the stop), when it was live again, and the error it noticed with.
   */
  async function stopRightAfterLive (page: Page, signal: 'SIGKILL' | 'SIGSTOP'): Promise<{ noticedMs: number, liveMs: number, sinceLiveMs: number, error: { code: string, message: string } }> {
    await page.waitForFunction(() => (globalThis as any).view.connection.state === 'live', undefined, { timeout: 30_000, polling: 10 })
    const servedBy = await page.evaluate(() => (globalThis as any).view.connection.peerId)
    const serving = superPeers.find(p => p.ready.observe.peerId === servedBy)
    assert.ok(serving !== undefined, 'the page names the super-peer serving it')
    // SIGKILL over WebRTC-Direct closes nothing the page can see; SIGSTOP keeps the TCP socket open
    serving.child.kill(signal)
    const killedAt = Date.now()
    try {
      const states = await page.evaluate(() => (globalThis as any).states) as Array<{ state: string, at: number }>
      const liveAt = states.find(s => s.state === 'live')?.at as number
      // its first heartbeat comes a second after its first message, which came before `live`
      assert.ok(killedAt - liveAt < 900, `stopped ${killedAt - liveAt} ms after the page was live, before the first heartbeat was due`)
      await page.waitForFunction(gone => {
        const view = (globalThis as any).view
        return view.connection.state === 'live' && view.connection.peerId !== gone
      }, servedBy, { timeout: 20_000, polling: 20 })
      const after = (await page.evaluate(() => (globalThis as any).states) as Array<{ state: string, peerId?: string, error?: { code: string, message: string }, at: number }>).filter(s => s.at >= killedAt)
      const noticed = after.find(s => s.state === 'reconnecting')
      const liveAgain = after.find(s => s.state === 'live' && s.peerId !== servedBy)
      assert.ok(noticed?.error !== undefined && liveAgain !== undefined)
      assert.equal(noticed.error.code, 'silent', 'noticed from the silence, not from a closed connection')
      return { noticedMs: noticed.at - killedAt, liveMs: liveAgain.at - killedAt, sinceLiveMs: noticed.at - liveAt, error: noticed.error }
    } finally {
      await serving.kill('SIGKILL')
    }
  }

  for (const [transport, signal] of [['webrtc-direct', 'SIGKILL'], ['websockets', 'SIGSTOP']] as const) {
    it(`notices a super-peer that goes silent as the session becomes live, before its first heartbeat, from the heartbeats it announced (${signal}, ${transport}), and is live on the next one within seconds`, async () => {
      await freshSuperPeers(`early-${transport}`)
      const page = await observingPage(transport, true)
      try {
        const { noticedMs, liveMs, sinceLiveMs, error } = await stopRightAfterLive(page, signal)
        console.log(`      silent from the start over ${transport} (${signal}): noticed after ${noticedMs} ms (${sinceLiveMs} ms after live), live on the next super-peer after ${liveMs} ms`)
        assert.match(error.message, /announced heartbeats every 1000 ms/, 'no probe: the super-peer announced its heartbeats')
        // 1,500 ms of silence from its last message (which came before `live`), checked every
        // 150 ms, and the rest for the page's own event loop; a probe would add up to 1,500 ms.
        // Live on the next one about 300 ms later: printed, not asserted (1.8-2.1 s measured here)
        assert.ok(sinceLiveMs <= 2_000, `noticed ${sinceLiveMs} ms after live (${noticedMs} ms after the stop): at most 1,500 ms of silence, checked every 150 ms`)
        await change(20)
        await assertPageMatches(page)
      } finally {
        await page.close()
      }
    })
  }

  it('still probes a super-peer that sends no heartbeats (--observe-heartbeat-ms 0, an older release\'s behaviour) before counting its silence as death', async () => {
    await freshSuperPeers('no-heartbeats', ['--observe-heartbeat-ms', '0'])
    const page = await observingPage('webrtc-direct', true)
    try {
      const { noticedMs, liveMs, sinceLiveMs, error } = await stopRightAfterLive(page, 'SIGKILL')
      console.log(`      no heartbeats (SIGKILL, webrtc-direct): noticed after ${noticedMs} ms (${sinceLiveMs} ms after live), live on the next super-peer after ${liveMs} ms`)
      assert.match(error.message, /no answer to a probe within 1500 ms/)
      // 1,500 ms of silence, then a probe that goes unanswered for 1,500 ms
      assert.ok(sinceLiveMs >= 2_900, `noticed ${sinceLiveMs} ms after live: the silence and then the probe's own timeout`)
      assert.ok(liveMs <= 6_000, `live on the next super-peer ${liveMs} ms after the stop (at most 6,000: the silence and one unanswered probe)`)
      await change(20)
      await assertPageMatches(page)
    } finally {
      await page.close()
    }
  })

  it('refuses a page that asks for gossipsub or the catch-up protocol, and keeps serving the others', async () => {
    const good = await observingPage('websockets')
    await good.waitForFunction(() => (globalThis as any).view.connection.state === 'live', undefined, { timeout: 30_000 })
    const rogue = await chromium.browser.newPage()
    await rogue.goto(`${chromium.site.url}/raw.html`)
    await rogue.waitForFunction(() => (globalThis as any).loaded === true)
    for (const addr of [observeAddrs('webrtc-direct')[0], observeAddrs('ws')[0]]) {
      for (const protocol of ['/meshsub/1.1.0', '/meshsub/1.0.0', SYNC_PROTOCOL]) {
        const result = await rogue.evaluate(async ({ addr, protocol }) => await (globalThis as any).rawDial(addr, protocol), { addr, protocol })
        assert.equal(result.opened, false, `${protocol} over ${addr} must be refused`)
        assert.match(result.error, /UnsupportedProtocol|ProtocolNegotiation/i)
      }
    }
    await change(50)
    await assertPageMatches(good)
  })
})
