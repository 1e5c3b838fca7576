// A silent authority is visible: the super-peer (an OS process) reports it, and a page in
// Chromium goes `stale`, with the age of the last word, then back to `live`.

import assert from 'node:assert/strict'
import { join } from 'node:path'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import { useChromiumSite } from './helpers/harness.ts'
import type { Running } from '../helpers/processes.ts'
import type { Page } from 'playwright-core'

describe('Chromium sees a silent authority as stale', function () {
  this.timeout(120_000)

  const chromium = useChromiumSite({ tempPrefix: 'dc7b-stale-' })
  let authority: Running
  let superPeer: Running
  let driver: AuthorityDriver
  let docId: string

  before(async () => {
    authority = await startCli(authorityArgs({ dir: join(chromium.dir, 'authority'), name: 'quiet' }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
    superPeer = await startCli(superPeerArgs({ dataDir: join(chromium.dir, 'sp'), docId, bootstrap: authority.ready.addrs, observe: true }))
  })

  async function connection (page: Page): Promise<{ state: string, upstreamAgeMs?: number }> {
    return await page.evaluate(() => (globalThis as any).view.connection)
  }

  it('goes stale while the authority is stopped (SIGSTOP), and live again after SIGCONT', async () => {
    const id = driver.send({ round: 1 })
    await driver.until('round 1 acked', () => driver.acked.has(id))

    const page = await chromium.browser.newPage()
    await page.goto(`${chromium.site.url}/observe.html`)
    await page.waitForFunction(() => (globalThis as any).loaded === true)
    const addrs = (superPeer.ready.observe.addrs as string[]).filter(a => a.includes('/webrtc-direct/'))
    await page.evaluate(({ docId, addrs }) => {
      const g = globalThis as any
      g.states = []
      g.view = g.deltacast.observe(docId, { bootstrap: addrs, allowPrivateAddresses: true, transports: ['webrtc-direct'] })
      g.view.addEventListener('state', (event: CustomEvent) => { g.states.push(event.detail.state) })
    }, { docId, addrs })
    await page.waitForFunction(() => (globalThis as any).view.state.round === 1, undefined, { timeout: 30_000 })
    assert.equal((await connection(page)).state, 'live')
    const metrics = await superPeer.admin('/metrics') as string
    assert.match(metrics, /deltacast_observers\{transport="webrtc-direct"\} 1/)

    // The authority is alive but says nothing: announcements stop, so does every word upstream.
    authority.child.kill('SIGSTOP')
    try {
      const status = await waitFor('the super-peer to report its upstream silent', async () => {
        const s = await superPeer.admin('/status')
        return s.docs[docId].upstream.silent === true ? s : undefined
      }, { timeoutMs: 20_000 })
      assert.ok(status.docs[docId].upstream.ageMs >= 3_000)
      assert.match(superPeer.stderr(), /upstream silent/)
      assert.match(await superPeer.admin('/metrics') as string, /deltacast_upstream_silent\{document="[^"]+"\} 1/)
      await page.waitForFunction(() => (globalThis as any).view.connection.state === 'stale', undefined, { timeout: 20_000, polling: 100 })
      const stale = await connection(page)
      assert.ok((stale.upstreamAgeMs ?? 0) >= 3_000, `the stale state carries the age (${stale.upstreamAgeMs} ms)`)
      // the age keeps growing while the silence lasts
      await page.waitForFunction(age => ((globalThis as any).view.connection.upstreamAgeMs ?? 0) > age, stale.upstreamAgeMs ?? 0, { timeout: 10_000, polling: 100 })
    } finally {
      authority.child.kill('SIGCONT')
    }

    await page.waitForFunction(() => (globalThis as any).view.connection.state === 'live', undefined, { timeout: 30_000, polling: 100 })
    await waitFor('the super-peer to log that upstream is back', () => /upstream back/.test(superPeer.stderr()) ? true : undefined)
    const next = driver.send({ round: 2 })
    await driver.until('round 2 acked', () => driver.acked.has(next))
    await page.waitForFunction(() => (globalThis as any).view.state.round === 2, undefined, { timeout: 30_000 })
    const states = await page.evaluate(() => (globalThis as any).states as string[])
    assert.ok(states.indexOf('stale') < states.lastIndexOf('live'), `live after stale: ${states.join(' → ')}`)
    assert.ok(!states.includes('reconnecting'), `the page kept its connection: ${states.join(' → ')}`)
    await page.close()
  })
})
