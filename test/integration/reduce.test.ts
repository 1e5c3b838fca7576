// Input up the tree, end to end: an authority and three super-peers as OS processes (flat: each
// super-peer sends its partials to the authority), writers as the browser library's connect()
// running in Node over WebSockets. Writers send known messages; the document's totals must equal
// exactly what was acknowledged; bad input is refused with a named reason and counts nothing.

import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signTokenSync } from '../../src/identity/index.ts'
import { encodePartial, partialOf, REDUCE_PROTOCOL, tallyReducer, windowSigningBytes } from '../../src/reduce/index.ts'
import { ByteWriter } from '../../src/reduce/bytes.ts'
import { loadKey } from '../../node/identity.ts'
import { connect, SendRefusedError } from '../../browser/connect.ts'
import { createObserverNode } from '../../browser/node.ts'
import { observe } from '../../browser/observe.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { createRogueNode } from '../helpers/rogue.ts'
import { authorityArgs, freePort, killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import type { Writer, SendReceipt } from '../../browser/connect.ts'
import type { ObserverNode } from '../../browser/node.ts'
import type { JsonObject } from '../../src/json.ts'
import type { Running } from '../helpers/processes.ts'

const POLICY: JsonObject = {
  version: 1,
  observe: { anonymous: true, identified: true },
  fields: { '/poll': 'public', '/claps': 'public', '/score': 'public', '/title': 'public' },
  input: {
    poll: { kind: 'tally', message: { type: 'string', enum: ['no', 'yes'] }, send: 'public', rate: { messages: 1000, perMs: 1000 }, windowMs: 200, field: '/poll' },
    claps: { kind: 'count', message: { type: 'null' }, send: 'public', rate: { messages: 5, perMs: 3_600_000 }, windowMs: 200, field: '/claps' },
    score: { kind: 'sum', message: { type: 'integer', minimum: 0, maximum: 500 }, send: { role: 'judge' }, rate: { messages: 100, perMs: 1000 }, windowMs: 200, field: '/score', maxBytes: 3 }
  }
}

async function stopAll (writers: Writer[], nodes: ObserverNode[], dir: string): Promise<void> {
  for (const writer of writers) await writer.close()
  for (const node of nodes) await node.stop()
  await killAll()
  await rm(dir, { recursive: true, force: true })
}

/** One writer (its own node) per bootstrap list, live; each with the receipts of its sends. */
async function writerStreams (docId: string, bootstraps: string[][], livenessMs: number, nodes: ObserverNode[], writers: Writer[]): Promise<Array<{ writer: Writer, receipts: Array<Promise<SendReceipt>> }>> {
  const streams: Array<{ writer: Writer, receipts: Array<Promise<SendReceipt>> }> = []
  for (const bootstrap of bootstraps) {
    const node = await createObserverNode({ transports: ['websockets'], allowPrivateAddresses: true, livenessIntervalMs: livenessMs, livenessTimeoutMs: livenessMs })
    nodes.push(node)
    const writer = connect(docId, { bootstrap, transports: ['websockets'], allowPrivateAddresses: true, node, backoff: { initialMs: 10, maxMs: 200 } })
    writers.push(writer)
    streams.push({ writer, receipts: [] })
  }
  await waitFor('the writers live', () => writers.every(w => w.connection.state === 'live') ? true : undefined)
  return streams
}

describe('input up the tree (authority and 3 super-peer processes, Node writers)', function () {
  this.timeout(180_000)

  let dir: string
  let authority: Running
  let driver: AuthorityDriver
  let docId: string
  const superPeers: Running[] = []
  const nodes: ObserverNode[] = []
  const writers: Writer[] = []

  async function writerOn (sp: Running, options: { token?: string } = {}): Promise<Writer> {
    const node = await createObserverNode({ transports: ['websockets'], allowPrivateAddresses: true, livenessIntervalMs: 5_000, livenessTimeoutMs: 5_000 })
    nodes.push(node)
    const writer = connect(docId, { bootstrap: sp.ready.observe.addrs as string[], transports: ['websockets'], allowPrivateAddresses: true, node, backoff: { initialMs: 10, maxMs: 100 }, ...options })
    writers.push(writer)
    await waitFor('the writer to be live', () => writer.connection.state === 'live' ? true : undefined, { intervalMs: 20 })
    return writer
  }

  async function tree (): Promise<JsonObject> {
    return (await authority.admin(`/docs/${docId}/state`)).tree
  }

  /** Lines the authority's input hook printed. */
  const merged: Array<{ merged: string, value: unknown, seq: number }> = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc9-reduce-'))
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'poll' }))
    docId = authority.ready.docId
    driver = new AuthorityDriver(authority)
    const lines = authority.lines
    // The driver reads the lines; the hook's lines come through it too.
    const next = lines.next.bind(lines)
    lines.next = async () => {
      const line = await next()
      if (line.done !== true && typeof line.value.merged === 'string') merged.push(line.value as any)
      return line
    }
    const id = driver.send({ '@policy': POLICY, title: 'Vote' })
    await driver.until('the policy', () => driver.acked.has(id) || driver.errors.has(id))
    assert.equal(driver.errors.get(id), undefined)
    for (let i = 0; i < 3; i++) {
      superPeers.push(await startCli(superPeerArgs({ dataDir: join(dir, `sp${i}`), docId, bootstrap: [authority.ready.addrs[0]], observe: true })))
    }
  })

  after(async () => { await stopAll(writers, nodes, dir) })

  it('counts every acknowledged message exactly once, merged across three super-peers', async () => {
    const votes: Array<Promise<SendReceipt>> = []
    let yes = 0
    let no = 0
    const perWriter = 40
    for (const sp of superPeers) {
      for (let w = 0; w < 2; w++) {
        const writer = await writerOn(sp)
        for (let i = 0; i < perWriter; i++) {
          const vote = (i + w) % 3 === 0 ? 'no' : 'yes'
          if (vote === 'yes') yes++
          else no++
          votes.push(writer.send('poll', vote))
        }
        votes.push(writer.send('claps', null))
      }
    }
    const receipts = await Promise.all(votes)
    assert.equal(receipts.length, 6 * (perWriter + 1))
    const head = (await authority.admin('/status')).seq
    for (const receipt of receipts) assert.ok(receipt.seq > 0 && receipt.seq <= head, `ack seq ${receipt.seq} within the log`)
    const doc = await tree()
    assert.deepEqual(doc.poll, { counts: { no, yes }, error: 0 })
    assert.equal(doc.claps, 6)
    // The hook saw the same merged values.
    await waitFor('the hook to report the final tally', () => merged.some(m => m.merged === 'poll' && JSON.stringify(m.value) === JSON.stringify(doc.poll)) ? true : undefined)
    // Partials, not messages, reach the authority: a few per window per super-peer.
    const counters = (await authority.admin('/status')).counters
    assert.ok(counters.partials_received < receipts.length, `partials ${counters.partials_received} < messages ${receipts.length}`)
    assert.equal(counters.partial_windows_counted > 0, true)
  })

  it('viewers see the results through the privacy filter, never the acknowledgements', async () => {
    const node = await createObserverNode({ transports: ['websockets'], allowPrivateAddresses: true, livenessIntervalMs: 5_000, livenessTimeoutMs: 5_000 })
    nodes.push(node)
    const view = observe(docId, { bootstrap: superPeers[1].ready.observe.addrs as string[], transports: ['websockets'], allowPrivateAddresses: true, node })
    try {
      const doc = await tree()
      await waitFor('the viewer to see the tally', () => JSON.stringify(view.state.poll) === JSON.stringify(doc.poll) ? true : undefined, { intervalMs: 20 })
      assert.ok(doc['@input'] !== undefined, 'the authority wrote acknowledgements')
      assert.equal(view.state['@input'], undefined)
      assert.equal(view.state['@policy'], undefined)
      await assert.rejects(view.send('x'), /read-only/)
    } finally {
      await view.close()
    }
  })

  it('refuses bad input with a clear error, counts it, and nothing reaches the document', async () => {
    const before = await tree()
    const sp = superPeers[0]
    const anonymous = await writerOn(sp)
    const docKey = await loadKey(join(dir, 'authority', 'authority.key'))
    const judge = await writerOn(sp, { token: signTokenSync(docKey, { docId, principal: 'jo', roles: ['judge'], expires: Date.now() + 3_600_000 }, Date.now()) })

    const refused = async (send: Promise<SendReceipt>, code: string, text: RegExp, rule?: string): Promise<void> => {
      await assert.rejects(send, (err: unknown) => {
        assert.ok(err instanceof SendRefusedError, String(err))
        assert.equal(err.code, code)
        assert.match(err.message, text)
        assert.equal(err.rule, rule)
        return true
      })
    }
    await refused(anonymous.send('nope', 1), 'unknown-channel', /declares no input channel "nope"/)
    await refused(anonymous.send('poll', 'maybe'), 'invalid-message', /"maybe" is not one of the declared values/, 'enum')
    await refused(anonymous.send('score', 5), 'forbidden', /may not send on channel "score"/)
    await refused(judge.send('score', 1000), 'too-large', /4 bytes, more than the channel's 3/)
    await refused(judge.send('score', 501), 'invalid-message', /above the maximum|maximum/, 'maximum')
    // claps allows 5 per hour per viewer: the sixth is over the rate.
    const claps = []
    for (let i = 0; i < 5; i++) claps.push(anonymous.send('claps', null))
    await Promise.all(claps)
    await refused(anonymous.send('claps', null), 'rate-limited', /more than 5 messages/)
    const accepted = await judge.send('score', 7)

    const after = await tree()
    assert.deepEqual(after.poll, before.poll)
    assert.equal(after.claps, ((before.claps as number | undefined) ?? 0) + 5)
    assert.equal(after.score, 7)
    assert.ok(accepted.seq <= (await authority.admin('/status')).seq)
    const counters = (await sp.admin('/status')).counters
    for (const reason of ['unknown_channel', 'invalid_message', 'forbidden', 'too_large', 'rate_limited']) {
      assert.ok(counters[`input_refused_${reason}`] >= 1, `input_refused_${reason} counted`)
    }
  })

  it('refuses forged and malformed partials from a rogue peer, and counts a replayed one once', async () => {
    const rogue = await createRogueNode()
    try {
      const send = async (messages: Uint8Array[]): Promise<void> => {
        const stream = await rogue.dialProtocol(multiaddr(authority.ready.addrs[0]), REDUCE_PROTOCOL)
        const lp = lpStream(stream)
        await lp.write(new TextEncoder().encode(docId))
        for (const m of messages) await lp.write(m)
        await stream.close().catch(() => {})
      }
      const before = await tree()
      const kind = tallyReducer({ capacity: 2, keys: ['no', 'yes'] })
      const state = kind.empty()
      for (let i = 0; i < 1000; i++) kind.add(state, 'no', { window: 1, writer: 'w', id: i + 1 })
      const out = new ByteWriter()
      kind.encode(state, out)
      const stateBytes = out.finish()
      // Forged: claims a real super-peer's origin, signed with the rogue's own key.
      const victim = `${superPeers[0].ready.peerId as string}/forged`
      const forgedEntry = { origin: victim, window: 1, state: stateBytes, signature: null }
      const forged = partialOf('poll', kind.code, [{ ...forgedEntry, signature: await signWith(windowSigningBytes('poll', kind.code, forgedEntry)) }])
      await send([encodePartial(forged)])
      await waitFor('the forged entry refused', async () => (await authority.admin('/status')).counters.partial_entries_rejected_bad_signature >= 1 ? true : undefined)
      // Malformed bytes: the stream is refused.
      await send([new Uint8Array([1, 5, 9, 9, 9])]).catch(() => {})
      await waitFor('the malformed partial refused', async () => (await authority.admin('/status')).counters.partials_rejected_malformed >= 1 ? true : undefined)
      // Replayed: a correctly signed entry (of the rogue's own origin) sent twice counts once.
      const own = `${peerIdFromPrivateKey(rogueKey).toString()}/boot`
      const ownEntry = { origin: own, window: 1, state: smallState(kind), signature: null }
      const signed = partialOf('poll', kind.code, [{ ...ownEntry, signature: await signWith(windowSigningBytes('poll', kind.code, ownEntry)) }])
      const duplicatesBefore = (await authority.admin('/status')).counters.partial_duplicates ?? 0
      await send([encodePartial(signed), encodePartial(signed)])
      await waitFor('the replay recognised', async () => ((await authority.admin('/status')).counters.partial_duplicates ?? 0) > duplicatesBefore ? true : undefined)
      const after = await tree()
      const counts = (after.poll as any).counts
      assert.equal(counts.no, (before.poll as any).counts.no + 1, 'the forged 1000 never counted; the replayed 1 counted once')
    } finally {
      await rogue.stop()
    }
  })
})

