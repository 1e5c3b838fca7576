// Input on a super-peer: one DocInput per carried document that has writers or tier children
// sending partials, the reduce protocol's parent side, and where each document's partials go.

import { topicFor } from '../../src/log/index.ts'
import { parseUserAgent } from '../node-info.ts'
import { DocInput } from './doc-input.ts'
import { ParentLink } from './parent-link.ts'
import { serveReduce } from './reduce-server.ts'
import type { WriterLink } from './doc-input.ts'
import type { Json } from '../../src/json.ts'
import type { DocCarrier } from '../super-peer/doc-carrier.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { Logger } from '../log.ts'
import type { Counters } from '../metrics.ts'

export interface InputHubComponents {
  readonly node: BackboneNode
  /** The node as fleet members see it (handlers refuse others). */
  readonly members: Pick<Libp2p, 'handle'>
  readonly privateKey: PrivateKey
  carrier (docId: string): DocCarrier | undefined
  /** The tier parent of a document, when tiers are on (a peer id: a proxy or the authority). */
  tierParent? (docId: string): string | undefined
  isMember (peer: string): boolean
  readonly counters: Counters
  readonly log: Logger
}

/** A writer stream's handle on its document's input. */
export interface WriterAttachment {
  send (json: Json): void
  detach (): void
}

export class InputHub {
  private readonly c: InputHubComponents
  private readonly docs = new Map<string, { input: DocInput, carrier: DocCarrier, off: () => void }>()
  /** Connected peers that said (identify) they are an authority. */
  private readonly authorities = new Set<string>()

  constructor (components: InputHubComponents) {
    this.c = components
    const { node } = components
    node.addEventListener('peer:identify', event => {
      if (parseUserAgent(event.detail.agentVersion).role === 'authority') this.authorities.add(event.detail.peerId.toString())
    })
    node.addEventListener('peer:disconnect', event => { this.authorities.delete(event.detail.toString()) })
  }

  async start (): Promise<void> {
    // Peers identified before we listened.
    for (const connection of this.c.node.getConnections()) {
      const agent = await this.c.node.peerStore.get(connection.remotePeer).then(peer => peer.metadata.get('AgentVersion'), () => undefined)
      if (agent !== undefined && parseUserAgent(new TextDecoder().decode(agent)).role === 'authority') this.authorities.add(connection.remotePeer.toString())
    }
    await serveReduce(this.c.members, docId => {
      const input = this.inputOf(docId)
      return input === undefined ? undefined : async partial => { await input.receiveChild(partial) }
    }, this.c.log, this.c.counters)
  }

  /** A writer connected to a document carried here; undefined when it is not carried. */
  attach (docId: string, link: WriterLink): WriterAttachment | undefined {
    const input = this.inputOf(docId)
    if (input === undefined) return undefined
    input.attach(link)
    return {
      send: json => { input.send(link, json) },
      detach: () => { input.detach(link) }
    }
  }

  /** Writers connected now, across documents. */
  writers (): number {
    let n = 0
    for (const { input } of this.docs.values()) n += input.writerCount
    return n
  }

  /** Where a document's partials go: its tier parent, else the authority if connected. */
  private parentOf (docId: string): string | undefined {
    const tier = this.c.tierParent?.(docId)
    if (tier !== undefined) return tier
    const subscribers = this.c.node.services.pubsub.getSubscribers(topicFor(docId)).map(String)
    return subscribers.find(peer => this.authorities.has(peer)) ?? [...this.authorities][0]
  }

  private inputOf (docId: string): DocInput | undefined {
    const carrier = this.c.carrier(docId)
    const held = this.docs.get(docId)
    if (held !== undefined && held.carrier === carrier) return held.input
    if (held !== undefined) this.drop(docId)
    if (carrier === undefined) return undefined
    const input = new DocInput({
      docId,
      peerId: this.c.node.peerId.toString(),
      privateKey: this.c.privateKey,
      tree: () => carrier.replica.tree,
      head: () => carrier.replica.head.seq,
      parentOf: () => this.parentOf(docId),
      link: new ParentLink(this.c.node, docId, this.c.log, this.c.counters),
      isMember: peer => this.c.isMember(peer),
      counters: this.c.counters,
      log: this.c.log
    })
    const off = carrier.tap(applied => { input.applied([applied]) }, () => { input.reset() })
    this.docs.set(docId, { input, carrier, off })
    return input
  }

  private drop (docId: string): void {
    const held = this.docs.get(docId)
    if (held === undefined) return
    held.off()
    held.input.stop()
    this.docs.delete(docId)
  }

  stop (): void {
    for (const docId of [...this.docs.keys()]) this.drop(docId)
  }
}
