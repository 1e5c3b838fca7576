// Writers in headless Chromium: connect() through real super-peers (OS processes), over
// WebRTC-Direct and WebSockets. Known votes go up the tree; the document's tally equals exactly
// what was acknowledged, also when a writer's super-peer is killed -9 mid-stream; a bad message
// is refused with a clear error in the page.

import assert from 'node:assert/strict'
import { join } from 'node:path'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import { useChromiumSite } from './helpers/harness.ts'
import type { Running } from '../helpers/processes.ts'
import type { Page } from 'playwright-core'

const POLICY = {
  version: 1,
  observe: { anonymous: true },
  fields: { '/poll': 'public' },
  input: {
    poll: { kind: 'tally', message: { type: 'string', enum: ['red', 'blue', 'green'] }, send: 'public', rate: { messages: 1000, perMs: 1000 }, windowMs: 300, field: '/poll' }
  }
}

describe('connect() in Chromium: writers through real super-peers', function () {
  this.timeout(180_000)

  const chromium = useChromiumSite({ tempPrefix: 'dc9-browser-' })
  let authority: Running
  let docId: string
  const superPeers: Running[] = []

  before(async () => {
    authority = await startCli(authorityArgs({ dir: join(chromium.dir, 'authority'), name: 'colours' }))
    docId = authority.ready.docId
    const driver = new AuthorityDriver(authority)
    const id = driver.send({ '@policy': POLICY })
    await driver.until('the policy', () => driver.acked.has(id))
    for (let i = 0; i < 3; i++) superPeers.push(await startCli(superPeerArgs({ dataDir: join(chromium.dir, `sp${i}`), docId, bootstrap: [authority.ready.addrs[0]], observe: true })))
  })

  /** A page with a writer on `home` first, then the others; it records its receipts and refusals. */
  async function writerPage (home: Running, transport: 'webrtc-direct' | 'websockets'): Promise<Page> {
    const page = await chromium.browser.newPage()
    page.on('pageerror', err => { console.error('page error:', err) })
    await page.goto(`${chromium.site.url}/observe.html`)
    await page.waitForFunction(() => (globalThis as any).loaded === true)
    const kind = transport === 'websockets' ? '/ws/' : '/webrtc-direct/'
    const addrs = [home, ...superPeers.filter(sp => sp !== home)].flatMap(sp => (sp.ready.observe.addrs as string[]).filter(a => a.includes(kind)))
    await page.evaluate(({ docId, transport, addrs }) => {
      const g = globalThis as any
      g.receipts = []
      g.refusals = []
      g.writer = g.deltacast.connect(docId, { bootstrap: addrs, transports: [transport], allowPrivateAddresses: true, livenessIntervalMs: 1000, livenessTimeoutMs: 1000, backoff: { initialMs: 50, maxMs: 500 } })
      g.vote = (colour: string) => g.writer.send('poll', colour).then((r: unknown) => { g.receipts.push(r) }, (err: any) => { g.refusals.push({ name: err.name, code: err.code, rule: err.rule, message: err.message }) })
    }, { docId, transport, addrs })
    await page.waitForFunction(() => (globalThis as any).writer.connection.state === 'live', undefined, { timeout: 30_000 })
    return page
  }

  it('tallies votes from writers on three super-peers exactly, across a kill -9 of one writer\'s super-peer', async () => {
    const pages = [
      await writerPage(superPeers[0], 'webrtc-direct'),
      await writerPage(superPeers[1], 'websockets'),
      await writerPage(superPeers[2], 'websockets')
    ]
    const colours = ['red', 'blue', 'green']
    const expected: Record<string, number> = { red: 0, blue: 0, green: 0 }
    const perPage = 60
    for (let i = 0; i < perPage; i++) {
      for (const [p, page] of pages.entries()) {
        const colour = colours[(i + p) % 3]
        expected[colour]++
        await page.evaluate(c => { (globalThis as any).vote(c) }, colour)
      }
      if (i === 30) await superPeers[1].kill('SIGKILL') // the second page's super-peer
      await new Promise(resolve => setTimeout(resolve, 20)) // pacing the stream, not synchronisation
    }
    for (const page of pages) {
      await page.waitForFunction(n => (globalThis as any).receipts.length + (globalThis as any).refusals.length === n, perPage, { timeout: 60_000, polling: 100 })
      assert.deepEqual(await page.evaluate(() => (globalThis as any).refusals), [])
    }
    const moved = await pages[1].evaluate(() => (globalThis as any).writer.connection.peerId)
    assert.notEqual(moved, superPeers[1].ready.observe.peerId, 'the second writer moved to another super-peer')
    const doc = (await authority.admin(`/docs/${docId}/state`)).tree
    assert.deepEqual(doc.poll, { counts: expected, error: 0 })
    // Every page sees the merged tally in its own view, without the acknowledgements.
    for (const page of pages) {
      await page.waitForFunction(t => JSON.stringify((globalThis as any).writer.state.poll) === t, JSON.stringify(doc.poll), { timeout: 30_000, polling: 100 })
      assert.equal(await page.evaluate(() => (globalThis as any).writer.state['@input']), undefined)
    }
  })

  it('refuses a message that fails the schema with a clear error in the page, and counts nothing', async () => {
    const page = await writerPage(superPeers[0], 'websockets')
    const before = (await authority.admin(`/docs/${docId}/state`)).tree.poll
    await page.evaluate(() => (globalThis as any).vote('purple'))
    await page.waitForFunction(() => (globalThis as any).refusals.length === 1, undefined, { timeout: 30_000 })
    const [refusal] = await page.evaluate(() => (globalThis as any).refusals)
    assert.deepEqual({ name: refusal.name, code: refusal.code, rule: refusal.rule }, { name: 'SendRefusedError', code: 'invalid-message', rule: 'enum' })
    assert.match(refusal.message, /"purple" is not one of the declared values/)
    await page.evaluate(() => (globalThis as any).vote('red'))
    await page.waitForFunction(() => (globalThis as any).receipts.length === 1, undefined, { timeout: 30_000 })
    await waitFor('the tally', async () => {
      const poll = (await authority.admin(`/docs/${docId}/state`)).tree.poll
      return poll.counts.red === before.counts.red + 1 ? poll : undefined
    })
    const after = (await authority.admin(`/docs/${docId}/state`)).tree.poll
    assert.deepEqual({ ...after.counts, red: after.counts.red - 1 }, before.counts, 'only the valid vote counted')
  })
})
