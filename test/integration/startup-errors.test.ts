import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { docIdFor } from '../../src/log/index.ts'
import { runCli } from '../helpers/processes.ts'
import type { Finished } from '../helpers/processes.ts'

/** The CLI's result, without pino's JSON log lines (such as the dev-mode fleet warning): the error is what matters. */
async function run (args: string[]): Promise<Finished> {
  const result = await runCli(args, { env: { DELTACAST_LOG_LEVEL: 'error' } })
  return { ...result, stderr: result.stderr.split(/(?<=\n)/).filter(line => !line.startsWith('{"level"')).join('') }
}

/** Asserts an expected error: the exit code, one message matching `message`, no stack trace, nothing on stdout. */
function assertRefused (result: Finished, code: number, message: RegExp): void {
  assert.equal(result.code, code, result.stderr)
  assert.match(result.stderr, message)
  assert.doesNotMatch(result.stderr, /^\s+at /m, `no stack trace in:\n${result.stderr}`)
  assert.equal(result.stdout, '')
}

async function occupiedPort (): Promise<{ server: Server, port: number }> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as { port: number }).port }
}

const DOC = docIdFor(new Uint8Array(32).fill(7), 'board')
const PEER = '12D3KooWSiNcZ5yruPB8sweBupSR3stxyJ8pyeh4drpeRfKQAg3n'

