import type { Running } from './processes.ts'

/** Sends changes to an authority process over stdin and matches its ack lines by id. */
export class AuthorityDriver {
  readonly acked = new Map<number, number>()
  readonly errors = new Map<number | null, string>()
  private nextId = 1
  private readonly waiters = new Set<() => void>()

  readonly proc: Running

  constructor (proc: Running) {
    this.proc = proc
    void this.read()
  }

  /** Queue a change; returns its id. */
  send (change: unknown): number {
    const id = this.nextId++
    this.proc.child.stdin.write(JSON.stringify({ id, change }) + '\n')
    return id
  }

  sendRaw (line: string): void {
    this.proc.child.stdin.write(line + '\n')
  }

  /** Resolves once `predicate` holds over the acks and errors seen so far. */
  async until (what: string, predicate: () => boolean, timeoutMs = 60_000): Promise<void> {
    if (predicate()) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check)
        reject(new Error(`timed out waiting for ${what} (acked ${this.acked.size}, errors ${this.errors.size})`))
      }, timeoutMs)
      const check = (): void => {
        if (!predicate()) return
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve()
      }
      this.waiters.add(check)
      this.proc.exited.then(() => { check() }, () => {})
    })
  }

  private async read (): Promise<void> {
    while (true) {
      const next = await this.proc.lines.next()
      if (next.done === true) break
      const line = next.value
      if (typeof line.ack === 'number') this.acked.set(line.ack, line.seq)
      else if ('error' in line) this.errors.set(line.id, line.error)
      for (const waiter of [...this.waiters]) waiter()
    }
    for (const waiter of [...this.waiters]) waiter()
  }
}
