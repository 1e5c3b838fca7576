// npm run bench:docs: one super-peer process carrying 10,000 documents under tiers.
//
// A source process (bench/parts/docs-source.ts) is the authority of every document (one key, many
// names) and serves them over the relay protocol, as a region proxy's authorities would. The
// super-peer pins them all (--config with "doc": [...]) and follows each from the source: one
// relay stream per document, no gossipsub topic per document. Measured:
//   - time from start until every document follows its source (carry_all_s);
//   - resident memory against an idle super-peer started the same way (kib_per_document);
//   - frames applied per second while the source appends at a steady rate;
//   - CPU spent on a membership change (a second super-peer joins the region, then leaves),
//     against the same window with nothing happening, and the trees it recomputed;
//   - in this process, the pure cost of recomputing every tree against judging which a join
//     can move (the baseline the cache replaces).
//
// Knobs: BENCH_DOCS_DOCUMENTS (10000), BENCH_DOCS_FRAMES_PER_S (2000), BENCH_DOCS_WINDOW_S (8).

import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { changesMoveTree, computeDocTree } from '../src/elect/index.ts'
import type { TreeMember } from '../src/elect/index.ts'
import { killAll, startCli, waitFor } from '../test/helpers/processes.ts'
import { Child, children, intEnv, machine, rssBytes, sleep } from './parts/common.ts'
import type { Running } from '../test/helpers/processes.ts'

const DOCUMENTS = intEnv('BENCH_DOCS_DOCUMENTS', 10_000)
const RATE = intEnv('BENCH_DOCS_FRAMES_PER_S', 2_000)
const WINDOW_S = intEnv('BENCH_DOCS_WINDOW_S', 8)
const SOURCE = fileURLToPath(new URL('./parts/docs-source.ts', import.meta.url))
const REGION = 'bench'

