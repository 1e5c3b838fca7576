import assert from 'node:assert/strict'
import { assertSupportedNode, MIN_NODE_MAJOR, nodeVersionProblem, UnsupportedNodeError } from '../../../node/node-version.ts'

describe('the Node.js version check', function () {
  it('accepts Node 22 and newer', function () {
    for (const version of ['22.0.0', '22.23.3', '24.1.0', '30.0.0-pre']) assert.equal(nodeVersionProblem(version), undefined, version)
    assert.doesNotThrow(() => { assertSupportedNode() }) // the Node running this test
  })

  it('refuses an older Node with one line naming both versions, and no stack trace', function () {
    assert.equal(nodeVersionProblem('20.20.2'),
      'deltacast needs Node.js 22 or newer; this is Node.js 20.20.2. Install a current Node.js LTS (https://nodejs.org) and run it again.')
    assert.throws(() => { assertSupportedNode('18.19.0') }, (err: Error) => {
      assert.ok(err instanceof UnsupportedNodeError)
      assert.match(err.message, /this is Node\.js 18\.19\.0/)
      assert.equal(err.stack, `UnsupportedNodeError: ${err.message}`)
      return true
    })
  })
})
