import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

/**
 * Flag definitions shared by the deltacast commands: each flag has a type, whether it repeats,
 * a default and a help line, so --help, parsing and config files cannot disagree.
 */
export interface FlagSpec {
  type: 'string' | 'boolean' | 'number'
  multiple?: boolean
  default?: string | boolean | number | string[]
  help: string
  /** Shown as the value name in --help. */
  value?: string
}

export type FlagSpecs = Record<string, FlagSpec>

/** Thrown for a bad command line or config file; the CLI prints it with a pointer to --help. */
export class UsageError extends Error {
  static override name = 'UsageError'
  override name = 'UsageError'
}

export function helpText (usage: string, summary: string, specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const flag = `--${name}${spec.type === 'boolean' ? '' : ` <${spec.value ?? spec.type}>`}`
    const extra = [
      spec.multiple === true ? 'repeatable' : undefined,
      spec.default !== undefined && !(Array.isArray(spec.default) && spec.default.length === 0) ? `default: ${Array.isArray(spec.default) ? spec.default.join(' ') : String(spec.default)}` : undefined
    ].filter(Boolean).join('; ')
    return `  ${flag.padEnd(34)} ${spec.help}${extra === '' ? '' : ` (${extra})`}`
  })
  return `${usage}\n\n${summary}\n\nOptions:\n${rows.join('\n')}\n  ${'--help'.padEnd(34)} Show this help\n`
}

/**
 * Parse argv against the specs. A --config JSON file (keys are flag names, camelCase or
 * kebab-case) supplies values that flags override.
 */
export function parseFlags (argv: string[], specs: FlagSpecs): Record<string, unknown> & { help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean', multiple?: boolean }> = { help: { type: 'boolean' } }
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string', multiple: spec.multiple === true }
  }
  let parsed
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const values = parsed.values as Record<string, unknown>
  if (values.help === true) return { help: true }

  const fromFile = typeof values.config === 'string' ? readConfigFile(values.config, specs) : {}
  const out: Record<string, unknown> = { help: false }
  for (const [name, spec] of Object.entries(specs)) {
    if (name === 'config') continue
    const raw = values[name] ?? fromFile[name] ?? spec.default
    out[camel(name)] = spec.type === 'number' && raw !== undefined ? toNumber(name, raw) : raw
  }
  return out as Record<string, unknown> & { help: boolean }
}

function readConfigFile (path: string, specs: FlagSpecs): Record<string, unknown> {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new UsageError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`config file ${path} must hold a JSON object`)
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(json)) {
    const name = kebab(key)
    const spec = specs[name]
    if (spec === undefined || name === 'config') throw new UsageError(`config file ${path}: unknown setting "${key}"`)
    const problem = typeProblem(spec, value)
    if (problem !== undefined) throw new UsageError(`config file ${path}: "${key}" must be ${problem}`)
    out[name] = value
  }
  return out
}

/** What is wrong with a config-file value for this flag, if anything. */
function typeProblem (spec: FlagSpec, value: unknown): string | undefined {
  const ok = (item: unknown): boolean => spec.type === 'boolean'
    ? typeof item === 'boolean'
    : spec.type === 'number' ? typeof item === 'number' || typeof item === 'string' : typeof item === 'string'
  if (spec.multiple === true) return Array.isArray(value) && value.every(ok) ? undefined : `a list of ${spec.type}s`
  return ok(value) ? undefined : `a ${spec.type}`
}

function toNumber (name: string, raw: unknown): number {
  if (typeof raw === 'string' && raw.trim() === '') throw new UsageError(`--${name} must be a number, got an empty value`)
  const value = Number(raw)
  if (!Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got "${String(raw)}"`)
  return value
}

function camel (name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}

function kebab (name: string): string {
  return name.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)
}
