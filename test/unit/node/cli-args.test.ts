import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { UsageError, helpText, parseFlags } from '../../../node/cli-args.ts'
import { AUTHORITY_FLAGS, AUTHORITY_HELP, parseAuthorityConfig } from '../../../node/authority/config.ts'
import { AUTHORITY_DEFAULTS } from '../../../node/authority/authority.ts'
import { SUPER_PEER_FLAGS, SUPER_PEER_HELP, parseSuperPeerConfig } from '../../../node/super-peer/config.ts'
import type { FlagSpecs } from '../../../node/cli-args.ts'

const SPECS: FlagSpecs = {
  config: { type: 'string', value: 'file.json', help: 'Settings file' },
  'data-dir': { type: 'string', value: 'dir', default: '/var/x', help: 'Where data lives' },
  name: { type: 'string', help: 'A name' },
  listen: { type: 'string', multiple: true, value: 'multiaddr', default: ['/ip4/0.0.0.0/tcp/1'], help: 'Listen here' },
  peer: { type: 'string', multiple: true, default: [], help: 'A peer' },
  verbose: { type: 'boolean', default: false, help: 'Talk more' },
  'max-frame-bytes': { type: 'number', value: 'bytes', default: 1024, help: 'Largest frame' }
}
const DOC = 'a'.repeat(52) + '.board'

