// libp2p's datastore on disk: peer store, keychain and the WebRTC-Direct certificate.

import { join } from 'node:path'
import { FsDatastore } from 'datastore-fs'
import type { AbortOptions } from '@libp2p/interface'
import type { Key } from 'interface-datastore'

/** Subdirectory of dataDir that holds libp2p's datastore. */
export const DATASTORE_DIR = 'datastore'

/** Thrown when something writes to a node's datastore after the node has stopped. */
export class DatastoreStoppedError extends Error {
  static override name = 'DatastoreStoppedError'
  override name = 'DatastoreStoppedError'

  constructor (message = 'the libp2p node using this datastore has stopped') {
    super(message)
  }
}

/**
 * A file datastore that refuses writes between its node's stop and next start, so that once
 * `node.stop()` has resolved the node no longer touches dataDir. libp2p 3's address manager
 * writes the node's own addresses to the peer store 1 s after the last transport closes, which
 * is after stop() resolves; that late write now fails (libp2p logs it) instead of landing in a
 * directory that may already be deleted or in use by a restarted node.
 *
 * libp2p starts and stops every component that has start/stop methods, the datastore included;
 * the flag flips in the outermost phases (afterStop, beforeStart) so writes made while the
 * other components stop still land.
 */
export class NodeDatastore extends FsDatastore {
  #stopped = false

  beforeStart (): void {
    this.#stopped = false
  }

  start (): void {}

  stop (): void {}

  afterStop (): void {
    this.#stopped = true
  }

  override async put (key: Key, val: Uint8Array, options?: AbortOptions): Promise<Key> {
    this.#refuseIfStopped()
    return await super.put(key, val, options)
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    this.#refuseIfStopped()
    await super.delete(key, options)
  }

  #refuseIfStopped (): void {
    if (this.#stopped) {
      throw new DatastoreStoppedError()
    }
  }
}

/** Opens (creating if needed) the datastore under dataDir. */
export async function openNodeDatastore (dataDir: string): Promise<NodeDatastore> {
  const datastore = new NodeDatastore(join(dataDir, DATASTORE_DIR), { createIfMissing: true })
  await datastore.open()
  return datastore
}
