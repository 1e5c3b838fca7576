// Who may follow which document, and what a viewer's messages do once it is in: the document
// lookup, the token check, the policy and the class (each document's DocChannel), a writer's
// input link. It sees sessions only as ViewerSession, so the same admission serves streams held
// in this thread (observer-server.ts) and streams held by edge worker processes (edge-workers.ts).

import { ErrorCode } from '../../src/observe/protocol.ts'
import { policyOfTree, sanitizeViewState } from '../../src/privacy/index.ts'
import { DocChannel } from './doc-channel.ts'
import { DocSwarm } from './swarm-coordinator.ts'
import { viewerOf } from './viewer-identity.ts'
import { startDeadline } from '../deadline.ts'
import type { ObserveRequest } from '../../src/observe/protocol.ts'
import type { ObservableDoc } from '../../src/observe/observable-doc.ts'
import type { SwarmClientMessage } from '../../src/swarm/index.ts'
import type { Json, JsonObject } from '../../src/json.ts'
import type { Viewer } from '../../src/privacy/index.ts'
import type { Sender } from '../../src/reduce/index.ts'
import type { WriterLink } from '../reduce/doc-input.ts'
import type { SessionHandlers, ViewerSession } from './observer-protocol.ts'
import type { ClassOffload, SwarmSeat } from './swarm-coordinator.ts'
import type { DocLookup, ObserverLog, RefusalCounter, SwarmServerOptions, WriterHub } from './observer-server.ts'

/** What an admitted viewer's later messages do: view-state updates, and sends and swarm messages. */
export interface AdmittedViewer {
  onView (view: JsonObject): void
  handlers: SessionHandlers
}

export interface ViewerAdmission {
  /**
   * Admits a session that sent `request`: it joins its document's class and is sent what it is
   * missing. Undefined when it was refused (the session was failed with the reason, and counted).
   */
  admit (session: ViewerSession, request: ObserveRequest): Promise<AdmittedViewer | undefined>
  /** A session ended: it leaves its document's channel. */
  leave (session: ViewerSession): void
  /** Counts and tells a refusal (also for refusals decided before admission, e.g. "busy"). */
  refuse (session: ViewerSession, code: ErrorCode, error: string): void
  /** Refuses everything from now on and closes every channel. */
  close (): void
  /** Viewers refused since start. */
  readonly refused: number
  viewers (docId: string): number
  /** Privacy classes with members, across documents. */
  classes (): number
  offload (docId: string): ClassOffload[]
  seats (docId: string): SwarmSeat[]
}

/** setTimeout's longest delay; a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * An identity is good until its token expires, also for a viewer already connected (unless it
 * no longer counts as identified: its token key was revoked and it observes anonymously).
 */
function expireAt (session: ViewerSession, expires: number, stillIdentified: () => boolean): void {
  let timer: ReturnType<typeof setTimeout>
  const arm = (): void => {
    const left = expires - Date.now()
    timer = left > MAX_TIMER_MS
      ? setTimeout(arm, MAX_TIMER_MS)
      : setTimeout(() => { if (stillIdentified()) session.fail(ErrorCode.unauthorized, 'viewer token expired') }, Math.max(0, left))
    timer.unref()
  }
  arm()
  session.onClose(() => { clearTimeout(timer) })
}

/** Writers: the sender's identity and view state as the policy keeps it. */
function senderOf (doc: ObservableDoc, viewer: Viewer, view: JsonObject | undefined): Sender {
  return { viewer, viewState: sanitizeViewState(policyOfTree(doc.snapshot().tree), view ?? {}) }
}

export interface AdmissionOptions {
  /** How long a viewer's document may take to be found (fetched under tiers). */
  lookupTimeoutMs: number
  /** Relaying between browsers; absent, documents that ask for it are served as a star. */
  swarm?: SwarmServerOptions
}

