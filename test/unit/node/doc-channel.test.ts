// DocChannel (a document's privacy classes on a super-peer) over in-memory libp2p stream pairs:
// invalid policies, revoked token keys, resuming after a class emptied, and view-state moves.

import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream, streamPair } from '@libp2p/utils'
import { encodePublicKey } from '../../../src/identity/index.ts'
import { POLICY_FIELD } from '../../../src/privacy/index.ts'
import { DEFAULT_MAX_MESSAGE_BYTES, parseServerMessage } from '../../../src/observe/protocol.ts'
import { DocChannel } from '../../../node/super-peer/doc-channel.ts'
import { ObserverSession } from '../../../node/super-peer/observer-protocol.ts'
import { FakeDoc } from '../../browser/fixtures/fake-doc.ts'
import { waitFor } from '../../helpers/processes.ts'
import type { DocChannelOptions, JoinResult } from '../../../node/super-peer/doc-channel.ts'
import type { JsonObject } from '../../../src/json.ts'
import type { ServerMessage } from '../../../src/observe/protocol.ts'
import type { Viewer } from '../../../src/privacy/index.ts'
import type { Stream } from '@libp2p/interface'

/** Each principal sees its own note (a list item); everyone sees the score; posts are filtered by room. */
const POLICY: JsonObject = {
  version: 1,
  observe: { anonymous: true, identified: true },
  view: { room: { type: 'string', default: 'lobby' } },
  fields: { '/score': 'public', '/notes/*': { viewer_is: 'owner' }, '/notes/*/owner': 'private', '/posts': 'public' },
  records: { '/posts/*': { require: { eq: [{ field: 'room' }, { view: 'room' }] } } }
}

const alice: Viewer = { principal: 'alice', roles: [] }
const bob: Viewer = { principal: 'bob', roles: [] }
const anonymous: Viewer = { roles: [] }

interface TestViewer {
  session: ObserverSession
  joined: JoinResult
  client: Stream
  server: Stream
  next: () => Promise<ServerMessage | 'closed'>
  leave: () => Promise<void>
}

