import assert from 'node:assert/strict'
import { parseLinkAccepted, parseLinkRequest, parseSwarmClientMessage, parseSwarmServerMessage } from '../../../src/swarm/index.ts'

const PEER = '12D3KooWLRPJAA5o6Z6hX1h6Lzj1wSSV3Ux9WdHFSjRqzmFtzLKr'

describe('swarm messages', () => {
  it('parses the browser\'s swarm messages and leaves view and send to the observe parser', () => {
    assert.deepEqual(parseSwarmClientMessage({ swarm: { capacity: 3 } }), { ok: true, value: { swarm: { capacity: 3 } } })
    assert.deepEqual(parseSwarmClientMessage({ attached: PEER }), { ok: true, value: { attached: PEER } })
    assert.deepEqual(parseSwarmClientMessage({ direct: 4 }), { ok: true, value: { direct: 4 } })
    assert.deepEqual(parseSwarmClientMessage({ direct: 4, report: { peer: PEER, reason: 'bad-signature' } }),
      { ok: true, value: { direct: 4, report: { peer: PEER, reason: 'bad-signature' } } })
    assert.equal(parseSwarmClientMessage({ view: {} }), undefined)
    assert.equal(parseSwarmClientMessage({ send: 1 }), undefined)
  })

  it('names what is wrong in a bad swarm message', () => {
    assert.deepEqual(parseSwarmClientMessage({ swarm: { capacity: 9 } }), { ok: false, error: '"swarm" must be {"capacity": 0..8}' })
    assert.deepEqual(parseSwarmClientMessage({ attached: 'nope' }), { ok: false, error: '"attached" must be a peer id' })
    assert.deepEqual(parseSwarmClientMessage({ direct: -1 }), { ok: false, error: '"direct" must be a seq' })
    assert.equal((parseSwarmClientMessage({ direct: 1, report: { peer: PEER, reason: 'bored' } }) as { ok: boolean }).ok, false)
  })

  it('parses assignments and head notices from the super-peer', () => {
    assert.deepEqual(parseSwarmServerMessage({ swarm: { class: 'c1', parent: null, children: [PEER] } }),
      { ok: true, value: { swarm: { class: 'c1', parent: null, children: [PEER] } } })
    assert.deepEqual(parseSwarmServerMessage({ head: 12 }), { ok: true, value: { head: 12 } })
    assert.equal(parseSwarmServerMessage({ seq: 12 }), undefined)
    assert.equal((parseSwarmServerMessage({ swarm: { class: 'c 1', parent: null, children: [] } }) as { ok: boolean }).ok, false)
    assert.equal((parseSwarmServerMessage({ swarm: { class: 'c1', parent: null, children: Array(9).fill(PEER) } }) as { ok: boolean }).ok, false)
  })

  it('parses the link request and its answer', () => {
    assert.deepEqual(parseLinkRequest({ doc: 'd.x', class: 'c1', after: 3 }), { ok: true, value: { doc: 'd.x', class: 'c1', after: 3 } })
    assert.equal(parseLinkRequest({ doc: 'd.x', class: 'c1', after: 3, extra: 1 }).ok, false)
    assert.deepEqual(parseLinkAccepted({ accepted: 3 }), { ok: true, value: { accepted: 3 } })
    assert.equal(parseLinkAccepted({ accepted: 'x' }).ok, false)
  })
})