let rogueKey: Awaited<ReturnType<typeof generateKeyPair>>
async function signWith (bytes: Uint8Array): Promise<Uint8Array> {
  rogueKey ??= await generateKeyPair('Ed25519')
  return await rogueKey.sign(bytes)
}

function smallState (kind: ReturnType<typeof tallyReducer>): Uint8Array {
  const state = kind.empty()
  kind.add(state, 'no', { window: 1, writer: 'w', id: 1 })
  const out = new ByteWriter()
  kind.encode(state, out)
  return out.finish()
}

describe('input exact across kill -9 (authority and 4 super-peer processes in two tiers, Node writers)', function () {
  this.timeout(240_000)

  let dir: string
  let authority: Running
  let docId: string
  const superPeers: Running[] = []
  const nodes: ObserverNode[] = []
  const writers: Writer[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc9-failover-'))
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'failover' }))
    docId = authority.ready.docId
    const driver = new AuthorityDriver(authority)
    const poll = { ...(POLICY.input as any).poll, windowMs: 500 }
    const id = driver.send({ '@policy': { ...POLICY, input: { poll } }, title: 'Vote' })
    await driver.until('the policy', () => driver.acked.has(id))
    for (let i = 0; i < 4; i++) {
      superPeers.push(await startCli(superPeerArgs({ dataDir: join(dir, `sp${i}`), docId, bootstrap: [authority.ready.addrs[0]], observe: true, extra: ['--fanout', '2'] })))
    }
  })

  after(async () => { await stopAll(writers, nodes, dir) })

  /** Every super-peer agrees on a two-level tree in which each scope has its proxy. */
  async function twoTiers (): Promise<{ proxy: string, members: string[] }> {
    return await waitFor('a two-tier tree every super-peer agrees on', async () => {
      const trees = await Promise.all(superPeers.map(async sp => (await sp.admin('/topology')).docs[docId]?.tree?.regions?.[0]))
      const first = JSON.stringify(trees[0])
      if (trees.some(t => t === undefined || JSON.stringify(t) !== first)) return undefined
      const tree = trees[0]
      if (tree.proxy === undefined || tree.scopes === undefined || tree.scopes.length === 0 || tree.scopes.some((s: any) => s.proxy === undefined)) return undefined
      const parents = await Promise.all(superPeers.map(async sp => (await sp.admin('/topology')).docs[docId].parent))
      if (parents.some(p => p === undefined || p === 'gossip')) return undefined
      return { proxy: tree.proxy as string, members: superPeers.map(sp => sp.ready.peerId as string).filter(p => p !== tree.proxy) }
    }, { timeoutMs: 60_000, intervalMs: 250 })
  }

  it('counts every acknowledged message exactly once when the tier proxy and then a writer\'s super-peer are killed -9 mid-stream', async () => {
    const tree = await twoTiers()
    const proxy = superPeers.find(sp => sp.ready.peerId === tree.proxy)!
    const members = superPeers.filter(sp => sp !== proxy)
    const victim = members[0]
    // Writers on two members; each may fail over to any super-peer but the one it started on.
    const ordered = (first: Running): string[] => [first, ...members.filter(m => m !== first), proxy].flatMap(sp => sp.ready.observe.addrs as string[])
    const streams = await writerStreams(docId, [victim, victim, members[1]].map(ordered), 1_000, nodes, writers)

    const perWriter = 150
    let yes = 0
    let no = 0
    for (let i = 0; i < perWriter; i++) {
      for (const [w, stream] of streams.entries()) {
        const vote = (i * 7 + w) % 5 < 2 ? 'no' : 'yes'
        if (vote === 'yes') yes++
        else no++
        stream.receipts.push(stream.writer.send('poll', vote))
      }
      if (i === 50) await proxy.kill('SIGKILL')
      if (i === 100) await victim.kill('SIGKILL')
      await new Promise(resolve => setTimeout(resolve, 20)) // pacing the stream, not synchronisation
    }
    const receipts = await Promise.all(streams.flatMap(s => s.receipts))
    assert.equal(receipts.length, 3 * perWriter)
    const doc = (await authority.admin(`/docs/${docId}/state`)).tree
    assert.deepEqual(doc.poll, { counts: { no, yes }, error: 0 }, 'every acknowledged message counted once, none twice')
    const counters = (await authority.admin('/status')).counters
    assert.ok(counters.partials_received > 0)
    const survivors = await Promise.all(members.slice(1).map(async sp => (await sp.admin('/status')).counters))
    assert.ok(survivors.some(c => (c.partial_parent_changes ?? 0) > 0 || (c.partials_received ?? 0) > 0), 'partials found a new parent after the proxy died')
    // The victim's writers resent what it had not acknowledged to the super-peer they moved to.
    assert.ok(survivors.some(c => (c.input_resent_accepted ?? 0) > 0), `resends accepted: ${JSON.stringify(survivors.map(c => c.input_resent_accepted))}`)
    if (process.env.DC9_VERBOSE !== undefined) console.log({ authority: counters, survivors })
  })
})

