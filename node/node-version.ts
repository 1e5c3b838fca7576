/**
 * The Node.js the installed package needs. libp2p 3 relies on Node 22 APIs (Promise.withResolvers
 * among them); on an older Node it would fail later with an unrelated stack trace, so the package
 * entry and the `deltacast` command check first and say so. Keep in step with package.json
 * `engines.node` (a unit test compares them).
 */
export const MIN_NODE_MAJOR = 22

/** Thrown by `import 'deltacast'` on a Node.js older than MIN_NODE_MAJOR. */
export class UnsupportedNodeError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UnsupportedNodeError'
    // An expected error: the message says everything, a stack trace would only add noise.
    this.stack = `${this.name}: ${message}`
  }
}

/** The problem with running on Node.js `version` ("20.20.2"), or undefined if it is recent enough. */
export function nodeVersionProblem (version: string): string | undefined {
  const major = Number.parseInt(version, 10)
  if (major >= MIN_NODE_MAJOR) return undefined
  return `deltacast needs Node.js ${MIN_NODE_MAJOR} or newer; this is Node.js ${version}. Install a current Node.js LTS (https://nodejs.org) and run it again.`
}

/** Throws UnsupportedNodeError unless this process runs on a recent enough Node.js. */
export function assertSupportedNode (version: string = process.versions.node): void {
  const problem = nodeVersionProblem(version)
  if (problem !== undefined) throw new UnsupportedNodeError(problem)
}
