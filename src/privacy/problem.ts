/**
 * Thrown inside the policy compiler when the policy is invalid; compilePolicy catches it and
 * returns its message as data, so it never escapes the module.
 */
export class PolicyProblem extends Error {
  static override name = 'PolicyProblem'
  override name = 'PolicyProblem'
}
