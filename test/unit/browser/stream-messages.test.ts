// browser/stream-messages.ts over a real libp2p stream pair (in memory): one listener for the
// stream's life, messages handed on in order, and the ends lpStream's read() had.
import assert from 'node:assert/strict'
import { lpStream, streamPair } from '@libp2p/utils'
import { StreamMessages, writeMessage } from '../../../browser/stream-messages.ts'
import { encodeVarint } from '../../../src/observe/varint.ts'
import type { Stream } from '@libp2p/interface'

const text = new TextEncoder()
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const LIMITS = { maxMessageBytes: 1024, maxBufferBytes: 4096 }

describe('browser/stream-messages: the messages of one stream', () => {
  let pairs: Stream[] = []
  const pair = async (): Promise<[Stream, Stream]> => {
    const [a, b] = await streamPair()
    pairs.push(a, b)
    return [a, b]
  }
  afterEach(() => {
    for (const stream of pairs) stream.abort(new Error('test over'))
    pairs = []
  })

  it('reads what lpStream writes, in order, however the writes are cut, and writes what lpStream reads', async () => {
    const [local, remote] = await pair()
    const messages = new StreamMessages(local, { ...LIMITS, signal: new AbortController().signal })
    const sent = ['{"seq":1}', 'x'.repeat(300), '{"seq":2}', '{"seq":3}']
    const framed = sent.flatMap(m => [encodeVarint(text.encode(m).byteLength), text.encode(m)])
    const all = Buffer.concat(framed)
    // several messages in one write, then a prefix and a body cut across writes
    remote.send(all.subarray(0, 11))
    remote.send(all.subarray(11, 12))
    remote.send(all.subarray(12, 200))
    remote.send(all.subarray(200))
    const got: string[] = []
    for (let i = 0; i < sent.length; i++) got.push(decode(await messages.next()))
    assert.deepEqual(got, sent)
    const lp = lpStream(remote)
    await writeMessage(local, text.encode('{"view":{}}'))
    assert.equal(decode((await lp.read()).subarray()), '{"view":{}}')
    messages.close()
  })

  it('hands on the messages that arrived before the remote closed, then says the stream ended', async () => {
    const [local, remote] = await pair()
    const messages = new StreamMessages(local, { ...LIMITS, signal: new AbortController().signal })
    const lp = lpStream(remote)
    await lp.write(text.encode('{"error":"no","code":"unknown-doc"}'))
    await remote.close()
    assert.equal(decode(await messages.next()), '{"error":"no","code":"unknown-doc"}')
    await assert.rejects(messages.next(), { name: 'UnexpectedEOFError', message: 'Unexpected EOF - stream closed after reading 0/1 bytes' })
  })

  it('ends with the error the stream was aborted with (how the silence watchdog ends a session)', async () => {
    const [local] = await pair()
    const messages = new StreamMessages(local, { ...LIMITS, signal: new AbortController().signal })
    const waiting = messages.next()
    local.abort(new Error('no message from the super-peer for 1500 ms'))
    await assert.rejects(waiting, { message: 'no message from the super-peer for 1500 ms' })
  })

  it('ends a wait at once when the signal aborts, and every later read', async () => {
    const [local] = await pair()
    const stop = new AbortController()
    const messages = new StreamMessages(local, { ...LIMITS, signal: stop.signal })
    const waiting = messages.next()
    stop.abort()
    await assert.rejects(waiting, { name: 'AbortError' })
    await assert.rejects(messages.next(), { name: 'AbortError' })
  })

  it('ends on a length above maxMessageBytes with lpStream\'s error, before the body arrives', async () => {
    const [local, remote] = await pair()
    const messages = new StreamMessages(local, { ...LIMITS, signal: new AbortController().signal })
    remote.send(encodeVarint(1025))
    await assert.rejects(messages.next(), { name: 'InvalidMessageLengthError', message: 'Message length too long - 1025 > 1024' })
  })

  it('aborts the stream when more than maxBufferBytes arrive unread', async () => {
    const [local, remote] = await pair()
    const messages = new StreamMessages(local, { maxMessageBytes: 1024, maxBufferBytes: 2000, signal: new AbortController().signal })
    const body = text.encode('m'.repeat(1000))
    const closed = new Promise<Error | undefined>(resolve => { local.addEventListener('close', evt => { resolve(evt.error) }, { once: true }) })
    // three messages in one write, none read: 3,000 bytes held
    remote.send(Buffer.concat([encodeVarint(1000), body, encodeVarint(1000), body, encodeVarint(1000), body]))
    assert.equal((await closed)?.message, 'Read buffer overflow - 3000 > 2000')
    await assert.rejects(messages.next(), { name: 'StreamBufferOverflowError', message: 'Read buffer overflow - 3000 > 2000' })
  })

  it('stops listening on close(): later data is not read, and a wait ends', async () => {
    const [local, remote] = await pair()
    const messages = new StreamMessages(local, { ...LIMITS, signal: new AbortController().signal })
    const waiting = messages.next()
    messages.close()
    await assert.rejects(waiting, { name: 'StreamMessagesClosedError' })
    assert.equal(local.listenerCount('message'), 0)
    assert.equal(local.listenerCount('remoteCloseWrite'), 0)
    remote.send(Buffer.concat([encodeVarint(2), text.encode('{}')]))
  })
})
