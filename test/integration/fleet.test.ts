import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { generateKeyPair, privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { defaultPeerScoreThresholds } from '@libp2p/gossipsub/score'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { signFleetCertSync } from '../../src/identity/index.ts'
import { topicFor } from '../../src/log/index.ts'
import { DOCUMENT_SCOPE_SCORE, FLEET_PROTOCOL, FleetGuard, UNCERTIFIED_SCORE, presentCert } from '../../node/fleet/index.ts'
import { backboneGossipOptions } from '../../node/net/gossip.ts'
import { createBackboneNode } from '../../node/net/libp2p-node.ts'
import { requestCatchUp } from '../../node/sync/sync-client.ts'
import { createLogger } from '../../node/log.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { CLI, authorityArgs, killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import { Workload } from '../helpers/workload.ts'
import type { Running } from '../helpers/processes.ts'
import type { Libp2p, PrivateKey } from '@libp2p/interface'

const run = promisify(execFile)
const HANDSHAKE_TIMEOUT_MS = 6_000

/** A backbone node outside the fleet: the super-peer's stack, no certificate. */
async function createOutsider (options: { answersHandshake: boolean }) {
  const node = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub(backboneGossipOptions()) }
  })
  // Speaking the protocol but never answering keeps it connected until the handshake deadline:
  // the longest an uncertified peer can stay, so the window where gossipsub alone must hold.
  if (options.answersHandshake) await node.handle(FLEET_PROTOCOL, () => {})
  return node
}

/**
 * Dialing a peer that denies us: depending on timing the dial fails, or succeeds on our side
 * and the connection is torn down right after (the gater runs on the far side after Noise).
 */
async function assertTurnedAway (node: Libp2p, addr: string): Promise<void> {
  try {
    await node.dial(multiaddr(addr))
  } catch {
    return
  }
  await waitFor('the denied connection to close', () => node.getConnections().length === 0 ? true : undefined, { timeoutMs: 3_000 })
}

/**
 * Separate OS processes: an authority and a super-peer that trust one operator key. Peers the
 * operator did not certify connect, subscribe and ask for catch-up, and must get no frame.
 */
