/**
 * The topology page's model: what every polled admin endpoint said (/topology, /status,
 * /metrics), merged into one view per document, with what only a sequence of polls shows
 * (frames/s, a parent that changed, a node that stopped answering). Pure: time is passed in.
 */

/** One poll of one admin endpoint. `ok` false: it did not answer (the node is shown down). */
export interface EndpointSnapshot {
  readonly url: string
  readonly ok: boolean
  readonly error?: string
  /** GET /topology (super-peers), undefined on an authority (404). */
  readonly topology?: any
  readonly status?: any
  /** From /metrics: observer streams by transport, and privacy classes, when it serves observers. */
  readonly observers?: Readonly<Record<string, number>>
  readonly classes?: number
  /** From /metrics: class-message bytes of relaying documents, sent by the node itself and relayed by its browsers. */
  readonly swarm?: SwarmBytes
  /** The node's partials_sent counter (partials sent up its tier parent), when it has one. */
  readonly partialsSent?: number
}

/** What a super-peer's swarms carried: bytes it sent to viewers itself, and bytes browsers relayed for it. */
export interface SwarmBytes { readonly direct: number, readonly relayed: number }

export type Health = 'down' | 'silent' | 'lagging' | 'failed over' | 'gossip'

export interface NodeView {
  /** Peer id, or the endpoint URL for a node never reached. */
  readonly id: string
  readonly url: string
  readonly kind: 'super-peer' | 'authority' | 'unknown'
  readonly region?: string
  readonly up: boolean
  readonly error?: string
  readonly viewers?: Readonly<Record<string, number>>
  readonly classes?: number
  /** Its swarms' offload so far, when it has relaying documents. */
  readonly swarm?: SwarmBytes
  /** Reducer partials sent upward per second, between the last two polls (undefined: no such counter). */
  readonly partialsPerSecond?: number
}

export interface DocNodeView {
  readonly peerId: string
  readonly region?: string
  readonly up: boolean
  /** What it does now: proxy if the authority feeds it or tier children follow it. */
  readonly role: 'proxy' | 'member'
  /** The role its own membership view elects it to (lags a death by the lease). */
  readonly electedRole?: string
  readonly scope?: string
  readonly depth?: number
  /** The peer it follows now; AUTHORITY for the authority, "gossip" on the fallback topic (a peer id not polled is kept as is). */
  readonly parent?: string
  readonly electedParent?: string
  readonly children: readonly string[]
  readonly seq: number
  readonly framesPerSecond?: number
  readonly lag?: number
  readonly health: readonly Health[]
  /** The parent it followed before its last switch, while that is recent. */
  readonly failedOverFrom?: string
}

export interface DocView {
  readonly docId: string
  /** The authority's head: its own /status if polled, else the highest announced head. */
  readonly authoritySeq?: number
  readonly nodes: readonly DocNodeView[]
}

export interface TopologyView {
  readonly at: number
  readonly nodes: readonly NodeView[]
  readonly docs: readonly DocView[]
  /** What the next merge needs from this one: last answers, seqs, parents and switches. */
  readonly memory: Memory
}

interface Remembered {
  readonly snapshot: EndpointSnapshot
  readonly at: number
}

interface Memory {
  /** The last answer of each endpoint that answered, by URL. */
  readonly last: Readonly<Record<string, Remembered>>
  /** Per "doc peer": the seq and time of the last poll, the parent then, and the last switch. */
  readonly docs: Readonly<Record<string, { seq: number, at: number, fps?: number, parent?: string, role?: 'proxy' | 'member', switched?: { from: string, at: number } }>>
  /** Per endpoint URL: its partials counter at the last poll that had one, and the rate then. */
  readonly partials: Readonly<Record<string, { sent: number, at: number, perSecond?: number }>>
}

export const AUTHORITY = '@authority'
/** More frames behind the authority's announced head than this is lagging. */
export const LAGGING_FRAMES = 5
/** How long a parent switch is shown as "failed over". */
export const FAILOVER_SHOWN_MS = 30_000

