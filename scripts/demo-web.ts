// The demo's web server: the page (browser/demo), its bundled script, and /config.json, which
// tells the page the doc id and the super-peers to observe through.

import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildBrowser } from './build-browser.ts'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'

const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'browser', 'demo')

export interface DemoSuperPeer { name: string, region: string, peerId: string, addrs: string[] }
/** topologyUrl: the `deltacast topology` page for the demo's super-peers, linked from the page. */
export interface DemoConfig { docId: string, superPeers: DemoSuperPeer[], topologyUrl?: string }

export interface WebServer { url: string, close (): Promise<void> }

/** Bundles the page script with esbuild (into `dir`) and returns the page's files. */
async function buildPage (dir: string): Promise<{ html: Buffer, script: Buffer }> {
  const { outfile } = await buildBrowser({ entry: join(PAGE_DIR, 'demo.ts'), outfile: join(dir, 'demo.js') })
  return { html: await readFile(join(PAGE_DIR, 'index.html')), script: await readFile(outfile) }
}

async function listen (server: Server, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => { server.off('listening', onListening); reject(err) }
    const onListening = (): void => { server.off('error', onError); resolve() }
    server.once('error', onError).once('listening', onListening).listen(port, host)
  })
}

/**
 * Builds the page into buildDir and serves it on host:port; if the port is taken, on a free one instead. `config` is read on
 * every request, so the page always gets the super-peers that are still running.
 */
export async function startWebServer (options: { host: string, port: number, buildDir: string, config: () => DemoConfig }): Promise<WebServer> {
  const { html, script } = await buildPage(options.buildDir)
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    const send = (type: string, body: string | Buffer): void => {
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') res.writeHead(405).end()
    else if (path === '/' || path === '/index.html') send('text/html; charset=utf-8', html)
    else if (path === '/demo.js') send('text/javascript; charset=utf-8', script)
    else if (path === '/config.json') send('application/json', JSON.stringify(options.config()))
    else if (path === '/favicon.ico') res.writeHead(204).end()
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
  })
  try {
    await listen(server, options.port, options.host)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || options.port === 0) throw err
    process.stdout.write(`port ${options.port} is taken; using a free port instead\n`)
    await listen(server, 0, options.host)
  }
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${options.host}:${port}/`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}
