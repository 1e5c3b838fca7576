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

/** What parseFlags returns: the values (camelCase keys), and a label naming where each came from. */
export type ParsedFlags = Record<string, unknown> & {
  help: boolean
  /** "--listen", or '"listen" in config.json' when the value came from the config file. */
  label: (name: string) => string
  /** With deferProblems: what is wrong so far, for the caller to report with its own checks. */
  problems: string[]
}

/**
 * Parse argv against the specs. A --config JSON file (keys are flag names, camelCase or
 * kebab-case) supplies values that flags override. Every problem with the file is reported at
 * once, named by the file's own keys.
 */
export function parseFlags (argv: string[], specs: FlagSpecs, parseOptions: { deferProblems?: boolean } = {}): ParsedFlags {
  const options: Record<string, { type: 'string' | 'boolean', multiple?: boolean }> = { help: { type: 'boolean' } }
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string', multiple: spec.multiple === true }
  }
  let parsed
  try {
    parsed = parseArgs({ args: joinNegativeNumbers(argv, specs), options, allowPositionals: false, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const values = parsed.values as Record<string, unknown>
  const noLabel = (name: string): string => `--${name}`
  if (values.help === true) return withMeta({ help: true }, noLabel, [])

  const configPath = typeof values.config === 'string' ? values.config : undefined
  const fromFile = configPath === undefined ? { values: {}, keys: {}, problems: [] } : readConfigFile(configPath, specs)
  const label = (name: string): string => {
    const key = values[name] === undefined ? (fromFile.keys as Record<string, string>)[name] : undefined
    return key === undefined ? `--${name}` : `"${key}" in ${configPath ?? ''}`
  }
  const problems: string[] = [...fromFile.problems]
  const out: Record<string, unknown> = withMeta({ help: false }, label, problems)
  for (const [name, spec] of Object.entries(specs)) {
    if (name === 'config') continue
    const raw = values[name] ?? (fromFile.values as Record<string, unknown>)[name] ?? spec.default
    if (spec.type !== 'number' || raw === undefined) {
      out[camel(name)] = raw
      continue
    }
    const number = toNumber(raw)
    if (typeof number === 'string') problems.push(`${label(name)} must be a number, got ${number}`)
    out[camel(name)] = typeof number === 'string' ? Number.NaN : number
  }
  if (problems.length > 0 && parseOptions.deferProblems !== true) throw new UsageError(problems.join('\n'))
  return out as ParsedFlags
}

/** Attaches label and problems without making them settings (not enumerable, not spread). */
function withMeta (values: Record<string, unknown>, label: (name: string) => string, problems: string[]): ParsedFlags {
  return Object.defineProperties(values, { label: { value: label }, problems: { value: problems } }) as ParsedFlags
}

/**
 * parseArgs refuses "--max-observers -5" as ambiguous (the value looks like a flag); joining a
 * negative number to its flag ("--max-observers=-5") lets the range check say what is wrong.
 */
function joinNegativeNumbers (argv: string[], specs: FlagSpecs): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const spec = argv[i].startsWith('--') ? specs[argv[i].slice(2)] : undefined
    const next = argv[i + 1]
    if (spec !== undefined && spec.type !== 'boolean' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${argv[i]}=${next}`)
      i++
    } else {
      out.push(argv[i])
    }
  }
  return out
}

/** The file's values by flag name, the key each was given under (for messages), and its problems. */
function readConfigFile (path: string, specs: FlagSpecs): { values: Record<string, unknown>, keys: Record<string, string>, problems: string[] } {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new UsageError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`config file ${path} must hold a JSON object`)
  const values: Record<string, unknown> = {}
  const keys: Record<string, string> = {}
  const problems: string[] = []
  for (const [key, value] of Object.entries(json)) {
    const name = kebab(key)
    const spec = specs[name]
    if (spec === undefined || name === 'config') {
      problems.push(`config file ${path}: unknown setting "${key}"`)
      continue
    }
    const problem = typeProblem(spec, value)
    if (problem !== undefined) {
      problems.push(`config file ${path}: "${key}" must be ${problem}`)
      continue
    }
    values[name] = value
    keys[name] = key
  }
  return { values, keys, problems }
}

/** What is wrong with a config-file value for this flag, if anything. */
function typeProblem (spec: FlagSpec, value: unknown): string | undefined {
  const ok = (item: unknown): boolean => spec.type === 'boolean'
    ? typeof item === 'boolean'
    : spec.type === 'number' ? typeof item === 'number' || typeof item === 'string' : typeof item === 'string'
  if (spec.multiple === true) return Array.isArray(value) && value.every(ok) ? undefined : `a list of ${spec.type}s`
  return ok(value) ? undefined : `a ${spec.type}`
}

/** The number, or a description of the value that is not one. */
function toNumber (raw: unknown): number | string {
  if (typeof raw === 'string' && raw.trim() === '') return 'an empty value'
  const value = Number(raw)
  return Number.isFinite(value) ? value : `"${String(raw)}"`
}

/** Problems with integer settings that must be at least `min`, named by label. */
export function integerProblems (flags: ParsedFlags, names: string[], min: number): string[] {
  return names.flatMap(name => {
    const value = flags[camel(name)]
    // NaN was already reported as not a number.
    if ((Number.isInteger(value) && (value as number) >= min) || Number.isNaN(value)) return []
    return [`${flags.label(name)} must be ${min === 1 ? 'a positive integer' : `an integer >= ${min}`}, got ${String(value)}`]
  })
}

function camel (name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}

function kebab (name: string): string {
  return name.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)
}
