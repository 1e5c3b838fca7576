// Viewers for bench:tiers, run inside a region's network namespace so their traffic stays inside
// the region: one observe() per address given, each falling back on the others. Prints a JSON
// line per seq a viewer moves to, {"viewer": i, "seq": n, "at": ms}, and {"ready": n} once all
// n viewers are live. Usage: node bench/parts/tiers-observers.ts <doc id> <observe addr>...

import { observe } from '../../browser/observe.ts'
import { createObserverNode } from '../../browser/node.ts'
import { now } from './common.ts'

const [docId, ...addrs] = process.argv.slice(2)
if (docId === undefined || addrs.length === 0) {
  process.stderr.write('usage: node bench/parts/tiers-observers.ts <doc id> <observe addr>...\n')
  process.exit(2)
}

const print = (line: object): void => { process.stdout.write(JSON.stringify(line) + '\n') }
let live = 0
const views = await Promise.all(addrs.map(async (addr, viewer) => {
  const node = await createObserverNode({ transports: ['websockets'], allowPrivateAddresses: true, livenessIntervalMs: 500, livenessTimeoutMs: 500 })
  // Its own super-peer first, the region's others after it: where it goes on a failover.
  const bootstrap = [addr, ...addrs.filter(a => a !== addr)]
  const view = observe(docId, { bootstrap, transports: ['websockets'], allowPrivateAddresses: true, node, backoff: { initialMs: 10, maxMs: 200 } })
  let counted = false
  view.addEventListener('change', () => {
    if (view.seq === null) return
    print({ viewer, seq: view.seq, at: now() })
    if (!counted) {
      counted = true
      if (++live === addrs.length) print({ ready: live })
    }
  })
  return { view, node }
}))

process.on('SIGTERM', () => {
  void Promise.all(views.map(async ({ view, node }) => { view.close(); await node.stop() })).finally(() => process.exit(0))
})
