// libp2p's loggers for a node with thousands of connections: made only when they would print.

import { enabled as namespaceEnabled, logger as libp2pLogger } from '@libp2p/logger'
import type { ComponentLogger, Logger } from '@libp2p/interface'

/**
 * A ComponentLogger that prints exactly what @libp2p/logger's defaultLogger() prints, but whose
 * loggers cost a function and two properties until their namespace is enabled. libp2p makes a
 * logger per connection, per muxer and per stream (`newScope`), and @libp2p/logger builds each
 * one in full (a `weald` debugger with its own accessors, options and colour, a second one for
 * `:error`, a no-op `:trace` of five functions): about 2.7 KiB each, three live per WebSockets
 * browser on the edge (docs/benchmarks.md, "Cost per observer"), whether logging is on or not.
 *
 * A lazy logger makes the @libp2p/logger one (the same name, so the same output, colour and
 * timing) the first time it, its `:error` logger or its `enabled` setter is used while its
 * namespace is enabled (DEBUG, or `enable()` of @libp2p/logger later on); until then a call
 * only asks weald whether the namespace is enabled. Trace is decided once, when the logger is
 * made, as @libp2p/logger does: a namespace whose `:trace` may be enabled then gets the
 * @libp2p/logger logger straight away.
 */
export function lazyComponentLogger (): ComponentLogger {
  return { forComponent: (name: string) => lazyLogger(name) }
}

const NAME = Symbol('name')
const REAL = Symbol('real')
const ERROR = Symbol('error')

interface LazyLogger extends Logger {
  [NAME]: string
  [REAL]: Logger | undefined
  [ERROR]: Logger | undefined
}

/** The trace logger of every lazy logger: @libp2p/logger's disabled one never turns on either. */
const DISABLED_TRACE = Object.freeze(Object.assign((_formatter: any, ..._args: any[]): void => {}, { enabled: false }))

/** What every lazy logger shares (a per-logger copy is what made @libp2p/logger's heavy). */
const LAZY_LOGGER_PROTOTYPE: object = Object.create(Function.prototype, {
  enabled: {
    get (this: LazyLogger): boolean { return this[REAL]?.enabled ?? namespaceEnabled(this[NAME]) },
    set (this: LazyLogger, value: boolean) { realOf(this).enabled = value }
  },
  error: {
    get (this: LazyLogger): Logger { return (this[ERROR] ??= errorLoggerOf(this)) }
  },
  trace: { value: DISABLED_TRACE },
  newScope: {
    value (this: LazyLogger, scope: string): Logger { return lazyLogger(`${this[NAME]}:${scope}`) }
  }
})

export function lazyLogger (name: string): Logger {
  // trace may be on: @libp2p/logger works out the rest (it also looks at DEBUG's patterns)
  if (namespaceEnabled(`${name}:trace`)) return libp2pLogger(name)
  const log = function (formatter: any, ...args: any[]): void {
    const real = log[REAL]
    if (real !== undefined) real(formatter, ...args)
    else if (namespaceEnabled(log[NAME])) realOf(log)(formatter, ...args)
  } as LazyLogger
  Object.setPrototypeOf(log, LAZY_LOGGER_PROTOTYPE)
  log[NAME] = name
  log[REAL] = undefined
  return log
}

function realOf (log: LazyLogger): Logger {
  return (log[REAL] ??= libp2pLogger(log[NAME]))
}

/** `log.error`: made on first use (errors are rare), printing through the real logger's `error`. */
function errorLoggerOf (log: LazyLogger): Logger {
  const namespace = `${log[NAME]}:error`
  const error = ((formatter: any, ...args: any[]): void => {
    const real = log[REAL]
    if (real !== undefined) real.error(formatter, ...args)
    else if (namespaceEnabled(namespace)) realOf(log).error(formatter, ...args)
  }) as Logger
  Object.defineProperty(error, 'enabled', { get: () => log[REAL] !== undefined ? (log[REAL].error as Logger).enabled : namespaceEnabled(namespace) })
  return Object.assign(error, { trace: DISABLED_TRACE, newScope: (scope: string) => lazyLogger(`${namespace}:${scope}`) })
}