describe('startup errors name the flag or file at fault (OS processes)', function () {
  this.timeout(60_000)
  let dir: string
  const servers: Server[] = []
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dc7-startup-')) })
  afterEach(async () => {
    for (const server of servers.splice(0)) server.close()
    await rm(dir, { recursive: true, force: true })
  })
  const superPeer = (...extra: string[]): string[] => ['super-peer', '--data-dir', join(dir, 'sp'), '--doc', DOC, '--listen', '/ip4/127.0.0.1/tcp/0',
    ...(extra.includes('--observe-listen') ? [] : ['--observe-listen', 'none']), ...extra]
  const authority = (...extra: string[]): string[] => ['authority', '--dir', join(dir, 'a'), '--name', 'doc', '--listen', '/ip4/127.0.0.1/tcp/0', ...extra]

  describe('usage errors exit 2', () => {
    it('a bad multiaddr in --listen, --bootstrap and --announce, all reported at once', async () => {
      assertRefused(await run(['super-peer', '--doc', DOC, '--listen', '/ip4/1.2.3/tcp/1', '--bootstrap', 'nonsense', '--announce', '/ip4/1.2.3.4/tcp/x']), 2,
        /^deltacast: --listen "\/ip4\/1\.2\.3\/tcp\/1" is not a valid multiaddr: .*\n--announce "\/ip4\/1\.2\.3\.4\/tcp\/x" is not a valid multiaddr: .*\n--bootstrap "nonsense" is not a valid multiaddr/)
      assertRefused(await run(authority('--announce', '/dns4')), 2, /^deltacast: --announce "\/dns4" is not a valid multiaddr/)
    })

    it('a listen address no transport can listen on, without libp2p advice', async () => {
      const result = await run(superPeer('--observe-listen', '/ip4/127.0.0.1/udp/0/quic-v1'))
      assertRefused(result, 2, /^deltacast: --observe-listen "\/ip4\/127\.0\.0\.1\/udp\/0\/quic-v1": no transport can listen on it; use .*webrtc-direct/)
      assert.doesNotMatch(result.stderr, /faultTolerance/)
      assertRefused(await run(authority('--listen', '/ip4/127.0.0.1/tcp/0/p2p/' + PEER)), 2, /^deltacast: --listen ".*": no transport can listen on it/)
    })

    it('a --bootstrap without /p2p/<peer id>', async () => {
      assertRefused(await run(superPeer('--bootstrap', '/ip4/127.0.0.1/tcp/4001')), 2, /^deltacast: --bootstrap "\/ip4\/127\.0\.0\.1\/tcp\/4001" has no \/p2p\/<peer id>/)
      assertRefused(await run(authority('--bootstrap', '/ip4/127.0.0.1/tcp/4001')), 2, /^deltacast: --bootstrap .* has no \/p2p\/<peer id>/)
    })

    it('a bad doc id and a bad --log-level', async () => {
      assertRefused(await run(['super-peer', '--doc', 'nonsense', '--log-level', 'loud']), 2,
        /^deltacast: --doc "nonsense" is not a doc id: .*\n--log-level "loud" is not a log level: use fatal, error, warn, info, debug, trace, silent\n/)
      assertRefused(await run(authority('--log-level', 'LOUD')), 2, /^deltacast: --log-level "LOUD" is not a log level/)
    })

    it('a negative number gets a plain message', async () => {
      assertRefused(await run(superPeer('--max-observers', '-5')), 2, /^deltacast: --max-observers must be a positive integer, got -5\nRun 'deltacast super-peer --help'/)
      assertRefused(await run(authority('--checkpoint-every', '-1')), 2, /^deltacast: --checkpoint-every must be a positive integer, got -1\n/)
    })

    it('a config file reports all its problems, named by its own keys', async () => {
      const file = join(dir, 'super-peer.json')
      await writeFile(file, JSON.stringify({ doc: [DOC], listen: 5, bogus: true, maxObservers: 'many', syncIntervalMs: 0, bootstrap: ['/ip4/127.0.0.1/tcp/1'], logLevel: 'loud' }))
      const result = await run(['super-peer', '--config', file])
      assertRefused(result, 2, /^deltacast: /)
      const lines = result.stderr.split('\n')
      for (const expected of [
        `config file ${file}: "listen" must be a list of strings`,
        `config file ${file}: unknown setting "bogus"`,
        `"maxObservers" in ${file} must be a number, got "many"`,
        `"syncIntervalMs" in ${file} must be a positive integer, got 0`,
        `"bootstrap" in ${file} "/ip4/127.0.0.1/tcp/1" has no /p2p/<peer id>`,
        `"logLevel" in ${file} "loud" is not a log level`
      ]) assert.ok(lines.some(line => line.replace(/^deltacast: /, '').startsWith(expected)), `${expected}\nin:\n${result.stderr}`)
    })
  })

  describe('failures at start exit 1', () => {
    it('a port in use names the flag: --listen, --observe-listen, --admin', async () => {
      const { server, port } = await occupiedPort()
      servers.push(server)
      assertRefused(await run(['super-peer', '--data-dir', join(dir, 'sp'), '--doc', DOC, '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--observe-listen', 'none']), 1,
        new RegExp(`^deltacast: --listen /ip4/127\\.0\\.0\\.1/tcp/${port}: cannot listen: address already in use\\n$`))
      assertRefused(await run(superPeer('--observe-listen', `/ip4/127.0.0.1/tcp/${port}/ws`)), 1,
        new RegExp(`^deltacast: --observe-listen /ip4/127\\.0\\.0\\.1/tcp/${port}/ws: cannot listen: address already in use\\n$`))
      assertRefused(await run(superPeer('--admin', `127.0.0.1:${port}`)), 1, new RegExp(`^deltacast: --admin 127\\.0\\.0\\.1:${port}: cannot listen: address already in use\\n$`))
      assertRefused(await run(authority('--admin', `127.0.0.1:${port}`)), 1, new RegExp(`^deltacast: --admin 127\\.0\\.0\\.1:${port}: cannot listen: address already in use\\n$`))
    })

    it('a UDP port in use for webrtc-direct names --observe-listen', async () => {
      const socket = createSocket('udp4')
      await new Promise<void>(resolve => socket.bind(0, '127.0.0.1', resolve))
      try {
        const addr = `/ip4/127.0.0.1/udp/${socket.address().port}/webrtc-direct`
        const result = await run(superPeer('--observe-listen', addr))
        // node-datachannel logs its own lines on stdout, so only stderr is checked here.
        assert.equal(result.code, 1, result.stderr)
        assert.equal(result.stderr, `deltacast: --observe-listen ${addr}: cannot listen: UDP port already in use\n`)
      } finally {
        socket.close()
      }
    })

    it('an unusable --dir or --data-dir', async () => {
      const file = join(dir, 'a-file')
      await writeFile(file, 'not a directory')
      assertRefused(await run(['super-peer', '--data-dir', join(file, 'sp'), '--doc', DOC, '--observe-listen', 'none']), 1,
        /^deltacast: --data-dir .*a-file\/sp is unusable: a path component is not a directory\n$/)
      assertRefused(await run(['authority', '--dir', join(file, 'a'), '--name', 'doc']), 1,
        /^deltacast: --dir: data directory .*a-file\/a is unusable: a path component is not a directory\n$/)
    })
  })
})
