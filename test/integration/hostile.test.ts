import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { encodeMessage, OBSERVE_PROTOCOL } from '../../src/observe/protocol.ts'
import { SYNC_PROTOCOL } from '../../src/sync/messages.ts'
import { FLEET_PROTOCOL } from '../../node/fleet/index.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import { createTestObserverNode, RawObserver } from '../helpers/raw-observer.ts'
import { multistream, noiseMessage, portOf, rawConnect, receivedUntil, sendUdp, upgradedWebSocket, wsFrame } from '../helpers/raw-sockets.ts'
import type { Running } from '../helpers/processes.ts'
import type { RawSocket } from '../helpers/raw-sockets.ts'
import type { ObserverNode } from '../../browser/node.ts'
import type { Libp2p, StreamMuxerFactory } from '@libp2p/interface'

const OBSERVER_CHILD = fileURLToPath(new URL('../helpers/observer-child.ts', import.meta.url))

/** Short deadlines so each stage's timeout shows within the test; the defaults are in EDGE_LIMITS. */
const HTTP_TIMEOUT_MS = 1_500
const UPGRADE_TIMEOUT_MS = 3_000
const STALL_TIMEOUT_MS = 4_000
const PER_ADDRESS = 40
const STREAM_CAP = 2

/**
 * A hostile client against a real super-peer process: malformed input at every layer of every
 * listener, a connection flood, a reader that stops reading, too many streams. After each, the
 * process is alive and the observers connected before it are still served.
 */
