// The demo document: a game night that never ends. Each tick scores a point or two, reorders the
// leaderboard (an ordered list: listMove), now and then lets a player leave (listRemove) or join
// (listInsert), and logs what happened in a feed capped to FEED_SIZE items.

import { listInsert, listMove, listRemove } from '../src/delta/index.ts'
import type { ItemId, ListOpResult } from '../src/delta/index.ts'
import type { JsonObject } from '../src/json.ts'
import { prng } from './prng.ts'

/** What the ticker needs from an Authority: the live tree and change(). */
export interface DocWriter {
  readonly tree: JsonObject
  change (delta: JsonObject): Promise<unknown>
}

interface Player extends JsonObject { name: string, score: number, hue: number }

const NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken', 'Margaret', 'Linus', 'Radia', 'Donald', 'Frances', 'Dennis', 'Hedy', 'Tim', 'Sophie', 'Niklaus']
const TICKS_PER_ROUND = 40
const MIN_PLAYERS = 5
const MAX_PLAYERS = 8
export const FEED_SIZE = 8
/** What viewers may react with: a tally, merged per window on each super-peer and up the tree. */
export const REACTIONS = ['clap', 'fire', 'laugh', 'wow', 'love']

/** Everyone sees everything, and anyone watching may react, up to 5 times a second. */
export const DEMO_POLICY: JsonObject = {
  version: 1,
  observe: { anonymous: true, identified: true },
  fields: { '/': 'public' },
  input: {
    reactions: { kind: 'tally', message: { type: 'string', enum: REACTIONS }, send: 'public', rate: { messages: 5, perMs: 1000 }, windowMs: 250, field: '/reactions' }
  }
}

export class DemoDocument {
  private readonly doc: DocWriter
  private readonly random: () => number
  private tickCount = 0
  private nextPlayer = 0
  private nextFeed = 1
  private failed: Error | undefined
  private last: Promise<unknown> = Promise.resolve()

  constructor (doc: DocWriter, seed = Date.now()) {
    this.doc = doc
    this.random = prng(seed)
  }

  /** Writes the initial document: its policy (all public, and a reactions channel), title, round, six players, an empty feed. */
  async seed (): Promise<void> {
    await this.doc.change({ '@policy': DEMO_POLICY })
    await this.doc.change({ title: 'Game night', round: 1, tick: 0, updatedAt: Date.now() })
    for (let i = 0; i < 6; i++) this.join()
    this.log('The game begins', 'info')
    await this.last // changes are acknowledged in order: once this one is durable, all are
    if (this.failed !== undefined) throw this.failed
  }

  /** One step of the game; its changes land in one frame. Throws the first rejected change. */
  tick (): void {
    if (this.failed !== undefined) throw this.failed
    this.tickCount++
    const leaderBefore = this.order()[0]
    const scorers = 1 + Math.floor(this.random() * 2)
    for (let i = 0; i < scorers; i++) {
      const id = this.pick(this.order())
      const points = 1 + Math.floor(this.random() * 5)
      const player = this.player(id)
      this.send({ players: { [id]: { score: player.score + points } } })
      if (points === 5 && this.random() < 0.3) this.log(`${player.name} scores ${points}!`, 'score')
    }
    this.rank()
    const leader = this.order()[0]
    if (leader !== leaderBefore) this.log(`${this.player(leader).name} takes the lead`, 'lead')

    const count = this.order().length
    if (this.random() < 0.03 && count > MIN_PLAYERS) this.leave()
    else if (this.random() < 0.03 && count < MAX_PLAYERS) this.join()

    const patch: JsonObject = { tick: this.tickCount, updatedAt: Date.now() }
    if (this.tickCount % TICKS_PER_ROUND === 0) {
      patch.round = (this.doc.tree.round as number) + 1
      this.log(`Round ${patch.round as number} starts`, 'info')
    }
    this.send(patch)
  }

  private order (): ItemId[] {
    const players = this.doc.tree.players as { '@o': ItemId[] } | undefined
    return players?.['@o'] ?? []
  }

  private player (id: ItemId): Player {
    return (this.doc.tree.players as JsonObject)[String(id)] as Player
  }

  private pick<T> (items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]
  }

  /** Moves players into score order, one listMove per player out of place. */
  private rank (): void {
    const target = this.order().toSorted((a, b) => this.player(b).score - this.player(a).score)
    for (let i = 0; i < target.length; i++) {
      if (this.order()[i] !== target[i]) this.list(listMove(this.doc.tree, ['players'], target[i], i))
    }
  }

  private join (): void {
    const playing = new Set(this.order().map(id => this.player(id).name))
    const name = this.pick(NAMES.filter(n => !playing.has(n)))
    const id = `p${++this.nextPlayer}`
    const scores = this.order().map(other => this.player(other).score)
    // newcomers start at the median score, so they land mid-table
    const score = scores.length === 0 ? 0 : scores.toSorted((a, b) => a - b)[Math.floor(scores.length / 2)]
    const index = scores.filter(s => s > score).length
    this.list(listInsert(this.doc.tree, ['players'], id, { name, score, hue: Math.floor(this.random() * 360) }, index))
    if (this.tickCount > 0) this.log(`${name} joins`, 'join')
  }

  private leave (): void {
    const id = this.pick(this.order().slice(1)) // the leader stays
    const { name } = this.player(id)
    this.list(listRemove(this.doc.tree, ['players'], id))
    this.log(`${name} leaves`, 'leave')
  }

  /** Newest first; the oldest entry falls off past FEED_SIZE. */
  private log (text: string, kind: string): void {
    const id = this.nextFeed++
    this.list(listInsert(this.doc.tree, ['feed'], id, { text, kind, at: Date.now() }, 0))
    const feed = (): ItemId[] => (this.doc.tree.feed as { '@o': ItemId[] })['@o']
    while (feed().length > FEED_SIZE) this.list(listRemove(this.doc.tree, ['feed'], feed()[feed().length - 1]))
  }

  private list (result: ListOpResult): void {
    if (!result.ok) throw new Error(`demo document: ${result.error}`)
    this.send(result.value)
  }

  /** Applies at once (the tree updates synchronously); durability is awaited by the authority. */
  private send (delta: JsonObject): void {
    this.last = this.doc.change(delta).catch((err: Error) => { this.failed ??= err })
  }
}
