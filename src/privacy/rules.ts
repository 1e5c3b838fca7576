/**
 * The rule trie: field rules and record requires indexed by their path patterns.
 *
 * Walking the document, a node's *states* are the trie nodes whose pattern matches its path,
 * kept most specific first (at the leftmost segment where two patterns differ, a literal key
 * beats "*"). The first state holding a field rule decides the node; every require applies.
 */
import { WILDCARD } from './paths.ts'
import type { Condition } from './condition.ts'

export interface Rule {
  readonly kind: 'field' | 'require'
  /** The pattern as written in the policy (for messages). */
  readonly pattern: string
  readonly condition: Condition
  readonly node: TrieNode
}

export interface TrieNode {
  readonly parent: TrieNode | null
  readonly literal: Map<string, TrieNode>
  wildcard: TrieNode | null
  field: Rule | null
  require: Rule | null
}

export function newTrieNode (parent: TrieNode | null): TrieNode {
  return { parent, literal: new Map(), wildcard: null, field: null, require: null }
}

/** The trie node for `segments`, created as needed. */
export function trieNodeAt (root: TrieNode, segments: readonly string[]): TrieNode {
  let node = root
  for (const segment of segments) {
    if (segment === WILDCARD) {
      node.wildcard ??= newTrieNode(node)
      node = node.wildcard
    } else {
      let next = node.literal.get(segment)
      if (next === undefined) {
        next = newTrieNode(node)
        node.literal.set(segment, next)
      }
      node = next
    }
  }
  return node
}

export type States = readonly TrieNode[]

/** The states of a child reached by `key`, still most specific first. */
export function advance (states: States, key: string): TrieNode[] {
  const out: TrieNode[] = []
  for (const s of states) {
    const exact = s.literal.get(key)
    if (exact !== undefined) out.push(exact)
    if (s.wildcard !== null) out.push(s.wildcard)
  }
  return out
}

/** The field rule deciding a node with these states, or null (it inherits its parent's). */
export function fieldRuleOf (states: States): Rule | null {
  for (const s of states) if (s.field !== null) return s.field
  return null
}

/** True when some pattern reaches below these states (so a hidden node may still show parts). */
export function hasBelow (states: States): boolean {
  return states.some(s => s.literal.size > 0 || s.wildcard !== null)
}
