import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { docIdFor } from '../../src/log/index.ts'
import { AUTHORITY_FLAGS } from '../../node/authority/config.ts'
import { SUPER_PEER_FLAGS } from '../../node/super-peer/config.ts'
import { killAll, runCli, startCli } from '../helpers/processes.ts'
import type { Finished } from '../helpers/processes.ts'
import type { FlagSpecs } from '../../node/cli-args.ts'

const run = async (args: string[], timeoutMs = 30_000): Promise<Finished> => await runCli(args, { timeoutMs })

function assertListsEveryFlag (help: string, specs: FlagSpecs): void {
  for (const name of [...Object.keys(specs), 'help']) {
    assert.match(help, new RegExp(`^  --${name}\\b`, 'm'), `--${name} in the help`)
  }
}

const LOOPBACK = {
  webrtcDirect: '/ip4/127.0.0.1/udp/0/webrtc-direct',
  tcp: '/ip4/127.0.0.1/tcp/0',
  ws: '/ip4/127.0.0.1/tcp/0/ws'
}
const DOC = docIdFor(new Uint8Array(32).fill(5), 'board')

describe('deltacast CLI', function () {
  this.timeout(60_000)
  afterEach(async () => { await killAll() })

  describe('help', () => {
    it('--help prints the commands and exits 0', async () => {
      const result = await run(['--help'])
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stdout, /^Usage: deltacast <command> \[options\]/)
      for (const command of ['super-peer', 'authority', 'doc-id', 'log']) assert.match(result.stdout, new RegExp(`^  ${command} `, 'm'))
      assert.equal(result.stderr, '')
    })

    it('no command prints the usage on stderr and exits 2', async () => {
      const result = await run([])
      assert.equal(result.code, 2)
      assert.match(result.stderr, /^Usage: deltacast <command> \[options\]/)
      assert.equal(result.stdout, '')
    })

    it('super-peer --help prints every super-peer flag and exits 0', async () => {
      const result = await run(['super-peer', '--help'])
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stdout, /^Usage: deltacast super-peer \[options\]/)
      assertListsEveryFlag(result.stdout, SUPER_PEER_FLAGS)
      assert.equal(result.stderr, '')
    })

    it('authority --help prints every authority flag and exits 0', async () => {
      const result = await run(['authority', '--help'])
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stdout, /^Usage: deltacast authority --name <name> \[options\]/)
      assertListsEveryFlag(result.stdout, AUTHORITY_FLAGS)
      assert.equal(result.stderr, '')
    })
  })

  describe('usage errors exit 2 and name the problem', () => {
    it('an unknown flag', async () => {
      const result = await run(['super-peer', '--doc', DOC, '--bogus-flag', 'x'])
      assert.equal(result.code, 2)
      assert.match(result.stderr, /^deltacast: .*'--bogus-flag'/)
      assert.match(result.stderr, /Run 'deltacast super-peer --help' for usage\./)
      assert.equal(result.stdout, '')
    })

    it('super-peer on the flat mesh without --doc', async () => {
      const result = await run(['super-peer', '--topology', 'flat', '--listen', LOOPBACK.tcp])
      assert.equal(result.code, 2)
      assert.match(result.stderr, /^deltacast: no documents to carry: pass --doc <doc id> at least once/)
      assert.equal(result.stdout, '')
    })

    it('authority without --name', async () => {
      const result = await run(['authority'])
      assert.equal(result.code, 2)
      assert.match(result.stderr, /^deltacast: missing --name <document name>\nRun 'deltacast authority --help' for usage\.\n$/)
    })

    it('an unknown command', async () => {
      const result = await run(['frobnicate'])
      assert.equal(result.code, 2)
      assert.match(result.stderr, /^deltacast: unknown command "frobnicate"\nRun 'deltacast --help' for usage\.\n$/)
    })
  })

  describe('super-peer identity', () => {
    let dir: string
    beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'deltacast-cli-')) })
    afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

    const args = (): string[] => [
      'super-peer', '--data-dir', dir,
      '--listen', LOOPBACK.webrtcDirect, '--listen', LOOPBACK.tcp,
      '--observe-listen', LOOPBACK.webrtcDirect, '--observe-listen', LOOPBACK.ws,
      '--doc', DOC
    ]

    /** The single certhash among a node's addresses. */
    function certhashOf (addrs: string[]): string {
      const hashes = new Set(addrs.map(a => /\/certhash\/([^/]+)/.exec(a)?.[1]).filter(h => h !== undefined))
      assert.equal(hashes.size, 1, `one certhash in ${addrs.join(' ')}`)
      return [...hashes][0]
    }

    async function startAndStop (): Promise<{ peerId: string, certhash: string, observePeerId: string, observeCerthash: string }> {
      const proc = await startCli(args())
      const { ready } = proc
      assert.equal(ready.ready, 'super-peer')
      assert.equal(typeof ready.peerId, 'string')
      assert.ok(Array.isArray(ready.addrs))
      assert.ok((ready.addrs as string[]).some(a => a.startsWith('/ip4/127.0.0.1/tcp/')), ready.addrs.join(' '))
      for (const addr of ready.addrs as string[]) assert.ok(addr.endsWith(`/p2p/${String(ready.peerId)}`), addr)
      const identity = {
        peerId: ready.peerId as string,
        certhash: certhashOf(ready.addrs),
        observePeerId: ready.observe.peerId as string,
        observeCerthash: certhashOf(ready.observe.addrs)
      }
      assert.equal(await proc.kill('SIGTERM'), 0, `clean exit on SIGTERM; stderr:\n${proc.stderr()}`)
      return identity
    }

    it('keeps its peer ids and WebRTC-Direct certhashes across restarts with the same data dir', async () => {
      const first = await startAndStop()
      const second = await startAndStop()
      assert.deepEqual(second, first)
      assert.notEqual(first.observePeerId, first.peerId, 'browsers meet a separate identity')
    })

    it('a new data dir is a new identity', async () => {
      const first = await startAndStop()
      const other = await mkdtemp(join(tmpdir(), 'deltacast-cli-'))
      const saved = dir
      dir = other
      try {
        const second = await startAndStop()
        assert.notEqual(second.peerId, first.peerId)
        assert.notEqual(second.certhash, first.certhash)
      } finally {
        dir = saved
        await rm(other, { recursive: true, force: true })
      }
    })
  })
})
