// Preloaded (node --import) into each super-peer the demo spawns. The demo holds the other end of
// its stdin: if the demo dies without stopping it (kill -9, a crash), stdin ends, and the
// super-peer stops itself cleanly instead of running on as an orphan.

process.stdin.on('end', () => { process.kill(process.pid, 'SIGTERM') })
process.stdin.on('error', () => { process.kill(process.pid, 'SIGTERM') })
process.stdin.resume()
// watching stdin must not keep the process alive by itself
;(process.stdin as { unref?: () => void }).unref?.()
