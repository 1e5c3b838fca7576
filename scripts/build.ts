// Builds what the package ships (npm pack runs it as `prepack`): the JavaScript and declarations
// of src/, node/ and browser/ (tsc -p tsconfig.build.json) and the single-file browser bundle.
// Development needs none of it: Node runs the TypeScript sources directly.
// Usage: node scripts/build.ts

import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildBrowser, DEFAULT_OUTFILE } from './build-browser.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const DIST = join(ROOT, 'dist')
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc')

rmSync(DIST, { recursive: true, force: true }) // nothing stale reaches the tarball
execFileSync(process.execPath, [TSC, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' })
const bundle = await buildBrowser({ outfile: DEFAULT_OUTFILE })
console.log(`built ${DIST} (bundle ${(bundle.bytes / 1024).toFixed(1)} KiB, ${(bundle.gzipBytes / 1024).toFixed(1)} KiB gzipped)`)
