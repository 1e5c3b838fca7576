import assert from 'node:assert/strict'
import type { Json, JsonObject } from '../../../src/json.ts'
import {
  DENY_ALL, POLICY_FIELD, classKeyOf, compilePolicy, filterView, mayObserve, policyOfTree, sanitizeViewState
} from '../../../src/privacy/index.ts'
import type { Policy } from '../../../src/privacy/index.ts'

function compiled (json: Json): Policy {
  const result = compilePolicy(json)
  if (!result.ok) assert.fail(result.error)
  return result.policy
}

function errorOf (json: Json): string {
  const result = compilePolicy(json)
  assert.equal(result.ok, false, 'expected the policy to be refused')
  return result.ok ? '' : result.error
}

const base = (extra: JsonObject): JsonObject => ({ version: 1, observe: { anonymous: true, identified: true }, ...extra })
const anon = { roles: [] }
const alice = { principal: 'alice', roles: [] }

describe('privacy/policy', () => {
  it('lets browsers relay a document\'s classes only when the policy says "relay": true', () => {
    assert.equal(compiled(base({})).relay, false)
    assert.equal(compiled(base({ relay: false })).relay, false)
    assert.equal(compiled(base({ relay: true })).relay, true)
    assert.equal(DENY_ALL.relay, false)
  })

  it('refuses invalid policies with errors that say where and why', () => {
    assert.equal(errorOf(5), 'invalid policy: policy must be a JSON object')
    assert.equal(errorOf({ version: 2 }), 'invalid policy: "version" must be 1')
    assert.match(errorOf(base({ feilds: {} })), /unknown key "feilds"/)
    assert.equal(errorOf(base({ relay: 'yes' })), 'invalid policy: "relay" must be true or false')
    assert.match(errorOf(base({ fields: { phase: 'public' } })), /fields\["phase"\]: "phase" must start with "\/"/)
    assert.match(errorOf(base({ fields: { '/a//b': 'public' } })), /empty segment/)
    assert.match(errorOf(base({ fields: { '/@policy': 'public' } })), /"@policy" is never visible/)
    assert.match(errorOf(base({ fields: { '/a': 'everyone' } })), /fields\["\/a"\]: a condition is "public"/)
    assert.match(errorOf(base({ fields: { '/a': { eqq: [1, 1] } } })), /unknown condition "eqq"/)
    assert.match(errorOf(base({ fields: { '/a': { eq: [1] } } })), /fields\["\/a"\]\.eq: expected \[left, right\]/)
    assert.match(errorOf(base({ fields: { '/a': { policy: 'nope' } } })), /no policy named "nope"/)
    assert.match(errorOf(base({ policies: { p: { not: { policy: 'q' } }, q: { policy: 'p' } } })), /refers to itself/)
    assert.match(errorOf(base({ fields: { '/a': { eq: [{ view: 'room' }, 'x'] } } })), /"room" is not declared in "view"/)
    assert.match(errorOf(base({ fields: { '/a': { eq: [{ viewer: 'roles' }, 'x'] } } })), /only "principal"/)
    assert.match(errorOf(base({ fields: { '/a': { eq: [{ doc: 'phase' }, 'x'] } } })), /must start with "\/"/)
    assert.match(errorOf(base({ fields: { '/a': { eq: [{ doc: '/p/*' }, 'x'] } } })), /"\*" is only allowed in rule patterns/)
    assert.match(errorOf(base({ records: { '/posts/*': 'public' } })), /records\["\/posts\/\*"\] must be a JSON object/)
    assert.match(errorOf(base({ records: { '/posts/*': { require: true, limit: 3 } } })), /expected \{"require": condition\}/)
    assert.match(errorOf(base({ view: { room: { type: 'text' } } })), /view\.room\.type must be one of/)
    assert.match(errorOf(base({ view: { room: { type: 'string', default: 5 } } })), /view\.room\.default is not a valid string/)
    assert.match(errorOf(base({ view: JSON.parse('{"__proto__": {"type": "string"}}') })), /view\.__proto__: a view field name/)
    assert.match(errorOf(base({ observe: { anonymous: 'yes' } })), /observe\.anonymous must be true or false/)
    assert.match(errorOf(base({ tokenKeys: ['nope'] })), /tokenKeys\[0\]: a public key is 52 lowercase base32 characters/)
    let deep: Json = 'public'
    for (let i = 0; i < 40; i++) deep = { not: deep }
    assert.match(errorOf(base({ fields: { '/a': deep } })), /nest deeper than 32/)
  })

  it('policyOfTree: missing or invalid policy denies everything; cached by identity and content', () => {
    assert.equal(policyOfTree({ a: 1 }), DENY_ALL)
    assert.equal(policyOfTree({ [POLICY_FIELD]: { version: 9 } }), DENY_ALL)
    assert.equal(mayObserve(DENY_ALL, anon), false)
    assert.equal(mayObserve(DENY_ALL, alice), false)
    assert.deepEqual(filterView(DENY_ALL, alice, {}, { a: 1 }), {})
    const tree: JsonObject = { [POLICY_FIELD]: base({ fields: { '/a': 'public' } }), a: 1 }
    const first = policyOfTree(tree)
    assert.notEqual(first, DENY_ALL)
    assert.equal(policyOfTree(tree), first)
    // mergeInto changes the policy object in place: the cache must notice.
    ;(tree[POLICY_FIELD] as JsonObject).fields = { '/b': 'public' }
    const second = policyOfTree(tree)
    assert.notEqual(second, first)
    assert.deepEqual(filterView(second, anon, {}, { a: 1, b: 2 }), { b: 2 })
  })

  it('observe: the static rule for anonymous and identified viewers (default: nobody)', () => {
    const nobody = compiled({ version: 1 })
    assert.equal(mayObserve(nobody, anon), false)
    assert.equal(mayObserve(nobody, alice), false)
    const members = compiled({ version: 1, observe: { identified: true }, fields: { '/': 'public' } })
    assert.equal(mayObserve(members, anon), false)
    assert.equal(mayObserve(members, alice), true)
    assert.deepEqual(filterView(members, anon, {}, { a: 1 }), {})
    assert.deepEqual(filterView(members, alice, {}, { a: 1 }), { a: 1 })
  })

  it('sanitizeViewState keeps declared fields of the right type, else the default', () => {
    const policy = compiled(base({
      view: {
        room: { type: 'string', default: 'lobby', maxLength: 8 },
        page: { type: 'integer', default: 0 },
        zoom: { type: 'number' },
        dark: { type: 'boolean', default: false }
      }
    }))
    assert.deepEqual(sanitizeViewState(policy, { room: 'red', page: 3, zoom: 1.5, dark: true, extra: 'x' }),
      { room: 'red', page: 3, zoom: 1.5, dark: true })
    assert.deepEqual(sanitizeViewState(policy, { room: 'a-very-long-room', page: 1.5, zoom: 'big', dark: 1 }),
      { room: 'lobby', page: 0, zoom: null, dark: false })
    assert.deepEqual(sanitizeViewState(policy, 'garbage'), { room: 'lobby', page: 0, zoom: null, dark: false })
    assert.deepEqual(sanitizeViewState(policy, JSON.parse('{"__proto__": {"room": "x"}}')), { room: 'lobby', page: 0, zoom: null, dark: false })
  })

  it('classKeyOf holds only the facts the policy reads', () => {
    const broadcast = compiled(base({ fields: { '/': 'public' }, view: { room: { type: 'string' } } }))
    // Nobody's identity or view state matters: one class for all.
    const keys = new Set([
      classKeyOf(broadcast, anon, {}), classKeyOf(broadcast, alice, { room: 'x' }),
      classKeyOf(broadcast, { principal: 'bob', roles: ['judge'] }, {})
    ])
    assert.equal(keys.size, 1)

    const judged = compiled(base({ fields: { '/answer': { role: 'judge' } } }))
    assert.equal(classKeyOf(judged, alice, {}), classKeyOf(judged, { principal: 'bob', roles: ['other'] }, {}))
    assert.notEqual(classKeyOf(judged, alice, {}), classKeyOf(judged, { principal: 'bob', roles: ['judge', 'other'] }, {}))

    const owned = compiled(base({ fields: { '/players/*/hand': { viewer_is: 'owner' } } }))
    assert.notEqual(classKeyOf(owned, alice, {}), classKeyOf(owned, { principal: 'bob', roles: [] }, {}))
    assert.notEqual(classKeyOf(owned, anon, {}), classKeyOf(owned, alice, {}))

    const rooms = compiled(base({
      view: { room: { type: 'string', default: 'lobby' }, unused: { type: 'string' } },
      records: { '/posts/*': { require: { eq: [{ field: 'room' }, { view: 'room' }] } } }
    }))
    assert.equal(classKeyOf(rooms, anon, {}), classKeyOf(rooms, alice, { room: 'lobby', unused: 'z' }))
    assert.notEqual(classKeyOf(rooms, anon, {}), classKeyOf(rooms, anon, { room: 'red' }))

    const gated = compiled({ version: 1, observe: { identified: true }, fields: { '/': 'public' } })
    assert.equal(classKeyOf(gated, anon, {}), 'none')
    assert.notEqual(classKeyOf(gated, alice, {}), 'none')
  })
})
