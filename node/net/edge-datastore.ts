// The edge node's datastore: files for what must survive a restart, memory for peer records.

import { MemoryDatastore, MountDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import type { NodeDatastore } from './datastore.ts'
import type { AbortOptions } from '@libp2p/interface'

/** Where libp2p's peer store keeps its records. */
export const PEER_RECORDS_PREFIX = new Key('/peers')

/**
 * libp2p records in its peer store every peer that opens a stream (connection.js merges the
 * stream's protocol into the remote's record), so on the edge every browser that ever connected
 * left a file in the data directory, written while its stream was still being negotiated. Peer
 * records go to memory here (the edge never dials a browser back, so none is worth keeping) and
 * the rest (the WebRTC-Direct certificate, the keychain) to `files`. createEdgeNode also drops a
 * browser's record when it disconnects, so the memory is bounded by the browsers connected.
 */
export class EdgeDatastore extends MountDatastore {
  readonly files: NodeDatastore

  constructor (files: NodeDatastore) {
    super([
      { prefix: PEER_RECORDS_PREFIX, datastore: new PeerRecordMemory() },
      { prefix: new Key('/'), datastore: files }
    ])
    this.files = files
  }

  // libp2p starts and stops its datastore like any component: NodeDatastore refuses writes
  // between its node's stop and next start (see node/net/datastore.ts).
  beforeStart (): void {
    this.files.beforeStart()
  }

  start (): void {}

  stop (): void {}

  afterStop (): void {
    this.files.afterStop()
  }
}

/**
 * Keeps each record in an array of its own: the peer store hands over an encoded record that is
 * often a slice of Node's 8 KiB Buffer pool (protons encodes with allocUnsafe), and a record kept
 * for a connection's life kept the whole pool alive with it.
 */
class PeerRecordMemory extends MemoryDatastore {
  override put (key: Key, value: Uint8Array, options?: AbortOptions): ReturnType<MemoryDatastore['put']> {
    return super.put(key, value.byteLength === value.buffer.byteLength ? value : value.slice(), options)
  }
}
