import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { DEPENDENCY_PATCHES, PATCH_MARKER, missingPatches, resolvePackageDir } from '../../../node/dependency-patches.ts'

describe('dependency patches', () => {
  it('finds every patch in this clone (npm ci applied patches/)', () => {
    assert.deepEqual(missingPatches().map(p => `${p.package}: ${p.reason}`), [])
  })

  it('knows every patch in patches/, and no other', () => {
    // patch-package names a file <package, / as +>+<version>.patch
    const inRepo = readdirSync(new URL('../../../patches/', import.meta.url)).map(file => file.replace(/\+[^+]+\.patch$/, '').replace('+', '/'))
    assert.deepEqual(DEPENDENCY_PATCHES.map(p => p.package).sort(), inRepo.sort())
  })

  it('resolves a package to the directory holding its package.json', () => {
    const dir = resolvePackageDir('@libp2p/websockets')
    assert.ok(dir !== undefined)
    assert.equal(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name, '@libp2p/websockets')
    assert.equal(resolvePackageDir('no-such-package-deltacast-test'), undefined)
  })

  describe('in an installation without the patches', () => {
    let root: string
    before(() => { root = mkdtempSync(join(tmpdir(), 'deltacast-patches-')) })
    after(() => { rmSync(root, { recursive: true, force: true }) })

    /** A copy of the patch's file as installed here, with the marker taken out (an unpatched release). */
    const unpatched = (name: string): void => {
      const patch = DEPENDENCY_PATCHES.find(p => p.package === name)!
      const text = readFileSync(join(resolvePackageDir(name)!, patch.file), 'utf8')
      const file = join(root, name, patch.file)
      mkdirSync(dirname(file), { recursive: true })
      writeFileSync(file, text.split(PATCH_MARKER).join('upstream'))
    }

    it('lists what is unpatched, not found, or of another layout, and nothing else', () => {
      unpatched('@libp2p/websockets')
      unpatched('libp2p')
      mkdirSync(join(root, '@libp2p/yamux'), { recursive: true }) // installed, but the file moved
      const here = (name: string): string | undefined => name === 'main-event' ? undefined : name === '@libp2p/websockets' || name === 'libp2p' || name === '@libp2p/yamux' ? join(root, name) : resolvePackageDir(name)
      const missing = missingPatches(DEPENDENCY_PATCHES, here)
      assert.deepEqual(missing.map(p => [p.package, p.reason]), [
        ['@libp2p/websockets', 'dist/src/listener.js is unpatched'],
        ['@libp2p/yamux', 'dist/src/stream.js not found (another version?)'],
        ['libp2p', 'dist/src/connection-manager/index.js is unpatched'],
        ['main-event', 'package not found']
      ])
      assert.equal(missing[0].severity, 'security', 'the WebSockets patch closes a remote crash')
    })
  })
})
