// npm pack's prepack/postpack for package.json: the packed manifest states the Node.js the
// installed package needs (`engines`, from node/node-version.ts), while the repository's own
// manifest does not, so that a clone installs and runs `npx deltacast` on an older system Node
// without engine warnings (its scripts run on the Node of the `node` dev dependency; `devEngines`
// states what installing needs). The packed manifest has no `postinstall` (it applies our
// patches/ to the repository's own tree). postpack puts the original bytes back.
// Usage: node scripts/pack-manifest.ts prepack | postpack

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MIN_NODE_MAJOR } from '../node/node-version.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const MANIFEST = join(ROOT, 'package.json')
const BACKUP = join(ROOT, '.package.json.prepack')

const step = process.argv[2]
if (step === 'prepack') {
  if (existsSync(BACKUP)) renameSync(BACKUP, MANIFEST) // an interrupted pack left its edit behind
  const text = readFileSync(MANIFEST, 'utf8')
  writeFileSync(BACKUP, text)
  const manifest = JSON.parse(text)
  manifest.engines = { node: `>=${MIN_NODE_MAJOR}` }
  // patch-package patches this repository's own dependency tree (patches/); it is a dev
  // dependency, and an installed package's install scripts are not ours to run.
  delete manifest.scripts.postinstall
  writeFileSync(MANIFEST, JSON.stringify(manifest, null, 2) + '\n')
} else if (step === 'postpack') {
  if (existsSync(BACKUP)) renameSync(BACKUP, MANIFEST)
} else {
  console.error('usage: node scripts/pack-manifest.ts prepack | postpack')
  process.exit(2)
}
