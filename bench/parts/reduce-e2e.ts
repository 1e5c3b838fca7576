/**
 * bench:reduce, end to end: an authority and 3 super-peers as OS processes (tiers: one region
 * proxy, two members), simulated writers in this process on raw writer streams over WebSockets
 * (the observe protocol with "mode":"connect"), a count channel. The writers send as fast as the
 * super-peers take it for DURATION_MS, then wait for every acknowledgement. Figures: messages/s
 * accepted by the super-peers, partials arriving at the proxy and at the authority (per second,
 * and per child per window while the writers send: the goal is at most 1, whatever the number
 * of writers), and
 * write-to-document latency (send to acknowledgement, which the super-peer sends once the frame
 * counting the message has reached it down the log). acknowledged must equal counted.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from '@libp2p/utils'
import { createObserverNode } from '../../browser/node.ts'
import { encodeMessage, frameJsonBytes, OBSERVE_PROTOCOL, parseServerMessage } from '../../src/observe/protocol.ts'
import { ADDRESS_VIEWERS, encodeSend } from '../../src/reduce/index.ts'
import { AuthorityDriver } from '../../test/helpers/authority-driver.ts'
import { authorityArgs, killAll, startCli, superPeerArgs, waitFor } from '../../test/helpers/processes.ts'
import { percentile } from './common.ts'
import type { Running } from '../../test/helpers/processes.ts'

const WINDOW_MS = 250

export interface EndToEnd {
  writers: number
  superPeers: number
  durationS: number
  sent: number
  acknowledged: number
  counted: number
  e2eMessagesPerS: number
  /** Partials/s arriving at the region proxy (from its two members) and at the authority, while the writers send. */
  proxyPartialsPerS: number
  authorityPartialsPerS: number
  /** The same per child (2 members; the proxy) per window: the goal is at most 1. */
  proxyPartialsPerChildPerWindow: number
  authorityPartialsPerChildPerWindow: number
  windowsPerS: number
  latencyMsP50: number
  latencyMsP99: number
}

interface SimWriter {
  readonly name: string
  nextId: number
  /** Send time (performance.now()) by id, until acknowledged. */
  readonly sentAt: Map<number, number>
  write (bytes: Uint8Array): boolean
  drained (): Promise<void>
}

const encoder = new TextEncoder()

