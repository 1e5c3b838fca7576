import { helpText, integerProblems, parseFlags, UsageError } from '../cli-args.ts'
import { parseHostPort, startAdminServer } from '../admin-http.ts'
import { mergeTopology, observersFromMetrics } from '../../src/topology/merge.ts'
import { TOPOLOGY_PAGE } from './page.ts'
import type { EndpointSnapshot, TopologyView } from '../../src/topology/merge.ts'
import type { AdminServer } from '../admin-http.ts'
import type { FlagSpecs } from '../cli-args.ts'

/**
 * `deltacast topology`: polls admin endpoints (super-peers and authorities), merges what they
 * say, and serves a page that draws each document's tree from it. The page talks only to this
 * server, so the admin endpoints need no CORS and can stay on loopback or a private network.
 */
export const TOPOLOGY_FLAGS: FlagSpecs = {
  admin: { type: 'string', multiple: true, default: [], value: 'url', help: 'Admin endpoint of a super-peer or authority to poll, e.g. http://127.0.0.1:9100' },
  listen: { type: 'string', default: '127.0.0.1:8070', value: 'host:port', help: 'Where to serve the page (port 0 picks a free one)' },
  'interval-ms': { type: 'number', default: 1000, value: 'ms', help: 'Time between polls of each endpoint' }
}

export const TOPOLOGY_HELP = helpText('Usage: deltacast topology --admin <url> [--admin <url> ...] [options]',
  'Serve a live page of each document\'s tier tree, drawn from the admin endpoints given.', TOPOLOGY_FLAGS)

export interface TopologyConfig {
  admins: string[]
  listen: string
  intervalMs: number
}

export function parseTopologyConfig (argv: string[]): TopologyConfig | 'help' {
  const flags = parseFlags(argv, TOPOLOGY_FLAGS, { deferProblems: true })
  if (flags.help) return 'help'
  const problems = [...flags.problems, ...integerProblems(flags, ['interval-ms'], 100)]
  const admins = (flags.admin as string[]).map(value => {
    const url = /^[a-z]+:\/\//i.test(value) ? value : `http://${value}`
    try {
      const parsed = new URL(url)
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http')
      return parsed.origin
    } catch {
      problems.push(`--admin "${value}": expected an http URL such as http://127.0.0.1:9100`)
      return value
    }
  })
  if (admins.length === 0) problems.push('--admin: give at least one admin endpoint to poll')
  try {
    parseHostPort(flags.listen as string)
  } catch {
    problems.push(`--listen "${String(flags.listen)}": expected host:port`)
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'))
  return { admins: [...new Set(admins)], listen: flags.listen as string, intervalMs: flags.intervalMs as number }
}

/** One poll of one endpoint; never throws (an endpoint that fails is reported down). */
async function pollEndpoint (url: string, timeoutMs: number): Promise<EndpointSnapshot> {
  const get = async (path: string): Promise<Response> => await fetch(`${url}${path}`, { signal: AbortSignal.timeout(timeoutMs) })
  try {
    // Viewer counts are extra: a node whose /metrics fails is still shown, without them.
    const metrics = get('/metrics').then(async res => res.ok ? observersFromMetrics(await res.text()) : {}, () => ({}))
    const [topology, status] = await Promise.all([get('/topology'), get('/status')])
    if (!status.ok) return { url, ok: false, error: `/status answered ${status.status}` }
    // An authority has no /topology (404).
    const tree: unknown = topology.ok ? await topology.json() : undefined
    if (!topology.ok) await topology.body?.cancel()
    return { url, ok: true, topology: tree, status: await status.json(), ...await metrics }
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code
    return { url, ok: false, error: (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : cause ?? (err as Error).message }
  }
}

export interface TopologyServer {
  readonly url: string
  /** The latest merged view (undefined before the first poll ends). */
  view (): TopologyView | undefined
  close (): Promise<void>
}

export async function startTopologyServer (config: TopologyConfig): Promise<TopologyServer> {
  let view: TopologyView | undefined
  let closed = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const poll = async (): Promise<void> => {
    const snapshots = await Promise.all(config.admins.map(async url => await pollEndpoint(url, Math.max(500, config.intervalMs))))
    if (closed) return
    view = mergeTopology(view, snapshots, Date.now())
    timer = setTimeout(() => { void poll() }, config.intervalMs)
  }
  const server: AdminServer = await startAdminServer(config.listen, path => {
    if (path === '/') return { type: 'text/html; charset=utf-8', body: TOPOLOGY_PAGE }
    if (path === '/api/topology') {
      if (view === undefined) return { status: 503, body: JSON.stringify({ error: 'first poll under way' }) }
      const { memory: _memory, ...shown } = view
      return { body: JSON.stringify({ ...shown, intervalMs: config.intervalMs }) }
    }
    if (path === '/healthz') return { body: JSON.stringify({ ok: true }) }
    return undefined
  }, '--listen')
  await poll()
  return {
    url: server.url,
    view: () => view,
    close: async () => {
      closed = true
      clearTimeout(timer)
      await server.close()
    }
  }
}
