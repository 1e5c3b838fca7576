/** The demo's seeded PRNG is the simulator's (src/sim/random.ts), so a run can be replayed from its seed. */
export { prng } from '../src/sim/random.ts'
