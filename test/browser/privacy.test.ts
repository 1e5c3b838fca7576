// Privacy at the last mile, end to end: an authority and a super-peer as OS processes, and
// Chromium pages for two identified players and an anonymous observer of a card game.

import assert from 'node:assert/strict'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { listInsert, materialize, mergeInto } from '../../src/delta/index.ts'
import { encodePublicKey, signTokenSync } from '../../src/identity/index.ts'
import { filterView, policyOfTree } from '../../src/privacy/index.ts'
import { loadKey } from '../../node/identity.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, startCli, superPeerArgs } from '../helpers/processes.ts'
import { CARD_GAME_POLICY } from '../helpers/card-game.ts'
import { useChromiumSite } from './helpers/harness.ts'
import type { JsonObject } from '../../src/json.ts'
import type { Viewer } from '../../src/privacy/index.ts'
import type { Running } from '../helpers/processes.ts'
import type { Page } from 'playwright-core'

/** The shared card-game policy, with chat lines visible only to viewers in the line's room. */
const POLICY: JsonObject = {
  ...CARD_GAME_POLICY,
  records: { '/chat/*': { require: { eq: [{ field: 'room' }, { view: 'room' }] } } },
  view: { room: { type: 'string', default: 'lobby' } }
}

describe('privacy in Chromium: a card game', function () {
  this.timeout(180_000)

  const chromium = useChromiumSite({ tempPrefix: 'deltacast-privacy-' })
  let authority: Running
  let superPeer: Running
  let driver: AuthorityDriver
  let docId: string
  const model: JsonObject = {}
  const pages: Record<string, Page> = {}

  async function change (delta: JsonObject): Promise<void> {
    mergeInto(model, structuredClone(delta))
    const id = driver.send(delta)
    await driver.until(`change ${id} acked`, () => driver.acked.has(id) || driver.errors.has(id))
    assert.equal(driver.errors.get(id), undefined)
  }

  async function open (name: string, options: { token?: string, viewState?: JsonObject }): Promise<Page> {
    const page = await chromium.browser.newPage()
    await page.goto(`${chromium.site.url}/observe.html`)
    await page.waitForFunction(() => (globalThis as any).loaded === true)
    const init: { docId: string, addrs: string[], options: Record<string, unknown> } = { docId, addrs: superPeer.ready.observe.addrs, options }
    await page.evaluate((init: { docId: string, addrs: string[], options: Record<string, unknown> }) => {
      const { docId, addrs, options } = init
      const g = globalThis as any
      g.received = []
      g.view = g.deltacast.observe(docId, { bootstrap: addrs, allowPrivateAddresses: true, ...options })
      // every byte of document data this page was ever sent, to check nothing private leaked
      g.view.addEventListener('change', (event: CustomEvent) => { g.received.push(JSON.stringify(event.detail.data)) })
    }, init)
    pages[name] = page
    return page
  }

  async function seqOf (): Promise<number> {
    return (await authority.admin('/status')).seq
  }

  /** The page's state is exactly the viewer's filtered view of the authority's document. */
  async function assertSees (page: Page, viewer: Viewer, viewState: JsonObject): Promise<void> {
    const seq = await seqOf()
    await page.waitForFunction(seq => (globalThis as any).view.seq === seq, seq, { timeout: 30_000, polling: 50 })
    const expected = materialize(filterView(policyOfTree(model), viewer, viewState, model))
    assert.deepEqual(await page.evaluate(() => (globalThis as any).view.state), expected)
  }

  async function received (page: Page): Promise<string> {
    return (await page.evaluate(() => (globalThis as any).received) as string[]).join('\n')
  }

  async function closedWith (page: Page): Promise<{ code: string, message: string }> {
    await page.waitForFunction(() => (globalThis as any).view.connection.state === 'closed', undefined, { timeout: 30_000 })
    return await page.evaluate(() => (globalThis as any).view.connection.error)
  }

  before(async () => {
    authority = await startCli(authorityArgs({ dir: join(chromium.dir, 'authority'), name: 'cards' }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
    superPeer = await startCli(superPeerArgs({ dataDir: join(chromium.dir, 'sp'), docId, bootstrap: [authority.ready.addrs[0]], observe: true }))

    await change({ '@policy': POLICY, phase: 'play' })
    await change({
      players: {
        '@o': ['a', 'b'],
        a: { owner: 'alice', size: 2, hand: { '@o': [1, 2], 1: 'alice-card-K', 2: 'alice-card-Q' } },
        b: { owner: 'bob', size: 1, hand: { '@o': [3], 3: 'bob-card-A' } }
      }
    })
    for (const [id, room, text] of [['m1', 'lobby', 'hello lobby'], ['m2', 'side', 'psst, side room'], ['m3', 'lobby', 'gl hf']]) {
      const insert = listInsert(model, ['chat'], id, { room, text }, 0)
      assert.ok(insert.ok)
      await change(insert.value)
    }
  })

  const alice: Viewer = { principal: 'alice', roles: ['player'] }
  const bob: Viewer = { principal: 'bob', roles: ['player'] }
  const anonymous: Viewer = { roles: [] }

  it('shows each player their own hand and only hand sizes of the others; a reveal flips visibility for all', async () => {
    const key = await loadKey(join(chromium.dir, 'authority', 'authority.key'))
    const tokenFor = (principal: string): string => signTokenSync(key, { docId, principal, roles: ['player'], expires: Date.now() + 3_600_000 }, Date.now())
    await open('alice', { token: tokenFor('alice') })
    await open('bob', { token: tokenFor('bob') })
    await open('observer', { viewState: { room: 'lobby' } })
    await assertSees(pages.alice, alice, {})
    await assertSees(pages.bob, bob, {})
    await assertSees(pages.observer, anonymous, { room: 'lobby' })
    const aliceState = await pages.alice.evaluate(() => (globalThis as any).view.state)
    assert.deepEqual(aliceState.players[0].hand, ['alice-card-K', 'alice-card-Q'])
    assert.equal(aliceState.players[1].hand, undefined, 'alice does not see bob\'s hand')
    assert.equal(aliceState.players[1].size, 1, 'but she sees its size')

    // Bob draws a card: only bob's view gains it; everyone sees the new size.
    await change({ players: { b: { size: 2, hand: { 4: 'bob-card-7', '@o': [3, 4] } } } })
    await assertSees(pages.alice, alice, {})
    await assertSees(pages.bob, bob, {})
    await assertSees(pages.observer, anonymous, { room: 'lobby' })
    assert.doesNotMatch(await received(pages.alice), /bob-card/, 'no byte of bob\'s hand reached alice')
    assert.doesNotMatch(await received(pages.observer), /-card-/, 'no hand reached the observer')
    assert.doesNotMatch(await received(pages.bob), /alice-card/)

    await change({ phase: 'reveal' })
    for (const [name, viewer, view] of [['alice', alice, {}], ['bob', bob, {}], ['observer', anonymous, { room: 'lobby' }]] as const) {
      await assertSees(pages[name], viewer, view)
      const state = await pages[name].evaluate(() => (globalThis as any).view.state)
      assert.deepEqual(state.players.map((p: any) => p.hand), [['alice-card-K', 'alice-card-Q'], ['bob-card-A', 'bob-card-7']], `${name} sees every hand`)
    }
    await change({ phase: 'play' })
    await assertSees(pages.alice, alice, {})
    await assertSees(pages.observer, anonymous, { room: 'lobby' })
    const status = await superPeer.admin('/status')
    assert.equal(status.observe.classes, 3, 'alice, bob and the observer are three classes')
  })

  it('lets the observer change its view state, and its view follows', async () => {
    const observer = pages.observer
    assert.deepEqual((await observer.evaluate(() => (globalThis as any).view.state)).chat.map((m: any) => m.text), ['gl hf', 'hello lobby'])
    await observer.evaluate(async () => { await (globalThis as any).view.setViewState({ room: 'side' }) })
    await observer.waitForFunction(() => (globalThis as any).view.state.chat?.length === 1, undefined, { timeout: 30_000 })
    await assertSees(observer, anonymous, { room: 'side' })
    assert.deepEqual((await observer.evaluate(() => (globalThis as any).view.state)).chat.map((m: any) => m.text), ['psst, side room'])

    // New messages follow the chosen room.
    const insert = listInsert(model, ['chat'], 'm4', { room: 'side', text: 'meet me here' }, 0)
    assert.ok(insert.ok)
    await change(insert.value)
    await assertSees(observer, anonymous, { room: 'side' })
    await assertSees(pages.alice, alice, {})
  })

  it('refuses a message from an observer, and nothing reaches the document', async () => {
    const before = await authority.admin(`/docs/${docId}/state`)
    const refused = await pages.observer.evaluate(async () => {
      try {
        await (globalThis as any).view.send({ play: 'bob-card-A' })
        return 'sent'
      } catch (err: any) {
        return `${err.name}: ${err.message}`
      }
    })
    assert.equal(refused, 'ReadOnlyError: observe is read-only: this connection cannot send messages')
    assert.equal(await pages.observer.evaluate(() => (globalThis as any).view.connection.state), 'live', 'the observer keeps its view')
    const after = await authority.admin(`/docs/${docId}/state`)
    assert.deepEqual(after, before)
    assert.equal((await superPeer.admin('/status')).observe.refusedSends, 1)
  })

  it('refuses forged, expired and wrong-document tokens with a clear error', async () => {
    const key = await loadKey(join(chromium.dir, 'authority', 'authority.key'))
    const stranger = await generateKeyPair('Ed25519')
    const now = Date.now()
    const cases = {
      forged: signTokenSync(stranger, { docId, principal: 'alice', roles: ['player'], expires: now + 60_000 }, now),
      expired: signTokenSync(key, { docId, principal: 'alice', roles: ['player'], expires: now - 60_000 }, now - 120_000),
      'wrong-doc': signTokenSync(key, { docId: docId.replace(/\.cards$/, '.other'), principal: 'alice', roles: ['player'], expires: now + 60_000 }, now)
    }
    for (const [name, token] of Object.entries(cases)) {
      const page = await open(`token-${name}`, { token })
      const error = await closedWith(page)
      assert.equal(error.code, 'unauthorized', name)
      assert.match(error.message, name === 'forged' ? /untrusted-key|bad-signature/ : new RegExp(name))
      assert.equal(await page.evaluate(() => JSON.stringify((globalThis as any).view.state)), '{}', 'nothing was shown')
    }
  })

  it('trusts a token key only once the document names it in its log', async () => {
    const issuer = await generateKeyPair('Ed25519')
    const now = Date.now()
    const token = signTokenSync(issuer, { docId, principal: 'bob', roles: ['player'], expires: now + 60_000 }, now)
    const before = await open('issuer-before', { token })
    assert.match((await closedWith(before)).message, /untrusted-key/)

    await change({ '@policy': { tokenKeys: [encodePublicKey(issuer.publicKey.raw)] } })
    const after = await open('issuer-after', { token })
    await assertSees(after, bob, {})
    const state = await after.evaluate(() => (globalThis as any).view.state)
    assert.deepEqual(state.players[1].hand, ['bob-card-A', 'bob-card-7'], 'the token\'s principal sees its own hand')
  })

  it('lets a policy change (itself a frame) close the document to anonymous observers', async () => {
    await change({ '@policy': { observe: { anonymous: false } } })
    const error = await closedWith(pages.observer)
    assert.equal(error.code, 'forbidden')
    const late = await open('late-anonymous', {})
    assert.equal((await closedWith(late)).code, 'forbidden')
    await assertSees(pages.alice, alice, {})
  })
})
