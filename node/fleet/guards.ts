/** Fleet checks around what other modules register: topic validators and protocol handlers. */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { TopicValidatorFn } from '@libp2p/gossipsub'
import type { Libp2p, StreamHandler } from '@libp2p/interface'
import type { FleetGuard } from './fleet-guard.ts'

/**
 * Wraps the validator registered for `topic` so that messages from peers the fleet does not
 * admit on it are Rejected (which also lowers their gossipsub score) before the validator runs.
 * Gossipsub already drops graylisted peers' RPCs; this holds even if scoring were off.
 */
export function guardTopicValidator (pubsub: { topicValidators: Map<string, TopicValidatorFn> }, topic: string, fleet: FleetGuard): void {
  const inner = pubsub.topicValidators.get(topic)
  if (inner === undefined) throw new Error(`no topic validator registered for ${topic}`)
  pubsub.topicValidators.set(topic, (peer, message) => {
    if (!fleet.mayPublish(peer.toString(), topic)) return TopicValidatorResult.Reject
    return inner(peer, message)
  })
}

/**
 * The node as a protocol server sees it: handlers registered through it run only for streams
 * from fleet members; other peers' streams are reset unanswered. (libp2p 3.3's stream
 * middleware would be the natural hook, but its registrar appends each handler to the shared
 * middleware array, so a second stream would run the handler twice.)
 */
export function membersOnly<T extends Libp2p> (node: T, fleet: FleetGuard): T {
  const handle: Libp2p['handle'] = async (protocol, handler, options) => {
    const guarded: StreamHandler = async (stream, connection) => {
      if (!fleet.isMember(connection.remotePeer.toString())) {
        stream.abort(new Error('not a fleet member'))
        return
      }
      await handler(stream, connection)
    }
    await node.handle(protocol, guarded, options)
  }
  return new Proxy(node, {
    get (target, property) {
      if (property === 'handle') return handle
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}
