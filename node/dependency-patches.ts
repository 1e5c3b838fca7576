// Which of our dependency patches (patches/, applied by patch-package when a clone runs `npm ci`)
// this process runs with. An application that installs the deltacast package gets the libraries
// unpatched (npm runs no dependency's install scripts unasked), and one of the patches closes a
// remote crash: a super-peer says at start, in /status and in a metric which ones it lacks.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface DependencyPatch {
  /** The npm package patched. */
  package: string
  /** A file the patch changes, relative to the package's directory: it holds the marker. */
  file: string
  /** 'security': without it a remote peer can crash or exhaust the process; 'cost': more CPU or memory. */
  severity: 'security' | 'cost'
  /** What running without it means. */
  without: string
}

/** Every patch leaves this in the files it changes. */
export const PATCH_MARKER = 'deltacast patch'

export const DEPENDENCY_PATCHES: readonly DependencyPatch[] = Object.freeze([
  {
    package: '@libp2p/websockets',
    file: 'dist/src/listener.js',
    severity: 'security',
    without: 'one malformed WebSocket frame crashes the process, a socket that never upgrades is never closed, sockets are not capped (--observe-* limits), edge workers cannot share the WebSockets port, and each delivery takes two socket writes'
  },
  { package: '@libp2p/utils', file: 'dist/src/abstract-message-stream.js', severity: 'cost', without: 'more CPU per delivery (a write buffer pass per layer, an exception per decoded message)' },
  { package: '@libp2p/yamux', file: 'dist/src/stream.js', severity: 'cost', without: 'a window update back from the browser for every frame delivered' },
  { package: 'libp2p', file: 'dist/src/connection-manager/index.js', severity: 'cost', without: 'CPU per new connection grows with the connections open (quadratic): thousands of browsers are admitted ever more slowly' },
  { package: 'main-event', file: 'dist/src/index.js', severity: 'cost', without: 'more memory per connection (a wrapper and an abort closure per listener)' },
  { package: '@libp2p/noise', file: 'dist/src/utils.js', severity: 'cost', without: 'more memory per connection (the Noise handshake payload is kept for the connection\'s life)' },
  { package: 'multiformats', file: 'dist/src/hashes/digest.js', severity: 'cost', without: 'more memory per connection (a peer id can keep an 8 KiB Buffer pool alive)' },
  { package: '@multiformats/multiaddr', file: 'dist/src/components.js', severity: 'cost', without: 'more memory per connection (a remote address can keep an 8 KiB Buffer pool alive)' },
  { package: 'node-datachannel', file: 'dist/esm/polyfill/RTCPeerConnection.mjs', severity: 'cost', without: 'every data channel a WebRTC-Direct browser opened stays in memory until it disconnects' }
])

export interface MissingPatch extends DependencyPatch {
  /** Why it counts as missing. */
  reason: string
}

/** The directory of the installed package `name` as this module resolves it, or undefined. */
export function resolvePackageDir (name: string): string | undefined {
  let dir: string
  try {
    dir = dirname(fileURLToPath(import.meta.resolve(name)))
  } catch {
    return undefined
  }
  // from the entry point up to the package.json that names it
  for (;;) {
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === name) return dir
    } catch {
      // no (readable) package.json here: keep climbing
    }
    const up = dirname(dir)
    if (up === dir) return undefined
    dir = up
  }
}

/** The patches of `patches` the installed libraries lack. */
export function missingPatches (patches: readonly DependencyPatch[] = DEPENDENCY_PATCHES, packageDir: (name: string) => string | undefined = resolvePackageDir): MissingPatch[] {
  const missing: MissingPatch[] = []
  for (const patch of patches) {
    const dir = packageDir(patch.package)
    if (dir === undefined) {
      missing.push({ ...patch, reason: 'package not found' })
      continue
    }
    let text: string
    try {
      text = readFileSync(join(dir, patch.file), 'utf8')
    } catch {
      missing.push({ ...patch, reason: `${patch.file} not found (another version?)` })
      continue
    }
    if (!text.includes(PATCH_MARKER)) missing.push({ ...patch, reason: `${patch.file} is unpatched` })
  }
  return missing
}

let installed: MissingPatch[] | undefined

/** missingPatches() for this process's libraries, read once (they do not change while it runs). */
export function installedMissingPatches (): MissingPatch[] {
  installed ??= missingPatches()
  return installed
}

/** For /status: the packages whose patch is missing, and what that means. */
export function patchStatus (): { missing: Array<{ package: string, severity: string, without: string }> } {
  return { missing: installedMissingPatches().map(p => ({ package: p.package, severity: p.severity, without: p.without })) }
}
