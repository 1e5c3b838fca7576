// The package as users get it: `npm pack`, then installed from the tarball into a fresh
// application outside the repository (dependencies from the npm registry, or the npm cache),
// which embeds an authority, runs a super-peer with `npx deltacast`, bundles a page with esbuild
// and type-checks against the installed declarations. Also: a fresh `npm ci` of the repository on
// the machine's own Node (20 on our machines) and `npx deltacast` print no engine warning.

import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { launchChromium } from '../browser/helpers/harness.ts'
import { waitFor } from '../helpers/processes.ts'
import { MIN_NODE_MAJOR } from '../../node/node-version.ts'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import type { Browser } from 'playwright-core'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const run = promisify(execFile)

/** PATH without any node_modules/.bin: what a user's shell has. */
const SYSTEM_PATH = (process.env.PATH ?? '').split(delimiter).filter(dir => !dir.includes('node_modules')).join(delimiter)

/** A user's shell with `path`, without the variables npm scripts export (a child npm would inherit them). */
function shellEnv (path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: path, npm_config_update_notifier: 'false' }
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|INIT_CWD$|NODE$|PATH$)/.test(key)) env[key] = value
  }
  return env
}

/** This test's Node (22) first, as on a machine that ships Node 22. */
const NODE22_ENV = shellEnv([dirname(process.execPath), SYSTEM_PATH].join(delimiter))
/** The machine's own Node (20 on our machines and in CI). */
const SYSTEM_ENV = shellEnv(SYSTEM_PATH)

interface Output { stdout: string, stderr: string }

async function npm (args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Output> {
  try {
    return await run('npm', args, { cwd, env, maxBuffer: 64 << 20 })
  } catch (err: any) {
    throw new Error(`npm ${args.join(' ')} in ${cwd} failed (${err.code}):\n${err.stdout}\n${err.stderr}`)
  }
}

function version (pkg: string): string {
  return JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version
}

/** A process of the application, speaking JSON lines on stdout; in its own group, so npx's children stop with it. */
class AppProcess {
  readonly child: ChildProcessWithoutNullStreams
  readonly lines: AsyncIterator<any>
  private readonly exited: Promise<number | string>
  private stderrText = ''

  constructor (command: string, args: string[], cwd: string) {
    this.child = spawn(command, args, { cwd, env: { ...NODE22_ENV, DELTACAST_LOG_LEVEL: 'warn' }, detached: true })
    this.exited = new Promise(resolve => this.child.once('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') }))
    this.child.stderr.setEncoding('utf8')
    this.child.stderr.on('data', (chunk: string) => { this.stderrText = (this.stderrText + chunk).slice(-20_000) })
    this.lines = (async function * (child) {
      for await (const line of createInterface({ input: child.stdout })) if (line.trim() !== '') yield JSON.parse(line)
    })(this.child)
  }

  /** The next stdout line; fails with stderr if the process ends first. */
  async next (what: string): Promise<any> {
    const line = await Promise.race([this.lines.next(), this.exited.then(code => ({ done: true as const, code }))])
    if (line.done === true) throw new Error(`${what}: the process ended (${'code' in line ? line.code : 'stdout closed'}):\n${this.stderrText}`)
    return line.value
  }

  send (message: object): void {
    this.child.stdin.write(JSON.stringify(message) + '\n')
  }

  async stop (): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(-(this.child.pid as number), 'SIGKILL')
    await this.exited
  }
}

// The application's files: what a developer would write after `npm install deltacast`.
const APP_AUTHORITY = `import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Authority, createLogger, loadOrCreateKey, startAuthorityNode } from 'deltacast'
import { listInsert } from 'deltacast/delta'

const dir = process.argv[2]
const doc = await Authority.open({ dir, name: 'scoreboard' })
const peerKey = await loadOrCreateKey(join(dir, 'peer.key'))
const net = await startAuthorityNode(doc, { peerKey, listen: ['/ip4/127.0.0.1/tcp/0'] }, createLogger('authority'))
console.log(JSON.stringify({ docId: doc.docId, addrs: net.node.getMultiaddrs().map(String) }))

// Each stdin line {"round": n, "card": id} puts card id first in the list and sets the round.
for await (const line of createInterface({ input: process.stdin })) {
  const { round, card } = JSON.parse(line)
  const insert = listInsert(doc.tree, ['cards'], card, { round }, 0)
  if (!insert.ok) throw new Error(insert.error)
  const { seq } = await doc.change({ ...insert.value, round })
  console.log(JSON.stringify({ round, seq }))
}
`

