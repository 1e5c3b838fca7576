// A separate observer process (so a test can freeze it with SIGSTOP): opens one observe stream
// over WebSockets and prints {"seq":N} for every message, then {"ended":…} when the stream ends.
// argv: <observe multiaddr> <doc id>

import { createTestObserverNode, RawObserver } from './raw-observer.ts'

const [addr, docId] = process.argv.slice(2)
const node = await createTestObserverNode()
const observer = await RawObserver.open(node, addr, docId)
process.stdout.write(JSON.stringify({ opened: true }) + '\n')
let printed = 0
const timer = setInterval(() => {
  while (printed < observer.messages.length) {
    const message = observer.messages[printed++]
    process.stdout.write(JSON.stringify('seq' in message ? { seq: message.seq } : message) + '\n')
  }
  if (observer.ended !== undefined && printed === observer.messages.length) {
    process.stdout.write(JSON.stringify({ ended: observer.ended }) + '\n')
    clearInterval(timer)
    void Promise.resolve(node.stop()).then(() => process.exit(0))
  }
}, 50)