/** Runs fn, expects a UsageError and returns its message. */
function usageError (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`)
    assert.equal(err.name, 'UsageError')
    return err.message
  }
  assert.fail('expected a UsageError')
}

describe('node/cli-args', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'deltacast-cli-args-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  async function configFile (content: unknown): Promise<string> {
    const path = join(dir, 'config.json')
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content))
    return path
  }

  describe('parseFlags', () => {
    it('gives every setting its default, camelCased, when no flag is passed', () => {
      assert.deepEqual(parseFlags([], SPECS), {
        help: false, dataDir: '/var/x', name: undefined, listen: ['/ip4/0.0.0.0/tcp/1'], peer: [], verbose: false, maxFrameBytes: 1024
      })
    })

    it('parses string, boolean and number flags', () => {
      const flags = parseFlags(['--data-dir', '/d', '--name=board', '--verbose', '--max-frame-bytes', '4096'], SPECS)
      assert.equal(flags.dataDir, '/d')
      assert.equal(flags.name, 'board')
      assert.equal(flags.verbose, true)
      assert.equal(flags.maxFrameBytes, 4096)
    })

    it('collects a repeatable flag in order, replacing its default', () => {
      const flags = parseFlags(['--listen', '/a', '--peer', 'p1', '--listen', '/b'], SPECS)
      assert.deepEqual(flags.listen, ['/a', '/b'])
      assert.deepEqual(flags.peer, ['p1'])
    })

    it('keeps the last value of a flag that does not repeat', () => {
      assert.equal(parseFlags(['--name', 'a', '--name', 'b'], SPECS).name, 'b')
    })

    it('returns only help for --help, without reading the config file', () => {
      assert.deepEqual(parseFlags(['--help'], SPECS), { help: true })
      assert.deepEqual(parseFlags(['--name', 'x', '--config', join(dir, 'missing.json'), '--help'], SPECS), { help: true })
    })

    it('rejects an unknown flag, naming it', () => {
      assert.match(usageError(() => parseFlags(['--nope'], SPECS)), /'--nope'/)
    })

    it('rejects a flag without its value, and positional arguments', () => {
      assert.match(usageError(() => parseFlags(['--name'], SPECS)), /--name/)
      assert.match(usageError(() => parseFlags(['stray'], SPECS)), /'stray'/)
    })

    it('rejects a number flag that is not a number, naming flag and value', () => {
      assert.equal(usageError(() => parseFlags(['--max-frame-bytes', 'lots'], SPECS)), '--max-frame-bytes must be a number, got "lots"')
      assert.match(usageError(() => parseFlags(['--max-frame-bytes', 'Infinity'], SPECS)), /must be a number/)
    })

    it('rejects an empty number flag rather than reading it as 0', () => {
      assert.match(usageError(() => parseFlags(['--max-frame-bytes', ''], SPECS)), /--max-frame-bytes must be a number/)
      assert.match(usageError(() => parseFlags(['--max-frame-bytes', ' '], SPECS)), /--max-frame-bytes must be a number/)
    })

    describe('config file', () => {
      it('supplies values, with kebab-case or camelCase keys', async () => {
        const path = await configFile({ 'data-dir': '/from-file', maxFrameBytes: 2048, listen: ['/x', '/y'], verbose: true })
        const flags = parseFlags(['--config', path], SPECS)
        assert.equal(flags.dataDir, '/from-file')
        assert.equal(flags.maxFrameBytes, 2048)
        assert.deepEqual(flags.listen, ['/x', '/y'])
        assert.equal(flags.verbose, true)
        assert.equal(flags.name, undefined)
        assert.equal('config' in flags, false)
      })

      it('is overridden by flags, a repeatable flag replacing the whole list', async () => {
        const path = await configFile({ dataDir: '/from-file', name: 'file', listen: ['/x', '/y'], maxFrameBytes: 2048 })
        const flags = parseFlags(['--listen', '/z', '--config', path, '--max-frame-bytes', '99', '--name', 'flag'], SPECS)
        assert.equal(flags.dataDir, '/from-file')
        assert.equal(flags.name, 'flag')
        assert.deepEqual(flags.listen, ['/z'])
        assert.equal(flags.maxFrameBytes, 99)
      })

      it('rejects an unknown setting, naming it and the file', async () => {
        const path = await configFile({ name: 'ok', bogusSetting: 1 })
        assert.equal(usageError(() => parseFlags(['--config', path], SPECS)), `config file ${path}: unknown setting "bogusSetting"`)
      })

      it('rejects "config" inside a config file', async () => {
        const path = await configFile({ config: 'other.json' })
        assert.match(usageError(() => parseFlags(['--config', path], SPECS)), /unknown setting "config"/)
      })

      it('rejects a file that is not JSON, or missing, naming the file', async () => {
        const path = await configFile('{ name: board }')
        assert.match(usageError(() => parseFlags(['--config', path], SPECS)), new RegExp(`^cannot read config file ${path}: .*JSON`))
        const missing = join(dir, 'nope.json')
        assert.match(usageError(() => parseFlags(['--config', missing], SPECS)), new RegExp(`^cannot read config file ${missing}: .*ENOENT`))
      })

      it('rejects JSON that is not an object', async () => {
        for (const content of ['[]', 'null', '"x"']) {
          const path = await configFile(content)
          assert.equal(usageError(() => parseFlags(['--config', path], SPECS)), `config file ${path} must hold a JSON object`, content)
        }
      })

      it('rejects a single value for a repeatable setting', async () => {
        const path = await configFile({ listen: '/x' })
        assert.equal(usageError(() => parseFlags(['--config', path], SPECS)), `config file ${path}: "listen" must be a list of strings`)
      })

      it('rejects a bad number, naming the setting', async () => {
        const path = await configFile({ maxFrameBytes: 'big' })
        assert.equal(usageError(() => parseFlags(['--config', path], SPECS)), `"maxFrameBytes" in ${path} must be a number, got "big"`)
      })

      it('rejects values of the wrong type for string, boolean and list settings', async () => {
        for (const [setting, value] of [['name', 5], ['verbose', 'false'], ['listen', [1, 2]], ['data-dir', { a: 1 }]] as const) {
          const path = await configFile({ [setting]: value })
          assert.match(usageError(() => parseFlags(['--config', path], SPECS)), new RegExp(`"${setting}"`), `${setting}: ${JSON.stringify(value)}`)
        }
      })
    })
  })

  describe('helpText', () => {
    const text = helpText('Usage: tool [options]', 'Does things.', SPECS)

    it('starts with usage and summary and lists every flag with its help', () => {
      assert.ok(text.startsWith('Usage: tool [options]\n\nDoes things.\n\nOptions:\n'))
      for (const [name, spec] of Object.entries(SPECS)) {
        assert.match(text, new RegExp(`^  --${name}\\b.* ${spec.help}`, 'm'), name)
      }
      assert.match(text, /^ {2}--help +Show this help$/m)
    })

    it('shows value names, repeatable and non-empty defaults', () => {
      assert.match(text, /^ {2}--data-dir <dir> +Where data lives \(default: \/var\/x\)$/m)
      assert.match(text, /^ {2}--listen <multiaddr> +Listen here \(repeatable; default: \/ip4\/0.0.0.0\/tcp\/1\)$/m)
      assert.match(text, /^ {2}--peer <string> +A peer \(repeatable\)$/m)
      assert.match(text, /^ {2}--verbose +Talk more \(default: false\)$/m)
      assert.match(text, /^ {2}--name <string> +A name$/m)
      assert.match(text, /^ {2}--max-frame-bytes <bytes> +Largest frame \(default: 1024\)$/m)
    })

    it('the commands\' help lists every one of their flags', () => {
      for (const name of Object.keys(SUPER_PEER_FLAGS)) assert.match(SUPER_PEER_HELP, new RegExp(`^  --${name}\\b`, 'm'), name)
      for (const name of Object.keys(AUTHORITY_FLAGS)) assert.match(AUTHORITY_HELP, new RegExp(`^  --${name}\\b`, 'm'), name)
    })
  })

  describe('parseSuperPeerConfig', () => {
    it('needs at least one --doc on the flat mesh, none under tiers (the default)', () => {
      assert.match(usageError(() => parseSuperPeerConfig(['--topology', 'flat'])), /no documents to carry: pass --doc/)
      assert.deepEqual((parseSuperPeerConfig([]) as { docs: string[] }).docs, [])
      assert.match(usageError(() => parseSuperPeerConfig(['--topology', 'tree'])), /--topology must be flat or tiers/)
      assert.match(usageError(() => parseSuperPeerConfig(['--fanout', '1'])), /--fanout must be an integer >= 2, got 1/)
    })

    it('fills defaults, the key file under the data dir', () => {
      const config = parseSuperPeerConfig(['--doc', DOC, '--data-dir', '/data'])
      assert.notEqual(config, 'help')
      if (config === 'help') return
      assert.deepEqual(config.docs, [DOC])
      assert.equal(config.keyFile, join('/data', 'peer.key'))
      assert.equal(config.maxFrameBytes, 1024 * 1024)
      assert.ok(config.listen.length > 0)
      assert.ok(config.observeListen.some(a => a.includes('webrtc-direct')))
    })

    it('takes --key, several --doc and --observe-listen none', () => {
      const config = parseSuperPeerConfig(['--doc', DOC, '--doc', DOC.replace('board', 'other'), '--key', '/k', '--observe-listen', 'none'])
      if (config === 'help') assert.fail('help')
      assert.equal(config.keyFile, '/k')
      assert.equal(config.docs.length, 2)
      assert.deepEqual(config.observeListen, [])
    })

    it('rejects non-positive or fractional limits', () => {
      assert.equal(usageError(() => parseSuperPeerConfig(['--doc', DOC, '--max-connections', '0'])), '--max-connections must be a positive integer, got 0')
      assert.equal(usageError(() => parseSuperPeerConfig(['--doc', DOC, '--sync-interval-ms', '1.5'])), '--sync-interval-ms must be a positive integer, got 1.5')
      assert.equal(usageError(() => parseSuperPeerConfig(['--doc', DOC, '--max-observers=-1'])), '--max-observers must be a positive integer, got -1')
    })

    it('reads its settings from a config file', async () => {
      const path = await configFile({ doc: [DOC], region: 'eu', maxConnections: 50 })
      const config = parseSuperPeerConfig(['--config', path, '--region', 'us'])
      if (config === 'help') assert.fail('help')
      assert.deepEqual(config.docs, [DOC])
      assert.equal(config.region, 'us')
      assert.equal(config.maxConnections, 50)
    })

    it('returns "help" for --help', () => {
      assert.equal(parseSuperPeerConfig(['--help']), 'help')
    })
  })

  describe('parseAuthorityConfig', () => {
    it('needs a valid --name', () => {
      assert.equal(usageError(() => parseAuthorityConfig([])), 'missing --name <document name>')
      assert.match(usageError(() => parseAuthorityConfig(['--name', 'Bad Name'])), /bad --name "Bad Name"/)
    })

    it('fills defaults', () => {
      const config = parseAuthorityConfig(['--name', 'board'])
      if (config === 'help') assert.fail('help')
      assert.equal(config.name, 'board')
      assert.equal(config.stdin, false)
      assert.equal(config.checkpointEvery, AUTHORITY_DEFAULTS.checkpointEvery)
      assert.equal(config.maxFrameBytes, AUTHORITY_DEFAULTS.maxFrameBytes)
    })

    it('rejects a bad --checkpoint-every or --max-frame-bytes', () => {
      assert.equal(usageError(() => parseAuthorityConfig(['--name', 'b', '--checkpoint-every', '0'])), '--checkpoint-every must be a positive integer, got 0')
      assert.equal(usageError(() => parseAuthorityConfig(['--name', 'b', '--max-frame-bytes', '1023'])), '--max-frame-bytes must be an integer >= 1024, got 1023')
      assert.equal(parseAuthorityConfig(['--name', 'b', '--max-frame-bytes', '1024']) === 'help', false)
    })
  })
})
