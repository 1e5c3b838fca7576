/**
 * Checks of startup settings that libp2p or pino would otherwise refuse with a stack trace, and
 * translation of the listen failures that can only be seen at start (a port in use) into errors
 * that name the flag at fault.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { access, constants, mkdir } from 'node:fs/promises'
import { parseDocId } from '../src/log/index.ts'
import { UsageError } from './cli-args.ts'

/** An expected failure at start (not a bad command line): printed without a stack, exit 1. */
export class StartupError extends Error {
  static override name = 'StartupError'
  override name = 'StartupError'
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** The address shapes a transport of ours can listen on (protocol names after the host). */
const LISTENABLE: Record<'backbone' | 'observe', string[]> = {
  backbone: ['tcp', 'tcp/ws', 'udp/webrtc-direct'],
  observe: ['tcp/ws', 'udp/webrtc-direct']
}
const HOSTS = new Set(['ip4', 'ip6'])
const DIAL_HOSTS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

export type AddressRole = { listen: 'backbone' | 'observe' } | 'announce' | 'bootstrap'

/** Problems with the multiaddrs given to one flag, each naming the flag and the address. */
export function multiaddrProblems (label: string, values: string[], role: AddressRole): string[] {
  const problems: string[] = []
  for (const value of values) {
    let components
    try {
      components = multiaddr(value).getComponents()
    } catch (err) {
      problems.push(`${label} "${value}" is not a valid multiaddr: ${(err as Error).message}`)
      continue
    }
    const names = components.map(c => c.name)
    if (role === 'bootstrap') {
      if (names.at(-1) !== 'p2p') problems.push(`${label} "${value}" has no /p2p/<peer id>: a bootstrap peer must be named (e.g. ${value}/p2p/12D3KooW...)`)
      else if (!DIAL_HOSTS.has(names[0])) problems.push(`${label} "${value}" must start with /ip4, /ip6 or /dns`)
      continue
    }
    if (role === 'announce') continue
    const shape = names.slice(1).join('/')
    if (!HOSTS.has(names[0]) || !LISTENABLE[role.listen].includes(shape)) {
      problems.push(`${label} "${value}": no transport can listen on it; use /ip4|ip6/<host>/${LISTENABLE[role.listen].map(s => s.replace(/^(tcp|udp)/, '$1/<port>')).join(' or /ip4|ip6/<host>/')}`)
    }
  }
  return problems
}

export function logLevelProblems (label: string, level: string): string[] {
  return LOG_LEVELS.includes(level) ? [] : [`${label} "${level}" is not a log level: use ${LOG_LEVELS.join(', ')}`]
}

export function docIdProblems (label: string, docIds: string[]): string[] {
  return docIds.flatMap(docId => {
    const parsed = parseDocId(docId)
    return parsed.ok ? [] : [`${label} "${docId}" is not a doc id: ${parsed.error}`]
  })
}

/** Throws one UsageError listing every problem, if there are any. */
export function refuseProblems (problems: string[]): void {
  if (problems.length > 0) throw new UsageError(problems.join('\n'))
}

/** Creates the directory if needed and checks it is writable, naming the flag otherwise. */
export async function checkWritableDir (flag: string, dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await access(dir, constants.W_OK | constants.X_OK)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    const reason = code === 'ENOTDIR' || code === 'EEXIST' ? 'a path component is not a directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : String(code ?? (err as Error).message)
    throw new StartupError(`--${flag} ${dir} is unusable: ${reason}`)
  }
}

/**
 * Rewrites a libp2p listen failure as a StartupError naming the flag whose address failed, or
 * returns the error unchanged. `flags` maps each flag to the addresses it gave.
 */
export function explainListenFailure (err: unknown, flags: Record<string, string[]>): unknown {
  const message = err instanceof Error ? err.message : String(err)
  const flagOf = (addr: string): string => Object.entries(flags).find(([, addrs]) => addrs.includes(addr))?.[0] ?? 'listen'
  if ((err as Error)?.name === 'UnsupportedListenAddressesError') {
    const failures = [...message.matchAll(/^\s+(\/\S+): (.*)$/gm)].map(([, addr, reason]) => {
      const why = /EADDRINUSE/.test(reason) ? 'address already in use' : /EADDRNOTAVAIL/.test(reason) ? 'no such local address' : /EACCES/.test(reason) ? 'permission denied (a port below 1024?)' : /No transport/.test(reason) ? 'no transport can listen on it' : reason.replace(/^\w*Error: /, '')
      return `--${flagOf(addr)} ${addr}: cannot listen: ${why}`
    })
    if (failures.length > 0) return new StartupError(failures.join('\n'))
  }
  if (/Failed to register ICE UDP mux listener/.test(message)) {
    const udp = Object.entries(flags).flatMap(([flag, addrs]) => addrs.filter(a => a.includes('/webrtc-direct')).map(a => `--${flag} ${a}`))
    return new StartupError(`${udp.join(', ') || 'a webrtc-direct address'}: cannot listen: UDP port already in use`)
  }
  return err
}
