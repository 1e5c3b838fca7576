import { checkDelta, listInsert, listMove, listRemove, mergeInto } from '../../src/delta/index.ts'
import type { JsonObject } from '../../src/json.ts'
import type { ListOpResult } from '../../src/delta/index.ts'

/**
 * A deterministic stream of realistic changes (scalar sets, nested objects, field removals and
 * list inserts, moves and deletes), checked against a local model of the document so every
 * change is valid when the authority receives it in order.
 */
export class Workload {
  model: JsonObject = {}
  private step = 0
  private nextCard = 0
  private readonly random: (below: number) => number

  constructor (seed = 1) {
    this.random = seededRandom(seed)
  }

  /** Continue from a document that changed outside this workload (e.g. after a crash). */
  resetTo (tree: JsonObject): void {
    this.model = structuredClone(tree)
  }

  next (): JsonObject {
    const n = this.step++
    const change = this.pick(n)
    const check = checkDelta(this.model, change)
    if (!check.ok) throw new Error(`workload produced an invalid change at step ${n}: ${check.error}`)
    mergeInto(this.model, change)
    return change
  }

  private pick (n: number): JsonObject {
    const cards = (this.model.cards as { '@o'?: unknown[] } | undefined)?.['@o'] ?? []
    switch (n % 6) {
      case 0: return { counter: n, phase: n % 12 === 0 ? 'deal' : 'play' }
      case 1: return { players: { [`p${this.random(20)}`]: { score: n, seen: n % 3 === 0 ? null : true } } }
      case 2:
      case 3: return unwrapListOp(listInsert(this.model, ['cards'], `c${this.nextCard++}`, { face: this.random(52), by: `p${this.random(20)}` }, this.random(cards.length + 1)))
      case 4: return cards.length > 1
        ? unwrapListOp(listMove(this.model, ['cards'], cards[this.random(cards.length)] as string, this.random(cards.length)))
        : { counter: n }
      default: return cards.length > 30
        ? unwrapListOp(listRemove(this.model, ['cards'], cards[this.random(cards.length)] as string))
        : { notes: { [`n${n % 7}`]: `note ${n} ✓` } }
    }
  }
}

/** xorshift32: the same seed gives the same sequence on every run. */
export function seededRandom (seed: number): (below: number) => number {
  let x = seed >>> 0
  return below => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    x >>>= 0
    return x % Math.max(1, below)
  }
}

/** The delta of a list edit the workload knows is valid; a failure is a bug in the workload. */
export function unwrapListOp (result: ListOpResult): JsonObject {
  if (!result.ok) throw new Error(result.error)
  return result.value
}
