// node/net/lazy-logger.ts: libp2p loggers made only when they would print, printing what
// @libp2p/logger's print.

import assert from 'node:assert/strict'
import { disable, enable, logger } from '@libp2p/logger'
import { lazyComponentLogger } from '../../../node/net/lazy-logger.ts'
import type { Logger } from '@libp2p/interface'

/** What `run` wrote to stderr, one entry a line, the date weald puts first (no TTY) removed. */
function stderrOf (run: () => void): string[] {
  const lines: string[] = []
  const write = process.stderr.write
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    lines.push(String(chunk).replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, '').trimEnd())
    return true
  }) as typeof process.stderr.write
  try {
    run()
  } finally {
    process.stderr.write = write
  }
  return lines
}

/** `trace.enabled`: libp2p reads it (yamux), though the Logger type does not declare it. */
function traceEnabled (log: Logger): boolean {
  return (log.trace as unknown as { enabled: boolean }).enabled
}

describe('node/net/lazy-logger', () => {
  const before = process.env.DEBUG
  afterEach(() => {
    disable()
    if (before !== undefined) enable(before)
  })

  it('prints nothing while its namespace is off', () => {
    disable()
    const log = lazyComponentLogger().forComponent('libp2p:lazy-test').newScope('inbound:1')
    const lines = stderrOf(() => {
      log('opened %s', 'a stream')
      log.error('failed - %e', new Error('boom'))
      log.trace('frame %o', { n: 1 })
    })
    assert.deepEqual(lines, [])
    assert.equal(log.enabled, false)
    assert.equal(traceEnabled(log), false)
  })

  it('prints what @libp2p/logger prints once the namespace is enabled, also after the logger was made', () => {
    disable()
    const lazy = lazyComponentLogger().forComponent('libp2p:lazy-test').newScope('inbound:2').newScope('yamux')
    enable('libp2p:lazy-test:*')
    assert.equal(lazy.enabled, true)
    const real = logger('libp2p:lazy-test:inbound:2:yamux')
    const ours = stderrOf(() => { lazy('stream %s opened, %d bytes', 'x', 12) })
    const theirs = stderrOf(() => { real('stream %s opened, %d bytes', 'x', 12) })
    assert.equal(ours.length, 1)
    assert.match(ours[0], /^libp2p:lazy-test:inbound:2:yamux stream x opened, 12 bytes/)
    assert.deepEqual(ours, theirs)
  })

  it('prints errors under <name>:error alone, as @libp2p/logger', () => {
    disable()
    const log = lazyComponentLogger().forComponent('libp2p:lazy-test:conn')
    enable('libp2p:lazy-test:conn:error')
    const lines = stderrOf(() => {
      log('not this')
      log.error('this - %s', 'reason')
    })
    assert.deepEqual(lines, ['libp2p:lazy-test:conn:error this - reason'])
    assert.equal(log.enabled, false)
  })

  it('traces only a logger made while its trace namespace was enabled', () => {
    disable()
    const early = lazyComponentLogger().forComponent('libp2p:lazy-test:early')
    enable('libp2p:lazy-test:*:trace')
    const late = lazyComponentLogger().forComponent('libp2p:lazy-test:late')
    const lines = stderrOf(() => {
      early.trace('early %d', 1)
      late.trace('late %d', 2)
    })
    // @libp2p/logger decides trace when it makes a logger: an early one stays silent
    assert.deepEqual(lines, ['libp2p:lazy-test:late:trace late 2'])
    assert.equal(traceEnabled(early), false)
    assert.equal(traceEnabled(late), true)
  })

  it('can be turned on by hand, as a weald debugger can', () => {
    disable()
    const log = lazyComponentLogger().forComponent('libp2p:lazy-test:manual')
    log.enabled = true
    assert.equal(log.enabled, true)
    assert.deepEqual(stderrOf(() => { log('on') }), ['libp2p:lazy-test:manual on'])
  })
})
