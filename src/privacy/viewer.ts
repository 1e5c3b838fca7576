/**
 * Viewers, their view state, and the privacy class they fall in.
 *
 * A class key holds exactly the facts the policy can read (the observe answer; the principal only
 * if a rule compares it; only the roles rules mention; only the view fields rules read), and
 * evaluation sees nothing else (Facts), so equal keys mean equal views for every document state.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { fitsViewField } from './policy.ts'
import type { Policy } from './policy.ts'
import type { Facts } from './evaluate.ts'

/** Who observes: anonymous without a principal. */
export type Viewer = { principal?: string, roles: readonly string[] }
/** The viewer-chosen values the policy declares under "view" (sanitized). */
export type ViewState = JsonObject

/** The static observe rule: may this viewer observe the document at all? */
export function mayObserve (policy: Policy, viewer: Viewer): boolean {
  return isIdentified(viewer) ? policy.observe.identified : policy.observe.anonymous
}

function isIdentified (viewer: Viewer): boolean {
  return typeof viewer.principal === 'string'
}

/**
 * The declared view fields, each the viewer's value when it has the declared type (strings no
 * longer than maxLength) and the declared default (null when none) otherwise. Nothing else of
 * the input is read, so hostile input costs O(declared fields).
 */
export function sanitizeViewState (policy: Policy, viewState: Json): ViewState {
  const out: ViewState = {}
  const input = isJsonObject(viewState) ? viewState : {}
  for (const [name, field] of policy.view) {
    const value = Object.hasOwn(input, name) ? input[name] : undefined
    out[name] = fitsViewField(field, value) ? value as Json : field.default
  }
  return out
}

/** The facts of a viewer that this policy can read. */
export function factsOf (policy: Policy, viewer: Viewer, viewState: Json): Facts {
  const may = mayObserve(policy, viewer)
  const reads = policy.reads
  const held = new Set(viewer.roles)
  const sanitized = sanitizeViewState(policy, viewState)
  const view: JsonObject = {}
  for (const name of [...reads.view].sort()) view[name] = sanitized[name]
  return {
    may,
    ...(reads.identified ? { identified: isIdentified(viewer) } : {}),
    ...(reads.principal ? { principal: isIdentified(viewer) ? viewer.principal : null } : {}),
    roles: reads.roles.filter(role => held.has(role)).sort(),
    view
  }
}

/** Viewers that may not observe all share this key (they see nothing). */
const NOT_OBSERVING = 'none'

/** Equal keys (under one policy) mean identical views for every document state. */
export function classKeyOf (policy: Policy, viewer: Viewer, viewState: Json): string {
  const facts = factsOf(policy, viewer, viewState)
  if (!facts.may) return NOT_OBSERVING
  return JSON.stringify([facts.identified ?? null, facts.principal === undefined ? 0 : facts.principal, facts.roles, facts.view])
}
