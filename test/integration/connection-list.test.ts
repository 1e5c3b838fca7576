import assert from 'node:assert/strict'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'

// patches/libp2p+*.patch makes the connection manager's getConnections() linear (it copied the
// whole list once per peer, on every connection opened: at 4,000 browsers a third of the
// edge's CPU), and keeps a count for the maxConnections check and the pruner, which ran it for
// every connection accepted and opened. This checks the patched list is still every open
// connection, once each, that the count follows it, and that the limit still holds.
describe('libp2p connection list (patched getConnections and its count)', function () {
  this.timeout(30_000)
  const nodes: Libp2p[] = []
  const counted = (node: Libp2p): number => (node as any).components.connectionManager.getConnectionCount()
  const node = async (listen: string[] = [], maxConnections?: number): Promise<Libp2p> => {
    const made = await createLibp2p({
      ...(maxConnections === undefined ? {} : { connectionManager: { maxConnections } }),
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
    assert.equal(counted(server), 4, 'the count is the list\'s length')
    // the dialling side tracks what it opened (openConnection) and what the upgrader announced once
    assert.equal(counted(dialers[0]), dialers[0].getConnections().length)
    assert.equal(counted(dialers[0]), 2)

    await dialers[1].hangUp(server.peerId)
    while (server.getConnections().length !== 3) await new Promise(resolve => server.addEventListener('connection:close', resolve, { once: true }))
    assert.ok(!server.getConnections().some(c => c.remotePeer.equals(dialers[1].peerId)), 'a closed connection is not listed')
    assert.equal(counted(server), 3, 'a closed connection is not counted')
    await extra.close()
    while (server.getConnections().length !== 2) await new Promise(resolve => server.addEventListener('connection:close', resolve, { once: true }))
    assert.equal(counted(server), 2)
    assert.equal(counted(dialers[0]), dialers[0].getConnections().length)
  })

  it('refuses inbound connections past maxConnections, by the count, and admits again after a close', async () => {
    const server = await node(['/ip4/127.0.0.1/tcp/0'], 2)
    const addr = server.getMultiaddrs()[0]
    const dialers = await Promise.all([node(), node(), node()])
    await dialers[0].dial(addr)
    await dialers[1].dial(addr)
    while (counted(server) !== 2) await new Promise(resolve => server.addEventListener('connection:open', resolve, { once: true }))
    await assert.rejects(dialers[2].dial(addr), 'a third connection is refused at maxConnections 2')
    assert.equal(counted(server), 2)
    assert.equal(server.getConnections().length, 2)

    await dialers[0].hangUp(server.peerId)
    while (counted(server) !== 1) await new Promise(resolve => server.addEventListener('connection:close', resolve, { once: true }))
    await dialers[2].dial(addr)
    while (counted(server) !== 2) await new Promise(resolve => server.addEventListener('connection:open', resolve, { once: true }))
    assert.deepEqual(new Set(server.getConnections().map(c => c.remotePeer.toString())), new Set([dialers[1], dialers[2]].map(d => d.peerId.toString())))
  })
})
