// Chromium: observe() fails clearly instead of connecting forever: a malformed doc id, a doc no
// listed super-peer carries, a refused token (never shown as live), and a loopback super-peer
// dialed without allowPrivateAddresses (the error names the option).

import assert from 'node:assert/strict'
import { docIdFor } from '../../src/log/index.ts'
import { FakeSuperPeer, useChromiumSite } from './helpers/harness.ts'
import type { Page } from 'playwright-core'

const DOC = docIdFor(new Uint8Array(32).fill(2), 'board')
const UNKNOWN = docIdFor(new Uint8Array(32).fill(3), 'board')

interface Outcome { states: Array<{ state: string, error?: { code: string, message: string } }>, thrown?: { name: string, message: string } }

describe('observe() errors in Chromium', function () {
  this.timeout(60_000)
  const chromium = useChromiumSite()
  const peers: FakeSuperPeer[] = []

  before(async function () {
  })
  after(async function () {
  })
  afterEach(async function () {
    await Promise.all(peers.splice(0).map(async peer => { await peer.kill() }))
    await Promise.all(chromium.browser.contexts().flatMap(context => context.pages()).map(async page => { await page.close() }))
  })

  async function superPeer (): Promise<FakeSuperPeer> {
    const peer = await FakeSuperPeer.start()
    peers.push(peer)
    return peer
  }

  /** Starts observe() in a fresh page; records every state event, or what observe() threw. */
  async function observing (doc: string, options: Record<string, unknown>): Promise<Page> {
    const page = await chromium.browser.newPage()
    await page.goto(`${chromium.site.url}/observe.html`)
    await page.waitForFunction(() => (globalThis as any).loaded === true)
    await page.evaluate(({ doc, options }) => {
      const g = globalThis as any
      g.outcome = { states: [] }
      try {
        g.view = g.deltacast.observe(doc, { backoff: { initialMs: 50, maxMs: 200 }, ...options })
        g.view.addEventListener('state', (event: CustomEvent) => { g.outcome.states.push(event.detail) })
      } catch (err: any) {
        g.outcome.thrown = { name: err.name, message: err.message }
      }
    }, { doc, options })
    return page
  }

  async function closed (page: Page): Promise<Outcome> {
    await page.waitForFunction(() => (globalThis as any).view.connection.state === 'closed', undefined, { timeout: 30_000, polling: 50 })
    return await page.evaluate(() => (globalThis as any).outcome)
  }

  it('a malformed doc id fails at once with a named error', async function () {
    const page = await observing('not-a-doc-id', { bootstrap: ['/ip4/127.0.0.1/tcp/1/ws'] })
    const outcome: Outcome = await page.evaluate(() => (globalThis as any).outcome)
    assert.equal(outcome.thrown?.name, 'InvalidDocIdError')
    assert.match(outcome.thrown?.message ?? '', /^observe\(\): bad doc id "not-a-doc-id": /)
  })

  it('a doc id every listed super-peer refuses as unknown ends in a closed "unknown-doc" state', async function () {
    const [a, b] = await Promise.all([superPeer(), superPeer()])
    await a.frames(DOC, [{ seq: 1, data: { n: 1 } }])
    const page = await observing(UNKNOWN, { bootstrap: [a.addr('ws'), b.addr('ws')], transports: ['websockets'], allowPrivateAddresses: true })
    const outcome = await closed(page)
    const last = outcome.states.at(-1)
    assert.equal(last?.error?.code, 'unknown-doc')
    assert.match(last?.error?.message ?? '', new RegExp(`no listed super-peer carries ${UNKNOWN.replace('.', '\\.')}`))
    assert.ok(!outcome.states.some(s => s.state === 'live'), JSON.stringify(outcome.states))
  })

  it('a refused token ends closed "unauthorized" without ever showing live', async function () {
    const peer = await superPeer()
    await peer.frames(DOC, [{ seq: 1, data: { n: 1 } }])
    const page = await observing(DOC, { bootstrap: [peer.addr('webrtc-direct')], transports: ['webrtc-direct'], allowPrivateAddresses: true, token: 'forged.token' })
    const outcome = await closed(page)
    assert.equal(outcome.states.at(-1)?.error?.code, 'unauthorized')
    assert.deepEqual(outcome.states.filter(s => s.state === 'live'), [], JSON.stringify(outcome.states))
  })

  it('goes live again on a quiet resume: the super-peer acknowledges a request at its head', async function () {
    const [first, second] = await Promise.all([superPeer(), superPeer()])
    await Promise.all([first.frames(DOC, [{ seq: 1, data: { n: 1 } }]), second.frames(DOC, [{ seq: 1, data: { n: 1 } }])])
    const page = await observing(DOC, { bootstrap: [first.addr('ws'), second.addr('ws')], transports: ['websockets'], allowPrivateAddresses: true })
    await page.waitForFunction(() => (globalThis as any).view.seq === 1, undefined, { timeout: 30_000 })
    const servedBy: string = await page.evaluate(() => (globalThis as any).view.connection.peerId)
    // The view resumes at seq 1 on the other one, which has nothing newer to send.
    await (servedBy === first.peerId ? first : second).kill()
    const other = servedBy === first.peerId ? second : first
    await page.waitForFunction(peerId => { const c = (globalThis as any).view.connection; return c.state === 'live' && c.peerId === peerId }, other.peerId, { timeout: 30_000, polling: 50 })
    assert.equal(await page.evaluate(() => (globalThis as any).view.seq), 1)
  })

  it('a loopback super-peer without allowPrivateAddresses ends closed with an error naming the option', async function () {
    const peer = await superPeer()
    await peer.frames(DOC, [{ seq: 1, data: { n: 1 } }])
    const page = await observing(DOC, { bootstrap: [peer.addr('webrtc-direct'), peer.addr('ws')] })
    const outcome = await closed(page)
    const last = outcome.states.at(-1)
    assert.equal(last?.error?.code, 'private-address')
    assert.match(last?.error?.message ?? '', /allowPrivateAddresses: true/)
  })
})
