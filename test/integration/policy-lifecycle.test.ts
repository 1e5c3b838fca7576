// A document's policy over its lifetime, end to end: an authority and a super-peer as OS processes,
// viewers as the browser library's observe() running in Node over WebSockets. A policy is replaced
// whole in one frame, an invalid one is refused, a removed token key reaches connected viewers,
// a viewer whose class emptied resumes by deltas, and an invalid policy met anyway is reported.

import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { materialize, mergeInto } from '../../src/delta/index.ts'
import { encodePublicKey, signTokenSync } from '../../src/identity/index.ts'
import { GENESIS_HASH, docIdFor, signFrameSync } from '../../src/log/index.ts'
import { POLICY_FIELD, filterView, policyOfTree } from '../../src/privacy/index.ts'
import { FrameLogStore } from '../../node/authority/log-store.ts'
import { loadKey, loadOrCreateKey } from '../../node/identity.ts'
import { observe } from '../../browser/observe.ts'
import { createObserverNode } from '../../browser/node.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import type { ChangeDetail, LiveView } from '../../browser/observe.ts'
import type { ObserverNode } from '../../browser/node.ts'
import type { Json, JsonObject } from '../../src/json.ts'
import type { Viewer } from '../../src/privacy/index.ts'
import type { Running } from '../helpers/processes.ts'
import type { PrivateKey } from '@libp2p/interface'

/** A hand is seen by its owner only. */
function ownHands (tokenKeys: string[]): JsonObject {
  return {
    version: 1,
    observe: { anonymous: true, identified: true },
    fields: { '/phase': 'public', '/players': 'public', '/players/*/owner': 'private', '/players/*/hand': { viewer_is: 'owner' } },
    tokenKeys
  }
}

/** ...and by everyone once the phase is "reveal". Merged into ownHands, "hand" would get two keys. */
function revealableHands (tokenKeys: string[], anonymous = true): JsonObject {
  return {
    version: 1,
    observe: { anonymous, identified: true },
    policies: { revealed: { eq: [{ doc: '/phase' }, 'reveal'] } },
    fields: {
      '/phase': 'public',
      '/players': 'public',
      '/players/*/owner': 'private',
      '/players/*/hand': { any: [{ viewer_is: 'owner' }, { policy: 'revealed' }] }
    },
    tokenKeys
  }
}

interface Watcher {
  view: LiveView
  node: ObserverNode
  changes: ChangeDetail[]
  /** Every piece of document data it was sent, to check that nothing private leaked. */
  received: string[]
  /** While set, a reconnect waits for it. */
  gate?: Promise<void>
}