const APP_PAGE = `import { observe, keysOf } from 'deltacast/browser'

const params = new URLSearchParams(location.search)
const view = observe(params.get('doc'), { bootstrap: JSON.parse(params.get('bootstrap')), allowPrivateAddresses: true })
view.addEventListener('change', () => {
  document.body.textContent = 'round ' + view.state.round + ': ' + keysOf(view.state.cards).join(',')
})
globalThis.view = view
`

const APP_TYPES = `import { Authority, ChangeRejectedError, createLogger, loadOrCreateKey, startAuthorityNode } from 'deltacast'
import type { AuthorityNode, ChangeAck } from 'deltacast'
import { observe, keysOf, ReadOnlyError } from 'deltacast/browser'
import type { LiveView, Json } from 'deltacast/browser'
import { listInsert, materialize } from 'deltacast/delta'
import { signToken } from 'deltacast/identity'

export async function embed (dir: string): Promise<AuthorityNode> {
  const doc = await Authority.open({ dir, name: 'game' })
  const net = await startAuthorityNode(doc, { peerKey: await loadOrCreateKey(dir + '/peer.key'), listen: [] }, createLogger('authority'))
  const insert = listInsert(doc.tree, ['cards'], 'c1', { face: 12 }, 0)
  if (insert.ok) {
    const ack: ChangeAck = await doc.change(insert.value)
    const seq: number = ack.seq
    void seq
  }
  // @ts-expect-error a change is a JSON object: the installed types must say so
  await doc.change(42)
  void ChangeRejectedError
  void signToken
  void materialize
  return net
}

export function watch (docId: string): readonly string[] | undefined {
  const view: LiveView = observe(docId, { bootstrap: ['/dns4/sp.example.com/tcp/443/wss/p2p/12D3KooW'] })
  // @ts-expect-error observe takes options, not a bare address list
  observe(docId, ['/dns4/sp.example.com/tcp/443/wss'])
  const cards: Json = view.state.cards
  void ReadOnlyError
  return Array.isArray(cards) ? keysOf(cards).map(String) : undefined
}
`