describe('node/DocChannel', () => {
  let doc: FakeDoc
  let channel: DocChannel
  let clock: number
  const counters = { sent: 0, resyncs: 0, ejected: 0, frozen: 0 }

  function open (options: DocChannelOptions = {}): void {
    channel = new DocChannel(doc, { now: () => clock, ...options })
  }

  async function join (viewer: Viewer, options: { after?: number | null, view?: JsonObject, signer?: Uint8Array } = {}): Promise<TestViewer> {
    const [server, client] = await streamPair()
    const session = new ObserverSession(server, { maxQueuedBytes: 1024 * 1024, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES, stallTimeoutMs: 60_000 }, counters, s => { channel.leave(s) })
    const joined = channel.join(session, viewer, options.view, options.after ?? null, options.signer)
    const lp = lpStream(client)
    return {
      session,
      joined,
      client,
      server,
      next: async () => {
        try {
          const parsed = parseServerMessage((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray())
          if (!parsed.ok) assert.fail(parsed.error)
          return parsed.value
        } catch (err: any) {
          if (err.name === 'UnexpectedEOFError') return 'closed'
          throw err
        }
      },
      leave: async () => { await session.close() }
    }
  }

  let seq = 0
  const frame = (data: JsonObject): number => {
    doc.push({ seq: ++seq, data })
    return seq
  }

  beforeEach(() => {
    clock = 1_000_000
    seq = 0
    doc = new FakeDoc('doc-a')
    frame({
      [POLICY_FIELD]: structuredClone(POLICY),
      score: 0,
      notes: { '@o': ['alice', 'bob'], alice: { owner: 'alice', text: 'a-note' }, bob: { owner: 'bob', text: 'b-note' } },
      posts: { '@o': [] }
    })
  })

  afterEach(() => { channel?.close() })

  describe('a policy the super-peer finds invalid', () => {
    it('refuses new viewers with invalid-policy and the reason, and drops connected ones the same way', async () => {
      open()
      const connected = await join(alice)
      assert.equal((await connected.next() as { seq: number }).seq, 1)
      frame({ [POLICY_FIELD]: { fields: { '/score': { eq: [1] } } } }) // what a broken authority could sign
      const reason = 'the document\'s policy is invalid, so no viewer is admitted until its authority replaces it (invalid policy: fields["/score"].eq: expected [left, right])'
      assert.deepEqual(await connected.next(), { error: reason, code: 'invalid-policy' })
      const late = await join(anonymous)
      assert.deepEqual(late.joined, { ok: false, code: 'invalid-policy', error: reason })
      assert.equal(channel.size, 0)
    })
  })

  describe('a token key the policy stops naming', () => {
    it('turns a connected viewer anonymous at once, and drops it with unauthorized when anonymous viewers may not observe', async () => {
      const issuer = await generateKeyPair('Ed25519')
      frame({ [POLICY_FIELD]: { tokenKeys: [encodePublicKey(issuer.publicKey.raw)] } })
      open()
      const viewer = await join(alice, { signer: issuer.publicKey.raw })
      const other = await join(bob, { signer: issuer.publicKey.raw })
      const first = await viewer.next() as { data: JsonObject }
      assert.deepEqual((first.data.notes as JsonObject).alice, { text: 'a-note' }, 'identified: alice sees her note')
      await other.next()
      assert.equal(channel.identified(viewer.session), true)

      frame({ [POLICY_FIELD]: { tokenKeys: [] } })
      assert.deepEqual(await viewer.next(), { reset: true, data: { score: 0, posts: { '@o': [] } }, seq: 3 }, 'now anonymous: no note')
      assert.equal(channel.identified(viewer.session), false)
      frame({ score: 1 })
      assert.deepEqual(await viewer.next(), { data: { score: 1 }, seq: 4 }, 'and it keeps following the document')

      // bob's token is also revoked; with anonymous observers shut out, both must go
      frame({ [POLICY_FIELD]: { observe: { anonymous: false } } })
      assert.deepEqual(await viewer.next(), { error: 'the document\'s policy no longer lets this viewer observe', code: 'forbidden' })
      assert.equal((await other.next() as { reset?: true }).reset, true)
      assert.deepEqual(await other.next(), { data: { score: 1 }, seq: 4 })
    })

    it('drops a revoked viewer with unauthorized when the same frame shuts anonymous viewers out', async () => {
      const issuer = await generateKeyPair('Ed25519')
      frame({ [POLICY_FIELD]: { tokenKeys: [encodePublicKey(issuer.publicKey.raw)] } })
      open()
      const viewer = await join(alice, { signer: issuer.publicKey.raw })
      await viewer.next()
      frame({ [POLICY_FIELD]: { tokenKeys: [], observe: { anonymous: false } } })
      assert.deepEqual(await viewer.next(), {
        error: 'the document no longer trusts the key that signed this viewer\'s token, and it does not allow anonymous observers',
        code: 'unauthorized'
      })
    })
  })

  describe('resuming after a class emptied', () => {
    it('resumes a viewer by deltas when it comes back within the linger time', async () => {
      open()
      const first = await join(alice)
      const reset = await first.next() as { seq: number }
      await first.leave()
      assert.equal(channel.classCount, 0)
      assert.equal(channel.lingeringCount, 1)
      frame({ score: 1 })
      frame({ notes: { alice: { text: 'a-note-2' } } })
      frame({ notes: { bob: { text: 'b-note-2' } } })
      clock += 59_000
      const back = await join(alice, { after: reset.seq })
      assert.deepEqual(await back.next(), { data: { score: 1 }, seq: 2 })
      assert.deepEqual(await back.next(), { data: { notes: { alice: { text: 'a-note-2' } } }, seq: 3 })
      assert.deepEqual(await back.next(), { seq: 4 }, 'bob\'s note is not alice\'s business')
      assert.equal(channel.lingeringCount, 0)
      assert.equal(channel.classCount, 1)
    })

    it('sends a reset instead once the linger time is over, and frees the class on time without frames', async () => {
      open({ retention: { lingerMs: 50 } })
      const first = await join(alice)
      await first.next()
      await first.leave()
      assert.equal(channel.lingeringCount, 1)
      clock += 50
      await waitFor('the lingering class to be freed', () => channel.lingeringCount === 0 ? true : undefined, { intervalMs: 10 })
      assert.equal(channel.idle, true)
      frame({ score: 1 })
      const back = await join(alice, { after: 1 })
      assert.deepEqual(await back.next(), { reset: true, data: { score: 1, notes: { '@o': ['alice'], alice: { text: 'a-note' } }, posts: { '@o': [] } }, seq: 2 })
    })

    it('keeps at most maxLingering emptied classes (the one empty longest goes) and classBytes of history each', async () => {
      open({ retention: { maxLingering: 1, classBytes: 200 } })
      const a = await join(alice)
      const b = await join(bob)
      await a.next()
      await b.next()
      await a.leave()
      clock += 1
      await b.leave()
      assert.equal(channel.lingeringCount, 1, 'alice\'s class made room for bob\'s')
      frame({ score: 1 })
      assert.deepEqual(await (await join(alice, { after: 1 })).next(), { reset: true, data: { score: 1, notes: { '@o': ['alice'], alice: { text: 'a-note' } }, posts: { '@o': [] } }, seq: 2 })
      const bobBack = await join(bob, { after: 1 })
      assert.deepEqual(await bobBack.next(), { data: { score: 1 }, seq: 2 })
      await bobBack.leave()
      frame({ score: 2, notes: { bob: { text: 'x'.repeat(300) } } }) // one message over classBytes
      assert.equal((await (await join(bob, { after: 2 })).next() as { reset?: true }).reset, true)
    })

    it('forgets every class when the policy changes: a viewer that missed the change gets a reset', async () => {
      open()
      const first = await join(alice)
      await first.next()
      await first.leave()
      frame({ [POLICY_FIELD]: { fields: { '/score': 'private' } } })
      assert.equal(channel.lingeringCount, 0)
      const back = await join(alice, { after: 1 })
      assert.deepEqual(await back.next(), { reset: true, data: { notes: { '@o': ['alice'], alice: { text: 'a-note' } }, posts: { '@o': [] } }, seq: 2 })
    })

    it('resets a viewer of a document whose policy was removed after its seq, instead of sending the raw frames', async () => {
      open()
      frame({ notes: { alice: { text: 'a-secret' } } })
      frame({ [POLICY_FIELD]: null }) // now a public broadcast
      const back = await join(anonymous, { after: 1 })
      const message = await back.next() as { reset?: true, seq: number, data: JsonObject }
      assert.equal(message.reset, true)
      assert.equal(message.seq, 3)
      assert.equal(Object.hasOwn(message.data, POLICY_FIELD), false)
      frame({ score: 1 })
      assert.deepEqual(await back.next(), { data: { score: 1 }, seq: 4 })
    })
  })

  describe('view state', () => {
    it('moves a viewer to another class without a message when the view stays the same, with a reset when it changes', async () => {
      open()
      const viewer = await join(anonymous)
      await viewer.next()
      channel.setViewState(viewer.session, { room: 'side' }) // no post in either room: same view
      assert.equal(channel.classCount, 1)
      assert.equal(channel.lingeringCount, 1, 'it did move: the lobby class lingers')
      frame({ score: 1 })
      assert.deepEqual(await viewer.next(), { data: { score: 1 }, seq: 2 }, 'the next message is the frame, not a reset')

      frame({ posts: { '@o': ['p'], p: { room: 'red', t: 'hi' } } })
      assert.deepEqual(await viewer.next(), { seq: 3 })
      channel.setViewState(viewer.session, { room: 'red' })
      assert.deepEqual(await viewer.next(), { reset: true, data: { score: 1, posts: { '@o': ['p'], p: { room: 'red', t: 'hi' } } }, seq: 3 })
    })
  })

  describe('a browser that closes only its write side', () => {
    it('is still served: frames keep coming until it closes its read side too', async () => {
      open()
      const viewer = await join(anonymous)
      const listening = viewer.session.listen(lpStream(viewer.server), view => { channel.setViewState(viewer.session, view) })
      await viewer.next()
      await viewer.client.close() // the browser's write side
      await listening // the super-peer saw the end of what the browser sends
      frame({ score: 1 })
      assert.deepEqual(await viewer.next(), { data: { score: 1 }, seq: 2 })
      assert.equal(channel.size, 1)
      assert.equal(viewer.session.closed, false)
    })
  })
})
