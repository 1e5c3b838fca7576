import assert from 'node:assert/strict'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { pino } from 'pino'
import { createBackboneNode } from '../../node/net/libp2p-node.ts'
import type { BackboneNode } from '../../node/net/libp2p-node.ts'
import { Counters } from '../../node/metrics.ts'
import { MembershipService, joinRegion, membershipTopic, serveMembershipSnapshots } from '../../node/membership/index.ts'
import { signFleetCertSync } from '../../src/identity/index.ts'
import { Digest, signAnnouncementSync } from '../../src/membership/index.ts'
import { waitFor } from '../helpers/processes.ts'

const DOC = '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena.example'
const REGION = 'eu-west'
const TOPIC = membershipTopic(REGION)
const operator = await generateKeyPairFromSeed('Ed25519', Uint8Array.from(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')))
const silent = pino({ level: 'silent' })

interface Peer { node: BackboneNode, key: PrivateKey, service: MembershipService, counters: Counters, docs: string[], stopJoining: () => void }

describe('membership over gossipsub (3 backbone nodes in one process, loopback TCP)', function () {
  this.timeout(30_000)
  const peers: Peer[] = []
  const others: BackboneNode[] = []

  async function startPeer (bootstrap: string[], docs: string[]): Promise<Peer> {
    const key = await generateKeyPair('Ed25519')
    const node = await createBackboneNode({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap })
    const counters = new Counters()
    const cert = signFleetCertSync(operator, { peerId: peerIdFromPrivateKey(key).toString(), region: REGION, expires: Date.now() + 3_600_000 }, Date.now())
    const peer: Peer = { node, key, counters, docs, service: undefined as never, stopJoining: () => {} }
    peer.service = new MembershipService({ pubsub: node.services.pubsub, privateKey: key, counters, log: silent }, {
      region: REGION, cert, enforcing: true, trustedOperators: [operator.publicKey.raw], capacity: 100,
      local: () => ({ docs: peer.docs, roles: [], load: 0 })
    })
    peer.service.start()
    await serveMembershipSnapshots(node, peer.service, counters, silent)
    peer.stopJoining = joinRegion(node, peer.service, counters, silent)
    peers.push(peer)
    return peer
  }

  const addrOf = (node: BackboneNode): string => node.getMultiaddrs()[0].toString()
  const subscribed = (node: BackboneNode, count: number): boolean => node.services.pubsub.getSubscribers(TOPIC).length >= count

  after(async () => {
    for (const p of peers) { p.stopJoining(); await p.service.stop() }
    for (const node of [...peers.map(p => p.node), ...others]) await node.stop()
  })

  it('members learn each other, agree on the tree, refuse bad announcements by name, and see a leaver go at once', async () => {
    // Nobody re-announces here: a joining node learns its region from a snapshot, and the
    // region learns it from the snapshot's responder relaying its announcement.
    const a = await startPeer([], [])
    const b = await startPeer([addrOf(a.node)], [DOC])
    const count = (p: Peer): number => p.service.members().length
    await waitFor('a and b know each other', () => (count(a) === 2 && count(b) === 2) || undefined, { timeoutMs: 10_000, intervalMs: 20 })
    await waitFor('the hub sees b subscribed', () => subscribed(a.node, 1) || undefined, { timeoutMs: 10_000, intervalMs: 20 })
    const c = await startPeer([addrOf(a.node)], [DOC])
    await waitFor('every table holds all three', () => peers.every(p => count(p) === 3) || undefined, { timeoutMs: 10_000, intervalMs: 20 })
    assert.equal(b.counters.get('membership_snapshots_received') + c.counters.get('membership_snapshots_received'), 2)
    assert.equal(a.counters.get('membership_announced'), 1, 'a announced once, at start, before anyone listened')

    const trees = peers.map(p => p.service.tree(DOC, 8))
    assert.deepEqual(trees[1], trees[0])
    assert.deepEqual(trees[2], trees[0])
    assert.equal(trees[0].regions.length, 1)
    const roles = peers.map(p => p.service.roles(DOC, 8))
    assert.equal(roles.filter(r => r.some(role => role.role === 'proxy')).length, 1, 'exactly one proxy for the region')
    for (const carrier of [b, c]) assert.ok(carrier.service.roles(DOC, 8).length > 0, 'each carrier has a place')
    const proxy = peers.find(p => p.service.roles(DOC, 8).some(r => r.role === 'proxy'))!
    const topology = proxy.service.topology([DOC], 8)
    assert.equal(topology.members, 3)
    assert.deepEqual(topology.documents.map(d => [d.docId, d.carriers, d.depth]), [[DOC, 2, 1]])
    const [proxyRole] = topology.documents[0].roles.filter(r => r.role === 'proxy')
    assert.equal(proxyRole.parent, '@authority')
    assert.deepEqual(proxyRole.children.map(child => child.region), [b, c].filter(p => p !== proxy).map(() => REGION))

    // A rogue node on the hub: uncertified, wrong region, forged, malformed.
    const rogueKey = await generateKeyPair('Ed25519')
    const rogue = await createBackboneNode({ privateKey: rogueKey, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [addrOf(a.node)] })
    others.push(rogue)
    rogue.services.pubsub.subscribe(TOPIC)
    await waitFor('the rogue sees the hub subscribed', () => subscribed(rogue, 1) || undefined, { timeoutMs: 10_000, intervalMs: 20 })
    const rogueId = peerIdFromPrivateKey(rogueKey).toString()
    const fields = { region: REGION, seq: Date.now(), expires: Date.now() + 60_000, weight: 1000, capacity: 100, load: 0, docs: Digest.of([DOC]), roles: Digest.EMPTY }
    const wrongRegionCert = signFleetCertSync(operator, { peerId: rogueId, region: 'us-east', expires: Date.now() + 3_600_000 }, Date.now())
    const forged = signAnnouncementSync(rogueKey, { ...fields, seq: fields.seq + 2, cert: signFleetCertSync(operator, { peerId: rogueId, region: REGION, expires: Date.now() + 3_600_000 }, Date.now()) }).slice()
    forged[forged.length - 1] ^= 1
    const bad = [
      signAnnouncementSync(rogueKey, { ...fields, cert: '' }),
      signAnnouncementSync(rogueKey, { ...fields, seq: fields.seq + 1, cert: wrongRegionCert }),
      forged,
      new Uint8Array([1, 0, 0])
    ]
    for (const bytes of bad) await rogue.services.pubsub.publish(TOPIC, bytes)
    await waitFor('the hub counts each refusal by reason', () => (
      a.counters.get('membership_refused_uncertified') === 1 &&
      a.counters.get('membership_refused_wrong_region') === 1 &&
      a.counters.get('membership_refused_bad_signature') === 1 &&
      a.counters.get('membership_refused_malformed') === 1) || undefined, { timeoutMs: 10_000, intervalMs: 20 })
    assert.equal(a.service.members().length, 3, 'the rogue never joins')
    assert.deepEqual(a.service.tree(DOC, 8), trees[0], 'the tree is unchanged')
    assert.equal(b.counters.get('membership_refused_uncertified'), 0, 'refused announcements are not forwarded')

    // A member that stops says goodbye: the others drop it without waiting for its lease.
    const leaver = peers.indexOf(c)
    peers.splice(leaver, 1)
    c.stopJoining()
    await c.service.stop()
    await waitFor('the others drop the leaver', () => (a.service.members().length === 2 && b.service.members().length === 2) || undefined, { timeoutMs: 10_000, intervalMs: 20 })
    await c.node.stop()
  })
})
