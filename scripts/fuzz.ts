/**
 * npm run fuzz [-- --inputs N --seed S]: feeds every network decoder (frames, sync messages,
 * observe messages, fleet handshakes) N generated and mutated inputs (default 100,000 each) and
 * fails on a crash, a hang or a refusal without a known error code. Each target runs in a worker
 * so a hang is caught by a watchdog (no progress for 30 s) instead of freezing the run.
 */
import { parseArgs } from 'node:util'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { fuzzTargets, runTarget } from '../test/fuzz/targets.ts'

const STALL_MS = 30_000

interface Job { target: string, inputs: number, seed: number }
type Report = { progress: number } | { done: number, ms: number } | { failed: string }

if (isMainThread) {
  const { values } = parseArgs({ options: { inputs: { type: 'string', default: '100000' }, seed: { type: 'string', default: String(Date.now() % 1_000_000) } } })
  const inputs = Number(values.inputs)
  const seed = Number(values.seed)
  const names = (await fuzzTargets()).map(t => t.name)
  console.log(`fuzzing ${names.length} decoders, ${inputs.toLocaleString('en')} inputs each, seed ${seed} (re-run: npm run fuzz -- --seed ${seed})`)
  const results: Record<string, { inputs: number, perSecond: number }> = {}
  let failed = false
  for (const target of names) {
    const outcome = await runInWorker({ target, inputs, seed })
    if ('failed' in outcome) {
      failed = true
      console.error(`\nFAIL ${target}: ${outcome.failed}`)
      continue
    }
    const perSecond = Math.round(outcome.done / (outcome.ms / 1000))
    results[target] = { inputs: outcome.done, perSecond }
    console.log(`  ${target}: ${outcome.done.toLocaleString('en')} inputs, no crash, no hang, every refusal named (${perSecond.toLocaleString('en')} inputs/s)`)
  }
  console.log(`RESULT ${JSON.stringify({ seed, targets: results, ok: !failed })}`)
  process.exitCode = failed ? 1 : 0
} else {
  const job = workerData as Job
  const target = (await fuzzTargets()).find(t => t.name === job.target)
  if (target === undefined) throw new Error(`no fuzz target ${job.target}`)
  const started = performance.now()
  const post = (report: Report): void => { parentPort?.postMessage(report) }
  try {
    runTarget(target, job.inputs, job.seed, done => { post({ progress: done }) })
    post({ done: job.inputs, ms: performance.now() - started })
  } catch (err) {
    post({ failed: (err as Error).message })
  }
}

async function runInWorker (job: Job): Promise<{ done: number, ms: number } | { failed: string }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: job })
  return await new Promise(resolve => {
    let last = 0
    let watchdog = setTimeout(stalled, STALL_MS)
    function stalled (): void {
      void worker.terminate()
      resolve({ failed: `hang: no progress for ${STALL_MS / 1000} s after ${last} inputs (seed ${job.seed})` })
    }
    worker.on('message', (report: Report) => {
      clearTimeout(watchdog)
      if ('progress' in report) {
        last = report.progress
        process.stdout.write(`\r  ${job.target}: ${last.toLocaleString('en')}/${job.inputs.toLocaleString('en')}`)
        watchdog = setTimeout(stalled, STALL_MS)
        return
      }
      process.stdout.write('\r')
      void worker.terminate()
      resolve(report)
    })
    worker.on('error', err => { clearTimeout(watchdog); resolve({ failed: `crash: ${err.stack ?? err.message}` }) })
  })
}
