import { helpText, integerProblems, parseFlags, UsageError } from '../cli-args.ts'
import { parseHostPort, startAdminServer } from '../admin-http.ts'
import { adminOrigins } from './admin-page.ts'
import { topologyPage } from './page.ts'
import { TopologyPoller, viewAnswer } from './topology-poller.ts'
import type { TopologyView } from '../../src/topology/merge.ts'
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
  const { origins: admins, problems: urlProblems } = adminOrigins('--admin', flags.admin as string[])
  problems.push(...urlProblems)
  if ((flags.admin as string[]).length === 0) problems.push('--admin: give at least one admin endpoint to poll')
  try {
    parseHostPort(flags.listen as string)
  } catch {
    problems.push(`--listen "${String(flags.listen)}": expected host:port`)
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'))
  return { admins, listen: flags.listen as string, intervalMs: flags.intervalMs as number }
}

export interface TopologyServer {
  readonly url: string
  /** The latest merged view (undefined before the first poll ends). */
  view (): TopologyView | undefined
  close (): Promise<void>
}

export async function startTopologyServer (config: TopologyConfig): Promise<TopologyServer> {
  const poller = new TopologyPoller(() => config.admins, Math.max(500, config.intervalMs))
  let closed = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const poll = async (): Promise<void> => {
    await poller.poll()
    if (closed) return
    timer = setTimeout(() => { void poll() }, config.intervalMs)
  }
  const server: AdminServer = await startAdminServer(config.listen, path => {
    if (path === '/') return { type: 'text/html; charset=utf-8', body: topologyPage('/api/topology') }
    if (path === '/api/topology') return viewAnswer(poller.view(), config.intervalMs)
    if (path === '/healthz') return { body: JSON.stringify({ ok: true }) }
    return undefined
  }, '--listen')
  await poll()
  return {
    url: server.url,
    view: () => poller.view(),
    close: async () => {
      closed = true
      clearTimeout(timer)
      await server.close()
    }
  }
}