describe('hostile clients: the edge survives', function () {
  this.timeout(300_000)

  let dir: string
  let authority: Running
  let driver: AuthorityDriver
  let superPeer: Running
  let docId: string
  let wsAddr: string
  let webrtcAddr: string
  let backboneTcp: string
  let backboneWs: string
  let watcherNode: ObserverNode
  const watchers: RawObserver[] = []
  const stopLater: Libp2p[] = []
  let changes = 0

  const counters = async (): Promise<Record<string, number>> => (await superPeer.admin('/status')).counters
  const observeStatus = async (): Promise<Record<string, number>> => (await superPeer.admin('/status')).observe

  /** One more change; resolves once the authority acknowledged it (returns the number of changes so far). */
  async function change (bytes = 16): Promise<number> {
    const id = driver.send({ [`k${changes++ % 50}`]: randomBytes(bytes).toString('hex') })
    await driver.until('the change acked', () => driver.acked.has(id))
    return (await authority.admin(`/docs/${docId}/state`)).seq
  }

  /** The super-peer still runs and every watcher gets the next frame. */
  async function assertServed (what: string): Promise<void> {
    assert.equal(superPeer.child.exitCode, null, `super-peer exited after ${what}:\n${superPeer.stderr().slice(-3000)}`)
    const seq = await change()
    for (const watcher of watchers) {
      await waitFor(`a watcher at seq ${seq} after ${what}`, () => watcher.seq >= seq ? true : undefined, { timeoutMs: 20_000 })
        .catch((err: Error) => { throw new Error(`${err.message} (watcher ended: ${watcher.ended}, exit ${superPeer.child.exitCode})\n${superPeer.stderr().slice(-3000)}`) })
    }
  }

  /** Sends `bytes`, waits for the server to close the socket, and checks the process still answers. */
  async function assertClosedAfter (socket: RawSocket, bytes: Uint8Array): Promise<void> {
    socket.write(bytes)
    await socket.whenClosed
    await superPeer.admin('/status').catch((err: Error) => {
      throw new Error(`super-peer gone after ${Buffer.from(bytes).toString('hex').slice(0, 40)}: ${err.message}\n${superPeer.stderr().slice(-2000)}`)
    })
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc15-hostile-'))
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'hostile' }))
    driver = new AuthorityDriver(authority)
    docId = authority.ready.docId
    superPeer = await startCli(superPeerArgs({
      dataDir: join(dir, 'sp'),
      docId,
      bootstrap: [authority.ready.addrs[0]],
      observe: true,
      extra: ['--listen', '/ip4/127.0.0.1/tcp/0/ws',
        '--observe-http-timeout-ms', String(HTTP_TIMEOUT_MS), '--observe-upgrade-timeout-ms', String(UPGRADE_TIMEOUT_MS),
        '--observe-stall-timeout-ms', String(STALL_TIMEOUT_MS), '--observe-max-connections-per-address', String(PER_ADDRESS),
        '--observe-max-streams-per-connection', String(STREAM_CAP)]
    }))
    const observeAddrs: string[] = superPeer.ready.observe.addrs
    wsAddr = observeAddrs.find(a => a.includes('/ws'))!
    webrtcAddr = observeAddrs.find(a => a.includes('/webrtc-direct'))!
    backboneTcp = (superPeer.ready.addrs as string[]).find(a => !a.includes('/ws'))!
    backboneWs = (superPeer.ready.addrs as string[]).find(a => a.includes('/ws'))!
    await change()
    watcherNode = await createTestObserverNode()
    watchers.push(await RawObserver.open(watcherNode, wsAddr, docId), await RawObserver.open(watcherNode, webrtcAddr, docId))
    await assertServed('start')
  })

  after(async () => {
    await Promise.all([...stopLater, watcherNode].map(async node => { await node?.stop() }))
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })

  describe('malformed input at each layer', () => {
    it('WebSocket framing: RSV2/RSV3 set, unmasked, an absurd length; on the observe and backbone ports', async () => {
      for (const port of [portOf(wsAddr), portOf(backboneWs)]) {
        for (const frame of [[0x72, 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9], [0x82, 0x03, 1, 2, 3], [0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]]) {
          await assertClosedAfter(await upgradedWebSocket(port), Uint8Array.from(frame))
        }
      }
      assert.ok((await counters()).observe_refused_per_address === undefined, 'the frames were refused by framing, not by limits')
      await assertServed('malformed WebSocket frames')
    })

    it('HTTP: garbage, an upgrade without a key, a request that never ends, a socket that never speaks', async () => {
      const port = portOf(wsAddr)
      const garbage = await rawConnect(port)
      garbage.write(randomBytes(300))
      await garbage.whenClosed
      const noKey = await rawConnect(port)
      noKey.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
      assert.match((await receivedUntil(noKey, all => all.includes('\r\n\r\n'))).toString('latin1'), /^HTTP\/1\.1 400/)
      await noKey.whenClosed
      // A header line every 500 ms keeps the socket busy but never finishes the request.
      const slow = await rawConnect(port)
      slow.write('GET / HTTP/1.1\r\n')
      const drip = setInterval(() => { slow.write('X-A: b\r\n') }, 500)
      const silent = await rawConnect(port)
      await Promise.all([slow.whenClosed, silent.whenClosed])
      clearInterval(drip)
      await assertServed('malformed HTTP')
    })

    it('multistream-select and Noise: garbage protocol names, a handshake message that does not decrypt', async () => {
      for (const port of [portOf(wsAddr), portOf(backboneWs)]) {
        await assertClosedAfter(await upgradedWebSocket(port), wsFrame(randomBytes(64)))
        const noiseGarbage = await upgradedWebSocket(port)
        noiseGarbage.write(wsFrame(Buffer.concat([multistream('/multistream/1.0.0', '/noise'), noiseMessage(randomBytes(32))])))
        await receivedUntil(noiseGarbage, all => all.byteLength > 64) // the responder's reply
        await assertClosedAfter(noiseGarbage, wsFrame(noiseMessage(randomBytes(120))))
      }
      const tcpPort = portOf(backboneTcp)
      const tcpGarbage = await rawConnect(tcpPort)
      await assertClosedAfter(tcpGarbage, randomBytes(500))
      const tcpNoise = await rawConnect(tcpPort)
      tcpNoise.write(Buffer.concat([multistream('/multistream/1.0.0', '/noise'), noiseMessage(randomBytes(32))]))
      await receivedUntil(tcpNoise, all => all.byteLength > 64)
      await assertClosedAfter(tcpNoise, noiseMessage(randomBytes(120)))
      await assertServed('malformed multistream and Noise')
    })

    it('yamux: an invalid frame header after a real Noise handshake, on the observe and backbone listeners', async () => {
      const badFrames = [
        Uint8Array.from([7, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), // unknown version
        Uint8Array.from([0, 9, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0]), // unknown frame type
        Uint8Array.from([0, 0, 0, 2, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff]) // data far past the window
      ]
      for (const frame of badFrames) {
        for (const addr of [wsAddr, backboneTcp]) {
          const node = await createHostileMuxerNode(frame)
          stopLater.push(node)
          await node.dial(multiaddr(addr)).catch(() => {})
          await waitFor('the super-peer to close the connection', () => node.getConnections().length === 0 ? true : undefined, { timeoutMs: 15_000 })
          await node.stop()
        }
      }
      await assertServed('malformed yamux frames')
    })

    it('length-prefixed protocols: an oversized request, a broken varint, garbage on sync and the fleet handshake', async () => {
      const node = await createTestObserverNode()
      stopLater.push(node)
      for (const bytes of [Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Uint8Array.from(Array(11).fill(0xff)), Uint8Array.from([5, 1, 2])]) {
        const stream = await node.dialProtocol(multiaddr(wsAddr), OBSERVE_PROTOCOL)
        stream.send(bytes)
        await waitFor('the observe stream to be ended by the server', () => stream.status !== 'open' || stream.readStatus !== 'readable' ? true : undefined, { timeoutMs: 20_000 })
        stream.abort(new Error('done'))
      }
      const backbone = await createLibp2p({ privateKey: await generateKeyPair('Ed25519'), transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } })
      stopLater.push(backbone)
      for (const protocol of [SYNC_PROTOCOL, FLEET_PROTOCOL]) {
        const stream = await backbone.dialProtocol(multiaddr(backboneTcp), protocol)
        stream.send(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]))
        await waitFor(`the ${protocol} stream to be ended by the server`, () => stream.status !== 'open' || stream.readStatus !== 'readable' ? true : undefined, { timeoutMs: 20_000 })
      }
      await backbone.stop()
      await assertServed('malformed length prefixes')
    })

    it('WebRTC-Direct: garbage datagrams and malformed STUN on the UDP port', async () => {
      const stunHeader = (type: number, length: number): Buffer => Buffer.concat([Buffer.from([type >> 8, type & 0xff, length >> 8, length & 0xff, 0x21, 0x12, 0xa4, 0x42]), randomBytes(12)])
      await sendUdp(portOf(webrtcAddr), [
        randomBytes(1), randomBytes(200), randomBytes(1400),
        stunHeader(0x0001, 0), // binding request without USERNAME
        Buffer.concat([stunHeader(0x0001, 8), Buffer.from([0x00, 0x06, 0x00, 0x40, 1, 2, 3, 4])]), // attribute longer than the message
        Buffer.concat([stunHeader(0x0001, 12), Buffer.from([0x00, 0x06, 0x00, 0x08]), Buffer.from(':::::::;')]) // USERNAME without a valid ufrag
      ])
      await assertServed('malformed UDP')
    })

    it('admin HTTP: garbage and an oversized header', async () => {
      const port = Number(new URL(superPeer.ready.admin).port)
      const garbage = await rawConnect(port)
      await assertClosedAfter(garbage, randomBytes(300))
      const huge = await rawConnect(port)
      huge.write(`GET /status HTTP/1.1\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`)
      assert.match((await receivedUntil(huge, all => all.includes('\r\n\r\n'))).toString('latin1'), /^HTTP\/1\.1 431/)
      await assertServed('malformed admin requests')
    })
  })

  it('a connection flood: the observers stay live, the limits refuse and count, every socket is closed', async () => {
    const port = portOf(wsAddr)
    const before = await counters()
    // Browser connections to the edge node, summed over transports.
    const edgeConnections = async (): Promise<number> => [...(await superPeer.admin('/metrics') as string).matchAll(/^deltacast_observer_connections(?:\{[^}]*\})? (\d+)$/gm)]
      .reduce((sum, m) => sum + Number(m[1]), 0)
    const baseline = await edgeConnections()
    const silent = await Promise.all(Array.from({ length: 100 }, async () => await rawConnect(port)))
    const garbage = await Promise.all(Array.from({ length: 100 }, async () => {
      const socket = await rawConnect(port)
      socket.write(randomBytes(100))
      return socket
    }))
    // Upgraded WebSockets that go quiet reach the per-address limits (all come from 127.0.0.1).
    const upgraded = (await Promise.allSettled(Array.from({ length: 100 }, async () => await upgradedWebSocket(port))))
      .flatMap(result => result.status === 'fulfilled' ? [result.value] : [])
    await assertServed('the flood arriving')
    await Promise.all([...silent, ...garbage, ...upgraded].map(async socket => await socket.whenClosed))
    const after = await counters()
    const refused = (after.observe_refused_per_address ?? 0) - (before.observe_refused_per_address ?? 0) + (after.observe_refused_rate ?? 0) - (before.observe_refused_rate ?? 0)
    assert.ok(refused >= upgraded.length - PER_ADDRESS, `refused ${refused} of ${upgraded.length} upgraded sockets: ${JSON.stringify(after)}`)
    await waitFor('the edge back to the watchers\' connections', async () => await edgeConnections() === baseline ? true : undefined)
    // New observers are admitted again once the flood is gone.
    const lateNode = await createTestObserverNode()
    stopLater.push(lateNode)
    const late = await RawObserver.open(lateNode, wsAddr, docId)
    await waitFor('the late observer\'s reset', () => late.seq >= 0 ? true : undefined)
      .catch(async (err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(late.messages)} ${late.ended} ${JSON.stringify(await counters())}`) })
    await lateNode.stop()
    await assertServed('the flood')
  })

  it(`caps observe streams per connection at ${STREAM_CAP}, refusing the next with "too-many-streams"`, async () => {
    const node = await createTestObserverNode()
    stopLater.push(node)
    const connection = await node.dial(multiaddr(wsAddr))
    const open: RawObserver[] = []
    for (let i = 0; i < STREAM_CAP; i++) open.push(await RawObserver.open(node, connection, docId))
    for (const observer of open) await waitFor('a reset on each stream under the cap', () => observer.seq >= 0 ? true : undefined)
    const before = (await counters()).observe_refused_too_many_streams ?? 0
    const extra = await RawObserver.open(node, connection, docId)
    await waitFor('the refusal', () => extra.error)
    assert.equal(extra.error, 'too-many-streams')
    assert.equal(extra.seq, -1, 'nothing served on the refused stream')
    assert.equal((await counters()).observe_refused_too_many_streams, before + 1)
    // A closed stream frees its place.
    open[0].stream.abort(new Error('done'))
    const again = await waitFor('a stream admitted once one closed', async () => {
      const observer = await RawObserver.open(node, connection, docId)
      await waitFor('its first message', () => observer.messages.length > 0 ? true : undefined)
      return observer.seq >= 0 ? observer : undefined
    })
    assert.ok(again.seq >= 0)
    // A second stream that floods view updates gets an answer too: it is rate-limited and closed.
    for (let i = 0; i < 30; i++) again.stream.send(encodeMessage({ view: { room: i } }))
    await waitFor('the view-update flood refused', () => again.error)
    assert.equal(again.error, 'rate-limited')
    assert.ok(open[1].ended === undefined, 'the other stream on the connection is still open')
    await node.stop()
    await assertServed('the stream cap')
  })

  it('a reader that stops reading is resynced past 1 MiB and dropped once nothing leaves its stream', async () => {
    const child = spawn(process.execPath, [OBSERVER_CHILD, wsAddr, docId], { stdio: ['ignore', 'pipe', 'inherit'] })
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
    try {
      let first = await lines.next()
      while ((first.value as string).includes('opened')) first = await lines.next()
      assert.ok('seq' in JSON.parse(first.value as string), 'the child observer got its reset')
      const before = await observeStatus()
      child.kill('SIGSTOP')
      // 40 frames of about 100 KB each: far past the 1 MiB limit.
      for (let i = 0; i < 40; i++) await change(50_000)
      await waitFor('a resync of the frozen reader', async () => (await observeStatus()).resyncs > before.resyncs ? true : undefined)
      await waitFor('the frozen reader dropped', async () => (await observeStatus()).frozen > before.frozen ? true : undefined, { timeoutMs: 30_000 })
      const status = await observeStatus()
      assert.equal(status.observers, before.observers - 1, 'only the frozen reader went')
      await assertServed('a frozen reader')
      child.kill('SIGCONT')
      let line = await lines.next()
      while (line.done !== true && !(line.value as string).includes('ended')) line = await lines.next()
      assert.ok(line.done !== true, 'the child saw its stream end')
    } finally {
      child.kill('SIGKILL')
    }
  })
})

/**
 * A libp2p node whose yamux sends `frame` as its first bytes after the muxer is agreed: the
 * super-peer's yamux must reject it and close this connection alone.
 */
async function createHostileMuxerNode (frame: Uint8Array): Promise<Libp2p> {
  const hostileYamux = (): StreamMuxerFactory => {
    const real = yamux()()
    return {
      protocol: real.protocol,
      createStreamMuxer: (maConn: any) => {
        const muxer = real.createStreamMuxer(maConn)
        maConn.send(frame)
        return muxer
      }
    }
  }
  return await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [hostileYamux],
    connectionGater: { denyDialMultiaddr: () => false }
  })
}
