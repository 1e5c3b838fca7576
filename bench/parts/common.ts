/** Helpers the benchmarks share: knobs, clocks, percentiles and the machine description they print. */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { cpus, loadavg, release, totalmem } from 'node:os'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'

/** A positive integer knob from the environment, or `fallback` when unset. */
export function intEnv (name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`)
  return value
}

/** Wall-clock ms with sub-ms resolution; the super-peers stamp their events the same way. */
export const now = (): number => performance.timeOrigin + performance.now()
export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** The p-th percentile (nearest rank) of ascending `sorted`; NaN when it is empty. */
export function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]
}

export interface MachineOptions {
  /** Append the clock rate from /proc/cpuinfo to the CPU line. */
  mhz?: boolean
  /** Print a load line (1/5/15 min averages) followed by this remark in parentheses; none if unset. */
  loadRemark?: string
}

/** Lines describing the machine: CPU, memory, OS, Node and optionally the load averages. */
export async function machine (options: MachineOptions = {}): Promise<string[]> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '')
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown'
  const mhz = options.mhz === true ? /^cpu MHz\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] : undefined
  const gib = (totalmem() / 2 ** 30).toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 })
  const lines = [
    `CPU      ${model}${mhz !== undefined ? ` (${Math.round(Number(mhz))} MHz)` : ''}, ${cpus().length} logical cores`,
    `memory   ${gib} GiB`,
    `OS       Linux ${release()}`,
    `Node     ${process.version}`
  ]
  if (options.loadRemark !== undefined) lines.push(`load     ${loadavg().map(l => l.toFixed(2)).join(' ')} (${options.loadRemark})`)
  return lines
}

/** Resident set size of a process, from /proc. */
export async function rssBytes (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(kb) * 1024
}

/** A child process that speaks JSON lines on stdout. */
export class Child {
  readonly child: ChildProcessWithoutNullStreams
  readonly exited: Promise<number | string>
  private readonly lines: AsyncIterator<string>
  private stderr = ''

  constructor (nodeFlags: string[], args: string[]) {
    this.child = spawn(process.execPath, [...nodeFlags, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    // a child that died (or was killed) makes a later send fail with EPIPE: its exit is what
    // `next` reports, so the write error must not crash the bench before it cleans up
    this.child.stdin.on('error', () => {})
    this.child.stderr.setEncoding('utf8')
    this.child.stderr.on('data', (chunk: string) => { this.stderr = (this.stderr + chunk).slice(-4000) })
    this.exited = new Promise(resolve => this.child.once('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') }))
    this.lines = createInterface({ input: this.child.stdout, crlfDelay: Infinity })[Symbol.asyncIterator]()
    children.add(this)
    void this.exited.then(() => children.delete(this))
  }

  get pid (): number { return this.child.pid as number }

  send (message: unknown): void { this.child.stdin.write(JSON.stringify(message) + '\n') }

  /** Called with each `{"progress": ...}` line, which `next` does not return. */
  onProgress: ((progress: Record<string, any>) => void) | undefined

  /** The next JSON line that is not a progress line, within timeoutMs. */
  async next (what: string, timeoutMs: number): Promise<Record<string, any>> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: no answer after ${timeoutMs} ms:\n${this.stderr}`)) }, timeoutMs) })
    const exited = this.exited.then(code => { throw new Error(`${what}: process exited (${code}):\n${this.stderr}`) })
    try {
      for (;;) {
        const line = await Promise.race([this.lines.next(), exited, timeout])
        if (line.done === true) throw new Error(`${what}: stdout closed:\n${this.stderr}`)
        const value = JSON.parse(line.value) as Record<string, any>
        if (value.progress === undefined) return value
        this.onProgress?.(value.progress)
      }
    } finally {
      clearTimeout(timer)
    }
  }

  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 10_000)
    await this.exited
    clearTimeout(timer)
  }
}
/** Every Child still running (to stop them all on exit). */
export const children = new Set<Child>()
