export { Replica } from './replica.ts'
export type { AppliedFrame, OfferResult, ReplicaOptions, RestoreResult } from './replica.ts'
export { FrameWindow, DEFAULT_WINDOW_LIMITS } from './frame-window.ts'
export type { CatchUp, Checkpoint, FrameWindowLimits, ViewerDelta } from './frame-window.ts'
