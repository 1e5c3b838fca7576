import { mergeTopology, observersFromMetrics, partialsSentFrom } from '../../src/topology/merge.ts'
import type { EndpointSnapshot, TopologyView } from '../../src/topology/merge.ts'
import type { AdminAnswer } from '../admin-http.ts'

/** One poll of one endpoint; never throws (an endpoint that fails is reported down). */
async function pollEndpoint (url: string, timeoutMs: number): Promise<EndpointSnapshot> {
  const get = async (path: string): Promise<Response> => await fetch(`${url}${path}`, { signal: AbortSignal.timeout(timeoutMs) })
  try {
    // Viewer counts are extra: a node whose /metrics fails is still shown, without them.
    const metrics = get('/metrics').then(async res => res.ok ? await res.text() : '', () => '')
    const [topology, status] = await Promise.all([get('/topology'), get('/status')])
    if (!status.ok) return { url, ok: false, error: `/status answered ${status.status}` }
    // An authority has no /topology (404).
    const tree: unknown = topology.ok ? await topology.json() : undefined
    if (!topology.ok) await topology.body?.cancel()
    const statusJson = await status.json()
    const metricsText = await metrics
    const partialsSent = partialsSentFrom(statusJson, metricsText)
    return { url, ok: true, topology: tree, status: statusJson, ...observersFromMetrics(metricsText), ...(partialsSent === undefined ? {} : { partialsSent }) }
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code
    return { url, ok: false, error: (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : cause ?? (err as Error).message }
  }
}

/**
 * Polls a list of admin endpoints (super-peers and authorities) and merges what they say into
 * one view (src/topology/merge.ts). Polls never overlap: a caller asking during one waits for it.
 */
export class TopologyPoller {
  private current?: TopologyView
  private running?: Promise<TopologyView>
  private polledAt = Number.NEGATIVE_INFINITY
  private readonly admins: () => readonly string[]
  private readonly timeoutMs: number

  constructor (admins: () => readonly string[], timeoutMs: number) {
    this.admins = admins
    this.timeoutMs = timeoutMs
  }

  /** The latest merged view (undefined before the first poll ends). */
  view (): TopologyView | undefined {
    return this.current
  }

  async poll (): Promise<TopologyView> {
    this.running ??= (async () => {
      try {
        const snapshots = await Promise.all([...new Set(this.admins())].map(async url => await pollEndpoint(url, this.timeoutMs)))
        this.polledAt = Date.now()
        this.current = mergeTopology(this.current, snapshots, this.polledAt)
        return this.current
      } finally {
        this.running = undefined
      }
    })()
    return await this.running
  }

  /** The view, polled again first when it is older than maxAgeMs: nothing is polled while nobody looks. */
  async fresh (maxAgeMs: number): Promise<TopologyView> {
    if (this.current !== undefined && Date.now() - this.polledAt < maxAgeMs) return this.current
    return await this.poll()
  }
}

/** The page's JSON: the merged view without what only the next merge needs. */
export function viewAnswer (view: TopologyView | undefined, intervalMs: number): AdminAnswer {
  if (view === undefined) return { status: 503, body: JSON.stringify({ error: 'first poll under way' }) }
  const { memory: _memory, ...shown } = view
  return { body: JSON.stringify({ ...shown, intervalMs }) }
}
