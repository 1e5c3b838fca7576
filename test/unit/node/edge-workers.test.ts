// The pieces of edge workers that need no processes: which addresses each worker listens on,
// the --edge-workers flag, and a session whose resync reset comes from elsewhere (its primary).
// test/integration/edge-workers.test.ts runs the real thing.

import assert from 'node:assert/strict'
import { lpStream, streamPair } from '@libp2p/utils'
import { DEFAULT_MAX_MESSAGE_BYTES, encodeMessage, frameMessage, parseServerMessage, resetMessage } from '../../../src/observe/protocol.ts'
import { ObserverSession } from '../../../node/super-peer/observer-protocol.ts'
import { autoEdgeWorkers, withBoundPorts, workerListen } from '../../../node/super-peer/edge-workers.ts'
import { parseEdgeWorkers, parseSuperPeerConfig } from '../../../node/super-peer/config.ts'
import { candidatesFrom } from '../../../browser/candidates.ts'
import type { Stream } from '@libp2p/interface'

describe('node/edge workers: addresses and flag', () => {
  const ws = '/ip4/0.0.0.0/tcp/4002/ws'
  const rtc = '/ip4/0.0.0.0/udp/4001/webrtc-direct'

  it('gives every worker the WebSockets port and its own WebRTC-Direct port (the configured one plus its index)', () => {
    assert.deepEqual(workerListen([rtc, ws], 0), [rtc, ws])
    assert.deepEqual(workerListen([rtc, ws], 3), ['/ip4/0.0.0.0/udp/4004/webrtc-direct', ws])
    // port 0: each worker binds a free one
    assert.deepEqual(workerListen(['/ip4/127.0.0.1/udp/0/webrtc-direct'], 2), ['/ip4/127.0.0.1/udp/0/webrtc-direct'])
  })

  it('pins the ports a worker bound, so that others share its WebSockets port and a restart comes back on its own', () => {
    const listen = ['/ip4/127.0.0.1/udp/0/webrtc-direct', '/ip4/127.0.0.1/tcp/0/ws']
    const bound = [
      '/ip4/127.0.0.1/udp/40001/webrtc-direct/certhash/uEiAVwpETi75j53O_S_c48L0WtFrllzfIs1ykWfYdZNIYXQ/p2p/12D3KooWBZ8gxquZaza4DRqyChU6wG8YnttUod3x29xgHGKDupw6',
      '/ip4/127.0.0.1/tcp/40002/ws/p2p/12D3KooWBZ8gxquZaza4DRqyChU6wG8YnttUod3x29xgHGKDupw6'
    ]
    assert.deepEqual(withBoundPorts(listen, bound), ['/ip4/127.0.0.1/udp/40001/webrtc-direct', '/ip4/127.0.0.1/tcp/40002/ws'])
    assert.deepEqual(withBoundPorts(listen, bound, 'tcp'), ['/ip4/127.0.0.1/udp/0/webrtc-direct', '/ip4/127.0.0.1/tcp/40002/ws'])
    assert.deepEqual(withBoundPorts([ws], bound), [ws], 'a fixed port stays')
  })

  it('reads --edge-workers as a count or auto (one per core but one, at least one), and names a bad value', () => {
    assert.equal(parseEdgeWorkers('--edge-workers', '0', 8), 0)
    assert.equal(parseEdgeWorkers('--edge-workers', '3', 8), 3)
    assert.equal(parseEdgeWorkers('--edge-workers', 'auto', 8), 7)
    assert.equal(parseEdgeWorkers('--edge-workers', 'auto', 1), 1)
    assert.equal(autoEdgeWorkers(2), 1)
    assert.equal(parseEdgeWorkers('--edge-workers', 'two', 8), '--edge-workers must be auto or a whole number from 0 to 64, not "two"')
    assert.equal(parseEdgeWorkers('--edge-workers', '-1', 8), '--edge-workers must be auto or a whole number from 0 to 64, not "-1"')
    assert.equal(parseEdgeWorkers('--edge-workers', '65', 8), '--edge-workers must be auto or a whole number from 0 to 64, not "65"')
  })

  it('defaults to no workers and a 64 MiB backlog bound, and refuses announced addresses on port 0 with workers', () => {
    const base = ['--topology', 'tiers']
    const config = parseSuperPeerConfig(base)
    assert.ok(config !== 'help')
    assert.equal(config.edgeWorkers, 0)
    assert.equal(config.edgeWorkerMaxBacklogBytes, 64 * 1024 * 1024)
    const bounded = parseSuperPeerConfig([...base, '--edge-worker-max-backlog-bytes', '1048576'])
    assert.ok(bounded !== 'help')
    assert.equal(bounded.edgeWorkerMaxBacklogBytes, 1024 * 1024)
    assert.throws(() => parseSuperPeerConfig([...base, '--edge-worker-max-backlog-bytes', '0']), /--edge-worker-max-backlog-bytes must be a positive integer, got 0/)
    assert.throws(() => parseSuperPeerConfig([...base, '--edge-workers', 'lots']), /--edge-workers must be auto or a whole number from 0 to 64, not "lots"/)
    assert.throws(() => parseSuperPeerConfig([...base, '--edge-workers', '2', '--observe-listen', '/ip4/0.0.0.0/tcp/0/ws', '--observe-announce', '/dns4/edge.example/tcp/443/wss']),
      /--edge-workers with --observe-announce needs fixed listen ports/)
  })

  it('browsers try a super-peer\'s addresses of one transport in a random order, each transport still in preference order', () => {
    const peer = '12D3KooWBZ8gxquZaza4DRqyChU6wG8YnttUod3x29xgHGKDupw6'
    const rtcAt = (port: number): string => `/ip4/127.0.0.1/udp/${port}/webrtc-direct/certhash/uEiAVwpETi75j53O_S_c48L0WtFrllzfIs1ykWfYdZNIYXQ/p2p/${peer}`
    const wsAt = `/ip4/127.0.0.1/tcp/9/ws/p2p/${peer}`
    const list = [wsAt, rtcAt(1), rtcAt(2), rtcAt(3)]
    const firsts = new Set<string>()
    for (let i = 0; i < 3; i++) {
      const draws = [0.5, 0.1, 0.9, 0.3].map(x => (x + i / 3) % 1)
      let next = 0
      const [candidate] = candidatesFrom(list, ['webrtc-direct', 'websockets'], () => draws[next++ % draws.length])
      assert.equal(candidate.addrs.length, 4)
      assert.equal(candidate.addrs[3], wsAt, 'WebSockets last')
      assert.deepEqual(candidate.addrs.slice(0, 3).toSorted(), [rtcAt(1), rtcAt(2), rtcAt(3)].toSorted())
      firsts.add(candidate.addrs[0])
    }
    assert.ok(firsts.size > 1, 'the first address tried differs between draws')
  })
})

