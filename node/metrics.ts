/**
 * Monotonic counters, exposed as Prometheus text on the admin endpoint. Every rejected input is
 * counted here as well as logged, so an operator can alert on rates instead of reading logs.
 */
export class Counters {
  private readonly values = new Map<string, number>()

  inc (name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by)
  }

  get (name: string): number {
    return this.values.get(name) ?? 0
  }

  toJSON (): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)))
  }

  /** Prometheus text exposition format, names prefixed with deltacast_. */
  toPrometheus (gauges: Record<string, number> = {}): string {
    const lines: string[] = []
    for (const [name, value] of Object.entries(this.toJSON())) {
      lines.push(`# TYPE deltacast_${name} counter`, `deltacast_${name} ${value}`)
    }
    for (const [name, value] of Object.entries(gauges)) {
      lines.push(`# TYPE deltacast_${name} gauge`, `deltacast_${name} ${value}`)
    }
    return lines.join('\n') + '\n'
  }
}
