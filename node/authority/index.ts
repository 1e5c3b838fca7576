/**
 * Embedding an authority in a Node application.
 *
 * @example
 * const doc = await Authority.open({ dir: './data/game', name: 'game' })
 * const peerKey = await loadOrCreateKey('./data/game/peer.key')
 * const net = await startAuthorityNode(doc, { peerKey, listen: ['/ip4/0.0.0.0/tcp/4100'] }, createLogger('authority'))
 * await doc.change({ title: 'Round 1' }) // resolves once the frame carrying it is durable
 * // viewers' input, merged up the tree and counted once (docs/architecture.md, "Input's journey up"):
 * net.input.on('merged', ({ channel, value, seq }) => { console.log(channel, value, seq) })
 */
export { Authority, AUTHORITY_DEFAULTS } from './authority.ts'
export type { AuthorityOptions, ChangeAck } from './authority.ts'
export { startAuthorityNode } from './authority-node.ts'
export type { AuthorityNode, AuthorityNodeOptions } from './authority-node.ts'
export { AuthorityInput } from '../reduce/authority-input.ts'
export type { MergedEvent } from '../reduce/authority-input.ts'
export { AuthorityClosedError, AuthorityFailedError, ChangeRejectedError, ChangeTooLargeError, LogReplayError } from './errors.ts'
export { loadOrCreateKey } from '../identity.ts'
export { createLogger } from '../log.ts'
