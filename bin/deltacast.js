#!/usr/bin/env node
// The deltacast command. Installed from the package it runs the built JavaScript (dist/); in a
// clone, where the TypeScript sources sit beside it, it runs them directly (Node >= 22.18 strips
// types; npm scripts and npx get that Node from the pinned `node` dev dependency).
// Plain JavaScript that any Node parses, so an old Node gets a clear message, not a stack trace.
import { existsSync } from 'node:fs'

const sources = new URL('../node/cli.ts', import.meta.url)
const fromSources = existsSync(sources)
let problem
if (fromSources) {
  const [major, minor] = process.versions.node.split('.').map(Number)
  if (major < 22 || (major === 22 && minor < 18)) {
    problem = `deltacast's TypeScript sources need Node.js 22.18 or newer; this is Node.js ${process.versions.node}. ` +
      'In a clone, run it through npm (npx deltacast, npm start), which uses the Node in node_modules/.bin.'
  }
} else {
  const { nodeVersionProblem } = await import('../dist/node/node-version.js')
  problem = nodeVersionProblem(process.versions.node)
}
if (problem !== undefined) {
  process.stderr.write(problem + '\n')
  process.exit(1)
}

const { main } = await import(fromSources ? sources.href : '../dist/node/cli.js')
await main(process.argv.slice(2))
