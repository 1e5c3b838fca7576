export { DEFAULT_CAPACITY, DEFAULT_WEIGHT, MEMBERSHIP_TOPIC_PREFIX, MembershipService, membershipTopic } from './membership-service.ts'
export type { DocTopology, LocalState, MembershipComponents, MembershipInit, MembershipPubSub, MembershipStatus } from './membership-service.ts'
export { startBackboneMembership } from './backbone-membership.ts'
export type { BackboneMembershipInit } from './backbone-membership.ts'