export function mergeTopology (previous: TopologyView | undefined, snapshots: readonly EndpointSnapshot[], now: number): TopologyView {
  const last: Record<string, Remembered> = { ...previous?.memory.last }
  for (const snapshot of snapshots) if (snapshot.ok) last[snapshot.url] = { snapshot, at: now }
  const authorityIds = new Set<string>()
  const nodes: NodeView[] = snapshots.map(snapshot => {
    const known = snapshot.ok ? snapshot : last[snapshot.url]?.snapshot
    const kind = known === undefined ? 'unknown' : known.topology !== undefined ? 'super-peer' : 'authority'
    const id: string = known?.topology?.peerId ?? known?.status?.peerId ?? snapshot.url
    if (kind === 'authority') authorityIds.add(id)
    return {
      id,
      url: snapshot.url,
      kind,
      region: known?.topology?.region ?? known?.status?.region,
      up: snapshot.ok,
      error: snapshot.ok ? undefined : snapshot.error,
      viewers: known?.observers,
      classes: known?.classes,
      swarm: known?.swarm
    }
  })
  const superPeers = new Set(nodes.filter(n => n.kind === 'super-peer').map(n => n.id))
  const partials = partialRates(previous?.memory.partials ?? {}, snapshots, now)
  const shownNodes = nodes.map(node => {
    const rate = node.up ? partials[node.url]?.perSecond : undefined
    return rate === undefined ? node : { ...node, partialsPerSecond: rate }
  })

  // Per document, each super-peer's entry (the last known one for a node that is down).
  const entries = new Map<string, Array<{ node: NodeView, doc: any, status: any }>>()
  const authoritySeqs = new Map<string, number>()
  for (const node of nodes) {
    const known = node.up ? snapshots.find(s => s.url === node.url) : last[node.url]?.snapshot
    if (known === undefined) continue
    if (node.kind === 'authority') {
      if (node.up && typeof known.status?.docId === 'string') authoritySeqs.set(known.status.docId, known.status.seq)
      continue
    }
    for (const [docId, doc] of Object.entries<any>(known.topology?.docs ?? {})) {
      const status = known.status?.docs?.[docId]
      const list = entries.get(docId) ?? []
      list.push({ node, doc, status })
      entries.set(docId, list)
      const announced = status?.authority?.seq
      if (typeof announced === 'number' && !authoritySeqs.has(docId)) authoritySeqs.set(docId, announced)
      else if (typeof announced === 'number' && node.up) authoritySeqs.set(docId, Math.max(authoritySeqs.get(docId)!, announced))
    }
  }

  const memoryDocs: Record<string, Memory['docs'][string]> = {}
  const docs: DocView[] = [...entries.keys()].sort().map(docId => {
    const list = entries.get(docId)!
    // The authority: a listed one, or the peer that region proxies' own views elect as their parent.
    const authorities = new Set(authorityIds)
    for (const { doc } of list) if (doc.role === 'proxy' && doc.depth === 1 && typeof doc.electedParent === 'string') authorities.add(doc.electedParent)
    const parentOf = (peer: unknown): string | undefined => {
      if (typeof peer !== 'string' || peer === 'gossip') return peer as undefined
      return authorities.has(peer) && !superPeers.has(peer) ? AUTHORITY : peer
    }
    const followers = new Map<string, string[]>()
    for (const { node, doc } of list) {
      const parent = parentOf(doc.parent)
      if (!node.up || parent === undefined) continue
      followers.set(parent, [...(followers.get(parent) ?? []), node.id])
    }
    const docNodes = list.map(({ node, doc, status }): DocNodeView => {
      const key = `${docId} ${node.id}`
      const before = previous?.memory.docs[key]
      const parent = parentOf(doc.parent)
      const seq: number = doc.seq ?? 0
      let switched = before?.switched
      if (node.up && before?.parent !== undefined && parent !== undefined && parent !== before.parent) switched = { from: before.parent, at: now }
      if (switched !== undefined && now - switched.at > FAILOVER_SHOWN_MS) switched = undefined
      const fps = !node.up ? undefined : before !== undefined && now > before.at ? Math.max(0, seq - before.seq) * 1000 / (now - before.at) : before?.fps
      const children = followers.get(node.id) ?? []
      // A node that is down keeps the role it acted in when last seen (its own view lags a death).
      const role = node.up ? (children.length > 0 || parent === AUTHORITY ? 'proxy' : 'member') : before?.role ?? (doc.role === 'proxy' ? 'proxy' : 'member')
      memoryDocs[key] = node.up ? { seq, at: now, fps, parent: parent ?? before?.parent, role, switched } : { ...before ?? { seq, at: now }, switched }
      const lag: number | undefined = status?.lag
      const health: Health[] = []
      if (!node.up) health.push('down')
      else {
        if (status?.upstream?.silent === true) health.push('silent')
        if (typeof lag === 'number' && lag > LAGGING_FRAMES) health.push('lagging')
        if (switched !== undefined) health.push('failed over')
        if (parent === 'gossip') health.push('gossip')
      }
      return {
        peerId: node.id,
        region: node.region,
        up: node.up,
        role,
        electedRole: doc.role,
        scope: doc.scope,
        depth: doc.depth,
        parent,
        electedParent: parentOf(doc.electedParent),
        children,
        seq,
        framesPerSecond: fps,
        lag,
        health,
        failedOverFrom: node.up ? switched?.from : undefined
      }
    })
    return { docId, authoritySeq: authoritySeqs.get(docId), nodes: docNodes.sort((a, b) => a.peerId.localeCompare(b.peerId)) }
  })
  return { at: now, nodes: shownNodes, docs, memory: { last, docs: memoryDocs, partials } }
}

