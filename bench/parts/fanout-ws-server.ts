/**
 * bench:fanout baseline: a plain `ws` broadcast server (over TLS when given a certificate), in its
 * own process like the super-peer. Started by bench/fanout.ts; not meant to be run by hand.
 *
 * argv[2] is JSON {tls?: {key, cert}} (PEM). One publisher connects to /publish and sends
 * observe-protocol messages (varint-prefixed JSON, the bytes a super-peer sends its observers);
 * every other connection is an observer: it gets a reset with the current document on connect,
 * then each published message as is, one shared buffer for all. The server keeps the document by
 * merging each frame's data, as a super-peer's replica does. No backpressure handling: this is
 * the simplest server that does the same job.
 *
 * Prints {"ready":true,"port":p} on stdout when listening.
 */
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createRequire } from 'node:module'
import { mergeInto } from '../../src/delta/index.ts'
import { encodeMessage, parseServerMessage, resetMessage } from '../../src/observe/protocol.ts'
import { decodeVarintPrefix } from '../../src/observe/varint.ts'
import type { IncomingMessage, Server } from 'node:http'
import type { JsonObject } from '../../src/json.ts'

/** Minimal surface of the `ws` package used here (it ships no types). */
interface WsSocket {
  readonly readyState: number
  send (data: Uint8Array): void
  on (event: 'message', cb: (data: Buffer) => void): void
  on (event: 'close' | 'error', cb: () => void): void
}
interface WsServer {
  on (event: 'connection', cb: (socket: WsSocket, request: IncomingMessage) => void): void
  close (): void
}
type WsServerCtor = new (options: { server: Server, perMessageDeflate: boolean, maxPayload: number }) => WsServer
const { WebSocketServer } = createRequire(import.meta.url)('ws') as { WebSocketServer: WsServerCtor }

const OPEN = 1
const options = JSON.parse(process.argv[2] ?? '{}') as { tls?: { key: string, cert: string } }
const server: Server = options.tls === undefined ? createHttpServer() : createHttpsServer(options.tls)
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 4 * 1024 * 1024 })

const tree: JsonObject = {}
let seq = 0
let cachedReset: { seq: number, bytes: Uint8Array } | undefined
const observers = new Set<WsSocket>()

const resetBytes = (): Uint8Array => {
  if (cachedReset?.seq !== seq) cachedReset = { seq, bytes: encodeMessage(resetMessage(seq, tree)) }
  return cachedReset.bytes
}

wss.on('connection', (socket, request) => {
  if (request.url === '/publish') {
    socket.on('message', (bytes: Buffer) => {
      const prefix = decodeVarintPrefix(bytes)
      const parsed = parseServerMessage(prefix === undefined ? bytes : bytes.subarray(prefix.length))
      if (!parsed.ok || !('seq' in parsed.value) || 'reset' in parsed.value) return
      const frame = parsed.value
      if (frame.data !== undefined) mergeInto(tree, frame.data)
      seq = frame.seq
      for (const observer of observers) if (observer.readyState === OPEN) observer.send(bytes)
    })
    return
  }
  observers.add(socket)
  socket.on('close', () => { observers.delete(socket) })
  socket.on('error', () => { observers.delete(socket) })
  socket.send(resetBytes())
})

server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(JSON.stringify({ ready: true, port: typeof address === 'object' && address !== null ? address.port : 0 }) + '\n')
})
process.on('SIGTERM', () => { wss.close(); server.close(); process.exit(0) })
