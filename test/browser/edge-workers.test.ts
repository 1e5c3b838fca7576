// Chromium pages served by edge workers: an authority and a super-peer with --edge-workers 2 as
// OS processes; one page on each worker's WebRTC-Direct address and one over the WebSockets port
// they share. Each page goes live and follows the document through its privacy class.

import assert from 'node:assert/strict'
import { join } from 'node:path'
import { materialize } from '../../src/delta/index.ts'
import { encodeMessage } from '../../src/observe/protocol.ts'
import { signTokenSync } from '../../src/identity/index.ts'
import { filterView, policyOfTree } from '../../src/privacy/index.ts'
import { loadKey } from '../../node/identity.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import { useChromiumSite } from './helpers/harness.ts'
import type { JsonObject } from '../../src/json.ts'
import type { Viewer } from '../../src/privacy/index.ts'
import type { Running } from '../helpers/processes.ts'
import type { Page } from 'playwright-core'
import type { PrivateKey } from '@libp2p/interface'

const POLICY: JsonObject = {
  version: 1,
  observe: { anonymous: true, identified: true },
  fields: { '/score': 'public', '/notes': { role: 'staff' } }
}

describe('Chromium pages served by edge workers', function () {
  this.timeout(180_000)

  const chromium = useChromiumSite({ tempPrefix: 'dc10-chromium-' })
  let authority: Running
  let superPeer: Running
  let driver: AuthorityDriver
  let docId: string
  let docKey: PrivateKey

  async function change (delta: JsonObject): Promise<void> {
    const id = driver.send(delta)
    await driver.until(`change ${id} acked`, () => driver.acked.has(id) || driver.errors.has(id))
    assert.equal(driver.errors.get(id), undefined)
  }

  async function open (addrs: string[], transports: string[], viewer: Viewer): Promise<Page> {
    const page = await chromium.browser.newPage()
    page.on('pageerror', err => { console.error('page error:', err) })
    await page.goto(`${chromium.site.url}/observe.html`)
    await page.waitForFunction(() => (globalThis as any).loaded === true)
    const token = viewer.principal === undefined ? undefined : signTokenSync(docKey, { docId, principal: viewer.principal, roles: [...viewer.roles], expires: Date.now() + 3_600_000 }, Date.now())
    await page.evaluate(({ docId, addrs, transports, token }) => {
      const g = globalThis as any
      g.view = g.deltacast.observe(docId, { bootstrap: addrs, transports, allowPrivateAddresses: true, token })
    }, { docId, addrs, transports, token })
    return page
  }

  async function assertSees (page: Page, viewer: Viewer, transport: string): Promise<void> {
    const { seq, tree } = await authority.admin(`/docs/${docId}/state`)
    await page.waitForFunction(seq => (globalThis as any).view.seq === seq, seq, { timeout: 30_000, polling: 50 })
    assert.deepEqual(await page.evaluate(() => (globalThis as any).view.state), materialize(filterView(policyOfTree(tree), viewer, {}, tree)))
    assert.equal(await page.evaluate(() => (globalThis as any).view.connection.transport), transport)
  }

  before(async () => {
    authority = await startCli(authorityArgs({ dir: join(chromium.dir, 'authority'), name: 'match' }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
    docKey = await loadKey(join(chromium.dir, 'authority', 'authority.key'))
    await change({ '@policy': POLICY, score: 0, notes: 'kick-off' })
    superPeer = await startCli(superPeerArgs({ dataDir: join(chromium.dir, 'sp'), docId, bootstrap: [authority.ready.addrs[0]], observe: true, extra: ['--edge-workers', '2'] }))
  })

  it('pages on both workers, over WebRTC-Direct and WebSockets, each see their class\'s view as it changes', async () => {
    const addrs = superPeer.ready.observe.addrs as string[]
    const rtc = addrs.filter(addr => addr.includes('/webrtc-direct'))
    const ws = addrs.filter(addr => addr.includes('/ws'))
    assert.equal(rtc.length, 2)
    const staff: Viewer = { principal: 'sam', roles: ['staff'] }
    const anonymous: Viewer = { roles: [] }
    const pages: Array<[Page, Viewer, string]> = [
      [await open([rtc[0]], ['webrtc-direct'], anonymous), anonymous, 'webrtc-direct'],
      [await open([rtc[1]], ['webrtc-direct'], staff), staff, 'webrtc-direct'],
      [await open(ws, ['websockets'], staff), staff, 'websockets']
    ]
    for (const [page, viewer, transport] of pages) await assertSees(page, viewer, transport)
    const workers = await waitFor('both workers to report a WebRTC-Direct page', async () => {
      const list = (await superPeer.admin('/status')).observe.workers as Array<{ transports: Record<string, { observers: number }> }>
      return list.every(w => (w.transports['webrtc-direct']?.observers ?? 0) === 1) ? list : undefined
    })
    assert.equal(workers.length, 2)
    for (let i = 1; i <= 5; i++) await change({ score: i, notes: `note ${i}` })
    for (const [page, viewer, transport] of pages) await assertSees(page, viewer, transport)
  })

  it('each worker announces the super-peer\'s heartbeat interval on a stream\'s first message, as the super-peer does', async () => {
    const addrs = superPeer.ready.observe.addrs as string[]
    const raw = await chromium.browser.newPage()
    try {
      await raw.goto(`${chromium.site.url}/raw.html`)
      await raw.waitForFunction(() => (globalThis as any).loaded === true)
      const request = Array.from(encodeMessage({ doc: docId, after: null }))
      for (const addr of [...addrs.filter(a => a.includes('/webrtc-direct')), addrs.find(a => a.includes('/ws'))!]) {
        // read for a while: the first message, then heartbeats (a quiet document)
        const { messages } = await raw.evaluate(async ({ addr, request }) => await (globalThis as any).rawObserve(addr, request, null, 2_500), { addr, request }) as { messages: Array<Record<string, unknown>> }
        assert.equal(messages[0]?.reset, true, `a snapshot first from ${addr}`)
        assert.equal(messages[0]?.heartbeat, 1000, `the first message from ${addr} announces heartbeats every 1000 ms`)
        assert.ok(messages.length >= 2, `a heartbeat followed from ${addr}`)
        assert.ok(messages.slice(1).every(m => m.heartbeat === undefined), 'only the first message announces')
      }
    } finally {
      await raw.close()
    }
  })
})
