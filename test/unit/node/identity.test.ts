import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  KEY_FILE_MODE, KeyFileInvalidError, KeyFileMissingError, loadKey, loadOrCreateKey
} from '../../../node/identity.ts'

describe('identity key file', () => {
  let dir: string
  let path: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deltacast-identity-'))
    path = join(dir, 'keys', 'node.key')
  })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('creates an Ed25519 key with mode 0600 and no leftover temp file', async () => {
    const key = await loadOrCreateKey(path)
    assert.equal(key.type, 'Ed25519')
    assert.equal((await stat(path)).mode & 0o777, KEY_FILE_MODE)
    assert.deepEqual(await readdir(join(dir, 'keys')), ['node.key'])
  })

  it('reloads the same key (same peer id) with loadOrCreateKey and loadKey', async () => {
    const created = await loadOrCreateKey(path)
    const again = await loadOrCreateKey(path)
    const loaded = await loadKey(path)
    const id = peerIdFromPrivateKey(created).toString()
    assert.equal(peerIdFromPrivateKey(again).toString(), id)
    assert.equal(peerIdFromPrivateKey(loaded).toString(), id)
    assert.ok(again.equals(created))
  })

  it('concurrent creators agree on one key', async () => {
    const keys = await Promise.all([1, 2, 3, 4].map(async () => await loadOrCreateKey(path)))
    const ids = new Set(keys.map((k) => peerIdFromPrivateKey(k).toString()))
    assert.equal(ids.size, 1)
    assert.equal(peerIdFromPrivateKey(await loadKey(path)).toString(), [...ids][0])
  })

  it('loadKey fails with KeyFileMissingError naming the path', async () => {
    await assert.rejects(loadKey(path), (err: unknown) => {
      assert.ok(err instanceof KeyFileMissingError)
      assert.equal(err.name, 'KeyFileMissingError')
      assert.equal(err.path, path)
      assert.ok(err.message.includes(path))
      return true
    })
  })

  it('a malformed file fails with KeyFileInvalidError and is not replaced', async () => {
    await mkdir(join(dir, 'keys'))
    await writeFile(path, 'not a key')
    for (const load of [loadKey, loadOrCreateKey]) {
      await assert.rejects(load(path), (err: unknown) => {
        assert.ok(err instanceof KeyFileInvalidError)
        assert.equal(err.name, 'KeyFileInvalidError')
        assert.equal(err.path, path)
        assert.ok(err.message.includes(path))
        return true
      })
    }
  })

  it('an unreadable path (a directory) fails with KeyFileInvalidError', async () => {
    await mkdir(path, { recursive: true })
    await assert.rejects(loadOrCreateKey(path), { name: 'KeyFileInvalidError' })
  })
})
