import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Authority } from '../../node/authority/authority.ts'
import { startAuthorityNode } from '../../node/authority/authority-node.ts'
import { createLogger } from '../../node/log.ts'
import { loadOrCreateKey } from '../../node/identity.ts'
import { serveSync } from '../../node/sync/sync-server.ts'
import { signFrameSync, topicFor } from '../../src/log/index.ts'
import { SYNC_PROTOCOL } from '../../src/sync/messages.ts'
import { killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import type { AuthorityNode } from '../../node/authority/authority-node.ts'
import type { Running } from '../helpers/processes.ts'

/**
 * Head announcements let a super-peer (an OS process) notice a frame it missed at once, instead
 * of at its next periodic catch-up. The authority runs in the test process so that the test can
 * drop one frame on the wire; everything else is the real stack.
 */
describe('head announcements', function () {
  this.timeout(120_000)

  let dir: string
  let authority: Authority
  let node: AuthorityNode
  let peer: Running

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc7b-live-'))
    authority = await Authority.open({ dir: join(dir, 'authority'), name: 'live' })
    node = await startAuthorityNode(authority, { listen: ['/ip4/127.0.0.1/tcp/0'], peerKey: await generateKeyPair('Ed25519') }, createLogger('test', 'silent'))
  })

  after(async () => {
    await killAll()
    await node.stop()
    await authority.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('a lost last frame is fetched after the next head announcement, long before --sync-interval-ms', async () => {
    const docId = authority.docId
    const addr = node.node.getMultiaddrs()[0].toString()
    // A periodic catch-up ten minutes away cannot be what finds the lost frame.
    // The flat mesh: the frame is lost on the gossipsub topic, and the head topic tells of it.
    peer = await startCli(superPeerArgs({ dataDir: join(dir, 'sp'), docId, bootstrap: [addr], extra: ['--topology', 'flat', '--sync-interval-ms', '600000'] }))
    const topic = topicFor(docId)
    await waitFor('the super-peer subscribed', () => node.node.services.pubsub.getSubscribers(topic).some(p => p.toString() === peer.ready.peerId) ? true : undefined)

    await authority.change({ round: 1 })
    await waitFor('frame 1 applied', async () => (await peer.admin('/status')).docs[docId].seq === 1 ? true : undefined)

    // The next frame never reaches the wire (a lost message); the authority holds it durably.
    const pubsub = node.node.services.pubsub
    const publish = pubsub.publish.bind(pubsub)
    let dropped = 0
    pubsub.publish = (async (t: string, data: Uint8Array) => {
      if (t === topic && dropped === 0) { dropped++; return { recipients: [] } }
      return await publish(t, data)
    }) as typeof pubsub.publish
    try {
      await authority.change({ round: 2 })
      assert.equal(dropped, 1, 'frame 2 was dropped')
      const lostAt = Date.now()
      const status = await waitFor('the super-peer to fetch frame 2', async () => {
        const s = await peer.admin('/status')
        return s.docs[docId].seq === 2 ? s : undefined
      }, { timeoutMs: 20_000 })
      const tookMs = Date.now() - lostAt
      assert.ok(status.counters.heads_ahead >= 1, 'a head announcement showed the replica behind')
      assert.ok(tookMs < 10_000, `caught up in ${tookMs} ms`)
      const state = await peer.admin(`/docs/${docId}/state`)
      assert.deepEqual(state.tree, { round: 2 })
      const metrics = await peer.admin('/metrics') as string
      assert.match(metrics, /deltacast_heads_received_total [1-9]/)
      assert.match(metrics, new RegExp(`deltacast_lag_frames\\{document="${docId.replace('.', '\\.')}"\\} 0`))
    } finally {
      pubsub.publish = publish
    }
  })

  it('/healthz answers 503 with the reason while a replica is diverged, and 200 once it is rebuilt', async () => {
    const docId = authority.docId
    const healthz = async (): Promise<{ status: number, body: any }> => {
      const res = await fetch(`${peer.ready.admin as string}/healthz`)
      return { status: res.status, body: await res.json() }
    }
    assert.deepEqual(await healthz(), { status: 200, body: { ok: true } })
    // A frame the document key signed but that cannot apply (an order naming an item that does
    // not exist): only a broken authority makes one. The real authority never logged it.
    const key = await loadOrCreateKey(join(dir, 'authority', 'authority.key'))
    const head = authority.head
    const broken = signFrameSync(key, { docId, epoch: authority.currentEpoch, seq: head.seq + 1, time: Date.now(), prevHash: head.hash, changes: [{ list: { '@o': ['nobody'] } }] })
    // Nobody can serve the rebuild yet, so the replica stays diverged while we look.
    await node.node.unhandle(SYNC_PROTOCOL)
    await node.node.services.pubsub.publish(topicFor(docId), broken.bytes)
    const answer = await waitFor('/healthz to answer 503', async () => {
      const answer = await healthz()
      return answer.status === 503 ? answer : undefined
    })
    assert.deepEqual(answer.body, { ok: false, reasons: [`replica of ${docId} diverged; rebuilding it from peers`] })
    // It rebuilds from the authority's log, which never held the broken frame.
    await serveSync(node.node, id => id === docId ? authority : undefined, createLogger('test', 'silent'), node.counters)
    await authority.change({ round: 3 })
    await waitFor('the replica rebuilt and healthy', async () => (await healthz()).status === 200 ? true : undefined)
    const state = await peer.admin(`/docs/${docId}/state`)
    assert.deepEqual(state.tree, { round: 3 })
  })
})
