/** Membership on a super-peer's backbone node: region from the fleet certificate, topic scored and fleet-guarded. */
import type { PrivateKey } from '@libp2p/interface'
import { readFleetCert } from '../../src/identity/index.ts'
import { guardTopicValidator, membersOnly } from '../fleet/index.ts'
import type { FleetGuard, FleetSettings } from '../fleet/index.ts'
import { scoreTopic } from '../net/score.ts'
import type { BackboneNode } from '../net/libp2p-node.ts'
import type { Counters } from '../metrics.ts'
import type { Logger } from '../log.ts'
import { MembershipService } from './membership-service.ts'
import type { LocalState } from './membership-service.ts'
import { joinRegion, serveMembershipSnapshots } from './snapshot.ts'

export interface BackboneMembershipInit {
  privateKey: PrivateKey
  counters: Counters
  log: Logger
  fleet: FleetGuard
  fleetSettings: FleetSettings
  /** --region; a fleet certificate's region wins over it. */
  region: string
  local: () => LocalState
}

export interface BackboneMembership {
  readonly service: MembershipService
  /** Says goodbye on the topic and stops announcing and joining. */
  stop (): Promise<void>
}

/** Announces on the region topic, serves snapshots to fleet members, and fetches one whenever the node (re)connects. */
export async function startBackboneMembership (node: BackboneNode, init: BackboneMembershipInit): Promise<BackboneMembership> {
  const cert = init.fleetSettings.cert ?? ''
  const certified = cert === '' ? undefined : readFleetCert(cert)
  const region = certified?.ok === true ? certified.region : init.region
  if (region !== init.region) init.log.warn({ region, flag: init.region }, 'membership: --region differs from the fleet certificate; announcing the certificate\'s region')
  const service = new MembershipService({ pubsub: node.services.pubsub, privateKey: init.privateKey, counters: init.counters, log: init.log }, {
    region,
    cert,
    enforcing: init.fleetSettings.trustedOperators.length > 0,
    trustedOperators: init.fleetSettings.trustedOperators,
    local: init.local
  })
  scoreTopic(node.services.pubsub, service.topic) // Rejected announcements cost the sender score
  service.start()
  guardTopicValidator(node.services.pubsub, service.topic, init.fleet) // only fleet members may relay them
  await serveMembershipSnapshots(membersOnly(node, init.fleet), service, init.counters, init.log)
  const stopJoining = joinRegion(node, service, init.counters, init.log)
  return {
    service,
    stop: async () => {
      stopJoining()
      await service.stop()
    }
  }
}