const APP_TSCONFIG = {
  compilerOptions: { target: 'es2023', module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2023', 'dom'], strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
  files: ['types.ts']
}

/** Files the tarball may hold: the build, the command and the package's own texts. */
const SHIPPED = /^(package\.json|README\.md|CHANGELOG\.md|LICENSE|bin\/deltacast\.js|dist\/deltacast-browser\.js|dist\/(src|node|browser)\/[\w/.-]+\.(js|d\.ts))$/

describe('the packed package, installed into a fresh application', function () {
  this.timeout(300_000)

  let tmp: string
  let app: string
  let tarball: { filename: string, size: number, unpackedSize: number, files: Array<{ path: string, size: number }> }
  let appInstall: Output
  let clone: string
  let cloneInstall: Output
  const processes: AppProcess[] = []
  let authority: AppProcess
  let superPeer: AppProcess
  let docId: string
  let authorityAddr: string
  let superPeerReady: any
  let server: Server | undefined
  let browser: Browser | undefined

  before(async function () {
    tmp = mkdtempSync(join(tmpdir(), 'deltacast-package-'))
    app = join(tmp, 'app')
    const packed = await npm(['pack', '--json', '--pack-destination', tmp], ROOT, NODE22_ENV)
    tarball = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')))[0]
    console.log(`      tarball ${tarball.filename}: ${(tarball.size / 1024).toFixed(1)} KiB packed, ` +
      `${(tarball.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${tarball.files.length} files:`)
    console.log(tarball.files.map(file => `        ${file.path} (${file.size} B)`).join('\n'))

    // An application outside the repository: it sees the package only through the tarball.
    mkdirSync(app)
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'deltacast-app', private: true, type: 'module', allowScripts: { esbuild: true } }, null, 2))
    writeFileSync(join(app, 'authority.js'), APP_AUTHORITY)
    writeFileSync(join(app, 'page.js'), APP_PAGE)
    writeFileSync(join(app, 'types.ts'), APP_TYPES)
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(APP_TSCONFIG, null, 2))
    // Meanwhile (both installs at once), a developer's fresh clone, installed on the machine's Node.
    clone = join(tmp, 'clone')
    for (const path of ['package.json', 'package-lock.json', 'bin', 'node', 'src']) cpSync(join(ROOT, path), join(clone, path), { recursive: true })
    ;[appInstall, cloneInstall] = await Promise.all([
      npm(['install', '--prefer-offline', '--no-audit', '--no-fund', join(tmp, tarball.filename),
        `esbuild@${version('esbuild')}`, `typescript@${version('typescript')}`, `@types/node@${version('@types/node')}`], app, NODE22_ENV),
      npm(['ci', '--prefer-offline', '--no-audit', '--no-fund'], clone, SYSTEM_ENV)
    ])
  })

  after(async function () {
    await browser?.close()
    if (server !== undefined) {
      server.closeAllConnections()
      await new Promise(resolve => server?.close(resolve))
    }
    await Promise.all(processes.map(async proc => await proc.stop()))
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true })
    // `npx deltacast` in the clone linked it into npx's cache, in a directory named by its path.
    if (clone !== undefined) {
      const cache = (await npm(['config', 'get', 'cache'], ROOT, NODE22_ENV)).stdout.trim()
      rmSync(join(cache, '_npx', createHash('sha512').update(clone).digest('hex').slice(0, 16)), { recursive: true, force: true })
    }
  })

  it('holds only what runs: the build, the command and the package texts', function () {
    const paths = tarball.files.map(file => file.path)
    const unexpected = paths.filter(path => !SHIPPED.test(path))
    assert.deepEqual(unexpected, [], 'no tests, benches, scripts or TypeScript sources')
    for (const entry of ['bin/deltacast.js', 'dist/node/index.js', 'dist/node/index.d.ts', 'dist/browser/index.js', 'dist/src/delta/index.js', 'dist/deltacast-browser.js']) {
      assert.ok(paths.includes(entry), `${entry} is shipped`)
    }
    assert.ok(tarball.size < 512 * 1024, `${tarball.size} bytes packed`)
  })

  it('installs on Node 22 with no engine warning', function () {
    assert.doesNotMatch(appInstall.stdout + appInstall.stderr, /EBADENGINE/)
    const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'deltacast', 'package.json'), 'utf8'))
    assert.deepEqual(installed.engines, { node: `>=${MIN_NODE_MAJOR}` }, 'the installed package states the Node it needs')
    assert.equal(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines, undefined, 'postpack restored the repository\'s manifest')
    assert.throws(() => readFileSync(join(app, 'node_modules', 'node', 'package.json')), /ENOENT/, 'the node dev dependency stays out of users\' installs')
  })

  it('runs an authority from import { Authority, startAuthorityNode } from \'deltacast\'', async function () {
    authority = new AppProcess(process.execPath, ['authority.js', join(tmp, 'doc')], app)
    processes.push(authority)
    const ready = await authority.next('the authority')
    docId = ready.docId
    authorityAddr = ready.addrs[0]
    assert.match(docId, /\.scoreboard$/)
    authority.send({ round: 1, card: 'c1' })
    assert.deepEqual(await authority.next('the first change'), { round: 1, seq: 1 })
  })

  it('runs a super-peer with npx deltacast super-peer, which replicates the document and says which dependency patches it lacks', async function () {
    superPeer = new AppProcess('npx', ['deltacast', 'super-peer', '--data-dir', join(tmp, 'sp'), '--region', 'test',
      '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', authorityAddr, '--doc', docId, '--admin', '127.0.0.1:0',
      '--sync-interval-ms', '1000', '--observe-listen', '/ip4/127.0.0.1/tcp/0/ws', '--observe-listen', '/ip4/127.0.0.1/udp/0/webrtc-direct'], app)
    processes.push(superPeer)
    const ready = await superPeer.next('the super-peer')
    assert.equal(ready.ready, 'super-peer')
    superPeerReady = ready
    await waitFor('the super-peer to replicate seq 1', async () => {
      const status = await (await fetch(`${ready.admin as string}/status`)).json() as any
      return status.docs[docId]?.seq === 1 ? true : undefined
    })
    // npm installed the libraries unpatched (patches/ reach only a clone): the super-peer says so
    const status = await (await fetch(`${ready.admin as string}/status`)).json() as any
    const missing = status.patches.missing as Array<{ package: string, severity: string }>
    assert.deepEqual(missing.filter(p => p.severity === 'security').map(p => p.package), ['@libp2p/websockets'])
    assert.ok(missing.some(p => p.package === 'libp2p'), 'the cost patches are listed too')
    const metrics = await (await fetch(`${ready.admin as string}/metrics`)).text()
    assert.match(metrics, /^deltacast_dependency_patches_missing\{severity="security"\} 1$/m)
  })

  it('bundles a page from import { observe } from \'deltacast/browser\' with esbuild, and Chromium sees the document live', async function () {
    const built = await run('npx', ['esbuild', 'page.js', '--bundle', '--format=esm', '--platform=browser', '--outfile=public/page.js', '--metafile=meta.json', '--log-level=warning'], { cwd: app, env: NODE22_ENV })
    assert.equal(built.stderr, '', 'esbuild bundles the browser entry without a warning')
    const inputs = Object.keys(JSON.parse(readFileSync(join(app, 'meta.json'), 'utf8')).inputs)
    assert.ok(inputs.some(path => path.includes('node_modules/deltacast/dist/browser/')), 'bundled from the installed package')
    assert.deepEqual(inputs.filter(path => path.includes('node_modules/deltacast/dist/node/')), [], 'the browser entry pulls in no Node shell')

    const files: Record<string, { type: string, body: Buffer | string }> = {
      '/': { type: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>app</title><script type="module" src="/page.js"></script>' },
      '/page.js': { type: 'text/javascript', body: readFileSync(join(app, 'public', 'page.js')) },
      '/favicon.ico': { type: 'image/x-icon', body: '' }
    }
    server = createServer((req, res) => {
      const file = files[new URL(req.url ?? '/', 'http://x').pathname]
      if (file === undefined) { res.writeHead(404).end(); return }
      res.writeHead(200, { 'content-type': file.type }).end(file.body)
    })
    await new Promise<void>(resolve => server?.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    browser = await launchChromium()
    const page = await browser.newPage()
    page.on('pageerror', err => { console.error('page error:', err) })
    const bootstrap = JSON.stringify(superPeerReady.observe.addrs)
    await page.goto(`http://127.0.0.1:${port}/?doc=${encodeURIComponent(docId)}&bootstrap=${encodeURIComponent(bootstrap)}`)

    await page.waitForFunction(() => (globalThis as any).view?.seq === 1, undefined, { timeout: 30_000, polling: 50 })
    assert.equal(await page.textContent('body'), 'round 1: c1')
    authority.send({ round: 2, card: 'c2' })
    assert.deepEqual(await authority.next('the second change'), { round: 2, seq: 2 })
    await page.waitForFunction(() => (globalThis as any).view.seq === 2, undefined, { timeout: 30_000, polling: 50 })
    assert.equal(await page.textContent('body'), 'round 2: c2,c1')
  })

  it('type-checks an application against the installed declarations', async function () {
    await run('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: app, env: NODE22_ENV }).catch((err: any) => {
      throw new Error(`tsc found errors:\n${err.stdout}${err.stderr}`)
    })
  })

  it('refuses an older Node with a clear message, not a stack trace', async function () {
    const system = await run('node', ['--version'], { env: SYSTEM_ENV })
    const major = Number.parseInt(system.stdout.trim().slice(1), 10)
    const cli = await run('node', [join(app, 'node_modules', '.bin', 'deltacast'), '--help'], { cwd: app, env: SYSTEM_ENV }).then(out => ({ code: 0, ...out }), (err: any) => err)
    const library = await run('node', ['-e', 'await import("deltacast")', '--input-type=module'], { cwd: app, env: SYSTEM_ENV }).then(out => ({ code: 0, ...out }), (err: any) => err)
    if (major >= 22) {
      // Nothing older to try on this machine: the same calls must just work.
      assert.equal(cli.code, 0)
      assert.match(cli.stdout, /Usage: deltacast/)
      assert.equal(library.code, 0)
      return
    }
    assert.equal(cli.code, 1)
    assert.equal(cli.stderr.trim(), `deltacast needs Node.js 22 or newer; this is Node.js ${system.stdout.trim().slice(1)}. Install a current Node.js LTS (https://nodejs.org) and run it again.`)
    assert.notEqual(library.code, 0)
    assert.match(library.stderr, /UnsupportedNodeError: deltacast needs Node.js 22 or newer; this is Node.js/)
    assert.doesNotMatch(library.stderr, /^\s+at /m, 'no stack trace')
  })

  it('a fresh npm ci of the repository on the machine\'s Node prints no engine warning', function () {
    assert.doesNotMatch(cloneInstall.stdout + cloneInstall.stderr, /EBADENGINE/)
  })

  it('npx deltacast --help in that clone prints the usage and no warning', async function () {
    const help = await run('npx', ['deltacast', '--help'], { cwd: clone, env: SYSTEM_ENV })
    assert.match(help.stdout, /^Usage: deltacast <command>/)
    assert.equal(help.stderr, '')
  })
})
