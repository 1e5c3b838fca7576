/**
 * Privacy: what each viewer of a document may see (the language: docs/privacy.md).
 *
 * The document's policy is its top-level field "@policy". Viewers with identical visibility form
 * a privacy class (classKeyOf); a super-peer keeps one ClassView per class and turns each frame
 * into one viewer delta per class, at a cost that follows the change.
 *
 * @example
 * const policy = policyOfTree(tree)
 * if (!mayObserve(policy, viewer)) refuse()
 * const viewState = sanitizeViewState(policy, requested)
 * const key = classKeyOf(policy, viewer, viewState)          // group viewers by key
 * const cls = new ClassView(policy, viewer, viewState, tree) // send cls.view first
 * // per frame: if policyChanged(delta), rebuild every class; else
 * const data = cls.update(delta, treeAfter)                 // null: nothing to send
 */
export { POLICY_FIELD, INPUT_STATE_FIELD, HIDDEN_ROOT_FIELDS, POLICY_VERSION, DENY_ALL, compilePolicy, policyOfTree, policyProblemOfTree } from './policy.ts'
export { checkPolicyChange, policyReplacement } from './policy-change.ts'
export type { PolicyCheck, PolicyReplacement } from './policy-change.ts'
export type { CompileResult, Policy, ViewField, ViewType } from './policy.ts'
export { mayObserve, sanitizeViewState, classKeyOf } from './viewer.ts'
export type { Viewer, ViewState } from './viewer.ts'
export { filterView } from './filter.ts'
export { ClassView, PolicyChangedError, policyChanged } from './class-view.ts'
