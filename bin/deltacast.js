#!/usr/bin/env node
// Node >= 22.18 runs the TypeScript sources directly (type stripping); npm scripts get Node 22
// from the pinned `node` dev dependency.
import { main } from '../node/cli.ts'

await main(process.argv.slice(2))
