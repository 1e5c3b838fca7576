// A document's input on a super-peer (node/reduce/doc-input.ts), with a fake parent link and
// frames built by hand: admission and refusals, one signed partial per window, children's
// partials checked, acknowledgements from the log, resends answered from the tree.

import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { acksChange, ADDRESS_VIEWERS, ChannelLedger, channelsOfTree, decodePartial, encodePartial, windowAt } from '../../../src/reduce/index.ts'
import type { Partial } from '../../../src/reduce/index.ts'
import { decodeVarintPrefix } from '../../../src/observe/varint.ts'
import { Counters } from '../../../node/metrics.ts'
import { createLogger } from '../../../node/log.ts'
import { DocInput } from '../../../node/reduce/doc-input.ts'
import { signPartial, verifyPartial } from '../../../node/reduce/signing.ts'
import type { WriterLink } from '../../../node/reduce/doc-input.ts'
import type { ParentLink } from '../../../node/reduce/parent-link.ts'
import type { JsonObject } from '../../../src/json.ts'
import type { AppliedFrame } from '../../../src/replica/index.ts'

const WIDTH = 1000

function treeWithPoll (): JsonObject {
  return {
    '@policy': {
      version: 1,
      observe: { anonymous: true, identified: true },
      input: { poll: { kind: 'tally', message: { type: 'string', enum: ['no', 'yes'] }, send: 'identified', rate: { messages: 3, perMs: 60_000 }, windowMs: WIDTH, field: '/poll' } }
    }
  }
}

interface Harness {
  input: DocInput
  sent: Partial[][]
  tree: JsonObject
  head: { seq: number }
  counters: Counters
}

async function harness (): Promise<Harness & { key: Awaited<ReturnType<typeof generateKeyPair>> }> {
  const key = await generateKeyPair('Ed25519')
  const sent: Partial[][] = []
  const tree = treeWithPoll()
  const head = { seq: 1 }
  const counters = new Counters()
  const link = {
    current: undefined as string | undefined,
    async send (parent: string | undefined, fresh: readonly Partial[]) { this.current = parent; sent.push([...fresh]); return true },
    close () {}
  }
  const input = new DocInput({
    docId: 'doc',
    peerId: peerIdFromPrivateKey(key).toString(),
    privateKey: key,
    tree: () => tree,
    head: () => head.seq,
    parentOf: () => 'parent',
    link: link as unknown as ParentLink,
    isMember: () => true,
    counters,
    log: createLogger('test', 'silent')
  })
  return { input, sent, tree, head, counters, key }
}

interface Received { json: any[] }
function writer (name: string, identified = true, remote = { peer: `peer-${name}`, address: '/ip4/198.51.100.7/tcp/4242/ws' }): WriterLink & Received {
  const json: any[] = []
  return {
    writer: name,
    sender: { viewer: identified ? { principal: name, roles: [] } : { roles: [] }, viewState: {} },
    remote,
    deliver: bytes => { json.push(JSON.parse(new TextDecoder().decode(bytes.subarray(decodeVarintPrefix(bytes)!.length)))) },
    end: () => {},
    json
  }
}

/** The frame the authority would write after counting `partial`. */
function frameCounting (tree: JsonObject, partial: Partial, seq: number): AppliedFrame[] {
  const channel = channelsOfTree(tree).channels.get('poll')!
  const ledger = new ChannelLedger(channel)
  const applied = ledger.apply(partial)
  assert.ok(applied.ok)
  const change = acksChange(ledger, applied.outcome)!
  tree['@input'] = change['@input'] // what the replica's tree holds after the frame
  return [{ frame: { seq, changes: [change] } as any }]
}