/** Each endpoint's partials counter and its rate since the previous poll that had it (a restart, counting from 0 again, is a new start). */
function partialRates (before: Memory['partials'], snapshots: readonly EndpointSnapshot[], now: number): Memory['partials'] {
  const next: Record<string, { sent: number, at: number, perSecond?: number }> = {}
  for (const snapshot of snapshots) {
    const old = before[snapshot.url]
    if (!snapshot.ok || snapshot.partialsSent === undefined) {
      if (old !== undefined && !snapshot.ok) next[snapshot.url] = old
      continue
    }
    const sent = snapshot.partialsSent
    const perSecond = old !== undefined && now > old.at && sent >= old.sent ? (sent - old.sent) * 1000 / (now - old.at) : undefined
    next[snapshot.url] = { sent, at: now, perSecond: perSecond ?? (old !== undefined && sent >= old.sent ? old.perSecond : undefined) }
  }
  return next
}

/** The counter the page shows as partials/s going up: partials_sent. */
export const PARTIALS_SENT_COUNTER = 'partials_sent'

/**
 * A node's partials_sent: from /status counters, else from /metrics
 * (deltacast_partials_sent_total, summed over its label sets); undefined when it has none.
 */
export function partialsSentFrom (status: any, metricsText: string): number | undefined {
  const counted = status?.counters?.[PARTIALS_SENT_COUNTER]
  if (typeof counted === 'number' && Number.isFinite(counted)) return counted
  let sum: number | undefined
  for (const line of metricsText.split('\n')) {
    const match = /^deltacast_partials_sent_total(?:\{[^}]*\})? (\S+)$/.exec(line)
    if (match === null) continue
    const value = Number(match[1])
    if (Number.isFinite(value)) sum = (sum ?? 0) + value
  }
  return sum
}

/** Observer streams by transport and the privacy-class count, from Prometheus text. */
export function observersFromMetrics (text: string): { observers?: Record<string, number>, classes?: number, swarm?: SwarmBytes } {
  const observers: Record<string, number> = {}
  let found = false
  let classes: number | undefined
  const swarm = { direct: 0, relayed: 0 }
  for (const line of text.split('\n')) {
    const stream = /^deltacast_observers\{transport="([^"]+)"\} (\S+)$/.exec(line)
    if (stream !== null) {
      observers[stream[1]] = Number(stream[2])
      found = true
    }
    const classLine = /^deltacast_privacy_classes (\S+)$/.exec(line)
    if (classLine !== null) classes = Number(classLine[1])
    const swarmLine = /^deltacast_swarm_bytes_(direct|relayed)_total(?:\{[^}]*\})? (\S+)$/.exec(line)
    if (swarmLine !== null) swarm[swarmLine[1] as 'direct' | 'relayed'] += Number(swarmLine[2])
  }
  return {
    observers: found || classes !== undefined ? observers : undefined,
    classes,
    // Counters are predeclared at 0: a node whose swarms never carried a byte has no offload to show.
    ...(swarm.direct + swarm.relayed > 0 ? { swarm } : {})
  }
}