export function viewerAdmission (
  docs: DocLookup,
  options: AdmissionOptions,
  log?: ObserverLog,
  refusals?: RefusalCounter,
  writers?: WriterHub
): ViewerAdmission {
  const channels = new Map<string, DocChannel>()
  const channelOf = new Map<ViewerSession, DocChannel>()
  let refused = 0
  let closed = false

  const refuse = (session: ViewerSession, code: ErrorCode, error: string): void => {
    refused++
    refusals?.inc(`observe_refused_${code.replaceAll('-', '_')}`)
    log?.info?.({ code, error }, 'observer refused')
    session.fail(code, error)
  }

  const channelFor = (doc: ObservableDoc): DocChannel => {
    let channel = channels.get(doc.docId)
    // A document dropped and carried again (tiers) is another ObservableDoc: a channel left on the
    // old one (a class lingering for a viewer who may come back) would hear no frame again.
    if (channel !== undefined && channel.doc !== doc && channel.size === 0) {
      channel.close()
      channel = undefined
    }
    if (channel === undefined) {
      const swarm = options.swarm
      const docId = doc.docId
      channel = new DocChannel(doc, swarm === undefined ? {} : { swarm: resume => new DocSwarm(docId, swarm, resume) })
      channels.set(doc.docId, channel)
    }
    return channel
  }

  const admit = async (session: ViewerSession, request: ObserveRequest): Promise<AdmittedViewer | undefined> => {
    // A document not carried yet may be fetched now (tiers): wait for it while the stream lives.
    const lookup = startDeadline(options.lookupTimeoutMs, 'document lookup')
    let doc
    try {
      doc = await docs(request.doc, lookup.signal)
    } finally {
      lookup.clear()
    }
    if (session.closed) return undefined
    if (doc === undefined || closed) { refuse(session, ErrorCode.unknownDoc, `unknown doc ${request.doc}`); return undefined }
    if ('refuse' in doc) { refuse(session, doc.refuse, doc.message); return undefined }
    const identity = viewerOf(doc, request.token, Date.now())
    if (!identity.ok) { refuse(session, ErrorCode.unauthorized, identity.error); return undefined }

    const channel = channelFor(doc)
    const joined = channel.join(session, identity.viewer, request.view, request.after, identity.signer)
    if (!joined.ok) {
      if (channel.idle) { channel.close(); channels.delete(doc.docId) }
      refuse(session, joined.code, joined.error)
      return undefined
    }
    channelOf.set(session, channel)
    // the first messages may already have ended it (one over the size limit)
    if (session.closed) { leave(session); return undefined }
    if (identity.expires !== undefined) expireAt(session, identity.expires, () => channel.identified(session))
    const onSwarm = channel.swarm === undefined ? undefined : (message: SwarmClientMessage) => channel.swarm?.handle(session, message)
    if (request.mode !== 'connect') {
      return { onView: view => { channel.setViewState(session, view) }, handlers: { onSwarm } }
    }
    const link = {
      writer: request.writer as string,
      sender: senderOf(doc, identity.viewer, request.view),
      remote: { peer: session.peer ?? '', address: session.address ?? '' },
      deliver: (bytes: Uint8Array) => { session.deliver(0, bytes) },
      end: (_code: 'fenced', message: string) => { session.fail(ErrorCode.fenced, message) }
    }
    const input = writers?.attach(doc.docId, link)
    if (input === undefined) { session.fail(ErrorCode.unknownDoc, `this super-peer takes no input for ${doc.docId}`); return undefined }
    session.onClose(() => { input.detach() })
    return {
      onView: view => {
        channel.setViewState(session, view)
        link.sender = senderOf(doc, identity.viewer, view)
      },
      handlers: { onSend: (json: Json) => { input.send(json) }, onSwarm }
    }
  }

  const leave = (session: ViewerSession): void => {
    const channel = channelOf.get(session)
    if (channel === undefined) return
    channelOf.delete(session)
    if (channel.leave(session)) {
      channel.close()
      if (channels.get(channel.doc.docId) === channel) channels.delete(channel.doc.docId)
    }
  }

  return {
    admit,
    leave,
    refuse,
    close () {
      closed = true
      for (const channel of channels.values()) channel.close()
      channels.clear()
      channelOf.clear()
    },
    get refused () { return refused },
    viewers: docId => channels.get(docId)?.size ?? 0,
    classes: () => [...channels.values()].reduce((sum, channel) => sum + channel.classCount, 0),
    offload: docId => channels.get(docId)?.swarm?.offload() ?? [],
    seats: docId => channels.get(docId)?.swarm?.seats() ?? []
  }
}
