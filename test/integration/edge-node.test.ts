import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { DATASTORE_DIR } from '../../node/net/datastore.ts'
import { createEdgeNode } from '../../node/net/edge-node.ts'
import { waitFor } from '../helpers/processes.ts'
import type { EdgeNode } from '../../node/net/edge-node.ts'
import type { Libp2p } from '@libp2p/interface'

/** What libp2p keeps of a transport's init (not public API: read to check the edge's wiring). */
interface TransportWithInit { [Symbol.toStringTag]: string, init?: { rtcConfiguration?: RTCConfiguration } }

describe('edge node', function () {
  this.timeout(60_000)
  let edge: EdgeNode | undefined
  let client: Libp2p | undefined

  afterEach(async () => {
    await client?.stop()
    await edge?.stop()
    client = undefined
    edge = undefined
  })

  it('gives its browser peer connections no STUN servers, and still accepts a WebRTC-Direct dial', async () => {
    edge = await createEdgeNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/udp/0/webrtc-direct'],
      maxConnections: 10,
      inboundConnectionThreshold: 10,
      maxIncomingPendingConnections: 10
    })
    const transports = (edge as unknown as { components: { transportManager: { getTransports: () => TransportWithInit[] } } })
      .components.transportManager.getTransports()
    const direct = transports.find(t => t[Symbol.toStringTag] === '@libp2p/webrtc-direct')
    assert.ok(direct !== undefined, `no WebRTC-Direct transport among ${transports.map(t => t[Symbol.toStringTag]).join(', ')}`)
    // left unset, @libp2p/webrtc gives every peer connection four public STUN servers to gather from
    assert.deepEqual(direct.init?.rtcConfiguration?.iceServers, [])

    client = await createLibp2p({
      transports: [webRTCDirect({ rtcConfiguration: { iceServers: [] } })],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: () => false }
    })
    const addr = edge.getMultiaddrs().find(a => a.toString().includes('/webrtc-direct/'))
    assert.ok(addr !== undefined)
    const connection = await client.dial(addr, { signal: AbortSignal.timeout(30_000) })
    assert.equal(connection.status, 'open')
    assert.equal(connection.remotePeer.toString(), edge.peerId.toString())
  })

  it('keeps browsers\' peer records out of its data directory, and drops them when they leave', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dc10e-edge-'))
    try {
      const privateKey = await generateKeyPair('Ed25519')
      const start = async (): Promise<EdgeNode> => await createEdgeNode({
        privateKey,
        dataDir: dir,
        listen: ['/ip4/127.0.0.1/tcp/0/ws', '/ip4/127.0.0.1/udp/0/webrtc-direct'],
        maxConnections: 10,
        inboundConnectionThreshold: 10,
        maxIncomingPendingConnections: 10
      })
      const certhash = (node: EdgeNode): string | undefined => node.getMultiaddrs().map(a => a.toString()).find(a => a.includes('/certhash/'))?.split('/certhash/')[1].split('/')[0]
      edge = await start()
      const firstCerthash = certhash(edge)
      client = await createLibp2p({
        transports: [webSockets()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify() },
        connectionGater: { denyDialMultiaddr: () => false }
      })
      const addr = edge.getMultiaddrs().find(a => a.toString().includes('/ws/'))
      assert.ok(addr !== undefined)
      await client.dial(addr, { signal: AbortSignal.timeout(30_000) })
      // the client's identify stream is the one libp2p records the client's protocol for
      await waitFor('the edge to record the browser', async () => await edge!.peerStore.has(client!.peerId) ? true : undefined, { timeoutMs: 10_000, intervalMs: 20 })
      const files = await readdir(join(dir, 'edge', DATASTORE_DIR), { recursive: true })
      assert.deepEqual(files.filter(f => f.startsWith('peers')), [], 'no peer record on disk')

      const browser = client.peerId
      await client.stop()
      client = undefined
      await waitFor('the edge to forget the browser', async () => await edge!.peerStore.has(browser) ? undefined : true, { timeoutMs: 10_000, intervalMs: 20 })

      // what must persist still does: a restarted edge keeps its WebRTC-Direct certificate
      await edge.stop()
      edge = await start()
      assert.ok(firstCerthash !== undefined)
      assert.equal(certhash(edge), firstCerthash)
    } finally {
      await edge?.stop()
      edge = undefined
      await rm(dir, { recursive: true, force: true })
    }
  })
})
