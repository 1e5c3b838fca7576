import assert from 'node:assert/strict'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'

// patches/libp2p+*.patch makes the connection manager's getConnections() linear (it copied the
// whole list once per peer, on every connection opened: at 4,000 browsers a third of the
// edge's CPU). This checks the patched list is still every open connection, once each.
describe('libp2p connection list (patched getConnections)', function () {
  this.timeout(30_000)
  const nodes: Libp2p[] = []
  const node = async (listen: string[] = []): Promise<Libp2p> => {
    const made = await createLibp2p({
      addresses: { listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()]
    })
    nodes.push(made)
    return made
  }
  after(async () => { await Promise.all(nodes.map(async n => { await n.stop() })) })

  it('lists every open connection of every peer, once, and drops closed ones', async () => {
    const server = await node(['/ip4/127.0.0.1/tcp/0'])
    const addr = server.getMultiaddrs()[0]
    const dialers = await Promise.all([node(), node(), node()])
    const first = await Promise.all(dialers.map(async d => await d.dial(addr)))
    // a second connection from the same peer: the list holds peers with several connections
    const extra = await dialers[0].dial(addr, { force: true })
    assert.notEqual(extra.id, first[0].id)

    const until = async (want: number): Promise<void> => {
      while (server.getConnections().length !== want) await new Promise(resolve => server.addEventListener('connection:open', resolve, { once: true }))
    }
    await until(4)
    const listed = server.getConnections()
    assert.equal(new Set(listed.map(c => c.id)).size, 4, 'no connection listed twice')
    assert.deepEqual(new Set(listed.map(c => c.remotePeer.toString())), new Set(dialers.map(d => d.peerId.toString())))
    assert.equal(server.getConnections(dialers[0].peerId).length, 2)

    await dialers[1].hangUp(server.peerId)
    while (server.getConnections().length !== 3) await new Promise(resolve => server.addEventListener('connection:close', resolve, { once: true }))
    assert.ok(!server.getConnections().some(c => c.remotePeer.equals(dialers[1].peerId)), 'a closed connection is not listed')
  })
})
