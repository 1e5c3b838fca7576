import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { Key } from 'interface-datastore'
import { DatastoreStoppedError, openNodeDatastore } from '../../node/net/datastore.ts'
import { BOOTSTRAP_TAG, createBackboneNode } from '../../node/net/libp2p-node.ts'
import { listenAddresses } from '../../node/net/listen.ts'
import { documentTopicScoreParams, peerScore, scoreTopic } from '../../node/net/score.ts'
import type { BackboneNode, BackboneNodeOptions } from '../../node/net/libp2p-node.ts'
import type { PeerId } from '@libp2p/interface'

const LOOPBACK_TCP = '/ip4/127.0.0.1/tcp/0'
const LOOPBACK_WEBRTC_DIRECT = '/ip4/127.0.0.1/udp/0/webrtc-direct'
const TOPIC = '/deltacast/1/doc/test.net'

/** Polls `check` every `intervalMs` until it returns true; fails after `timeoutMs`. */
async function waitUntil (what: string, check: () => boolean, timeoutMs = 5000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`)
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}

function certhashOf (node: BackboneNode): string {
  const hashes = node.getMultiaddrs()
    .map(ma => /\/certhash\/([^/]+)/.exec(ma.toString())?.[1])
    .filter(hash => hash != null)
  assert.ok(hashes.length > 0, 'node has a webrtc-direct address with a certhash')
  assert.equal(new Set(hashes).size, 1, 'all webrtc-direct addresses share one certhash')
  return hashes[0]
}

function subscribes (node: BackboneNode, peer: PeerId): boolean {
  return node.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(peer))
}

describe('backbone libp2p node', function () {
  this.timeout(20_000)

  const nodes: BackboneNode[] = []
  const dirs: string[] = []

  async function start (opts: Partial<BackboneNodeOptions> = {}): Promise<BackboneNode> {
    const node = await createBackboneNode({
      privateKey: opts.privateKey ?? await generateKeyPair('Ed25519'),
      listen: [LOOPBACK_TCP],
      bootstrap: [],
      ...opts
    })
    nodes.push(node)
    return node
  }

  async function tempDir (): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'deltacast-net-'))
    dirs.push(dir)
    return dir
  }

  /** Starts A, then B bootstrapping to A; both subscribe and wait to see each other's subscription. */
  async function connectedPair (): Promise<[BackboneNode, BackboneNode]> {
    const a = await start()
    const b = await start({ bootstrap: a.getMultiaddrs().map(String) })
    a.services.pubsub.subscribe(TOPIC)
    b.services.pubsub.subscribe(TOPIC)
    await waitUntil('A and B see each other subscribed', () => subscribes(a, b.peerId) && subscribes(b, a.peerId))
    return [a, b]
  }

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async node => { await node.stop() }))
    await Promise.all(dirs.splice(0).map(async dir => { await rm(dir, { recursive: true, force: true }) }))
  })

  it('keeps its WebRTC-Direct certhash across a restart with the same key and data dir', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const dataDir = await tempDir()

    const first = await start({ privateKey, dataDir, listen: [LOOPBACK_WEBRTC_DIRECT] })
    const certhash = certhashOf(first)
    await first.stop()

    const second = await start({ privateKey, dataDir, listen: [LOOPBACK_WEBRTC_DIRECT] })
    assert.equal(second.peerId.toString(), first.peerId.toString())
    assert.equal(certhashOf(second), certhash)

    // control: the same key with a fresh data dir gets a new certificate
    const fresh = await start({ privateKey, dataDir: await tempDir(), listen: [LOOPBACK_WEBRTC_DIRECT] })
    assert.notEqual(certhashOf(fresh), certhash)
  })

  it('delivers every message published to a peer that bootstrapped over TCP', async () => {
    const [a, b] = await connectedPair()
    const count = 200
    const received: string[] = []
    b.services.pubsub.addEventListener('message', (evt) => {
      if (evt.detail.topic === TOPIC) {
        received.push(new TextDecoder().decode(evt.detail.data))
      }
    })

    const sent: string[] = []
    for (let i = 0; i < count; i++) {
      const text = `frame ${i}`
      sent.push(text)
      await a.services.pubsub.publish(TOPIC, new TextEncoder().encode(text))
    }

    await waitUntil(`B received ${count} messages`, () => received.length >= count)
    assert.equal(received.length, count)
    assert.deepEqual([...received].sort(), [...sent].sort())
    assert.ok(a.getConnections(b.peerId).length > 0)
    const bootstrapPeer = await b.peerStore.get(a.peerId)
    assert.ok(bootstrapPeer.tags.has(BOOTSTRAP_TAG), 'B tags its bootstrap peer so it is kept and redialled')
  })

  it('lets the connection gater refuse a peer', async () => {
    const refused: string[] = []
    const a = await start({
      connectionGater: {
        denyInboundEncryptedConnection: (peerId) => {
          refused.push(peerId.toString())
          return true
        }
      }
    })
    const b = await start()
    // B's side of the handshake can finish before A refuses, so B's dial may resolve; A then
    // closes the connection
    await b.dial(a.getMultiaddrs()[0]).catch(() => undefined)
    await waitUntil('B is disconnected from A', () => b.getConnections(a.peerId).length === 0)
    assert.deepEqual(refused, [b.peerId.toString()])
    assert.equal(a.getConnections(b.peerId).length, 0)
  })

  it('publishes to a topic nobody has joined without throwing', async () => {
    const lone = await start()
    const result = await lone.services.pubsub.publish(TOPIC, new TextEncoder().encode('hello?'))
    assert.deepEqual(result.recipients, [])
  })

  it('drops the score of a peer whose message a validator rejects below zero', async () => {
    const [a, b] = await connectedPair()
    scoreTopic(b.services.pubsub, TOPIC)
    const validated: string[] = []
    const delivered: string[] = []
    b.services.pubsub.topicValidators.set(TOPIC, (_peer, message) => {
      const text = new TextDecoder().decode(message.data)
      validated.push(text)
      return text.startsWith('bad') ? TopicValidatorResult.Reject : TopicValidatorResult.Accept
    })
    b.services.pubsub.addEventListener('message', (evt) => {
      delivered.push(new TextDecoder().decode(evt.detail.data))
    })

    await a.services.pubsub.publish(TOPIC, new TextEncoder().encode('good frame'))
    await waitUntil('B accepted the good frame', () => delivered.includes('good frame'))
    assert.ok(peerScore(b.services.pubsub, a.peerId) >= 0, 'score is not negative before any invalid message')

    await a.services.pubsub.publish(TOPIC, new TextEncoder().encode('bad frame'))
    await waitUntil('B validated the bad frame', () => validated.includes('bad frame'))
    // the score is cached for one heartbeat (1 s), so poll
    await waitUntil('A scores below 0 on B', () => peerScore(b.services.pubsub, a.peerId) < 0)
    assert.deepEqual(delivered, ['good frame'])
  })
})

describe('NodeDatastore', () => {
  it('refuses writes between its node stopping and starting again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'deltacast-ds-'))
    try {
      const datastore = await openNodeDatastore(dir)
      const key = new Key('/probe')
      await datastore.put(key, Uint8Array.of(1))
      datastore.afterStop()
      await assert.rejects(datastore.put(key, Uint8Array.of(2)), DatastoreStoppedError)
      await assert.rejects(datastore.delete(key), DatastoreStoppedError)
      assert.deepEqual([...await datastore.get(key)], [1])
      datastore.beforeStart()
      await datastore.put(key, Uint8Array.of(3))
      assert.deepEqual([...await datastore.get(key)], [3])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('listenAddresses', () => {
  it('builds one address per transport from host and ports', () => {
    assert.deepEqual(listenAddresses({ host: '127.0.0.1', tcpPort: 0, wsPort: 8080, webrtcDirectPort: 9090 }), [
      '/ip4/127.0.0.1/tcp/0',
      '/ip4/127.0.0.1/tcp/8080/ws',
      '/ip4/127.0.0.1/udp/9090/webrtc-direct'
    ])
  })

  it('uses defaults, IPv6 hosts, and leaves out transports set to null', () => {
    assert.deepEqual(listenAddresses(), ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws', '/ip4/0.0.0.0/udp/4001/webrtc-direct'])
    assert.deepEqual(listenAddresses({ host: '::1', wsPort: null, webrtcDirectPort: null }), ['/ip6/::1/tcp/4001'])
  })

  it('rejects ports out of range', () => {
    assert.throws(() => listenAddresses({ tcpPort: 65536 }), RangeError)
    assert.throws(() => listenAddresses({ wsPort: 1.5 }), RangeError)
  })
})

describe('documentTopicScoreParams', () => {
  it('penalises invalid messages and leaves mesh-delivery penalties off', () => {
    const params = documentTopicScoreParams()
    assert.ok(params.invalidMessageDeliveriesWeight < 0)
    assert.equal(params.meshMessageDeliveriesWeight, 0)
    assert.equal(params.meshFailurePenaltyWeight, 0)
  })

  it('refuses parameters gossipsub would reject', () => {
    assert.throws(() => documentTopicScoreParams({ invalidMessageDeliveriesWeight: 1 }))
  })
})
