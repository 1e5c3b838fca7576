/**
 * Thrown inside the channel compiler when a declaration is invalid; compileChannels catches it
 * and returns its message as data, so it never escapes the module.
 */
export class ChannelProblem extends Error {
  static override name = 'ChannelProblem'
  override name = 'ChannelProblem'
}
