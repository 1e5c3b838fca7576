/**
 * Delta-merge core: Adama viewer deltas over deltacast's two document forms.
 *
 * - tree form (authority, replicas, snapshots): lists are `{"@o": [ids], "<id>": item}`;
 *   checkDelta validates, mergeInto applies in place, composeDeltas folds a frame's deltas into one.
 * - browser form: lists are arrays whose ids are read with keysOf; materialize converts a tree,
 *   integrate applies a delta (returning a new state).
 *
 * @example
 * const tree = {}
 * const d = listInsert(tree, ['cards'], 'a', { v: 1 }, 0)
 * if (d.ok && checkDelta(tree, d.value).ok) mergeInto(tree, d.value)
 * materialize(tree) // { cards: [{ v: 1 }] }, keysOf(...cards) -> ['a']
 */
export { ORDER, SIZE, isItemId, isListNode } from './keys.ts'
export type { ItemId, OrderEntry, ListNode } from './keys.ts'
export { mergeInto, cloneTree } from './merge.ts'
export { checkDelta, MAX_DEPTH } from './check.ts'
export type { CheckResult } from './check.ts'
export { orderDelta } from './order.ts'
export { listInsert, listMove, listRemove } from './list-ops.ts'
export type { ListOpResult } from './list-ops.ts'
export { composeDeltas, UncomposableDeltasError } from './compose.ts'
export { materialize, keysOf, isList, NotAListError } from './materialize.ts'
export { integrate } from './integrate.ts'
export { diffTrees, jsonEqual, UnrepresentableDiffError } from './diff.ts'
