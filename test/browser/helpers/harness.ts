// Test harness for browser tests: bundles, a static HTTP server, Chromium, fake super-peers.

import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { buildBrowser } from '../../../scripts/build-browser.ts'
import { killAll } from '../../helpers/processes.ts'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import type { FakeFrame } from '../fixtures/fake-doc.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
const FAKE_SUPER_PEER = join(HERE, '..', 'fixtures', 'fake-super-peer.ts')
const RAW_CLIENT = join(HERE, '..', 'fixtures', 'raw-client.ts')

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

export async function launchChromium (extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: [...CHROMIUM_ARGS, ...extraArgs] })
}

export interface TestSite { url: string, close: () => Promise<void> }

/**
 * Builds the library bundle and the raw test client, and serves them with one page each; `extra`
 * adds pages for more test entries (name -> entry file), served as /<name>.html.
 */
export async function startTestSite (extra: Record<string, string> = {}): Promise<TestSite> {
  const dir = mkdtempSync(join(tmpdir(), 'deltacast-browser-'))
  const library = await buildBrowser({ outfile: join(dir, 'deltacast-browser.js') })
  const raw = await buildBrowser({ entry: RAW_CLIENT, outfile: join(dir, 'raw-client.js') })
  const extras = await Promise.all(Object.entries(extra).map(async ([name, entry]) => ({ name, built: await buildBrowser({ entry, outfile: join(dir, `${name}.js`) }) })))
  const page = (script: string): string => `<!doctype html><meta charset="utf-8"><title>deltacast test</title>
<script type="module">import * as lib from '/${script}'; globalThis.deltacast = lib; globalThis.loaded = true</script>`
  const files: Record<string, { type: string, body: string | Buffer }> = {
    '/observe.html': { type: 'text/html', body: page('deltacast-browser.js') },
    '/raw.html': { type: 'text/html', body: page('raw-client.js') },
    '/deltacast-browser.js': { type: 'text/javascript', body: readFileSync(library.outfile) },
    '/raw-client.js': { type: 'text/javascript', body: readFileSync(raw.outfile) },
    '/favicon.ico': { type: 'image/x-icon', body: '' }
  }
  for (const { name, built } of extras) {
    files[`/${name}.html`] = { type: 'text/html', body: page(`${name}.js`) }
    files[`/${name}.js`] = { type: 'text/javascript', body: readFileSync(built.outfile) }
  }
  const server = createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://x').pathname]
    if (file === undefined) { res.writeHead(404).end(); return }
    res.writeHead(200, { 'content-type': file.type }).end(file.body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export interface ChromiumSite {
  browser: Browser
  site: TestSite
  /** A temp dir for the test's processes (data dirs, keys), removed after the tests. */
  dir: string
}

export interface ChromiumSiteOptions {
  /** The temp dir's name prefix (unique to the test, e.g. `dc9-browser-`). */
  tempPrefix?: string
  /** More test pages (name -> entry file), as for startTestSite. */
  pages?: Record<string, string>
  /** Chromium flags beyond CHROMIUM_ARGS (field trials, WebRTC settings). */
  chromiumArgs?: string[]
}

/**
 * Registers mocha hooks on the enclosing describe: before its tests, a temp dir, the test site
 * and Chromium; after them, Chromium and the site closed, every process startCli started
 * killed, and the dir removed. The returned handle's fields are set once its before hook ran, so
 * call it before the describe's own hooks that use them.
 */
export function useChromiumSite (options: ChromiumSiteOptions = {}): ChromiumSite {
  const handle = {} as ChromiumSite
  before(async function () {
    handle.dir = await mkdtemp(join(tmpdir(), options.tempPrefix ?? 'deltacast-chromium-'))
    ;[handle.site, handle.browser] = await Promise.all([startTestSite(options.pages), launchChromium(options.chromiumArgs)])
  })
  after(async function () {
    await handle.browser?.close()
    await handle.site?.close()
    await killAll()
    if (handle.dir !== undefined) await rm(handle.dir, { recursive: true, force: true })
  })
  return handle
}

/** A fake super-peer process (fixtures/fake-super-peer.ts) driven over stdin/stdout. */
export class FakeSuperPeer {
  readonly child: ChildProcessWithoutNullStreams
  peerId = ''
  addrs: string[] = []
  private nextId = 1
  private readonly pending = new Map<number, (reply: any) => void>()
  private readonly ready: Promise<void>

  constructor (args: string[] = []) {
    this.child = spawn(process.execPath, [FAKE_SUPER_PEER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stderr.on('data', (chunk: Buffer) => { if (process.env.DEBUG_FAKE !== undefined) process.stderr.write(chunk) })
    let resolve: () => void = () => {}
    this.ready = new Promise<void>((resolveReady, reject) => {
      resolve = resolveReady
      this.child.once('exit', code => { reject(new Error(`fake super-peer exited with ${code}`)) })
    })
    createInterface({ input: this.child.stdout }).on('line', line => {
      const message = JSON.parse(line)
      if (message.ready === true) {
        this.peerId = message.peerId
        this.addrs = message.addrs
        resolve()
      } else if (typeof message.ack === 'number') {
        this.pending.get(message.ack)?.(message)
        this.pending.delete(message.ack)
      }
    })
  }

  static async start (args: string[] = []): Promise<FakeSuperPeer> {
    const peer = new FakeSuperPeer(args)
    await peer.ready
    return peer
  }

  addr (transport: 'webrtc-direct' | 'ws'): string {
    const found = this.addrs.find(addr => addr.includes(`/${transport}/`))
    if (found === undefined) throw new Error(`no ${transport} address in ${this.addrs.join(', ')}`)
    return found
  }

  async command (command: object): Promise<any> {
    const id = this.nextId++
    const reply = new Promise<any>(resolve => { this.pending.set(id, resolve) })
    this.child.stdin.write(JSON.stringify({ ...command, id }) + '\n')
    return reply
  }

  /** Sends the frames (in order) and resolves once the last one is applied. */
  async frames (doc: string, frames: readonly FakeFrame[]): Promise<void> {
    const acks = frames.map(async frame => this.command({ op: 'frame', doc, seq: frame.seq, data: frame.data }))
    await Promise.all(acks)
  }

  async stats (): Promise<Record<string, number>> {
    return (await this.command({ op: 'stats' })).stats
  }

  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    this.child.kill(signal)
    await exited
  }
}