describe('input exact across an authority restart (kill -9, then again on its --dir; 2 super-peer processes, Node writers)', function () {
  this.timeout(240_000)

  let dir: string
  let port: number
  let authority: Running
  let docId: string
  const superPeers: Running[] = []
  const nodes: ObserverNode[] = []
  const writers: Writer[] = []
  // `words` is an open-keyed tally: its total (top-k counters) cannot be read back from the
  // displayed counts, so only a restored ledger state keeps it exact.
  const WORDS = ['ant', 'bee', 'cat', 'dog', 'eel']
  const policy = {
    ...POLICY,
    fields: { ...(POLICY.fields as JsonObject), '/words': 'public' },
    input: {
      poll: { ...(POLICY.input as any).poll, windowMs: 250 },
      words: { kind: 'tally', keys: 8, message: { type: 'string', maxLength: 8 }, send: 'public', rate: { messages: 1000, perMs: 1000 }, windowMs: 250, field: '/words' }
    }
  }

  const startAuthority = async (extra: string[] = []): Promise<void> => {
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'restart', port, extra }))
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc9-restart-'))
    port = await freePort()
    await startAuthority()
    docId = authority.ready.docId
    const driver = new AuthorityDriver(authority)
    const id = driver.send({ '@policy': policy, title: 'Vote' })
    await driver.until('the policy', () => driver.acked.has(id))
    for (let i = 0; i < 2; i++) {
      superPeers.push(await startCli(superPeerArgs({ dataDir: join(dir, `sp${i}`), docId, bootstrap: [authority.ready.addrs[0]], observe: true, extra: ['--topology', 'flat'] })))
    }
  })

  after(async () => { await stopAll(writers, nodes, dir) })

  it('counts every acknowledged message exactly once when the authority is killed -9 mid-stream and restarted on its --dir', async () => {
    const homes = [superPeers[0], superPeers[0], superPeers[1], superPeers[1]].map(sp => sp.ready.observe.addrs as string[])
    const streams = await writerStreams(docId, homes, 5_000, nodes, writers)

    const perWriter = 120
    const polls = { no: 0, yes: 0 }
    const words: Record<string, number> = {}
    let restarted: Promise<void> | undefined
    for (let i = 0; i < perWriter; i++) {
      for (const [w, stream] of streams.entries()) {
        const vote = (i * 7 + w) % 5 < 2 ? 'no' : 'yes'
        polls[vote]++
        stream.receipts.push(stream.writer.send('poll', vote))
        const word = WORDS[(i * 3 + w) % WORDS.length]
        words[word] = (words[word] ?? 0) + 1
        stream.receipts.push(stream.writer.send('words', word))
      }
      if (i === 40) {
        // Once some input is counted, kill the authority mid-stream and bring it back on its
        // directory and port; the writers go on sending (their sends wait for the new authority).
        await waitFor('input counted before the kill', async () => (await authority.admin('/status')).counters.partial_windows_counted > 0 ? true : undefined, { intervalMs: 20 })
        await authority.kill('SIGKILL')
        restarted = startAuthority(['--bootstrap', superPeers[0].ready.addrs[0], '--bootstrap', superPeers[1].ready.addrs[0]])
      }
      await new Promise(resolve => setTimeout(resolve, 20)) // pacing the stream, not synchronisation
    }
    await restarted
    const receipts = await Promise.all(streams.flatMap(s => s.receipts))
    assert.equal(receipts.length, 2 * 4 * perWriter)
    const status = await authority.admin('/status')
    const doc = (await authority.admin(`/docs/${docId}/state`)).tree
    assert.deepEqual(doc.poll, { counts: polls, error: 0 }, 'every acknowledged vote counted once, none twice')
    assert.deepEqual(doc.words, { counts: words, error: 0 }, 'every acknowledged word counted once, none twice')
    assert.ok(status.counters.input_ledgers_restored >= 1, 'the ledgers were rebuilt from the log')
    for (const receipt of receipts) assert.ok(receipt.seq <= status.seq)
    // No window counted twice: each origin's counted windows are one list of disjoint ranges.
    for (const channel of ['poll', 'words']) {
      const counted = (doc['@input'] as any)[channel].counted as Record<string, Array<[number, number]>>
      for (const ranges of Object.values(counted)) {
        for (let k = 1; k < ranges.length; k++) assert.ok(ranges[k][0] > ranges[k - 1][1] + 1)
      }
    }
    if (process.env.DC9_VERBOSE !== undefined) console.log(status.counters)
  })
})
