import assert from 'node:assert/strict'
import { AUTHORITY, FAILOVER_SHOWN_MS, mergeTopology, observersFromMetrics, partialsSentFrom } from '../../../src/topology/merge.ts'
import type { EndpointSnapshot, TopologyView } from '../../../src/topology/merge.ts'

const DOC = 'doc1'
const AUTH = 'auth-peer'

/** A super-peer's answer: the parent it follows now, the parent its view elects, its seq and lag. */
function superPeer (id: string, doc: { parent?: string, elected?: string, role?: string, seq: number, lag?: number, silent?: boolean }): EndpointSnapshot {
  return {
    url: `http://${id}`,
    ok: true,
    topology: { peerId: id, region: 'eu', docs: { [DOC]: { seq: doc.seq, role: doc.role ?? 'member', depth: 1, parent: doc.parent, electedParent: doc.elected ?? doc.parent, children: [] } } },
    status: { peerId: id, docs: { [DOC]: { seq: doc.seq, lag: doc.lag ?? 0, authority: { seq: doc.seq + (doc.lag ?? 0) }, upstream: { silent: doc.silent ?? false } } } },
    observers: { ws: 1 },
    classes: 1
  }
}

const down = (id: string): EndpointSnapshot => ({ url: `http://${id}`, ok: false, error: 'ECONNREFUSED' })
const node = (view: TopologyView, id: string) => view.docs[0].nodes.find(n => n.peerId === id)!

