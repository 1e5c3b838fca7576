import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { decodeFrame, docIdFor, signFrameSync, topicFor } from '../../src/log/index.ts'
import { createRogueNode } from '../helpers/rogue.ts'
import { requestCatchUp } from '../../node/sync/sync-client.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, freePort, killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import { Workload } from '../helpers/workload.ts'
import type { Running } from '../helpers/processes.ts'
import type { Frame } from '../../src/log/index.ts'

/**
 * The backbone end to end: an authority and super-peers as separate OS processes on loopback,
 * real TCP, Noise, Yamux and gossipsub between them.
 */
describe('backbone: authority and super-peers on the flat mesh', function () {
  this.timeout(240_000)

  let dir: string
  let authority: Running
  let driver: AuthorityDriver
  let authorityPort: number
  let docId: string
  const superPeers: Running[] = []
  const workload = new Workload(7)

  async function startAuthority (extra: string[] = []): Promise<void> {
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'game', port: authorityPort, extra: ['--checkpoint-every', '64', ...extra] }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
  }

  async function startSuperPeer (name: string, bootstrap: string[]): Promise<Running> {
    // The flat mesh: every super-peer on the document's gossipsub topic, where the rogue attacks.
    const peer = await startCli(superPeerArgs({ dataDir: join(dir, name), docId, bootstrap, extra: ['--topology', 'flat'] }))
    superPeers.push(peer)
    return peer
  }

  async function sendAndAck (count: number): Promise<void> {
    const ids: number[] = []
    for (let i = 0; i < count; i++) ids.push(driver.send(workload.next()))
    await driver.until(`${count} acks`, () => ids.every(id => driver.acked.has(id)))
    assert.equal(driver.errors.size, 0, `authority refused changes: ${JSON.stringify([...driver.errors])}`)
  }

  /** Every super-peer reaches the authority's head with the same hash and the same document. */
  async function assertConverged (peers: Running[]): Promise<void> {
    const truth = await authority.admin(`/docs/${docId}/state`)
    for (const peer of peers) {
      const state = await waitFor(`${peer.ready.peerId as string} at seq ${truth.seq as number}`, async () => {
        const s = await peer.admin(`/docs/${docId}/state`)
        return s.seq === truth.seq ? s : undefined
      }, { timeoutMs: 60_000 }).catch(async (err: Error) => {
        throw new Error(`${err.message}; status ${JSON.stringify(await peer.admin('/status'))}\n${peer.stderr().slice(-3000)}`)
      })
      assert.equal(state.head, truth.head, 'same head hash')
      assert.deepEqual(state.tree, truth.tree, 'same document')
    }
    assert.deepEqual(truth.tree, JSON.parse(JSON.stringify(workload.model)), 'authority holds every change')
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deltacast-backbone-'))
    authorityPort = await freePort()
    await startAuthority()
  })

  after(async () => {
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('replicates 5,000 changes to 3 super-peers, and a late joiner catches up', async () => {
    const first = await startSuperPeer('sp1', authority.ready.addrs)
    const second = await startSuperPeer('sp2', first.ready.addrs)
    const third = await startSuperPeer('sp3', first.ready.addrs)

    await sendAndAck(2_000)
    const late = await startSuperPeer('sp4', second.ready.addrs)
    await sendAndAck(3_000)
    await assertConverged([first, second, third, late])

    const status = await authority.admin('/status')
    assert.ok(status.seq >= 1 && status.seq < 5_000, `changes were batched into frames (${status.seq as number} frames)`)
  })

  it('rejects a rogue peer\'s forged, replayed and reordered frames and lowers its score', async () => {
    const rogues: Array<Awaited<ReturnType<typeof createRogueNode>>> = []
    const target = superPeers[0]
    const targetId = peerIdFromString(target.ready.peerId)
    const topic = topicFor(docId)
    /** A fresh rogue, connected to the target and seen subscribed by it. */
    const connectRogue = async () => {
      const node = await createRogueNode()
      rogues.push(node)
      node.services.pubsub.subscribe(topic)
      await node.dial(multiaddr(target.ready.addrs[0]))
      await waitFor('the super-peer to see the rogue subscribed', () =>
        node.services.pubsub.getSubscribers(topic).some(peer => peer.equals(targetId)) ? true : undefined)
      return node
    }
    try {
      const before = await Promise.all(superPeers.map(async peer => await peer.admin(`/docs/${docId}/state`)))
      const countersBefore = (await target.admin('/status')).counters
      const node = await connectRogue()

      // Real frames to replay and reorder, fetched like any peer would, from the authority, whose
      // window holds every frame (a super-peer may answer with a snapshot and fewer frames).
      const authorityAddr = multiaddr(authority.ready.addrs[0])
      await node.dial(authorityAddr)
      // (5,000 changes batch into few frames, so take them from seq 1.)
      const messages = await requestCatchUp(node, peerIdFromString(authority.ready.peerId), docId, 0, { signal: AbortSignal.timeout(10_000) })
      const frames = messages.flatMap(m => m.type === 'frame' ? [decodeFrame(m.bytes, { maxFrameBytes: 1 << 24 })] : [])
        .flatMap(d => d.ok ? [d.frame] : []).slice(-5)
      assert.ok(frames.length >= 2, `enough frames to replay out of order (${frames.length})`)
      assert.equal(frames[frames.length - 1].seq, before[0].seq, 'the newest frame is the replicas\' head')
      const last = frames[frames.length - 1]

      const forgedKey = await generateKeyPair('Ed25519')
      const forged = (seq: number, prev: Frame): Uint8Array => signFrameSync(forgedKey, {
        docId, epoch: prev.epoch, seq, time: Date.now(), prevHash: prev.hash, changes: [{ counter: -1, hacked: true }]
      }).bytes
      const tampered = last.bytes.slice()
      tampered[tampered.length - 70] ^= 0xff // inside the body: the signature no longer matches

      // Three Rejected messages graylist a peer once gossipsub refreshes its cached score (at
      // most a heartbeat later), after which nothing more from it is even validated. So the
      // first rogue sends one rejected kind plus the ignored replays, and each other kind that
      // must be counted comes from a rogue of its own.
      const firstAttacks: Uint8Array[] = [
        forged(last.seq + 1, last), // next in line, signed by the wrong key
        ...frames.slice().reverse().map(f => f.bytes), // replayed and reordered (ignored, not rejected)
        tampered, // a real frame, altered
        forged(last.seq + 2, last) // a frame from the future
      ]
      const otherAttacks: Uint8Array[] = [
        new Uint8Array([1, 2, 3, 4]), // garbage
        new Uint8Array(2 * 1024 * 1024).fill(1), // above the 1 MiB frame limit
        signFrameSync(forgedKey, { // well formed and validly signed, but another document's
          docId: docIdFor(forgedKey.publicKey.raw, 'game'), epoch: 1, seq: 1, time: Date.now(), prevHash: new Uint8Array(32), changes: [{ hacked: true }]
        }).bytes
      ]
      for (const bytes of firstAttacks) await node.services.pubsub.publish(topic, bytes)
      for (const bytes of otherAttacks) await (await connectRogue()).services.pubsub.publish(topic, bytes)

      // Each kind of bad input is counted under its own name.
      await waitFor('rejections counted', async () => {
        const { counters } = await target.admin('/status')
        const grew = (name: string): boolean => (counters[name] ?? 0) > (countersBefore[name] ?? 0)
        return ['frames_rejected_bad_signature', 'frames_rejected_malformed', 'frames_rejected_too_large', 'frames_rejected_wrong_doc']
          .every(grew) ? true : undefined
      })
      const scored = await waitFor('the rogue\'s score to drop', async () => {
        const list = await target.admin('/peers') as Array<{ peerId: string, score: number }>
        const entry = list.find(p => p.peerId === node.peerId.toString())
        return entry !== undefined && entry.score < 0 ? entry : undefined
      })
      assert.ok(scored.score < 0)

      const afterStates = await Promise.all(superPeers.map(async peer => await peer.admin(`/docs/${docId}/state`)))
      assert.deepEqual(afterStates.map(s => [s.seq, s.head]), before.map(s => [s.seq, s.head]), 'replicas unchanged')
      assert.equal(afterStates[0].tree.hacked, undefined)
    } finally {
      await Promise.all(rogues.map(async rogue => { await rogue.stop() }))
    }
  })

  it('loses no acknowledged change when the authority is killed with SIGKILL mid-stream', async () => {
    const statusBefore = await authority.admin('/status')
    // Each change writes its own key, so what survived can be checked change by change.
    const ids: number[] = []
    for (let i = 0; i < 3_000; i++) {
      const id = driver.send({ durable: { [`k${i}`]: i } })
      ids.push(id)
    }
    await driver.until('500 acks', () => ids.filter(id => driver.acked.has(id)).length >= 500)
    await authority.kill('SIGKILL')
    const acked = ids.flatMap((id, i) => driver.acked.has(id) ? [i] : [])

    // Restart on the same directory and port; it rejoins the mesh through a super-peer.
    await startAuthority(['--bootstrap', superPeers[0].ready.addrs[0]])
    const restarted = await authority.admin('/status')
    assert.ok(restarted.epoch > statusBefore.epoch, 'a new epoch')
    const state = await authority.admin(`/docs/${docId}/state`)
    const durable = state.tree.durable as Record<string, number>
    const lost = acked.filter(i => durable[`k${i}`] !== i)
    assert.deepEqual(lost, [], 'every acknowledged change survived')
    // What survived is a prefix of what was sent: the log has no holes.
    const survived = Object.keys(durable).length
    for (let i = 0; i < survived; i++) assert.equal(durable[`k${i}`], i)

    // The chain continues from the recovered head, and every replica converges on it.
    workload.resetTo(state.tree)
    await sendAndAck(500)
    const truth = await authority.admin('/status')
    assert.ok(truth.seq > state.seq, 'the chain continues after the restart')
    await assertConverged(superPeers)
  })
})
