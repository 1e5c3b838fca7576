// What a node says about itself and its peers on the admin endpoint: version, uptime, health,
// and the /peers listing shared by authorities and super-peers.

import { readFileSync } from 'node:fs'
import { patchStatus } from './dependency-patches.ts'
import { peerScore } from './net/score.ts'
import type { AdminAnswer } from './admin-http.ts'
import type { FleetGuard } from './fleet/index.ts'
import type { BackboneNode } from './net/libp2p-node.ts'

export const VERSION: string = packageVersion()

/** Our package.json's version: one level up in a clone (node/), two when installed (dist/node/). */
function packageVersion (): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (manifest.name === 'deltacast' && typeof manifest.version === 'string') return manifest.version
    } catch {
      // not there: try the next level
    }
  }
  return 'unknown'
}

export type NodeRole = 'authority' | 'super-peer'

/** Identify's agent version: "deltacast/<version> <role>[ region=<region>]". */
export function userAgentOf (role: NodeRole, region?: string): string {
  return `deltacast/${VERSION} ${role}${region === undefined ? '' : ` region=${region}`}`
}

/** Role and region a peer declared in its agent version (unverified: a fleet certificate is). */
export function parseUserAgent (agent: string | undefined): { role?: string, region?: string } {
  const match = agent === undefined ? null : /^deltacast\/\S+ (\S+)(?: region=(\S+))?$/.exec(agent)
  return match === null ? {} : { role: match[1], ...(match[2] === undefined ? {} : { region: match[2] }) }
}

/** version, startedAt, uptime and the dependency patches it lacks, for /status. */
export function processInfo (startedAt: number, now = Date.now()): { version: string, startedAt: string, uptimeSeconds: number, patches: ReturnType<typeof patchStatus> } {
  return { version: VERSION, startedAt: new Date(startedAt).toISOString(), uptimeSeconds: Math.round((now - startedAt) / 1000), patches: patchStatus() }
}

/** /healthz: 200 while serving, 503 with the reasons otherwise. */
export function healthAnswer (problems: string[]): AdminAnswer {
  return problems.length === 0
    ? { body: JSON.stringify({ ok: true }) }
    : { status: 503, body: JSON.stringify({ ok: false, reasons: problems }) }
}

export interface PeerEntry {
  peerId: string
  /** The remote address of our connection to it. */
  addr: string
  direction: 'inbound' | 'outbound'
  /** authority or super-peer: from its fleet certificate when it has one, else what it declared. */
  role?: string
  region?: string
  certified: boolean
  /** Gossipsub score (negative: it sent bad frames or is not certified). */
  score: number
}

/** Every connected backbone peer, one entry per peer (its oldest open connection). */
export async function peersOf (node: BackboneNode, fleet?: FleetGuard): Promise<PeerEntry[]> {
  const certs = new Map((fleet?.status().certified ?? []).map(cert => [cert.peerId, cert]))
  const seen = new Set<string>()
  const entries: PeerEntry[] = []
  for (const connection of node.getConnections()) {
    const peerId = connection.remotePeer.toString()
    if (seen.has(peerId)) continue
    seen.add(peerId)
    const agent = await node.peerStore.get(connection.remotePeer)
      .then(peer => peer.metadata.get('AgentVersion'), () => undefined)
    const declared = parseUserAgent(agent === undefined ? undefined : new TextDecoder().decode(agent))
    const cert = certs.get(peerId)
    const role = cert === undefined ? declared.role : cert.scope === 'fleet' ? 'super-peer' : 'authority'
    const region = cert?.scope === 'fleet' ? cert.region : declared.region
    entries.push({
      peerId,
      addr: connection.remoteAddr.toString(),
      direction: connection.direction,
      ...(role === undefined ? {} : { role }),
      ...(region === undefined ? {} : { region }),
      certified: cert !== undefined,
      score: peerScore(node.services.pubsub, connection.remotePeer)
    })
  }
  return entries
}
