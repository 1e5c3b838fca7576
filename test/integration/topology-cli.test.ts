import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { TOPOLOGY_FLAGS } from '../../node/topology/topology-server.ts'
import { killAll, runCli, startCli, waitFor } from '../helpers/processes.ts'
import type { Finished } from '../helpers/processes.ts'

const run = async (args: string[]): Promise<Finished> => await runCli(args)

/** A port that refuses connections: bound by a server that is then closed. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

describe('deltacast topology (command line)', function () {
  this.timeout(60_000)
  afterEach(killAll)

  it('--help lists every flag and exits 0', async () => {
    const result = await run(['topology', '--help'])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^Usage: deltacast topology --admin <url>/)
    for (const name of [...Object.keys(TOPOLOGY_FLAGS), 'help']) assert.match(result.stdout, new RegExp(`^  --${name}\\b`, 'm'))
  })

  it('names every bad flag at once and exits 2', async () => {
    const result = await run(['topology', '--admin', 'ftp://x', '--listen', 'nowhere:port', '--interval-ms', '5'])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /--admin "ftp:\/\/x": expected an http URL/)
    assert.match(result.stderr, /--listen "nowhere:port": expected host:port/)
    assert.match(result.stderr, /--interval-ms must be an integer >= 100, got 5/)
    assert.match(result.stderr, /Run 'deltacast topology --help' for usage\.\n$/)
    assert.equal(result.stdout, '')
  })

  it('needs at least one --admin', async () => {
    const result = await run(['topology'])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /^deltacast: --admin: give at least one admin endpoint to poll\n/)
  })

  it('a --listen address in use is one clear line, exit 1', async () => {
    const busy = createServer()
    await new Promise<void>(resolve => busy.listen(0, '127.0.0.1', resolve))
    const { port } = busy.address() as AddressInfo
    try {
      const result = await run(['topology', '--admin', 'http://127.0.0.1:1', '--listen', `127.0.0.1:${port}`])
      assert.equal(result.code, 1)
      assert.equal(result.stderr, `deltacast: --listen 127.0.0.1:${port}: cannot listen: address already in use\n`)
    } finally {
      await new Promise(resolve => busy.close(resolve))
    }
  })

  it('shows an unreachable endpoint down and keeps serving', async () => {
    const port = await closedPort()
    const topology = await startCli(['topology', '--admin', `127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--interval-ms', '200'])
    assert.equal(topology.ready.ready, 'topology')
    const view = await waitFor('a view', async () => {
      const res = await fetch(`${topology.ready.url as string}/api/topology`)
      return res.ok ? await res.json() : undefined
    })
    assert.deepEqual(view.nodes.map((node: any) => [node.url, node.up, node.kind, node.error]), [[`http://127.0.0.1:${port}`, false, 'unknown', 'ECONNREFUSED']])
    assert.deepEqual(view.docs, [])
    const page = await fetch(topology.ready.url as string)
    assert.match(page.headers.get('content-type') ?? '', /text\/html/)
    assert.match(await page.text(), /<title>deltacast topology<\/title>/)
    assert.equal(topology.child.exitCode, null, 'still running')
  })
})
