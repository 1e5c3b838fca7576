import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A small read-only HTTP endpoint for operators and tests: JSON status, health, Prometheus
 * metrics, peers, document state. Bind it to loopback unless it sits behind something that authenticates.
 */
export type AdminAnswer =
  | { status?: number, type?: string, body: string }
  /** A server-sent event stream: subscribe gets a send function and returns its unsubscribe. */
  | { events: (send: (data: unknown) => void) => () => void }

export type AdminRoute = (path: string) => AdminAnswer | undefined | Promise<AdminAnswer | undefined>

export interface AdminServer {
  readonly url: string
  close (): Promise<void>
}

/** Parse "host:port" (port 0 picks a free one). */
export function parseHostPort (value: string): { host: string, port: number } {
  const at = value.lastIndexOf(':')
  const host = at > 0 ? value.slice(0, at).replace(/^\[|\]$/g, '') : '127.0.0.1'
  const port = Number(at >= 0 ? value.slice(at + 1) : value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad admin address "${value}": expected host:port`)
  return { host, port }
}

/** Thrown when the --admin address cannot be bound (in use, not local, not permitted). */
export class AdminListenError extends Error {
  static override name = 'AdminListenError'
  override name = 'AdminListenError'
  constructor (address: string, cause: unknown, flag = '--admin') {
    const code = (cause as { code?: unknown }).code
    const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EADDRNOTAVAIL' ? 'no such local address' : code === 'EACCES' ? 'permission denied' : (cause as Error).message
    super(`${flag} ${address}: cannot listen: ${why}`, { cause })
  }
}

/** `flag` names the address in a listen error (the flag the operator gave it with). */
export async function startAdminServer (address: string, route: AdminRoute, flag = '--admin'): Promise<AdminServer> {
  const { host, port } = parseHostPort(address)
  const server: Server = createServer(async (req, res) => {
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end('method not allowed\n')
      return
    }
    const path = new URL(req.url ?? '/', 'http://admin').pathname
    let answer: AdminAnswer | undefined
    try {
      answer = await route(path)
    } catch (err) {
      answer = { status: 500, body: JSON.stringify({ error: (err as Error).message }) }
    }
    if (answer === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no such path ${path}` }))
      return
    }
    if ('events' in answer) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
      res.flushHeaders()
      const unsubscribe = answer.events(data => { res.write(`data: ${JSON.stringify(data)}\n\n`) })
      res.once('close', unsubscribe)
      return
    }
    res.writeHead(answer.status ?? 200, { 'content-type': answer.type ?? 'application/json' }).end(answer.body)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', err => { reject(new AdminListenError(address, err, flag)) })
    server.listen(port, host, () => { resolve() })
  })
  const bound = server.address() as AddressInfo
  const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address
  return {
    url: `http://${shownHost}:${bound.port}`,
    close: async () => { await new Promise<void>(resolve => server.close(() => { resolve() })); server.closeAllConnections() }
  }
}
