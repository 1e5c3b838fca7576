// Super-peer processes for the demo: `deltacast super-peer`, run as operators run it.

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'

const HERE = dirname(fileURLToPath(import.meta.url))
const CLI = join(HERE, '..', 'bin', 'deltacast.js')
const GUARD = join(HERE, 'demo-guard.ts')

export interface SuperPeerOptions {
  name: string
  region: string
  docId: string
  dataDir: string
  bootstrap: string[]
}

export interface SuperPeerReady {
  peerId: string
  addrs: string[]
  observe: { peerId: string, addrs: string[] }
  admin: string
}

export class SuperPeerProcess {
  readonly name: string
  readonly region: string
  readonly child: ChildProcess
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  ready?: SuperPeerReady
  private stderrTail: string[] = []

  private constructor (options: SuperPeerOptions) {
    this.name = options.name
    this.region = options.region
    const args = ['super-peer', '--data-dir', options.dataDir, '--region', options.region, '--doc', options.docId,
      '--listen', '/ip4/127.0.0.1/tcp/0',
      '--observe-listen', '/ip4/127.0.0.1/udp/0/webrtc-direct', '--observe-listen', '/ip4/127.0.0.1/tcp/0/ws',
      '--admin', '127.0.0.1:0', '--sync-interval-ms', '1000',
      ...options.bootstrap.flatMap(addr => ['--bootstrap', addr])]
    // Its own process group, so a terminal's Ctrl-C reaches only the demo, which then stops the
    // super-peers in order; the guard stops it if the demo itself dies without doing so.
    this.child = spawn(process.execPath, ['--import', GUARD, CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true })
    this.exited = new Promise(resolve => this.child.once('exit', (code, signal) => { resolve({ code, signal }) }))
    createInterface({ input: this.child.stderr!, crlfDelay: Infinity }).on('line', line => {
      this.stderrTail = [...this.stderrTail.slice(-19), line]
      if (process.env.DEMO_VERBOSE !== undefined) process.stderr.write(`[${this.name}] ${line}\n`)
    })
  }

  get pid (): number | undefined { return this.child.pid }

  get running (): boolean { return this.child.exitCode === null && this.child.signalCode === null }

  /** The last lines the process wrote to stderr (its JSON logs). */
  get stderr (): string { return this.stderrTail.join('\n') }

  /** Spawns a super-peer; see waitReady. */
  static spawn (options: SuperPeerOptions): SuperPeerProcess {
    return new SuperPeerProcess(options)
  }

  /** Resolves once the process prints its ready line; stops it if that fails. */
  async waitReady (timeoutMs = 30_000): Promise<SuperPeerReady> {
    const lines = createInterface({ input: this.child.stdout!, crlfDelay: Infinity })
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      this.ready = await Promise.race([
        new Promise<SuperPeerReady>((resolve, reject) => {
          lines.once('line', line => {
            try { resolve(JSON.parse(line) as SuperPeerReady) } catch { reject(new Error(`${this.name}: unexpected output: ${line}`)) }
          })
        }),
        this.exited.then(({ code, signal }) => { throw new Error(`${this.name} exited (${code ?? signal}) before it was ready:\n${this.stderr}`) }),
        new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.stderr}`)) }, timeoutMs) })
      ])
      return this.ready
    } catch (err) {
      await this.stop()
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited after graceMs. */
  async stop (graceMs = 10_000): Promise<void> {
    if (!this.running) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, graceMs)
    await this.exited
    clearTimeout(timer)
  }

  /** Reads the super-peer's admin /status. */
  async status (): Promise<any> {
    if (this.ready === undefined) throw new Error(`${this.name} is not ready`)
    const res = await fetch(`${this.ready.admin}/status`, { signal: AbortSignal.timeout(2000) })
    if (!res.ok) throw new Error(`${this.name} /status: ${res.status}`)
    return await res.json()
  }
}