describe('policy lifecycle (authority and super-peer processes, Node observers)', function () {
  this.timeout(120_000)

  let dir: string
  let authority: Running
  let superPeer: Running
  let driver: AuthorityDriver
  let docId: string
  let docKey: PrivateKey
  let issuer: PrivateKey
  let issuerKey: string
  const model: JsonObject = {}
  const watchers: Watcher[] = []

  async function send (line: { change: JsonObject } | { setPolicy: Json }): Promise<string | undefined> {
    const id = 'change' in line ? driver.send(line.change) : sendPolicy(line.setPolicy)
    await driver.until(`line ${id} answered`, () => driver.acked.has(id) || driver.errors.has(id))
    return driver.errors.get(id)
  }

  let nextPolicyId = 1_000_000
  function sendPolicy (policy: Json): number {
    const id = nextPolicyId++
    driver.sendRaw(JSON.stringify({ id, setPolicy: policy }))
    return id
  }

  async function change (delta: JsonObject): Promise<void> {
    assert.equal(await send({ change: delta }), undefined)
    mergeInto(model, structuredClone(delta))
  }

  async function setPolicy (policy: JsonObject): Promise<void> {
    assert.equal(await send({ setPolicy: policy }), undefined)
    model[POLICY_FIELD] = structuredClone(policy)
  }

  async function headSeq (): Promise<number> {
    return (await authority.admin('/status')).seq
  }

  function token (key: PrivateKey, principal: string): string {
    return signTokenSync(key, { docId, principal, roles: [], expires: Date.now() + 3_600_000 }, Date.now())
  }

  async function watch (options: { token?: string, viewState?: JsonObject } = {}): Promise<Watcher> {
    const node = await createObserverNode({ transports: ['websockets'], allowPrivateAddresses: true, livenessIntervalMs: 5_000, livenessTimeoutMs: 5_000 })
    const addrs = superPeer.ready.observe.addrs as string[]
    const watcher: Watcher = { node, changes: [], received: [] } as unknown as Watcher
    watcher.view = observe(docId, {
      bootstrap: async () => { await watcher.gate; return addrs },
      transports: ['websockets'],
      allowPrivateAddresses: true,
      node,
      backoff: { initialMs: 10, maxMs: 100 },
      ...options
    })
    watcher.view.addEventListener('change', (event: Event) => {
      const detail = (event as CustomEvent<ChangeDetail>).detail
      watcher.changes.push(detail)
      watcher.received.push(JSON.stringify(detail.data))
    })
    watchers.push(watcher)
    return watcher
  }

  /** The watcher's state is exactly what the viewer may see of the authority's document, at its head. */
  async function assertSees (watcher: Watcher, viewer: Viewer, viewState: JsonObject = {}): Promise<void> {
    const seq = await headSeq()
    await waitFor(`a viewer at seq ${seq}`, () => watcher.view.seq === seq ? true : undefined, { intervalMs: 20 })
    assert.deepEqual(watcher.view.state, materialize(filterView(policyOfTree(model), viewer, viewState, model)))
    assert.equal(watcher.view.connection.state, 'live')
  }

  async function closedWith (watcher: Watcher): Promise<{ code: string, message: string }> {
    await waitFor('the view to close', () => watcher.view.connection.state === 'closed' ? true : undefined, { intervalMs: 20 })
    return watcher.view.connection.error!
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc13-policy-'))
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'cards' }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
    docKey = await loadKey(join(dir, 'authority', 'authority.key'))
    issuer = await generateKeyPair('Ed25519')
    issuerKey = encodePublicKey(issuer.publicKey.raw)
    superPeer = await startCli(superPeerArgs({ dataDir: join(dir, 'sp'), docId, bootstrap: [authority.ready.addrs[0]], observe: true }))
    await setPolicy(ownHands([issuerKey]))
    await change({
      phase: 'play',
      players: {
        '@o': ['a', 'b'],
        a: { owner: 'alice', hand: { '@o': [1], 1: 'alice-card-K' } },
        b: { owner: 'bob', hand: { '@o': [2], 2: 'bob-card-A' } }
      }
    })
  })

  after(async () => {
    for (const watcher of watchers) {
      await watcher.view.close()
      await watcher.node.stop()
    }
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })

  const alice: Viewer = { principal: 'alice', roles: [] }
  const bob: Viewer = { principal: 'bob', roles: [] }
  const anonymous: Viewer = { roles: [] }
  let observer: Watcher
  let aliceByIssuer: Watcher
  let bobByDocKey: Watcher

  it('refuses a change that would merge two policies into an invalid one, and signs nothing', async () => {
    observer = await watch()
    await assertSees(observer, anonymous)
    const seq = await headSeq()
    const error = await send({ change: { [POLICY_FIELD]: revealableHands([issuerKey]) } })
    assert.equal(error, 'change rejected: invalid policy: fields["/players/*/hand"]: a condition object has exactly one key; got ["viewer_is","any"]')
    assert.equal(await headSeq(), seq, 'no frame')
    assert.equal((await authority.admin('/metrics') as string).match(/^deltacast_changes_rejected_total (\d+)$/m)?.[1], '1')
    await change({ phase: 'play' }) // the observer is still served
    await assertSees(observer, anonymous)
  })

  it('replaces the whole policy in one frame while viewers watch: one reset each, never a frame without a policy', async () => {
    aliceByIssuer = await watch({ token: token(issuer, 'alice') })
    bobByDocKey = await watch({ token: token(docKey, 'bob') })
    await assertSees(aliceByIssuer, alice)
    await assertSees(bobByDocKey, bob)
    const before = await headSeq()
    const resetsBefore = observer.changes.filter(c => c.reset).length

    await setPolicy(revealableHands([issuerKey]))
    assert.equal(await headSeq(), before + 1, 'one frame')
    assert.deepEqual((await authority.admin(`/docs/${docId}/state`)).tree[POLICY_FIELD], revealableHands([issuerKey]), 'exactly the new policy')
    await assertSees(observer, anonymous)
    assert.equal(observer.changes.filter(c => c.reset).length, resetsBefore + 1, 'one reset for the policy frame')
    await assertSees(aliceByIssuer, alice)

    await change({ phase: 'reveal' })
    await assertSees(observer, anonymous)
    assert.deepEqual((observer.view.state.players as any[]).map(p => p.hand), [['alice-card-K'], ['bob-card-A']], 'the new policy is in force')
    await change({ phase: 'play' })
    await assertSees(observer, anonymous)
    // Before the reveal no hand ever reached the anonymous observer: the document always had a policy.
    const beforeReveal = observer.received.slice(0, observer.changes.findIndex(c => c.seq === before + 2))
    assert.doesNotMatch(beforeReveal.join('\n'), /-card-/)
    assert.equal((await superPeer.admin('/status')).counters.policy_invalid, undefined)
  })

  it('turns a connected viewer whose token key was removed anonymous at once; the others keep their identity', async () => {
    await setPolicy(revealableHands([]))
    await assertSees(aliceByIssuer, anonymous)
    assert.equal((aliceByIssuer.view.state.players as any[])[0].hand, undefined, 'alice\'s hand is gone from her view')
    await assertSees(bobByDocKey, bob)
    await change({ players: { a: { hand: { '@o': [1, 3], 3: 'alice-card-7' } } } })
    await assertSees(aliceByIssuer, anonymous)
    assert.doesNotMatch(aliceByIssuer.received.at(-1)!, /alice-card-7/)

    // A viewer identified only by a removed key, where anonymous viewers may not observe, must go.
    await setPolicy(revealableHands([issuerKey]))
    const carol = await watch({ token: token(issuer, 'carol') })
    await assertSees(carol, { principal: 'carol', roles: [] })
    await setPolicy(revealableHands([], false))
    assert.deepEqual(await closedWith(carol), {
      code: 'unauthorized',
      message: 'the document no longer trusts the key that signed this viewer\'s token, and it does not allow anonymous observers'
    })
    assert.equal((await closedWith(observer)).code, 'forbidden')
    assert.equal((await closedWith(aliceByIssuer)).code, 'forbidden', 'alice was anonymous by then')
    await assertSees(bobByDocKey, bob)
  })

  it('resumes a viewer by deltas after its class emptied on the super-peer', async () => {
    const aliceAgain = await watch({ token: token(docKey, 'alice') })
    await assertSees(aliceAgain, alice)
    const observers = (await superPeer.admin('/status')).observe.observers
    let open!: () => void
    aliceAgain.gate = new Promise(resolve => { open = resolve })
    await aliceAgain.node.hangUp(aliceAgain.node.getConnections()[0].remotePeer)
    await waitFor('the super-peer to let alice go', async () => (await superPeer.admin('/status')).observe.observers === observers - 1 ? true : undefined, { intervalMs: 20 })
    const from = aliceAgain.changes.length
    const seq = await headSeq()
    for (let i = 0; i < 5; i++) await change({ players: { a: { hand: { '@o': [1, 3, 10 + i], [10 + i]: `alice-card-${i}` } } } })
    await waitFor('the super-peer at the head', async () => (await superPeer.admin('/status')).docs[docId].seq === seq + 5 ? true : undefined, { intervalMs: 20 })
    open()
    await assertSees(aliceAgain, alice)
    assert.deepEqual(aliceAgain.changes.slice(from).map(c => [c.seq, c.reset]), [1, 2, 3, 4, 5].map(i => [seq + i, false]), 'five deltas, no reset')
  })

  it('gives a viewer that changed its view state while disconnected a snapshot, not deltas from another view', async () => {
    const hands = revealableHands([], false)
    await setPolicy({
      ...hands,
      view: { room: { type: 'string', default: 'lobby' } },
      fields: { ...hands.fields as JsonObject, '/chat': 'public', '/chat/*/room': 'private' },
      records: { '/chat/*': { require: { eq: [{ field: 'room' }, { view: 'room' }] } } }
    })
    await change({ chat: { '@o': ['m1', 'm2'], m1: { room: 'lobby', text: 'in the lobby' }, m2: { room: 'side', text: 'on the side' } } })
    const dave: Viewer = { principal: 'dave', roles: [] }
    const onTheSide = await watch({ token: token(docKey, 'dave'), viewState: { room: 'side' } }) // keeps dave's side class, with its frames
    const moving = await watch({ token: token(docKey, 'dave'), viewState: { room: 'lobby' } })
    await assertSees(onTheSide, dave, { room: 'side' })
    await assertSees(moving, dave, { room: 'lobby' })

    const observers = (await superPeer.admin('/status')).observe.observers
    let open!: () => void
    moving.gate = new Promise(resolve => { open = resolve })
    await moving.node.hangUp(moving.node.getConnections()[0].remotePeer)
    await waitFor('the super-peer to let the viewer go', async () => (await superPeer.admin('/status')).observe.observers === observers - 1 ? true : undefined, { intervalMs: 20 })
    await moving.view.setViewState({ room: 'side' }) // while disconnected
    await change({ chat: { m2: { text: 'on the side, edited' } } })
    await assertSees(onTheSide, dave, { room: 'side' })
    const from = moving.changes.length
    open()
    await assertSees(moving, dave, { room: 'side' })
    assert.deepEqual(moving.changes.slice(from).map(c => c.reset), [true], 'one snapshot')
  })

  it('a super-peer that meets an invalid policy anyway refuses viewers with invalid-policy and logs why', async () => {
    // An authority log written before policies were checked: frame 1 sets an invalid one.
    const oldDir = join(dir, 'old-authority')
    const key = await loadOrCreateKey(join(oldDir, 'authority.key'))
    const oldDocId = docIdFor(key.publicKey.raw, 'legacy')
    const { store } = await FrameLogStore.open(join(oldDir, 'legacy.frames'))
    const policy = { version: 1, observe: { anonymous: true }, fields: { '/a': { eq: [1] } } }
    await store.append([signFrameSync(key, { docId: oldDocId, epoch: 1, seq: 1, time: Date.now(), prevHash: GENESIS_HASH, changes: [{ [POLICY_FIELD]: policy, a: 1 }] }).bytes])
    await store.close()

    const old = await startCli(authorityArgs({ dir: oldDir, name: 'legacy' }))
    await waitFor('the authority to warn', () => /policy is invalid/.test(old.stderr()) ? true : undefined)
    const sp = await startCli(superPeerArgs({ dataDir: join(dir, 'sp-old'), docId: oldDocId, bootstrap: [old.ready.addrs[0]], observe: true }))
    await waitFor('the super-peer to carry frame 1', async () => (await sp.admin('/status')).docs[oldDocId].seq === 1 ? true : undefined)
    const problem = 'invalid policy: fields["/a"].eq: expected [left, right]'
    assert.match(sp.stderr(), /the document's policy is invalid: no viewer is admitted until the authority replaces it/)
    assert.ok(sp.stderr().includes(JSON.stringify(problem).slice(1, -1)), sp.stderr())
    assert.equal((await sp.admin('/status')).counters.policy_invalid, 1)

    const node = await createObserverNode({ transports: ['websockets'], allowPrivateAddresses: true, livenessIntervalMs: 5_000, livenessTimeoutMs: 5_000 })
    try {
      const refused = observe(oldDocId, { bootstrap: sp.ready.observe.addrs, transports: ['websockets'], allowPrivateAddresses: true, node })
      await waitFor('the view to close', () => refused.connection.state === 'closed' ? true : undefined, { intervalMs: 20 })
      assert.deepEqual(refused.connection.error, {
        code: 'invalid-policy',
        message: `the document's policy is invalid, so no viewer is admitted until its authority replaces it (${problem})`
      })

      // The fix is one setPolicy; viewers are admitted again.
      const oldDriver = new AuthorityDriver(old)
      oldDriver.sendRaw(JSON.stringify({ id: 1, setPolicy: { version: 1, observe: { anonymous: true }, fields: { '/a': 'public' } } }))
      await oldDriver.until('the fix acked', () => oldDriver.acked.has(1))
      await waitFor('the super-peer to carry the fix', async () => (await sp.admin('/status')).docs[oldDocId].seq === 2 ? true : undefined)
      const admitted = observe(oldDocId, { bootstrap: sp.ready.observe.addrs, transports: ['websockets'], allowPrivateAddresses: true, node })
      await waitFor('the view to show /a', () => admitted.state.a === 1 ? true : undefined, { intervalMs: 20 })
      await admitted.close()
    } finally {
      await node.stop()
    }
  })
})
