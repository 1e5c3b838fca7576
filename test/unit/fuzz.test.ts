import { fuzzTargets, runTarget } from '../fuzz/targets.ts'

// A short run of `npm run fuzz` (which takes 100,000 inputs per decoder and a new seed each run).
// The suite uses a fixed seed so a change, not luck, decides whether it passes; FUZZ_SEED picks
// another, and a failure prints the seed that found it.
const INPUTS = 3_000

describe('fuzzed decoders (short run; npm run fuzz for the long one)', function () {
  this.timeout(120_000)
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 20261201
  for (const name of ['frames', 'sync messages', 'observe messages', 'fleet handshakes']) {
    it(`${name}: ${INPUTS.toLocaleString('en')} generated and mutated inputs, no crash, every refusal named`, async () => {
      const target = (await fuzzTargets()).find(t => t.name === name)
      if (target === undefined) throw new Error(`no fuzz target ${name}`)
      runTarget(target, INPUTS, seed)
    })
  }
})