describe('node/ObserverSession with a reset from elsewhere (an edge worker asks its primary)', () => {
  it('drops frames while the reset is on its way, then sends it and the frames after', async () => {
    const [server, client]: Stream[] = await streamPair()
    const session = new ObserverSession(server, { maxQueuedBytes: 100, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES, stallTimeoutMs: 60_000 }, { sent: 0, resyncs: 0, ejected: 0, frozen: 0 }, () => {})
    let asked = 0
    session.setResetSource(() => { asked++; return undefined })
    const filler = 'x'.repeat(40)
    // the second frame overflows the queue: the session needs a reset
    session.deliver(1, encodeMessage(frameMessage(1, { filler })))
    session.deliver(2, encodeMessage(frameMessage(2, { filler })))
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(asked, 1, 'the reset was asked for once')
    session.deliver(3, encodeMessage(frameMessage(3, { n: 3 })))
    session.flush()
    assert.equal(asked, 1, 'a flush while waiting does not ask again')
    session.supplyReset(encodeMessage(resetMessage(3, { n: 3 })))
    session.deliver(4, encodeMessage(frameMessage(4, { n: 4 })))
    const lp = lpStream(client)
    const read = async (): Promise<unknown> => {
      const parsed = parseServerMessage((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray())
      assert.ok(parsed.ok)
      return parsed.value
    }
    assert.deepEqual(await read(), { reset: true, seq: 3, data: { n: 3 } })
    assert.deepEqual(await read(), { seq: 4, data: { n: 4 } })
    // a reset nobody waits for is ignored
    session.supplyReset(encodeMessage(resetMessage(4, {})))
    session.deliver(5, encodeMessage(frameMessage(5, null)))
    assert.deepEqual(await read(), { seq: 5 })
  })
})