describe('fleet: only certified peers on the backbone', function () {
  this.timeout(240_000)

  let dir: string
  let operatorKey: PrivateKey
  let operator: string
  let authority: Running
  let driver: AuthorityDriver
  let superPeer: Running
  let docId: string
  const workload = new Workload(11)
  const stopLater: Libp2p[] = []

  async function cli (...args: string[]): Promise<string> {
    return (await run(process.execPath, [CLI, ...args])).stdout.trim()
  }

  async function sendAndAck (count: number): Promise<void> {
    const ids: number[] = []
    for (let i = 0; i < count; i++) ids.push(driver.send(workload.next()))
    await driver.until(`${count} acks`, () => ids.every(id => driver.acked.has(id)))
  }

  async function assertConverged (peer: Running): Promise<void> {
    const truth = await authority.admin(`/docs/${docId}/state`)
    const state = await waitFor(`super-peer at seq ${truth.seq as number}`, async () => {
      const s = await peer.admin(`/docs/${docId}/state`)
      return s.seq === truth.seq ? s : undefined
    }, { timeoutMs: 60_000 }).catch((err: Error) => { throw new Error(`${err.message}\n${peer.stderr().slice(-3000)}`) })
    assert.equal(state.head, truth.head)
    assert.deepEqual(state.tree, truth.tree)
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deltacast-fleet-'))
    operator = await cli('keygen', join(dir, 'operator.key'))
    assert.match(operator, /^[a-z2-7]{52}$/)
    operatorKey = privateKeyFromProtobuf(await readFile(join(dir, 'operator.key')))

    // The super-peer's identity exists before it first starts, so the operator can certify it.
    await mkdir(join(dir, 'sp1'))
    await cli('keygen', join(dir, 'sp1', 'peer.key'))
    const peerId = peerIdFromPrivateKey(privateKeyFromProtobuf(await readFile(join(dir, 'sp1', 'peer.key')))).toString()
    await writeFile(join(dir, 'sp1.cert'), await cli('fleet-cert', '--operator-key', join(dir, 'operator.key'), '--peer', peerId, '--region', 'test', '--days', '1'))

    const fleetFlags = ['--trust-operator', operator, '--fleet-handshake-timeout-ms', String(HANDSHAKE_TIMEOUT_MS)]
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'secret', extra: fleetFlags }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
    // The flat mesh: these checks are about who gossipsub lets in.
    superPeer = await startCli(superPeerArgs({ dataDir: join(dir, 'sp1'), docId, bootstrap: [authority.ready.addrs[0]], extra: ['--topology', 'flat', '--fleet-cert', join(dir, 'sp1.cert'), ...fleetFlags] }))
    assert.equal(superPeer.ready.peerId, peerId)
  })

  after(async () => {
    await Promise.all(stopLater.map(async node => { await node.stop() }))
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('scores uncertified peers below the graylist threshold, authorities below the publish threshold', () => {
    const weight = 10 // gossipsub's default appSpecificWeight; the topic score is capped at +10
    const { graylistThreshold, publishThreshold } = defaultPeerScoreThresholds
    assert.ok(UNCERTIFIED_SCORE * weight + 10 < graylistThreshold)
    assert.ok(DOCUMENT_SCOPE_SCORE * weight + 10 < publishThreshold)
    assert.ok(DOCUMENT_SCOPE_SCORE * weight > graylistThreshold)
  })

  it('a certified super-peer and the authority admit each other; frames flow and the replica converges', async () => {
    await sendAndAck(300)
    await assertConverged(superPeer)
    const spFleet = await superPeer.admin('/fleet')
    assert.equal(spFleet.enforcing, true)
    assert.deepEqual(spFleet.certified.map((c: any) => [c.peerId, c.scope, c.region]), [[authority.ready.peerId, 'document', 'authority']])
    const authorityFleet = (await authority.admin('/status')).fleet
    assert.deepEqual(authorityFleet.certified.map((c: any) => [c.peerId, c.scope, c.region]), [[superPeer.ready.peerId, 'fleet', 'test']])
  })

  it('an uncertified peer that subscribes gets no frame, by gossip or sync, cannot join the mesh, and is cut off', async () => {
    const outsider = await createOutsider({ answersHandshake: true })
    stopLater.push(outsider)
    const topic = topicFor(docId)
    const received: Uint8Array[] = []
    outsider.services.pubsub.addEventListener('message', event => { received.push(event.detail.data) })
    outsider.services.pubsub.subscribe(topic)
    const seqBefore = (await authority.admin('/status')).seq as number

    await outsider.dial(multiaddr(superPeer.ready.addrs[0]))
    await outsider.dial(multiaddr(authority.ready.addrs[0]))
    // Publish right after it connects, and keep publishing while it stays.
    const connectedAt = Date.now()
    const publishing = (async () => {
      while (Date.now() - connectedAt < HANDSHAKE_TIMEOUT_MS + 1_000) {
        driver.send(workload.next())
        await new Promise(resolve => setTimeout(resolve, 25))
      }
    })()

    // While it is connected: no catch-up from either node, no mesh, no subscription seen, score graylisted.
    for (const target of [superPeer, authority]) {
      const answer = requestCatchUp(outsider, peerIdFromString(target.ready.peerId), docId, 0, { signal: AbortSignal.timeout(5_000) })
      const messages = await answer.catch(() => [])
      assert.deepEqual(messages.filter(m => m.type === 'frame'), [], 'no frame by sync')
    }
    const fleet = await superPeer.admin('/fleet')
    assert.ok(!fleet.mesh[docId].includes(outsider.peerId.toString()), 'not in the super-peer\'s mesh')
    assert.ok(!fleet.certified.some((c: any) => c.peerId === outsider.peerId.toString()))
    const scored = (await superPeer.admin('/peers') as Array<{ peerId: string, score: number }>).find(p => p.peerId === outsider.peerId.toString())
    assert.ok(scored !== undefined && scored.score <= UNCERTIFIED_SCORE, `graylisted: ${JSON.stringify(scored)}`)
    assert.ok(!(await authority.admin('/status')).subscribers.includes(outsider.peerId.toString()), 'its subscription was dropped')
    assert.ok(outsider.getConnections().length > 0, 'still connected while frames are published')

    // Cut off at the handshake deadline, and denied afterwards.
    await waitFor('the outsider to be disconnected', () => outsider.getConnections().length === 0 ? true : undefined, { timeoutMs: HANDSHAKE_TIMEOUT_MS + 10_000 })
    await publishing
    const seqAfter = (await authority.admin('/status')).seq as number
    assert.ok(seqAfter - seqBefore >= 20, `frames were published while it was connected (${seqAfter - seqBefore})`)
    assert.equal(received.length, 0, `the outsider received ${received.length} frames`)
    await assertTurnedAway(outsider, superPeer.ready.addrs[0])
    const denied = (await superPeer.admin('/fleet')).denied
    assert.ok(denied.some((d: any) => d.peerId === outsider.peerId.toString() && /no fleet certificate within/.test(d.reason)), JSON.stringify(denied))

    // The certified replica is unaffected.
    await assertConverged(superPeer)
  })

  it('a peer that does not speak the fleet protocol is cut off at once', async () => {
    const outsider = await createOutsider({ answersHandshake: false })
    stopLater.push(outsider)
    await outsider.dial(multiaddr(superPeer.ready.addrs[0]))
    const started = Date.now()
    await waitFor('the outsider to be disconnected', () => outsider.getConnections().length === 0 ? true : undefined, { timeoutMs: 5_000 })
    assert.ok(Date.now() - started < HANDSHAKE_TIMEOUT_MS, 'before the handshake deadline')
  })

  it('refuses an expired certificate, and one for another peer', async () => {
    for (const [code, claims] of [
      ['expired', (peerId: string) => ({ peerId, region: 'test', expires: Date.now() - 1_000 })],
      ['wrong-peer', () => ({ peerId: superPeer.ready.peerId as string, region: 'test', expires: Date.now() + 86_400_000 })]
    ] as const) {
      const outsider = await createOutsider({ answersHandshake: true })
      stopLater.push(outsider)
      const issued = Date.now() - 2 * 86_400_000
      const cert = signFleetCertSync(operatorKey, claims(outsider.peerId.toString()), issued)
      const connection = await outsider.dial(multiaddr(superPeer.ready.addrs[0]))
      const reply = await presentCert(connection, cert, AbortSignal.timeout(5_000))
      assert.equal(reply.ok, false)
      assert.equal(!reply.ok && reply.code, code)
      await waitFor('the outsider to be disconnected', () => outsider.getConnections().length === 0 ? true : undefined, { timeoutMs: 5_000 })
      await assertTurnedAway(outsider, superPeer.ready.addrs[0])
    }

    // A super-peer does not start on an expired certificate of its own.
    await mkdir(join(dir, 'sp-expired'))
    await cli('keygen', join(dir, 'sp-expired', 'peer.key'))
    const expiredPeer = peerIdFromPrivateKey(privateKeyFromProtobuf(await readFile(join(dir, 'sp-expired', 'peer.key')))).toString()
    await writeFile(join(dir, 'expired.cert'), signFleetCertSync(operatorKey, { peerId: expiredPeer, region: 'test', expires: Date.now() - 1_000 }, Date.now() - 86_400_000))
    await assert.rejects(startCli(['super-peer', '--data-dir', join(dir, 'sp-expired'), '--doc', docId, '--observe-listen', 'none',
      '--listen', '/ip4/127.0.0.1/tcp/0', '--fleet-cert', join(dir, 'expired.cert'), '--trust-operator', operator]), /expired\.cert expired at/)
  })

  it('a certified peer outside the CLI receives the frames (the checks above are not vacuous)', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(privateKey).toString()
    const cert = signFleetCertSync(operatorKey, { peerId, region: 'test', expires: Date.now() + 86_400_000 }, Date.now())
    const fleet = new FleetGuard({ cert, trustedOperators: [operatorKey.publicKey.raw], docIds: [docId] })
    const node = await createBackboneNode({
      privateKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [],
      connectionGater: fleet.connectionGater,
      appSpecificScore: fleet.appSpecificScore,
      beforeStart: async node => { await fleet.attach(node, createLogger('test', 'silent')) }
    })
    stopLater.push(node)
    const received: Uint8Array[] = []
    node.services.pubsub.addEventListener('message', event => { received.push(event.detail.data) })
    node.services.pubsub.subscribe(topicFor(docId))
    await node.dial(multiaddr(superPeer.ready.addrs[0]))
    await waitFor('the super-peer to certify it', async () =>
      (await superPeer.admin('/fleet')).certified.some((c: any) => c.peerId === peerId) ? true : undefined)
    await waitFor('frames by gossip', async () => {
      driver.send(workload.next())
      return received.length > 0 ? true : undefined
    }, { timeoutMs: 20_000, intervalMs: 200 })
    fleet.stop()
  })
  it('refuses a denied peer at the connection gater for the whole deny window, counting each refusal', async () => {
    const denyMs = 6_000
    const guarded = await startCli(superPeerArgs({
      dataDir: join(dir, 'sp-deny'),
      docId,
      bootstrap: [],
      extra: ['--trust-operator', operator, '--fleet-handshake-timeout-ms', '2000', '--fleet-deny-ms', String(denyMs)]
    }))
    const counter = async (name: string): Promise<number> => (await guarded.admin('/status')).counters[name] ?? 0
    const outsider = await createOutsider({ answersHandshake: false })
    stopLater.push(outsider)
    const addr = guarded.ready.addrs[0] as string
    await assertTurnedAway(outsider, addr)
    const denial = await waitFor('the outsider denied', async () =>
      (await guarded.admin('/fleet')).denied.find((d: any) => d.peerId === outsider.peerId.toString()))
    assert.equal(await counter('backbone_denied_handshake_failed'), 1)

    // Every attempt inside the window is refused by the gater: none becomes a connection there.
    let attempts = 0
    while (Date.now() < denial.until - 1_000) {
      await assertTurnedAway(outsider, addr)
      attempts++
      await waitFor('the refusal counted', async () => await counter('backbone_denied_gater_inbound') === attempts ? true : undefined, { timeoutMs: 5_000 })
    }
    assert.ok(attempts >= 3, `only ${attempts} attempts within the window`)
    assert.equal(await counter('backbone_denied_open_connection'), 0, 'no denied peer got past the gater')
    assert.ok(!(await guarded.admin('/peers')).some((p: any) => p.peerId === outsider.peerId.toString()))
    const metrics = await guarded.admin('/metrics') as string
    assert.match(metrics, new RegExp(`^deltacast_backbone_denied_total\\{reason="gater_inbound"\\} ${attempts}$`, 'm'))

    // Once the window has passed, the peer reaches the handshake again (and fails it again).
    await waitFor('the window to pass', () => Date.now() > denial.until ? true : undefined, { timeoutMs: denyMs + 2_000 })
    await assertTurnedAway(outsider, addr)
    await waitFor('a second handshake refusal', async () => await counter('backbone_denied_handshake_failed') === 2 ? true : undefined)
    assert.equal(await counter('backbone_denied_gater_inbound'), attempts)
    await guarded.kill()
  })
})
