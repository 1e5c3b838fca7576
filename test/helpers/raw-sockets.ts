// Raw sockets for hostile-client tests: bytes an attacker would send, below libp2p.

import { createConnection } from 'node:net'
import { createSocket as createUdpSocket } from 'node:dgram'
import type { Socket } from 'node:net'


export type RawSocket = Socket & { whenClosed: Promise<void>, received: () => Buffer, clear: () => void }

/** A TCP socket to 127.0.0.1:port; resolves once connected. Its `whenClosed` promise settles on close. */
export async function rawConnect (port: number): Promise<RawSocket> {
  const socket = createConnection({ host: '127.0.0.1', port })
  const chunks: Buffer[] = []
  socket.on('data', chunk => { chunks.push(chunk) })
  socket.on('error', () => {}) // resets are what we expect from a server refusing us
  const closed = new Promise<void>(resolve => socket.once('close', () => { resolve() }))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return Object.assign(socket, { whenClosed: closed, received: () => Buffer.concat(chunks), clear: () => { chunks.length = 0 } })
}

/** Reads until `predicate` holds over everything received, or the socket closes. */
export async function receivedUntil (socket: RawSocket, predicate: (all: Buffer) => boolean): Promise<Buffer> {
  while (!predicate(socket.received())) {
    const more = await Promise.race([
      new Promise<boolean>(resolve => socket.once('data', () => { resolve(true) })),
      socket.whenClosed.then(() => false)
    ])
    if (!more) break
  }
  return socket.received()
}

/** Whether the server's (unmasked) WebSocket frames in `bytes` include a close frame. */
function hasCloseFrame (bytes: Buffer): boolean {
  let at = 0
  while (at + 2 <= bytes.byteLength) {
    if ((bytes[at] & 0x0f) === 0x8) return true
    let length = bytes[at + 1] & 0x7f
    let head = 2
    if (length === 126) { length = bytes.readUInt16BE(at + 2); head = 4 }
    if (length === 127) { length = Number(bytes.readBigUInt64BE(at + 2)); head = 10 }
    at += head + length
  }
  return false
}

/**
 * A socket whose WebSocket upgrade completed (the server answered 101). It answers the server's
 * close frame, as any WebSocket client does, so a refusal ends the socket at once instead of after
 * ws's 30 s close timeout.
 */
export async function upgradedWebSocket (port: number): Promise<RawSocket> {
  const socket = await rawConnect(port)
  socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  const head = await receivedUntil(socket, all => all.includes('\r\n\r\n'))
  if (!head.toString('latin1').startsWith('HTTP/1.1 101')) throw new Error(`no upgrade: ${head.toString('latin1').slice(0, 80)}`)
  socket.clear()
  let answered = false
  socket.on('data', () => {
    if (answered || !hasCloseFrame(socket.received())) return
    answered = true
    socket.end(Buffer.from([0x88, 0x80, 0, 0, 0, 0]))
  })
  return socket
}

/** One masked binary WebSocket frame (mask key 0, so the payload goes as is) from client to server. */
export function wsFrame (payload: Uint8Array): Buffer {
  const length = payload.byteLength
  const head = length < 126
    ? Buffer.from([0x82, 0x80 | length])
    : Buffer.from([0x82, 0x80 | 126, length >> 8, length & 0xff])
  return Buffer.concat([head, Buffer.alloc(4), payload])
}

/** A multistream-select message: uvarint length, the text, a newline. */
export function multistream (...protocols: string[]): Buffer {
  return Buffer.concat(protocols.map(protocol => {
    const line = Buffer.from(`${protocol}\n`)
    return Buffer.concat([Buffer.from([line.byteLength]), line])
  }))
}

/** A Noise handshake message as libp2p frames it: 2-byte big-endian length, then the bytes. */
export function noiseMessage (bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([bytes.byteLength >> 8, bytes.byteLength & 0xff]), bytes])
}

/** Sends UDP datagrams to 127.0.0.1:port. */
export async function sendUdp (port: number, datagrams: Uint8Array[]): Promise<void> {
  const socket = createUdpSocket('udp4')
  for (const datagram of datagrams) {
    await new Promise<void>((resolve, reject) => socket.send(datagram, port, '127.0.0.1', err => { err == null ? resolve() : reject(err) }))
  }
  socket.close()
}

/** The TCP or UDP port of a multiaddr string. */
export function portOf (addr: string): number {
  const match = /\/(?:tcp|udp)\/(\d+)/.exec(addr)
  if (match === null) throw new Error(`no port in ${addr}`)
  return Number(match[1])
}
