import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { AddressLimiter, remoteIp } from '../../../node/net/address-limits.ts'
import type { AddressRefusal } from '../../../node/net/address-limits.ts'

describe('AddressLimiter', () => {
  let clock: number
  let refusals: AddressRefusal[]
  const limiter = (): AddressLimiter => new AddressLimiter({ maxConnectionsPerAddress: 2, newConnectionsPerAddress: 3, rateWindowMs: 1000 }, reason => { refusals.push(reason) }, () => clock)

  beforeEach(() => {
    clock = 0
    refusals = []
  })

  it('caps open connections per address, and frees a place on release', () => {
    const limits = limiter()
    assert.equal(limits.admit('10.0.0.1'), undefined)
    assert.equal(limits.admit('10.0.0.1'), undefined)
    assert.equal(limits.admit('10.0.0.1'), 'per_address')
    assert.equal(limits.admit('10.0.0.2'), undefined, 'another address is not affected')
    limits.release('10.0.0.1')
    assert.equal(limits.admit('10.0.0.1'), undefined)
    assert.deepEqual(refusals, ['per_address'])
  })

  it('caps new connections per address per window, counting opens not open ones', () => {
    const limits = limiter()
    for (let i = 0; i < 3; i++) {
      assert.equal(limits.admit('10.0.0.1'), undefined)
      limits.release('10.0.0.1')
    }
    assert.equal(limits.admit('10.0.0.1'), 'rate')
    clock += 1000
    assert.equal(limits.admit('10.0.0.1'), undefined, 'a new window')
    assert.deepEqual(refusals, ['rate'])
  })

  it('forgets addresses once they have nothing open and their window passed', () => {
    const limits = limiter()
    for (let i = 0; i < 100; i++) {
      limits.admit(`10.0.1.${i}`)
      limits.release(`10.0.1.${i}`)
    }
    assert.equal(limits.size, 100)
    clock += 1000
    limits.admit('10.0.0.9')
    assert.equal(limits.size, 1, 'only the address just admitted is kept')
  })

  it('takes the IP from IPv4 and IPv6 multiaddrs', () => {
    assert.equal(remoteIp(multiaddr('/ip4/192.0.2.1/tcp/4002/ws')), '192.0.2.1')
    assert.equal(remoteIp(multiaddr('/ip6/2001:db8::1/udp/4001/webrtc-direct')), '2001:db8::1')
  })
})
