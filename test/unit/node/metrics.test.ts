import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import { Counters, NodeMetrics } from '../../../node/metrics.ts'

describe('node/metrics', () => {
  it('maps known prefixes onto one counter labelled by reason, and keeps the names for /status', async () => {
    const registry = new Registry()
    const counters = new Counters(registry, ['frames_applied'])
    counters.inc('frames_applied', 3)
    counters.inc('frames_rejected_bad_signature')
    counters.inc('frames_rejected_bad_signature')
    counters.inc('observe_refused_unknown_doc')
    counters.inc('backbone_denied_no_certificate')
    counters.inc('something_new')
    assert.equal(counters.get('frames_applied'), 3)
    assert.equal(counters.get('frames_rejected_bad_signature'), 2)
    assert.equal(counters.get('never_counted'), 0)
    assert.deepEqual(counters.toJSON(), {
      backbone_denied_no_certificate: 1, frames_applied: 3, frames_rejected_bad_signature: 2, observe_refused_unknown_doc: 1, something_new: 1
    })
    const text = await registry.metrics()
    assert.match(text, /# HELP deltacast_frames_applied_total Frames applied to a replica\n# TYPE deltacast_frames_applied_total counter\ndeltacast_frames_applied_total 3/)
    assert.match(text, /deltacast_frames_rejected_total\{reason="bad_signature"\} 2/)
    assert.match(text, /deltacast_observe_refused_total\{reason="unknown_doc"\} 1/)
    assert.match(text, /deltacast_backbone_denied_total\{reason="no_certificate"\} 1/)
    assert.match(text, /# HELP deltacast_something_new_total deltacast counter something_new/)
  })

  it('keeps each node on its own registry', async () => {
    const a = new NodeMetrics(['frames_published'])
    const b = new NodeMetrics(['frames_published'])
    a.counters.inc('frames_published', 5)
    a.gauge('seq', 'Head seq', () => [[{ document: 'x' }, 7]], ['document'])
    b.gauge('seq', 'Head seq', () => 1)
    const [textA, textB] = [(await a.scrape()).body, (await b.scrape()).body]
    assert.match(textA, /deltacast_frames_published_total 5/)
    assert.match(textB, /deltacast_frames_published_total 0/)
    assert.match(textA, /deltacast_seq\{document="x"\} 7/)
    assert.match(textB, /deltacast_seq 1/)
  })
})
