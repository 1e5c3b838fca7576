// Bundles the browser library (browser/index.ts) into one ES module and reports its size.
// Usage: node scripts/build-browser.ts [outfile]   (default dist/deltacast-browser.js)

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const DEFAULT_ENTRY = join(ROOT, 'browser', 'index.ts')
export const DEFAULT_OUTFILE = join(ROOT, 'dist', 'deltacast-browser.js')

export interface BuildResult { outfile: string, bytes: number, gzipBytes: number }

export async function buildBrowser (options: { entry?: string, outfile?: string, minify?: boolean } = {}): Promise<BuildResult> {
  const outfile = options.outfile ?? DEFAULT_OUTFILE
  await build({
    entryPoints: [options.entry ?? DEFAULT_ENTRY],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    legalComments: 'none',
    logLevel: 'warning'
  })
  const code = readFileSync(outfile)
  return { outfile, bytes: code.byteLength, gzipBytes: gzipSync(code, { level: 9 }).byteLength }
}

function kib (bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await buildBrowser({ outfile: process.argv[2] })
  console.log(`${result.outfile}: ${kib(result.bytes)} minified, ${kib(result.gzipBytes)} gzipped`)
}
