/** Helpers the benchmarks share: knobs, clocks, percentiles and the machine description they print. */
import { readFile } from 'node:fs/promises'
import { cpus, loadavg, release, totalmem } from 'node:os'

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