describe('topology page model (mergeTopology)', () => {
  it('draws the parents the nodes follow now, and names the authority from the region proxy\'s view', () => {
    const view = mergeTopology(undefined, [
      superPeer('a', { parent: AUTH, role: 'proxy', seq: 10 }),
      superPeer('b', { parent: 'a', seq: 10 }),
      superPeer('c', { parent: 'a', seq: 9, lag: 7 })
    ], 1000)
    assert.equal(node(view, 'a').parent, AUTHORITY)
    assert.equal(node(view, 'a').role, 'proxy')
    assert.deepEqual(node(view, 'a').children, ['b', 'c'])
    assert.equal(node(view, 'b').role, 'member')
    assert.deepEqual(node(view, 'c').health, ['lagging'])
    assert.equal(view.docs[0].authoritySeq, 16)
    assert.deepEqual(view.nodes.map(n => n.viewers), [{ ws: 1 }, { ws: 1 }, { ws: 1 }])
  })

  it('frames/s from the seq delta between polls', () => {
    const first = mergeTopology(undefined, [superPeer('a', { parent: AUTH, role: 'proxy', seq: 10 })], 1000)
    const second = mergeTopology(first, [superPeer('a', { parent: AUTH, role: 'proxy', seq: 20 })], 3000)
    assert.equal(node(first, 'a').framesPerSecond, undefined)
    assert.equal(node(second, 'a').framesPerSecond, 5)
  })

  it('a proxy that stops answering is down with its last role; its children that moved are failed over, for a while', () => {
    const before = mergeTopology(undefined, [
      superPeer('a', { parent: AUTH, role: 'proxy', seq: 10 }),
      superPeer('b', { parent: 'a', elected: 'a', seq: 10 }),
      superPeer('c', { parent: 'a', elected: 'a', seq: 10 })
    ], 1000)
    // b takes over; its own view still elects a (membership lags a death by the lease).
    const after = mergeTopology(before, [down('a'), superPeer('b', { parent: AUTH, elected: 'a', seq: 12 }), superPeer('c', { parent: 'b', elected: 'a', seq: 12 })], 2000)
    assert.equal(node(after, 'a').up, false)
    assert.equal(node(after, 'a').role, 'proxy')
    assert.deepEqual(node(after, 'a').health, ['down'])
    assert.equal(node(after, 'a').seq, 10, 'its last known seq')
    assert.equal(node(after, 'b').role, 'proxy')
    assert.equal(node(after, 'b').parent, AUTHORITY)
    assert.deepEqual(node(after, 'b').health, ['failed over'])
    assert.equal(node(after, 'b').failedOverFrom, 'a')
    assert.equal(after.nodes.find(n => n.id === 'a')?.error, 'ECONNREFUSED')
    const later = mergeTopology(after, [down('a'), superPeer('b', { parent: AUTH, seq: 20 }), superPeer('c', { parent: 'b', seq: 20 })], 2000 + FAILOVER_SHOWN_MS + 1)
    assert.deepEqual(node(later, 'b').health, [])
  })

  it('an endpoint never reached is listed down, with no document entries', () => {
    const view = mergeTopology(undefined, [down('x')], 1000)
    assert.deepEqual(view.nodes.map(n => [n.id, n.kind, n.up]), [['http://x', 'unknown', false]])
    assert.deepEqual(view.docs, [])
  })

  it('silent upstream and the gossip fallback are health', () => {
    const view = mergeTopology(undefined, [superPeer('a', { parent: 'gossip', seq: 3, silent: true })], 1000)
    assert.deepEqual(node(view, 'a').health, ['silent', 'gossip'])
  })

  it('reads observers by transport and privacy classes from Prometheus text', () => {
    const text = '# HELP x\ndeltacast_observers{transport="ws"} 2\ndeltacast_observers{transport="webrtc-direct"} 3\ndeltacast_privacy_classes 4\n'
    assert.deepEqual(observersFromMetrics(text), { observers: { ws: 2, 'webrtc-direct': 3 }, classes: 4 })
    assert.deepEqual(observersFromMetrics('deltacast_seq{document="d"} 1\n'), { observers: undefined, classes: undefined })
  })

  it('swarm offload: bytes sent directly and relayed by browsers, summed over labels, shown on the node; none while both are 0', () => {
    const text = 'deltacast_swarm_bytes_direct_total 250\ndeltacast_swarm_bytes_relayed_total{class="a"} 600\ndeltacast_swarm_bytes_relayed_total{class="b"} 150\n'
    const swarm = observersFromMetrics(text).swarm
    assert.deepEqual(swarm, { direct: 250, relayed: 750 })
    assert.equal(observersFromMetrics('deltacast_swarm_bytes_direct_total 0\ndeltacast_swarm_bytes_relayed_total 0\n').swarm, undefined)
    const view = mergeTopology(undefined, [{ ...superPeer('a', { seq: 1 }), swarm }, superPeer('b', { seq: 1 })], 1000)
    assert.deepEqual(view.nodes.find(n => n.id === 'a')?.swarm, { direct: 250, relayed: 750 })
    assert.equal(view.nodes.find(n => n.id === 'b')?.swarm, undefined)
  })

  it('reducer partials/s going up: the partials_sent delta between polls, none without the counter', () => {
    const withPartials = (id: string, sent: number): EndpointSnapshot => ({ ...superPeer(id, { parent: AUTH, role: 'proxy', seq: 1 }), partialsSent: sent })
    const first = mergeTopology(undefined, [withPartials('a', 100), superPeer('b', { parent: 'a', seq: 1 })], 1000)
    const second = mergeTopology(first, [withPartials('a', 130), superPeer('b', { parent: 'a', seq: 1 })], 3000)
    assert.deepEqual(first.nodes.map(n => n.partialsPerSecond), [undefined, undefined])
    assert.deepEqual(second.nodes.map(n => n.partialsPerSecond), [15, undefined])
    // Down: no rate shown; back after a restart (the counter starts again from 0): no rate until the next poll.
    const third = mergeTopology(second, [down('a'), superPeer('b', { parent: 'a', seq: 1 })], 4000)
    assert.equal(third.nodes[0].partialsPerSecond, undefined)
    const restarted = mergeTopology(third, [withPartials('a', 4), superPeer('b', { parent: 'a', seq: 1 })], 5000)
    assert.equal(restarted.nodes[0].partialsPerSecond, undefined)
    assert.equal(mergeTopology(restarted, [withPartials('a', 14), superPeer('b', { parent: 'a', seq: 1 })], 7000).nodes[0].partialsPerSecond, 5)
  })

  it('reads partials_sent from /status counters, else from /metrics summed over labels', () => {
    assert.equal(partialsSentFrom({ counters: { partials_sent: 7 } }, 'deltacast_partials_sent_total 9\n'), 7)
    assert.equal(partialsSentFrom({ counters: {} }, 'deltacast_partials_sent_total{channel="a"} 2\ndeltacast_partials_sent_total{channel="b"} 3\n'), 5)
    assert.equal(partialsSentFrom({ counters: { frames_applied: 3 } }, 'deltacast_frames_applied_total 3\n'), undefined)
    assert.equal(partialsSentFrom(undefined, ''), undefined)
  })
})
