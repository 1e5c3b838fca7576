/**
 * Message schemas of input channels: a small, closed subset of JSON Schema, because every
 * message is checked on the super-peer's hot path and its cost must be bounded by the schema.
 *
 *   {"type": "null"} | {"type": "boolean"}
 *   {"type": "integer" | "number", "minimum"?: n, "maximum"?: n}
 *   {"type": "string", "maxLength"?: n (default 256), "enum"?: [strings]}
 *   {"type": "object", "properties": {name: schema}, "required"?: [names]}   (other keys refused)
 *
 * checkMessage returns null or a SchemaRefusal naming the rule and the path that failed.
 */
import type { Json, JsonObject } from '../json.ts'
import { isJsonObject } from '../json.ts'
import { PROTO_KEY } from '../delta/keys.ts'
import { ChannelProblem } from './problem.ts'

export type Schema =
  | { readonly type: 'null' }
  | { readonly type: 'boolean' }
  | { readonly type: 'integer' | 'number', readonly minimum: number, readonly maximum: number }
  | { readonly type: 'string', readonly maxLength: number, readonly enum: readonly string[] | null }
  | { readonly type: 'object', readonly properties: ReadonlyMap<string, Schema>, readonly required: readonly string[] }

export const DEFAULT_MAX_LENGTH = 256
export const MAX_MAX_LENGTH = 4096
export const MAX_ENUM = 1024
export const MAX_PROPERTIES = 32
/** Objects nest at most this deep, so checking a message is cheap and cannot exhaust the stack. */
export const MAX_SCHEMA_DEPTH = 4

/** Which rule a message broke. */
export type SchemaRule = 'type' | 'minimum' | 'maximum' | 'maxLength' | 'enum' | 'required' | 'unknown-property'

export interface SchemaRefusal {
  readonly rule: SchemaRule
  /** "message" or "message.a.b". */
  readonly path: string
  readonly message: string
}

const TYPES = ['null', 'boolean', 'integer', 'number', 'string', 'object']

function keysOnly (json: JsonObject, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(json)) {
    if (!allowed.includes(key)) throw new ChannelProblem(`${where}: unknown key "${key}" (expected ${allowed.join(', ')})`)
  }
}

function bound (value: Json | undefined, fallback: number, where: string, integer: boolean): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isSafeInteger(value))) {
    throw new ChannelProblem(`${where} must be a finite ${integer ? 'safe integer' : 'number'}`)
  }
  return value
}

