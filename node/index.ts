/**
 * deltacast for Node applications (`import … from 'deltacast'`): embed a document's authority.
 * Super-peers run as `npx deltacast super-peer`. Pure pieces that browsers use too live in `deltacast/delta` (list edits,
 * materialize, keysOf) and `deltacast/identity` (viewer tokens); the browser library is
 * `deltacast/browser`.
 *
 * ```ts
 * import { Authority, createLogger, loadOrCreateKey, startAuthorityNode } from 'deltacast'
 * const doc = await Authority.open({ dir: './data/game', name: 'game' })
 * await startAuthorityNode(doc, { peerKey: await loadOrCreateKey('./data/game/peer.key'), listen: ['/ip4/0.0.0.0/tcp/4100'] }, createLogger('authority'))
 * await doc.change({ title: 'Round 1' }) // resolves once durable
 * ```
 */
import { assertSupportedNode } from './node-version.ts'

export * from './authority/index.ts'
export { MIN_NODE_MAJOR, UnsupportedNodeError } from './node-version.ts'

// Runs before the application's first line that uses the package, so an old Node fails here,
// clearly, rather than deep inside libp2p.
assertSupportedNode()
