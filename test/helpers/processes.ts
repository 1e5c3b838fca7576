import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

/**
 * Runs deltacast commands as separate OS processes, the way operators run them, and talks to
 * them through their stdout JSON lines, stdin and admin HTTP endpoint.
 */
export const CLI = fileURLToPath(new URL('../../bin/deltacast.js', import.meta.url))

export interface Running {
  readonly child: ChildProcessWithoutNullStreams
  readonly ready: Record<string, any>
  /** Every stdout JSON line after the ready line. */
  readonly lines: AsyncIterator<Record<string, any>>
  readonly stderr: () => string
  /** Resolves with the exit code or signal when the process ends. */
  readonly exited: Promise<number | string>
  admin (path: string): Promise<any>
  kill (signal?: NodeJS.Signals): Promise<number | string>
}

const running = new Set<Running>()

/**
 * How long a started process may take to print its ready line. Generous: it only catches a
 * process that hangs, and a cold start (type stripping every module) took over 30 s on a 2-core
 * machine at load average 17-20.
 */
const READY_TIMEOUT_MS = 90_000

export interface StartOptions {
  readyTimeoutMs?: number
  /** Run inside this network namespace (test/helpers/netns.ts). `ip netns exec` execs the command, so signals reach it. */
  netns?: string
}

export async function startCli (args: string[], options: StartOptions = {}): Promise<Running> {
  const [command, argv] = options.netns === undefined
    ? [process.execPath, [CLI, ...args]]
    : ['ip', ['netns', 'exec', options.netns, process.execPath, CLI, ...args]]
  const child = spawn(command, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, DELTACAST_LOG_LEVEL: process.env.DELTACAST_LOG_LEVEL ?? 'warn' } })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-20_000) })
  const exited = new Promise<number | string>(resolve => child.once('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') }))
  const lines = (async function * () {
    for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
      if (line.trim() !== '') yield JSON.parse(line) as Record<string, any>
    }
  })()
  const timeout = options.readyTimeoutMs ?? READY_TIMEOUT_MS
  let first: IteratorResult<Record<string, any>>
  try {
    first = await Promise.race([
      lines.next(),
      exited.then(code => { throw new Error(`deltacast ${args[0]} exited (${code}) before ready:\n${stderr}`) }),
      new Promise<never>((_resolve, reject) => setTimeout(() => { reject(new Error(`deltacast ${args[0]} not ready after ${timeout} ms:\n${stderr}`)) }, timeout).unref())
    ])
    if (first.done === true) throw new Error(`deltacast ${args[0]} closed stdout before ready:\n${stderr}`)
  } catch (err) {
    // a process that missed its ready line is not handed out, so nothing else would stop it
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    throw err
  }
  const ready = first.value
  const proc: Running = {
    child,
    ready,
    lines,
    stderr: () => stderr,
    exited,
    admin: async (path: string) => {
      const res = await fetch(`${ready.admin as string}${path}`)
      if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`)
      return res.headers.get('content-type')?.includes('json') === true ? await res.json() : await res.text()
    },
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return await exited
    }
  }
  running.add(proc)
  void exited.then(() => running.delete(proc))
  return proc
}

export interface Finished { code: number | null, signal: string | null, stdout: string, stderr: string }

/**
 * Runs the CLI to completion (for commands that exit on their own); killed after `timeoutMs`.
 * `env` adds to the environment.
 */
export async function runCli (args: string[], options: { timeoutMs?: number, env?: Record<string, string> } = {}): Promise<Finished> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
  return await new Promise(resolve => child.once('close', (code, signal) => {
    clearTimeout(timer)
    resolve({ code, signal, stdout, stderr })
  }))
}

/** Kill every process a test started (mocha afterEach/after). */
export async function killAll (): Promise<void> {
  await Promise.all([...running].map(async proc => await proc.kill('SIGKILL')))
}

/** A TCP port free on loopback now, for a process that must come back on the same address. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>(resolve => server.close(() => { resolve() }))
  return port
}

/**
 * Poll `probe` until it returns a value other than undefined. Polls an observable condition
 * (never a fixed sleep); fails with `what` and the last observation after timeoutMs.
 */
export async function waitFor<T> (what: string, probe: () => Promise<T | undefined> | T | undefined, { timeoutMs = 30_000, intervalMs = 100 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (true) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`)
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}

/** Observe addresses on loopback, each on a free port. */
export const LOOPBACK_OBSERVE = ['--observe-listen', '/ip4/127.0.0.1/udp/0/webrtc-direct', '--observe-listen', '/ip4/127.0.0.1/tcp/0/ws']

/**
 * Arguments for a test super-peer on loopback: free ports, an admin endpoint, a quick catch-up
 * interval, and no browser-facing node unless `observe` (which binds LOOPBACK_OBSERVE).
 */
export function superPeerArgs (options: { dataDir: string, docId: string, bootstrap: string[], observe?: boolean, extra?: string[] }): string[] {
  return ['super-peer', '--data-dir', options.dataDir, '--listen', '/ip4/127.0.0.1/tcp/0',
    ...options.bootstrap.flatMap(addr => ['--bootstrap', addr]), '--doc', options.docId, '--region', 'test',
    '--admin', '127.0.0.1:0', '--sync-interval-ms', '1000',
    ...(options.observe === true ? LOOPBACK_OBSERVE : ['--observe-listen', 'none']), ...(options.extra ?? [])]
}

/** Arguments for a test authority on loopback, driven through stdin, with an admin endpoint. */
export function authorityArgs (options: { dir: string, name: string, port?: number, extra?: string[] }): string[] {
  return ['authority', '--dir', options.dir, '--name', options.name, '--listen', `/ip4/127.0.0.1/tcp/${options.port ?? 0}`,
    '--admin', '127.0.0.1:0', '--stdin', ...(options.extra ?? [])]
}