export function compileSchema (json: Json | undefined, where: string, depth = 1): Schema {
  if (!isJsonObject(json)) throw new ChannelProblem(`${where} must be a schema object like {"type": "string"}`)
  if (typeof json.type !== 'string' || !TYPES.includes(json.type)) throw new ChannelProblem(`${where}.type must be one of ${TYPES.join(', ')}`)
  switch (json.type) {
    case 'null':
    case 'boolean':
      keysOnly(json, ['type'], where)
      return { type: json.type }
    case 'integer':
    case 'number': {
      keysOnly(json, ['type', 'minimum', 'maximum'], where)
      const integer = json.type === 'integer'
      const minimum = bound(json.minimum, integer ? Number.MIN_SAFE_INTEGER : -Number.MAX_VALUE, `${where}.minimum`, integer)
      const maximum = bound(json.maximum, integer ? Number.MAX_SAFE_INTEGER : Number.MAX_VALUE, `${where}.maximum`, integer)
      if (minimum > maximum) throw new ChannelProblem(`${where}: minimum ${minimum} is above maximum ${maximum}`)
      return { type: json.type, minimum, maximum }
    }
    case 'string': {
      keysOnly(json, ['type', 'maxLength', 'enum'], where)
      const maxLength = bound(json.maxLength, DEFAULT_MAX_LENGTH, `${where}.maxLength`, true)
      if (maxLength < 0 || maxLength > MAX_MAX_LENGTH) throw new ChannelProblem(`${where}.maxLength must be 0..${MAX_MAX_LENGTH}`)
      let values: string[] | null = null
      if (json.enum !== undefined) {
        const list = json.enum
        if (!Array.isArray(list) || list.length === 0 || list.length > MAX_ENUM || !list.every(v => typeof v === 'string' && v.length <= maxLength)) {
          throw new ChannelProblem(`${where}.enum must be 1..${MAX_ENUM} strings, each at most maxLength long`)
        }
        if (new Set(list).size !== list.length) throw new ChannelProblem(`${where}.enum has duplicates`)
        values = list as string[]
      }
      return { type: 'string', maxLength, enum: values }
    }
    default: {
      keysOnly(json, ['type', 'properties', 'required'], where)
      if (depth >= MAX_SCHEMA_DEPTH) throw new ChannelProblem(`${where}: objects nest deeper than ${MAX_SCHEMA_DEPTH} levels`)
      if (!isJsonObject(json.properties)) throw new ChannelProblem(`${where}.properties must be an object of schemas`)
      const names = Object.keys(json.properties)
      if (names.length > MAX_PROPERTIES) throw new ChannelProblem(`${where}.properties: more than ${MAX_PROPERTIES}`)
      const properties = new Map<string, Schema>()
      for (const name of names) {
        if (name === PROTO_KEY) throw new ChannelProblem(`${where}.properties: "${PROTO_KEY}" is not a property name`)
        properties.set(name, compileSchema(json.properties[name], `${where}.properties.${name}`, depth + 1))
      }
      const required = json.required ?? []
      if (!Array.isArray(required) || !required.every(r => typeof r === 'string' && properties.has(r))) {
        throw new ChannelProblem(`${where}.required must list declared properties`)
      }
      return { type: 'object', properties, required: required as string[] }
    }
  }
}

function typeName (value: Json): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

function refuse (rule: SchemaRule, path: string, message: string): SchemaRefusal {
  return { rule, path, message: `${path}: ${message}` }
}

/** Null when `value` fits `schema`; else the first rule it breaks. */
export function checkMessage (schema: Schema, value: Json, path = 'message'): SchemaRefusal | null {
  switch (schema.type) {
    case 'null':
      return value === null ? null : refuse('type', path, `expected null, got ${typeName(value)}`)
    case 'boolean':
      return typeof value === 'boolean' ? null : refuse('type', path, `expected a boolean, got ${typeName(value)}`)
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return refuse('type', path, `expected a number, got ${typeName(value)}`)
      if (schema.type === 'integer' && !Number.isSafeInteger(value)) return refuse('type', path, `expected an integer, got ${value}`)
      if (value < schema.minimum) return refuse('minimum', path, `${value} is below the minimum ${schema.minimum}`)
      if (value > schema.maximum) return refuse('maximum', path, `${value} is above the maximum ${schema.maximum}`)
      return null
    }
    case 'string': {
      if (typeof value !== 'string') return refuse('type', path, `expected a string, got ${typeName(value)}`)
      if (value.length > schema.maxLength) return refuse('maxLength', path, `${value.length} characters, more than ${schema.maxLength}`)
      if (schema.enum !== null && !schema.enum.includes(value)) return refuse('enum', path, `${JSON.stringify(value)} is not one of the declared values`)
      return null
    }
    case 'object': {
      if (!isJsonObject(value)) return refuse('type', path, `expected an object, got ${typeName(value)}`)
      for (const key of Object.keys(value)) {
        if (!schema.properties.has(key)) return refuse('unknown-property', `${path}.${key}`, 'not a declared property')
      }
      for (const name of schema.required) {
        if (!Object.hasOwn(value, name)) return refuse('required', `${path}.${name}`, 'is required')
      }
      for (const [name, inner] of schema.properties) {
        if (!Object.hasOwn(value, name)) continue
        const problem = checkMessage(inner, value[name], `${path}.${name}`)
        if (problem !== null) return problem
      }
      return null
    }
  }
}