describe('node/reduce DocInput', () => {
  it('admits, refuses with a named code, and sends one signed partial per window', async () => {
    const { input, sent, counters } = await harness()
    const alice = writer('alice')
    const anon = writer('anon', false)
    const now = 10 * WIDTH + 100
    input.attach(alice, now)
    input.attach(anon, now)
    assert.equal(alice.json[0].windows.channels[0].open, 10)
    input.send(alice, { channel: 'poll', id: 1, window: 10, body: 'yes' }, now)
    input.send(alice, { channel: 'poll', id: 2, window: 10, body: 'no' }, now)
    input.send(alice, { channel: 'poll', id: 3, window: 10, body: 'maybe' }, now)
    input.send(alice, { channel: 'nope', id: 4, window: 10, body: 'yes' }, now)
    input.send(alice, { channel: 'poll', id: 5, window: 8, body: 'yes' }, now)
    input.send(anon, { channel: 'poll', id: 1, window: 10, body: 'yes' }, now)
    input.send(alice, { channel: 'poll', id: 6, window: 10, body: 'yes' }, now)
    input.send(alice, { channel: 'poll', id: 7, window: 10, body: 'yes' }, now) // the fourth accepted: over 3 per minute
    input.send(alice, { channel: 'poll', window: 10 }, now)
    const codes = [...alice.json, ...anon.json].filter(m => 'refused' in m).map(m => [m.id, m.code])
    assert.deepEqual(codes, [[3, 'invalid-message'], [4, 'unknown-channel'], [5, 'window-closed'], [7, 'rate-limited'], [0, 'bad-send'], [1, 'forbidden']])
    assert.equal(counters.get('input_accepted'), 3)

    await input.tick(now)
    assert.equal(sent.length, 0, 'nothing before the window ends')
    await input.tick(11 * WIDTH)
    assert.equal(sent.length, 1)
    const [partial] = sent[0]
    assert.equal(partial.windows.size, 1)
    const entry = [...partial.windows.values()][0]
    assert.equal(entry.window, 10)
    assert.equal(entry.origin, input.currentOrigin)
    const decoded = decodePartial(encodePartial(partial))
    assert.ok(decoded.ok)
    const verified = await verifyPartial(decoded.partial, () => true)
    assert.equal(verified.rejected.length, 0, 'signed by the origin')
    await input.tick(11 * WIDTH + 50)
    assert.equal(sent.length, 1, 'one partial per window')
    input.stop()
  })

  it('gives a viewer one send budget across its streams and connections, and anonymous viewers on one address at most ADDRESS_VIEWERS', async () => {
    const { input, tree, counters } = await harness()
    const policy = tree['@policy'] as any
    policy.input.claps = { kind: 'count', message: { type: 'null' }, send: 'public', rate: { messages: 1, perMs: 60_000 }, windowMs: WIDTH, field: '/claps' }
    const now = 10 * WIDTH + 100
    const refusedIds = (link: Received): number[] => link.json.filter(m => 'refused' in m).map(m => { assert.equal(m.code, 'rate-limited'); return m.id })
    // alice (identified, 3 per minute on poll) on two streams from two peer ids: one budget.
    const first = writer('alice', true, { peer: 'peer-a1', address: '/ip4/198.51.100.7/tcp/1/ws' })
    const second = { ...writer('alice', true, { peer: 'peer-a2', address: '/ip4/203.0.113.9/udp/2/webrtc-direct' }), writer: 'alice-tab2' }
    for (const link of [first, second]) input.attach(link, now)
    input.send(first, { channel: 'poll', id: 1, window: 10, body: 'yes' }, now)
    input.send(second, { channel: 'poll', id: 1, window: 10, body: 'yes' }, now)
    input.send(first, { channel: 'poll', id: 2, window: 10, body: 'no' }, now)
    input.send(second, { channel: 'poll', id: 2, window: 10, body: 'no' }, now)
    assert.deepEqual([refusedIds(first), refusedIds(second)], [[], [2]], 'the fourth send of alice, on either stream, is over her rate')
    // Anonymous viewers (1 clap per minute each) on one address: a new stream of the same peer
    // shares its budget; new peer ids get their own, up to ADDRESS_VIEWERS per address.
    const address = '/ip4/192.0.2.33/tcp/7/ws'
    const anon = (n: number, at = address): WriterLink & Received => {
      const link = writer(`anon${n}`, false, { peer: `peer-${n}`, address: at })
      input.attach(link, now)
      return link
    }
    const again = anon(0)
    const sameStream = { ...anon(0), writer: 'anon0-stream2' }
    input.send(again, { channel: 'claps', id: 1, window: 10, body: null }, now)
    input.send(sameStream, { channel: 'claps', id: 1, window: 10, body: null }, now)
    assert.deepEqual([refusedIds(again), refusedIds(sameStream)], [[], [1]])
    const minted = Array.from({ length: ADDRESS_VIEWERS }, (_, i) => anon(i + 1))
    for (const link of minted) input.send(link, { channel: 'claps', id: 1, window: 10, body: null }, now)
    assert.deepEqual(minted.map(refusedIds), [...Array(ADDRESS_VIEWERS - 1).fill([]), [1]], `the address's ${ADDRESS_VIEWERS} budgets are spent`)
    const elsewhere = anon(99, '/ip6/2001:db8:0:1::5/tcp/7/ws')
    input.send(elsewhere, { channel: 'claps', id: 1, window: 10, body: null }, now)
    assert.deepEqual(refusedIds(elsewhere), [])
    assert.equal(counters.get('input_refused_rate_limited'), 3)
    assert.equal(counters.get('input_accepted'), 3 + 1 + ADDRESS_VIEWERS - 1 + 1)
    // A minute later the budgets are back.
    input.send(sameStream, { channel: 'claps', id: 2, window: 70, body: null }, now + 60_000)
    assert.deepEqual(refusedIds(sameStream), [1])
    input.stop()
  })

  it('acknowledges each writer from the frame that counts its window, and answers a resend from what it remembers or from the tree', async () => {
    const { input, sent, tree } = await harness()
    const alice = writer('alice')
    const now = 20 * WIDTH
    input.attach(alice, now)
    input.send(alice, { channel: 'poll', id: 1, window: 20, body: 'yes' }, now)
    input.send(alice, { channel: 'poll', id: 2, window: 21, body: 'no' }, now)
    await input.tick(21 * WIDTH)
    input.applied(frameCounting(tree, sent[0][0], 5))
    assert.deepEqual(alice.json.filter(m => 'ack' in m), [{ ack: { channel: 'poll', ids: [1], seq: 5 } }])

    // alice lost that ack and comes back on a new stream: this super-peer remembers its counted
    // window; a message it never had in it (bob's claim) is taken as a first send instead.
    const again = writer('alice')
    input.attach(again, now)
    input.send(again, { channel: 'poll', id: 1, prior: { origin: input.currentOrigin, window: 20, unconfirmed: true }, body: 'yes' }, 21 * WIDTH)
    assert.deepEqual(again.json.filter(m => 'ack' in m), [{ ack: { channel: 'poll', ids: [1], seq: 5 } }])
    const bob = writer('bob')
    input.attach(bob, now)
    input.send(bob, { channel: 'poll', id: 9, prior: { origin: input.currentOrigin, window: 20 }, body: 'yes' }, 21 * WIDTH)
    assert.deepEqual(bob.json.filter(m => 'ack' in m), [])
    await input.tick(21 * WIDTH + 30)
    assert.deepEqual(bob.json.filter(m => 'accepted' in m), [{ accepted: { channel: 'poll', window: 21, ids: [9] } }])
    // A writer that moved here from another super-peer whose window counted: answered from the tree.
    tree['@input'] = { poll: { counted: { 'sp7/gone': [[20, 20]] } } }
    const carol = writer('carol')
    input.attach(carol, now)
    input.send(carol, { channel: 'poll', id: 2, prior: { origin: 'sp7/gone', window: 20 }, body: 'no' }, 21 * WIDTH + 40)
    assert.deepEqual(carol.json.filter(m => 'ack' in m), [{ ack: { channel: 'poll', ids: [2], seq: 1 } }])
    input.stop()
  })

  it('tells each first send\'s window before it closes; an unconfirmed prior whose window counted goes up and is answered unknown-outcome', async () => {
    const { input, sent, tree, head } = await harness()
    const alice = writer('alice')
    const now = 30 * WIDTH + 100
    input.attach(alice, now)
    input.send(alice, { channel: 'poll', id: 1, window: 30, body: 'yes' }, now)
    input.send(alice, { channel: 'poll', id: 2, window: 31, body: 'no' }, now)
    assert.equal(alice.json.filter(m => 'accepted' in m).length, 0, 'told at the next tick')
    await input.tick(31 * WIDTH)
    assert.deepEqual(alice.json.filter(m => 'accepted' in m), [{ accepted: { channel: 'poll', window: 30, ids: [1] } }, { accepted: { channel: 'poll', window: 31, ids: [2] } }])
    assert.equal(sent.length, 1, 'window 30 went up in the same tick, after the accepted')

    // bob moved here from sp1/dead, whose window 7 counted; bob never heard about his message 4.
    tree['@input'] = { poll: { counted: { 'sp1/dead': [[7, 7]] } } }
    const bob = writer('bob')
    input.attach(bob, now)
    input.send(bob, { channel: 'poll', id: 3, prior: { origin: 'sp1/dead', window: 7 }, body: 'yes' }, 31 * WIDTH + 10)
    input.send(bob, { channel: 'poll', id: 4, prior: { origin: 'sp1/dead', window: 7, unconfirmed: true }, body: 'no' }, 31 * WIDTH + 10)
    assert.deepEqual(bob.json.filter(m => 'ack' in m), [{ ack: { channel: 'poll', ids: [3], seq: head.seq } }], 'a confirmed prior that counted: acknowledged at once')
    await input.tick(32 * WIDTH)
    const resent = sent.flat().flatMap(p => [...p.resent.values()])
    assert.deepEqual(resent.map(r => [r.id, r.prior]), [[4, { origin: 'sp1/dead', window: 7, unconfirmed: true }]], 'the unconfirmed one goes up at once')
    const change = { '@input': { poll: { unknown: ['bob 4'], unknownIds: { bob: [[4, 4]] } } } }
    input.applied([{ frame: { seq: 6, changes: [change] } as any }])
    assert.deepEqual(bob.json.filter(m => 'refused' in m).map(m => [m.id, m.code]), [[4, 'unknown-outcome']])
    assert.equal(bob.json.filter(m => 'ack' in m).length, 1, 'never acknowledged')
    input.stop()
  })

  it('drops a child\'s entries that another key signed, and forwards the rest', async () => {
    const { input, sent, key } = await harness()
    const rogue = await generateKeyPair('Ed25519')
    const origin = `${peerIdFromPrivateKey(key).toString()}/child`
    const tally = channelsOfTree(treeWithPoll()).channels.get('poll')!.reducer
    const state = new Uint8Array([0, 0]) // floor 0, no keys (an empty declared tally is still valid bytes for the tier: tiers never decode)
    const genuine = await signPartial({ channel: 'poll', kind: tally.code, windows: new Map([['k', { origin, window: 3, state, signature: null }]]), resent: new Map() }, key)
    const forged = await signPartial({ channel: 'poll', kind: tally.code, windows: new Map([['k', { origin, window: 4, state, signature: null }]]), resent: new Map() }, rogue)
    await input.receiveChild(genuine)
    await input.receiveChild(forged)
    await input.tick(windowAt(Date.now(), WIDTH) * WIDTH)
    const forwarded = sent.flat().flatMap(p => [...p.windows.values()].map(e => e.window))
    assert.deepEqual(forwarded, [3])
    input.stop()
  })
})
