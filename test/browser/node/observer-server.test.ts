// The observer server over real libp2p streams (Node, TCP), with a fake document.

import assert from 'node:assert/strict'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { startObserverServer } from '../../../node/super-peer/observer-server.ts'
import { OBSERVE_PROTOCOL, encodeMessage, parseServerMessage } from '../../../src/observe/protocol.ts'
import { FakeDoc } from '../fixtures/fake-doc.ts'
import type { ObserverServer, ObserverServerOptions } from '../../../node/super-peer/observer-server.ts'
import type { ServerMessage } from '../../../src/observe/protocol.ts'
import type { UpstreamState } from '../../../src/observe/observable-doc.ts'
import type { Libp2p, Stream } from '@libp2p/interface'

async function tcpNode (listen: boolean): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: listen ? ['/ip4/127.0.0.1/tcp/0'] : [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    connectionManager: { inboundConnectionThreshold: 1000 }
  })
}

interface RawObserver {
  stream: Stream
  next: () => Promise<ServerMessage | 'closed'>
  send: (bytes: Uint8Array) => void
}

async function openObserver (client: Libp2p, server: Libp2p): Promise<RawObserver> {
  const stream = await client.dialProtocol(server.getMultiaddrs()[0], OBSERVE_PROTOCOL)
  const lp = lpStream(stream, { maxDataLength: 4 * 1024 * 1024 })
  return {
    stream,
    send: bytes => { stream.send(bytes) },
    next: async () => {
      try {
        const parsed = parseServerMessage((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray())
        if (!parsed.ok) throw new Error(parsed.error)
        return parsed.value
      } catch (err: any) {
        if (err.name === 'UnexpectedEOFError') return 'closed'
        throw err
      }
    }
  }
}

function request (doc: string, after: number | null): Uint8Array {
  return encodeMessage({ doc, after })
}

describe('observer server (Node)', function () {
  let serverNode: Libp2p
  let clientNode: Libp2p
  let server: ObserverServer
  let doc: FakeDoc

  async function serve (options: Partial<ObserverServerOptions> = {}): Promise<void> {
    server = startObserverServer(serverNode, id => id === doc.docId ? doc : undefined, options)
    await server.ready
  }

  beforeEach(async function () {
    serverNode = await tcpNode(true)
    clientNode = await tcpNode(false)
    doc = new FakeDoc('doc-a', 5)
    for (let seq = 1; seq <= 8; seq++) doc.push({ seq, data: seq === 4 ? null : { n: seq } })
  })

  afterEach(async function () {
    await server?.stop()
    await clientNode.stop()
    await serverNode.stop()
  })

  it('sends a reset, then every frame (without data when it changed nothing)', async function () {
    await serve()
    const observer = await openObserver(clientNode, serverNode)
    observer.send(request('doc-a', null))
    // the stream's first message announces the heartbeats (default every 1,000 ms)
    assert.deepEqual(await observer.next(), { heartbeat: 1000, reset: true, data: { n: 8 }, seq: 8 })
    doc.push({ seq: 9, data: { m: 1 } })
    doc.push({ seq: 10, data: null })
    assert.deepEqual(await observer.next(), { data: { m: 1 }, seq: 9 })
    assert.deepEqual(await observer.next(), { seq: 10 })
  })

  it('resumes inside the retained window with the frames after `after` and no reset', async function () {
    await serve()
    const observer = await openObserver(clientNode, serverNode)
    observer.send(request('doc-a', 5))
    // catch-up frames go out unchanged, behind a duplicate of the seq the browser holds that announces
    assert.deepEqual(await observer.next(), { heartbeat: 1000, seq: 5 })
    assert.deepEqual(await observer.next(), { data: { n: 6 }, seq: 6 })
    assert.deepEqual(await observer.next(), { data: { n: 7 }, seq: 7 })
    assert.deepEqual(await observer.next(), { data: { n: 8 }, seq: 8 })
    doc.push({ seq: 9, data: { n: 9 } })
    assert.deepEqual(await observer.next(), { data: { n: 9 }, seq: 9 })
  })

  it('resets a browser whose `after` is no longer retained', async function () {
    await serve()
    const observer = await openObserver(clientNode, serverNode)
    observer.send(request('doc-a', 2)) // window holds seqs 4..8
    assert.deepEqual(await observer.next(), { heartbeat: 1000, reset: true, data: { n: 8 }, seq: 8 })
  })

  it('holds a browser that is ahead until the document catches up', async function () {
    await serve()
    const observer = await openObserver(clientNode, serverNode)
    observer.send(request('doc-a', 9))
    // whether the server joins it before or after these frames, frame 9 must never be sent
    doc.push({ seq: 9, data: { n: 9 } })
    doc.push({ seq: 10, data: { n: 10 } })
    assert.deepEqual(await observer.next(), { heartbeat: 1000, seq: 9 })
    assert.deepEqual(await observer.next(), { data: { n: 10 }, seq: 10 })
  })

  it('refuses an unknown doc and a malformed request, with exact error messages', async function () {
    await serve()
    const unknown = await openObserver(clientNode, serverNode)
    unknown.send(request('doc-b', null))
    assert.deepEqual(await unknown.next(), { error: 'unknown doc doc-b', code: 'unknown-doc' })
    assert.equal(await unknown.next(), 'closed')

    const garbage = await openObserver(clientNode, serverNode)
    garbage.send(Uint8Array.from([3, 0x7b, 0x7b, 0x7b]))
    assert.deepEqual(await garbage.next(), { error: 'not UTF-8 JSON', code: 'bad-request' })
    assert.deepEqual(server.stats().refused, 2)
  })

  it('refuses every message an observer tries to send, and keeps it and the others served', async function () {
    await serve()
    const good = await openObserver(clientNode, serverNode)
    good.send(request('doc-a', 8))
    assert.deepEqual(await good.next(), { heartbeat: 1000, seq: 8 }, 'a resume at the head is acknowledged with the seq it already has')
    const writer = await openObserver(clientNode, serverNode)
    writer.send(request('doc-a', null))
    assert.equal((await writer.next() as { seq: number }).seq, 8)
    writer.send(encodeMessage({ send: { vote: 'yes' } }))
    assert.deepEqual(await writer.next(), { refused: 'observe is read-only: this connection cannot send messages', code: 'read-only' })
    doc.push({ seq: 9, data: { n: 9 } })
    assert.deepEqual(await writer.next(), { data: { n: 9 }, seq: 9 }, 'the refused observer still follows the document')
    assert.deepEqual(await good.next(), { data: { n: 9 }, seq: 9 })
    assert.equal(server.stats().refusedSends, 1)
    assert.equal(server.stats().ejected, 0)
  })

  it('ejects a browser that sends something other than a view update or a send', async function () {
    await serve()
    const good = await openObserver(clientNode, serverNode)
    good.send(request('doc-a', 8))
    assert.deepEqual(await good.next(), { heartbeat: 1000, seq: 8 }, 'a resume at the head is acknowledged with the seq it already has')
    const bad = await openObserver(clientNode, serverNode)
    bad.send(request('doc-a', null))
    assert.equal((await bad.next() as { seq: number }).seq, 8)
    bad.send(request('doc-a', null))
    assert.deepEqual(await bad.next(), { error: 'expected {"view": {...}} or {"send": ...}', code: 'bad-request' })
    assert.equal(await bad.next(), 'closed')
    doc.push({ seq: 9, data: { n: 9 } })
    assert.deepEqual(await good.next(), { data: { n: 9 }, seq: 9 })
    assert.equal(server.stats().ejected, 1)
  })

  it('ends an observer whose next message exceeds maxMessageBytes', async function () {
    await serve({ maxMessageBytes: 30 })
    const observer = await openObserver(clientNode, serverNode)
    observer.send(request('doc-a', null)) // the reset is 36 bytes
    assert.deepEqual(await observer.next(), { error: 'the snapshot exceeds 30 bytes', code: 'too-large' })
    assert.equal(await observer.next(), 'closed')
    assert.equal(server.stats().observers, 0)
  })

  it('turns observers away past maxObservers', async function () {
    await serve({ maxObservers: 1 })
    const first = await openObserver(clientNode, serverNode)
    first.send(request('doc-a', 8))
    const second = await openObserver(clientNode, serverNode)
    second.send(request('doc-a', 8))
    assert.deepEqual(await second.next(), { error: 'too many observers', code: 'busy' })
  })

  it('resyncs a viewer that stops reading with a reset, without slowing the others', async function () {
    this.timeout(20_000)
    await serve({ maxQueuedBytes: 64 * 1024 })
    const slow = await openObserver(clientNode, serverNode)
    slow.send(request('doc-a', 8))
    const fast = await openObserver(clientNode, serverNode)
    fast.send(request('doc-a', 8))
    while (server.stats().observers < 2 || server.stats().accepted < 2) await new Promise(resolve => setImmediate(resolve))
    slow.stream.pause() // stop reading: yamux's window fills, the server's queue grows
    const filler = 'x'.repeat(4096)
    let first = true
    for (let seq = 9; seq <= 400; seq++) {
      doc.push({ seq, data: { n: seq, filler } })
      // its first frame comes behind the heartbeat announcement, a duplicate of seq 8
      if (first) assert.deepEqual(await fast.next(), { heartbeat: 1000, seq: 8 })
      first = false
      const message = await fast.next() as { seq: number }
      assert.equal(message.seq, seq)
    }
    assert.ok(server.stats().resyncs >= 1, 'the slow viewer was resynced')
    slow.stream.resume()
    let last: ServerMessage | 'closed'
    let sawReset = false
    do {
      last = await slow.next()
      if (last !== 'closed' && 'reset' in last) sawReset = true
    } while (last !== 'closed' && (last as { seq: number }).seq < 400)
    assert.ok(sawReset, 'the slow viewer got a reset')
    assert.deepEqual(last, { reset: true, data: { n: 400, filler }, seq: 400 })
  })
})

/** A FakeDoc whose upstream the test silences and revives. */
class UpstreamDoc extends FakeDoc {
  private state: UpstreamState = { silent: false, ageMs: 0 }
  private readonly upstreamListeners = new Set<(state: UpstreamState) => void>()

  set (state: UpstreamState): void {
    this.state = state
    for (const listener of this.upstreamListeners) listener(state)
  }

  upstream (): UpstreamState { return this.state }

  onUpstream (listener: (state: UpstreamState) => void): () => void {
    this.upstreamListeners.add(listener)
    return () => { this.upstreamListeners.delete(listener) }
  }
}

describe('observer server: upstream silence (Node)', function () {
  let serverNode: Libp2p
  let clientNode: Libp2p
  let server: ObserverServer
  let doc: UpstreamDoc

  beforeEach(async function () {
    serverNode = await tcpNode(true)
    clientNode = await tcpNode(false)
    doc = new UpstreamDoc('doc-s')
    doc.push({ seq: 1, data: { n: 1 } })
    server = startObserverServer(serverNode, id => id === doc.docId ? doc : undefined)
    await server.ready
  })

  afterEach(async function () {
    await server.stop()
    await clientNode.stop()
    await serverNode.stop()
  })

  it('tells every observer when the upstream goes silent and when it speaks again, without touching seqs', async function () {
    const [a, b] = [await openObserver(clientNode, serverNode), await openObserver(clientNode, serverNode)]
    a.send(request('doc-s', null))
    b.send(request('doc-s', 1))
    assert.deepEqual(await a.next(), { heartbeat: 1000, reset: true, data: { n: 1 }, seq: 1 })
    assert.deepEqual(await b.next(), { heartbeat: 1000, seq: 1 }, 'a resume at the head is acknowledged with the head')
    doc.set({ silent: true, ageMs: 3004 })
    doc.set({ silent: true, ageMs: 4004 })
    for (const observer of [a, b]) {
      assert.deepEqual(await observer.next(), { stale: true, age: 3004 })
      assert.deepEqual(await observer.next(), { stale: true, age: 4004 })
    }
    doc.set({ silent: false, ageMs: 0 })
    doc.push({ seq: 2, data: { n: 2 } })
    for (const observer of [a, b]) {
      assert.deepEqual(await observer.next(), { stale: false, age: 0 })
      assert.deepEqual(await observer.next(), { data: { n: 2 }, seq: 2 })
    }
  })

  it('tells an observer that joins during a silence, right after its first view', async function () {
    doc.set({ silent: true, ageMs: 5000 })
    const observer = await openObserver(clientNode, serverNode)
    observer.send(request('doc-s', null))
    assert.deepEqual(await observer.next(), { heartbeat: 1000, reset: true, data: { n: 1 }, seq: 1 })
    assert.deepEqual(await observer.next(), { stale: true, age: 5000 })
  })
})
