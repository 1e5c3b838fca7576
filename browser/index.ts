/**
 * deltacast in the browser: follow a live document through super-peers (observe, read-only),
 * or follow it and send input (connect).
 *
 * ```ts
 * import { observe, keysOf } from 'deltacast/browser'
 * const view = observe(docId, { bootstrap: ['/dns4/sp.example/udp/4001/webrtc-direct/certhash/…/p2p/…'] })
 * view.addEventListener('change', () => render(view.state))
 * ```
 */
export { observe, LiveView, InvalidDocIdError, ReadOnlyError } from './observe.ts'
export { connect, Writer, SendRefusedError } from './connect.ts'
export type { ConnectOptions, SendReceipt } from './connect.ts'
export type { ObserveOptions, ConnectionInfo, ConnectionState, ChangeDetail } from './observe.ts'
export type { BrowserTransport, BackoffOptions } from './candidates.ts'
export type { SwarmOptions } from './swarm.ts'
export { keysOf } from '../src/delta/index.ts'
export { OBSERVE_PROTOCOL } from '../src/observe/protocol.ts'
export type { Json, JsonObject } from '../src/json.ts'
