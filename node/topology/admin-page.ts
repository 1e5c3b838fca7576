import { topologyPage } from './page.ts'
import { TopologyPoller, viewAnswer } from './topology-poller.ts'
import type { AdminAnswer } from '../admin-http.ts'
import type { FlagSpec } from '../cli-args.ts'

/**
 * The topology page on a node's own admin endpoint (super-peers and authorities): the same page
 * `deltacast topology` serves, drawn from this node's endpoint and the --peer-admin endpoints.
 * It polls only while someone looks (each request of the view polls again if the last poll is
 * older than the interval), so a node nobody watches does no work for it.
 */
export const TOPOLOGY_PAGE_PATH = '/topology/page'
export const TOPOLOGY_VIEW_PATH = '/topology/view'
const INTERVAL_MS = 1000

export const PEER_ADMIN_FLAG: FlagSpec = {
  type: 'string', multiple: true, default: [], value: 'url',
  help: `Admin endpoint of another super-peer or authority, drawn with this one on ${TOPOLOGY_PAGE_PATH}`
}

/** "host:port" or an http(s) URL, as an origin; or a problem naming the flag and the value. */
export function adminOrigins (flag: string, values: readonly string[]): { origins: string[], problems: string[] } {
  const origins: string[] = []
  const problems: string[] = []
  for (const value of values) {
    const url = /^[a-z]+:\/\//i.test(value) ? value : `http://${value}`
    try {
      const parsed = new URL(url)
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http')
      origins.push(parsed.origin)
    } catch {
      problems.push(`${flag} "${value}": expected an http URL such as http://127.0.0.1:9100`)
    }
  }
  return { origins: [...new Set(origins)], problems }
}

/** The admin routes of the page; `self` is this endpoint's URL once it listens. */
export function topologyPageRoute (self: () => string | undefined, peers: readonly string[]): (path: string) => Promise<AdminAnswer> | AdminAnswer | undefined {
  const poller = new TopologyPoller(() => [...(self() === undefined ? [] : [self()!]), ...peers], 2 * INTERVAL_MS)
  return path => {
    if (path === TOPOLOGY_PAGE_PATH) return { type: 'text/html; charset=utf-8', body: topologyPage(TOPOLOGY_VIEW_PATH) }
    if (path === TOPOLOGY_VIEW_PATH) return poller.fresh(INTERVAL_MS).then(view => viewAnswer(view, INTERVAL_MS))
    return undefined
  }
}