export async function endToEnd (options: { writersPerSuperPeer: number, durationMs: number, batch: number, progress: (line: string) => void }): Promise<EndToEnd> {
  const { progress } = options
  const dir = await mkdtemp(join(tmpdir(), 'dc9-bench-reduce-'))
  const latencies: number[] = []
  try {
    const authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'bench' }))
    const docId = authority.ready.docId as string
    const driver = new AuthorityDriver(authority)
    const id = driver.send({
      '@policy': {
        version: 1,
        observe: { anonymous: true },
        fields: { '/claps': 'public' },
        input: { claps: { kind: 'count', message: { type: 'null' }, send: 'public', rate: { messages: 1000, perMs: 100 }, windowMs: WINDOW_MS, field: '/claps' } }
      }
    })
    await driver.until('the policy', () => driver.acked.has(id))
    const superPeers: Running[] = []
    for (let i = 0; i < 3; i++) superPeers.push(await startCli(superPeerArgs({ dataDir: join(dir, `sp${i}`), docId, bootstrap: [authority.ready.addrs[0]], observe: true })))
    progress('authority and 3 super-peers up; waiting for the tier tree')
    const proxy = await waitFor('a region proxy and every parent', async () => {
      const tops = await Promise.all(superPeers.map(async sp => (await sp.admin('/topology')).docs[docId]))
      const proxies = new Set(tops.map(t => t?.tree?.regions?.[0]?.proxy))
      if (proxies.size !== 1 || tops.some(t => t?.parent === undefined || t.parent === 'gossip')) return undefined
      return superPeers.find(sp => sp.ready.peerId === [...proxies][0])
    }, { timeoutMs: 90_000, intervalMs: 250 })
    if (proxy === undefined) throw new Error('no proxy')

    // Writers: one libp2p node (its own peer id and connection) each: the rate is per viewer, so
    // streams sharing a connection would share one budget. All come from 127.0.0.1, which
    // allows anonymous viewers ADDRESS_VIEWERS (8) budgets per super-peer: 8 writers each at
    // 9,000/s stay under it (docs/privacy.md, "Whose rate").
    const nodes: Array<Awaited<ReturnType<typeof createObserverNode>>> = []
    const writers: SimWriter[] = []
    let acknowledged = 0
    for (const [s, sp] of superPeers.entries()) {
      const addr = (sp.ready.observe.addrs as string[]).find(a => a.includes('/ws/'))
      if (addr === undefined) throw new Error('no ws address')
      for (let w = 0; w < options.writersPerSuperPeer; w++) {
        const name = `bench${s}x${w}`
        nodes.push(await createObserverNode({ transports: ['websockets'], allowPrivateAddresses: true, livenessIntervalMs: 60_000, livenessTimeoutMs: 60_000 }))
        const connection = await (nodes.at(-1) as (typeof nodes)[number]).dial(multiaddr(addr))
        const stream = await connection.newStream(OBSERVE_PROTOCOL)
        stream.send(encodeMessage({ doc: docId, after: null, mode: 'connect', writer: name }))
        const writer: SimWriter = {
          name,
          nextId: 1,
          sentAt: new Map(),
          write: bytes => stream.send(bytes),
          drained: async () => { await stream.onDrain() }
        }
        writers.push(writer)
        const lp = lpStream(stream, { maxDataLength: 8 * 1024 * 1024 })
        void (async () => {
          try {
            while (true) {
              const parsed = parseServerMessage((await lp.read()).subarray())
              if (!parsed.ok || !('ack' in parsed.value)) continue
              const at = performance.now()
              for (const id of parsed.value.ack.ids) {
                const sent = writer.sentAt.get(id)
                if (sent === undefined) continue
                writer.sentAt.delete(id)
                latencies.push(at - sent)
                acknowledged++
              }
            }
          } catch {}
        })()
      }
    }
    progress(`${writers.length} writer streams open; sending for ${options.durationMs / 1000} s`)
    const counters = async (): Promise<{ proxy: number, authority: number, accepted: number, windows: number }> => {
      const [p, a, ...sps] = await Promise.all([proxy.admin('/status'), authority.admin('/status'), ...superPeers.map(async sp => await sp.admin('/status'))])
      return {
        proxy: p.counters.partials_received ?? 0,
        authority: a.counters.partials_received ?? 0,
        windows: a.counters.partial_windows_counted ?? 0,
        accepted: sps.reduce((n, s) => n + (s.counters.input_accepted ?? 0), 0)
      }
    }
    const before = await counters()
    const started = performance.now()
    let sent = 0
    // Each writer sends `batch` messages per turn, in one buffer, then yields; a writer whose
    // stream is full waits for it to drain (the super-peer's own pace).
    // Under the channel's 10,000/s per viewer, and all of a super-peer's writers under the address's ADDRESS_VIEWERS budgets.
    const perWriterPerS = Math.min(9_000, Math.floor(9_000 * ADDRESS_VIEWERS / options.writersPerSuperPeer))
    await Promise.all(writers.map(async writer => {
      const writerStarted = performance.now()
      while (performance.now() - started < options.durationMs) {
        const due = Math.floor((performance.now() - writerStarted) / 1000 * perWriterPerS) - (writer.nextId - 1)
        if (due <= 0) { await new Promise(resolve => setTimeout(resolve, 5)); continue }
        const n = Math.min(due, options.batch)
        const window = Math.floor((Date.now() + WINDOW_MS / 2) / WINDOW_MS)
        const parts: Uint8Array[] = []
        const at = performance.now()
        for (let i = 0; i < n; i++) {
          const id = writer.nextId++
          writer.sentAt.set(id, at)
          parts.push(frameJsonBytes(encoder.encode(encodeSend({ channel: 'claps', id, window, body: null }))))
        }
        sent += n
        const buffer = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0))
        let offset = 0
        for (const p of parts) { buffer.set(p, offset); offset += p.byteLength }
        if (!writer.write(buffer)) await writer.drained()
        else await new Promise(resolve => setImmediate(resolve))
      }
    }))
    const sendingS = (performance.now() - started) / 1000
    // Partials are read while writers send: after that only the last windows and their
    // acknowledgements move, which would dilute the per-window figure.
    const sending = await counters()
    progress(`sent ${sent.toLocaleString('en-US')} in ${sendingS.toFixed(1)} s; waiting for acknowledgements`)
    const unacked = (): number => writers.reduce((n, w) => n + w.sentAt.size, 0)
    // Refused (window-closed at an edge) messages are never acknowledged; wait until the count settles.
    let last = -1
    await waitFor('acknowledgements to settle', async () => {
      const now = unacked()
      const settled = now === last
      last = now
      return now === 0 || settled ? true : undefined
    }, { timeoutMs: 120_000, intervalMs: 2_000 })
    const after = await counters()
    const refusals: Record<string, number> = {}
    for (const sp of superPeers) {
      for (const [name, value] of Object.entries((await sp.admin('/status')).counters as Record<string, number>)) {
        if (name.startsWith('input_refused_')) refusals[name.slice('input_refused_'.length)] = (refusals[name.slice('input_refused_'.length)] ?? 0) + value
      }
    }
    progress(`refused by the super-peers: ${JSON.stringify(refusals)}`)
    const elapsed = (performance.now() - started) / 1000
    const tree = (await authority.admin(`/docs/${docId}/state`)).tree
    const sorted = Float64Array.from(latencies).sort()
    await Promise.all(nodes.map(async node => { await node.stop() }))
    return {
      writers: writers.length,
      superPeers: 3,
      durationS: sendingS,
      sent,
      acknowledged,
      counted: tree.claps as number,
      e2eMessagesPerS: (after.accepted - before.accepted) / sendingS,
      proxyPartialsPerS: (sending.proxy - before.proxy) / sendingS,
      authorityPartialsPerS: (sending.authority - before.authority) / sendingS,
      proxyPartialsPerChildPerWindow: (sending.proxy - before.proxy) / 2 / (sendingS * 1000 / WINDOW_MS),
      authorityPartialsPerChildPerWindow: (sending.authority - before.authority) / (sendingS * 1000 / WINDOW_MS),
      windowsPerS: (after.windows - before.windows) / elapsed,
      latencyMsP50: percentile(sorted, 50),
      latencyMsP99: percentile(sorted, 99)
    }
  } finally {
    await killAll()
    await rm(dir, { recursive: true, force: true })
  }
}
