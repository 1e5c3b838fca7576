// node/super-peer/carriers.ts under tiers: a document carried on demand for a viewer whose
// catch-up outlasts the linger. Real DocCarrier and uplink on an in-process libp2p node with no
// peers (so the document never becomes level); the sweep is driven with the time it is given.

import assert from 'node:assert/strict'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { docIdFor } from '../../../src/log/index.ts'
import { CarrierSet } from '../../../node/super-peer/carriers.ts'
import { createBackboneNode } from '../../../node/net/libp2p-node.ts'
import { createLogger } from '../../../node/log.ts'
import { Counters } from '../../../node/metrics.ts'
import type { BackboneNode } from '../../../node/net/libp2p-node.ts'
import type { Tiers } from '../../../node/tiers/tiers.ts'

const LINGER_MS = 100
const log = createLogger('carriers-test', 'silent')

describe('node/CarrierSet (tiers): documents carried on demand', function () {
  this.timeout(30_000)
  let node: BackboneNode
  let carriers: CarrierSet
  let counters: Counters
  let docId: string

  beforeEach(async () => {
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))
    docId = docIdFor(key.publicKey.raw, 'slow')
    node = await createBackboneNode({ privateKey: key, listen: [], bootstrap: [] })
    await node.start()
    counters = new Counters()
    // no tree names a parent: the uplink waits, and the document is never level
    const tiers = { standing: () => ({ tree: undefined, role: undefined, parent: undefined }), crossesRegion: () => false } as unknown as Tiers
    carriers = new CarrierSet({ node, log, counters, tiers, viewers: () => 0, changed: () => {} },
      { topology: 'tiers', pinned: [], maxDocs: 10, lingerMs: LINGER_MS, carrier: { silentAfterMs: 600_000, syncIntervalMs: 600_000, composeDeltas: true } })
    carriers.start()
  })

  afterEach(async () => {
    await carriers.stop()
    await node.stop()
  })

  /** One pass of the linger sweep, as if run `ms` from now. */
  const sweepAfter = (ms: number): void => { (carriers as unknown as { sweep: (now: number) => void }).sweep(Date.now() + ms) }

  it('keeps a document while a viewer waits for it to be level, however long past the linger', async () => {
    const lookup = new AbortController()
    const observable = carriers.observable(docId, lookup.signal)
    assert.equal(carriers.has(docId), true, 'carried at once for the viewer')
    sweepAfter(100 * LINGER_MS)
    assert.equal(carriers.has(docId), true, 'not dropped under the waiting viewer')
    assert.equal(counters.get('docs_dropped_idle'), 0)
    // the lookup gives up waiting (its deadline): the viewer gets the document it asked for
    lookup.abort()
    const doc = await observable
    assert.ok(doc !== undefined && !('code' in doc), 'the carried document')
    assert.equal(doc, carriers.get(docId)?.observable)
    // nobody joined it after all: it lingers, then goes
    sweepAfter(LINGER_MS / 2)
    assert.equal(carriers.has(docId), true)
    sweepAfter(2 * LINGER_MS)
    assert.equal(carriers.has(docId), false)
    assert.equal(counters.get('docs_dropped_idle'), 1)
  })

  it('gives a viewer no document dropped while it waited (the set stopping), so it asks again', async () => {
    const lookup = new AbortController()
    const observable = carriers.observable(docId, lookup.signal)
    await carriers.stop()
    lookup.abort()
    assert.equal(await observable, undefined)
  })
})
