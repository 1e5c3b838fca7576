/** `deltacast log verify|repair`: the offline way back from a damaged frame log. */
import { helpText, parseFlags, UsageError } from './cli-args.ts'
import type { FlagSpecs } from './cli-args.ts'
import { repairLog, verifyLog } from './authority/log-repair.ts'
import type { LogReport } from './authority/log-repair.ts'

const LOG_FLAGS: FlagSpecs = {
  dir: { type: 'string', value: 'dir', default: '.deltacast/authority', help: 'The authority\'s data directory' },
  name: { type: 'string', help: 'Document name (needed only when the directory holds several logs)' }
}

export const LOG_HELP = helpText(
  'Usage: deltacast log verify|repair --dir <dir> [--name <name>]',
  'verify reads the frame log and prints one JSON line: its status (intact, torn-tail or corrupt),\n' +
  'the seq up to which the signed chain is intact, the damaged byte ranges and the intact records\n' +
  'that are not part of the chain. It changes nothing; exit 0 unless the log is corrupt.\n' +
  'repair (with the authority stopped) rewrites a damaged log to its intact chain, keeping the\n' +
  'original as <name>.frames.<time>.bak. It refuses, changing nothing, when an intact frame beyond\n' +
  'the chain would be lost. The authority then restarts on the log and continues the chain.',
  LOG_FLAGS)

export async function runLog (argv: string[]): Promise<void> {
  const [action, ...rest] = argv
  if (action === '--help' || action === '-h') return void process.stdout.write(LOG_HELP)
  if (action !== 'verify' && action !== 'repair') throw new UsageError(action === undefined ? 'missing action: deltacast log verify|repair' : `unknown action "${action}": use verify or repair`)
  const flags = parseFlags(rest, LOG_FLAGS)
  if (flags.help) return void process.stdout.write(LOG_HELP)
  const dir = flags.dir as string
  const name = flags.name as string | undefined
  if (action === 'verify') {
    const report = await verifyLog(dir, name)
    process.stdout.write(JSON.stringify(report) + '\n')
    process.stderr.write(summary(report) + '\n')
    if (report.status === 'corrupt') process.exitCode = 1
    return
  }
  const result = await repairLog(dir, name)
  process.stdout.write(JSON.stringify({ repaired: result.repaired, backup: result.backup, removedBytes: result.removedBytes, ...result.report }) + '\n')
  process.stderr.write(result.repaired
    ? `repaired ${result.report.file}: kept the chain up to seq ${result.report.seq} (${result.report.frames} frames), removed ${result.removedBytes} bytes; original kept as ${result.backup ?? ''}\n`
    : `${result.report.file} is intact up to seq ${result.report.seq}: nothing to repair\n`)
}

function summary (report: LogReport): string {
  const head = `${report.file}: ${report.status}, chain intact up to seq ${report.seq} (${report.frames} frames, epoch ${report.epoch})`
  const damage = report.damage.map(d => `  damaged bytes ${d.offset}..${d.end} (${d.reason})`)
  const outside = report.outside.map(r => `  record at byte ${r.offset}${r.seq === undefined ? '' : ` (seq ${r.seq})`} not in the chain: ${r.reason}`)
  const advice = report.status === 'intact'
    ? []
    : report.status === 'torn-tail'
      ? ['  a torn tail was never acknowledged; the authority drops it when it opens the log']
      : [report.repairable ? '  run deltacast log repair (authority stopped) to keep the chain and back up the rest' : `  not repairable: ${report.problem ?? ''}`]
  return [head, ...damage, ...outside, ...advice].join('\n')
}
