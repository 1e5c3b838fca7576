import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { noise } from '@libp2p/noise'
import { webRTCDirect } from '@libp2p/webrtc'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { createEdgeNode } from '../../node/net/edge-node.ts'
import type { EdgeNode } from '../../node/net/edge-node.ts'
import type { Libp2p } from '@libp2p/interface'

/** What libp2p keeps of a transport's init (not public API: read to check the edge's wiring). */
interface TransportWithInit { [Symbol.toStringTag]: string, init?: { rtcConfiguration?: RTCConfiguration } }

describe('edge node: WebRTC-Direct configuration', function () {
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
})