/** User plus system CPU time of a process, in ms (from /proc; clock ticks are 10 ms). */
async function cpuMs (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

const mib = (bytes: number): number => bytes / 2 ** 20
const fmt = (n: number, digits = 1): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** The pure cost of a membership change over `n` documents: every tree afresh, against judging each cached tree. */
function pureBaseline (n: number): { fullMs: number, judgeMs: number, moved: number } {
  const docs = Array.from({ length: n }, (_, i) => `doc${i}`)
  const holder: TreeMember = { peerId: 'A', region: REGION, weight: 1, capacity: 100_000, load: n, carries: () => true, holds: () => true }
  const joiner: TreeMember = { peerId: 'B', region: REGION, weight: 1, capacity: 100_000, load: 0, carries: () => false, holds: () => false }
  const trees = docs.map(d => computeDocTree(d, [holder], { fanout: 32 }))
  const view = new Map([['A', holder], ['B', joiner]])
  let t = performance.now()
  for (const d of docs) computeDocTree(d, [holder, joiner], { fanout: 32 })
  const fullMs = performance.now() - t
  t = performance.now()
  let moved = 0
  for (const tree of trees) if (changesMoveTree(tree, [{ peerId: 'B', before: undefined, after: joiner }], p => view.get(p))) moved++
  const judgeMs = performance.now() - t
  return { fullMs, judgeMs, moved }
}

/** What a window cost in trees: computed, by cause (tier_trees_recomputed_<cause>), and the changed views judged. */
interface Recomputed { trees: number, changes: number, accepted: number, byCause: Record<string, number> }

function recomputed (before: Record<string, number>, after: Record<string, number>): Recomputed {
  const delta = (name: string): number => (after[name] ?? 0) - (before[name] ?? 0)
  const byCause: Record<string, number> = {}
  for (const name of Object.keys(after)) {
    if (name.startsWith(CAUSE_PREFIX) && delta(name) > 0) byCause[name.slice(CAUSE_PREFIX.length)] = delta(name)
  }
  return { trees: delta('tier_trees_computed'), changes: delta('tier_view_changes'), accepted: delta('membership_accepted'), byCause }
}

const CAUSE_PREFIX = 'tier_trees_recomputed_'

function perChange (trees: number, changes: number): number {
  return changes === 0 ? 0 : Math.round(trees / changes)
}

function describe (r: Recomputed): string {
  const causes = Object.entries(r.byCause).map(([cause, n]) => `${cause} ${n}`).join(', ')
  return `${r.trees} trees recomputed over ${r.changes} changed views (${perChange(r.trees, r.changes)} per change${causes === '' ? '' : `; ${causes}`})`
}

async function status (peer: Running): Promise<{ counters: Record<string, number>, docs: Record<string, { seq: number }> }> {
  return await peer.admin('/status')
}

async function superPeer (dir: string, name: string, bootstrap: string[], config: Record<string, unknown>): Promise<Running> {
  const file = join(dir, `${name}.json`)
  await writeFile(file, JSON.stringify(config))
  return await startCli(['super-peer', '--config', file, '--data-dir', join(dir, name), '--region', REGION, '--topology', 'tiers',
    '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', '127.0.0.1:0', '--observe-listen', 'none', '--log-level', 'error',
    ...bootstrap.flatMap(addr => ['--bootstrap', addr])], { readyTimeoutMs: 300_000 })
}

async function main (): Promise<void> {
  for (const line of await machine({ loadRemark: 'shared machine: other engineers\' tests and builds run alongside' })) console.log(line)
  console.log(`documents ${DOCUMENTS}, source rate ${RATE} frames/s, measuring windows ${WINDOW_S} s`)
  const dir = await mkdtemp(join(tmpdir(), 'dc8-bench-docs-'))
  try {
    const pure = pureBaseline(DOCUMENTS)
    console.log(`pure, in this process: recomputing ${DOCUMENTS} trees for a join ${fmt(pure.fullMs)} ms; judging which it moves ${fmt(pure.judgeMs)} ms (${pure.moved} moved)`)

    // The idle baseline: a super-peer started the same way, carrying nothing.
    const idle = await superPeer(dir, 'idle', [], {})
    await sleep(5_000)
    const idleRss = await rssBytes(idle.child.pid!)
    await idle.kill()
    console.log(`idle super-peer: ${fmt(mib(idleRss))} MiB resident`)

    const source = new Child([], [SOURCE, String(DOCUMENTS), '0'])
    const ready = (await source.next('source ready', 300_000)).ready as { peerId: string, addrs: string[], docIds: string[] }
    let follows = 0
    let sent = 0
    void (async () => {
      for (;;) {
        const line = await source.next('source progress', 600_000).catch(() => undefined)
        if (line === undefined) return
        follows = line.follows
        sent = line.sent
      }
    })()
    console.log(`source: ${ready.docIds.length} documents under one key, peer ${ready.peerId}`)

    const startedAt = performance.now()
    const a = await superPeer(dir, 'a', ready.addrs, { doc: ready.docIds })
    const readyS = (performance.now() - startedAt) / 1000
    console.log(`super-peer ready after ${fmt(readyS)} s`)
    let lastReport = 0
    await waitFor('every document followed from the source', () => {
      const t = performance.now()
      if (t - lastReport > 5_000) {
        lastReport = t
        console.log(`  ${follows} / ${DOCUMENTS} documents following the source after ${fmt((t - startedAt) / 1000)} s`)
      }
      return follows >= DOCUMENTS ? true : undefined
    }, { timeoutMs: 900_000, intervalMs: 100 })
    const carryAllS = (performance.now() - startedAt) / 1000
    console.log(`all ${DOCUMENTS} documents carried and following after ${fmt(carryAllS)} s`)

    await sleep(5_000)
    const rss = await rssBytes(a.child.pid!)
    const kibPerDocument = (rss - idleRss) / 1024 / DOCUMENTS
    console.log(`carrying: ${fmt(mib(rss))} MiB resident, ${fmt(kibPerDocument)} KiB per document over idle`)

    // Nothing happening: the CPU a window costs with every document carried and quiet.
    const quietBefore = await cpuMs(a.child.pid!)
    await sleep(WINDOW_S * 1000)
    const quietMs = await cpuMs(a.child.pid!) - quietBefore
    console.log(`quiet: ${quietMs} ms CPU in ${WINDOW_S} s (${fmt(quietMs / WINDOW_S / 10)} % of one core: per-document timers)`)

    // Frames: the source appends round-robin at RATE; what the super-peer applies per second.
    const appliedBefore = (await status(a)).counters.frames_applied ?? 0
    const sentBefore = sent
    source.send({ rate: RATE })
    const framesCpuBefore = await cpuMs(a.child.pid!)
    const t0 = performance.now()
    await sleep(WINDOW_S * 1000)
    source.send({ rate: 0 })
    const elapsedS = (performance.now() - t0) / 1000
    const framesCpu = await cpuMs(a.child.pid!) - framesCpuBefore
    const sentFrames = sent - sentBefore
    await sleep(2_000)
    const applied = ((await status(a)).counters.frames_applied ?? 0) - appliedBefore
    const framesPerS = applied / elapsedS
    console.log(`frames: source appended ~${sentFrames} in ${fmt(elapsedS)} s; super-peer applied ${applied} (${fmt(framesPerS, 0)} frames/s), ${fmt(framesCpu / elapsedS / 10)} % of one core`)

    // A membership change: a second super-peer joins the region (it carries nothing), then leaves.
    // Each window counts the trees recomputed (by cause) and the changed views they were judged on.
    const joinCpuBefore = await cpuMs(a.child.pid!)
    const joinBefore = (await status(a)).counters
    const b = await superPeer(dir, 'b', a.ready.addrs, {})
    await sleep(WINDOW_S * 1000)
    const joinMs = await cpuMs(a.child.pid!) - joinCpuBefore - quietMs
    const join = recomputed(joinBefore, (await status(a)).counters)
    console.log(`join: ${joinMs} ms CPU over quiet (${join.accepted} announcements accepted), ${describe(join)}`)
    const leaveBefore = (await status(a)).counters
    const leaveCpuBefore = await cpuMs(a.child.pid!)
    await b.kill()
    await sleep(WINDOW_S * 1000)
    const leaveMs = await cpuMs(a.child.pid!) - leaveCpuBefore - quietMs
    const leave = recomputed(leaveBefore, (await status(a)).counters)
    console.log(`leave: ${leaveMs} ms CPU over quiet, ${describe(leave)}`)

    await a.kill()
    await source.stop()
    const result = {
      documents: DOCUMENTS,
      rss_mib: Number(mib(rss).toFixed(1)),
      idle_rss_mib: Number(mib(idleRss).toFixed(1)),
      kib_per_document: Number(kibPerDocument.toFixed(2)),
      membership_change_ms: Math.max(0, joinMs),
      membership_leave_ms: Math.max(0, leaveMs),
      trees_recomputed_on_join: join.trees,
      trees_recomputed_on_leave: leave.trees,
      view_changes_on_join: join.changes,
      view_changes_on_leave: leave.changes,
      trees_recomputed_per_change: perChange(join.trees + leave.trees, join.changes + leave.changes),
      trees_recomputed_by_cause_on_join: join.byCause,
      trees_recomputed_by_cause_on_leave: leave.byCause,
      pure_full_recompute_ms: Number(pure.fullMs.toFixed(1)),
      pure_judge_ms: Number(pure.judgeMs.toFixed(1)),
      carry_all_s: Number(carryAllS.toFixed(1)),
      ready_s: Number(readyS.toFixed(1)),
      quiet_cpu_percent: Number((quietMs / WINDOW_S / 10).toFixed(1)),
      frames_per_s: Math.round(framesPerS)
    }
    console.log(`RESULT ${JSON.stringify(result)}`)
  } finally {
    await killAll()
    await Promise.all([...children].map(async c => { await c.stop() }))
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
