import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { checkDelta, mergeInto } from '../../../src/delta/index.ts'
import { POLICY_FIELD, checkPolicyChange, compilePolicy, policyProblemOfTree, policyReplacement } from '../../../src/privacy/index.ts'
import type { Json, JsonObject } from '../../../src/json.ts'

/** Rooms: a post is visible only to viewers in its room. */
const ROOMS: JsonObject = {
  version: 1,
  observe: { anonymous: true, identified: true },
  view: { room: { type: 'string', default: 'lobby', maxLength: 32 } },
  fields: { '/posts': 'public', '/posts/*/room': 'private' },
  records: { '/posts/*': { require: { eq: [{ field: 'room' }, { view: 'room' }] } } }
}

/** Rooms, moderated: a post needs its room and approval; view state and the public room field go. */
const MODERATED: JsonObject = {
  version: 1,
  observe: { anonymous: false, identified: true },
  fields: { '/posts': 'public', '/banner': 'public' },
  records: { '/posts/*': { require: { all: [{ eq: [{ field: 'approved' }, true] }, 'identified'] } } },
  tokenKeys: []
}

function replaced (tree: JsonObject, next: Json): JsonObject {
  const result = policyReplacement(tree, next)
  if (!result.ok) assert.fail(result.error)
  assert.ok(result.delta !== null, 'expected a change')
  assert.deepEqual(checkDelta(tree, result.delta), { ok: true })
  const after = structuredClone(tree)
  mergeInto(after, result.delta)
  return after
}

function refusal (tree: JsonObject, next: Json): string {
  const result = policyReplacement(tree, next)
  assert.equal(result.ok, false, 'expected the replacement to be refused')
  return result.ok ? '' : result.error
}

describe('privacy/policy-change', () => {
  describe('policyReplacement', () => {
    it('turns one policy into another exactly, in one delta that deletes the keys the new one lacks', () => {
      const tree: JsonObject = { [POLICY_FIELD]: structuredClone(ROOMS), posts: { '@o': [] } }
      const result = policyReplacement(tree, MODERATED)
      assert.ok(result.ok)
      assert.deepEqual(result.delta, {
        [POLICY_FIELD]: {
          observe: { anonymous: false },
          view: null,
          fields: { '/posts/*/room': null, '/banner': 'public' },
          records: { '/posts/*': { require: { eq: null, all: [{ eq: [{ field: 'approved' }, true] }, 'identified'] } } },
          tokenKeys: []
        }
      })
      const after = replaced(tree, MODERATED)
      assert.deepEqual(after[POLICY_FIELD], MODERATED)
      assert.deepEqual(after.posts, { '@o': [] }, 'the rest of the document is untouched')
    })

    it('is what sending the policy as a plain change gets wrong: that merges the two into an invalid one', () => {
      const tree: JsonObject = { [POLICY_FIELD]: structuredClone(ROOMS) }
      assert.deepEqual(checkPolicyChange(tree, { [POLICY_FIELD]: MODERATED }), {
        ok: false,
        error: 'invalid policy: records["/posts/*"].require: a condition object has exactly one key; got ["eq","all"]'
      })
    })

    it('produces the worked example of docs/privacy.md, key for key', () => {
      const page = readFileSync(new URL('../../../docs/privacy.md', import.meta.url), 'utf8')
      const section = page.slice(page.indexOf('## Changing a policy safely'), page.indexOf('## Example: a card game'))
      const blocks = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map(m => JSON.parse(m[1]) as JsonObject)
      assert.equal(blocks.length, 3)
      const [before, after, patch] = blocks
      const result = policyReplacement({ [POLICY_FIELD]: before }, after)
      assert.ok(result.ok)
      assert.equal(JSON.stringify(result.delta), JSON.stringify(patch))
      const refused = checkPolicyChange({ [POLICY_FIELD]: before }, { [POLICY_FIELD]: after })
      assert.ok(!refused.ok && section.replace(/\s+/g, ' ').includes(`change rejected: ${refused.error}`.replace(/\s+/g, ' ')), 'the page quotes the refusal')
    })

    it('sets a policy on a document without one, and removes one only when asked with null', () => {
      assert.deepEqual(replaced({ a: 1 }, ROOMS), { a: 1, [POLICY_FIELD]: ROOMS })
      assert.deepEqual(policyReplacement({ [POLICY_FIELD]: ROOMS }, null), { ok: true, delta: { [POLICY_FIELD]: null } })
      assert.deepEqual(policyReplacement({ a: 1 }, null), { ok: true, delta: null }, 'nothing to remove')
    })

    it('needs no change when the policy is already in force', () => {
      assert.deepEqual(policyReplacement({ [POLICY_FIELD]: structuredClone(ROOMS) }, ROOMS), { ok: true, delta: null })
    })

    it('replaces a current policy that is not an object, or that is invalid', () => {
      assert.deepEqual(replaced({ [POLICY_FIELD]: 'garbage' }, ROOMS)[POLICY_FIELD], ROOMS)
      const invalid = { ...structuredClone(ROOMS), feilds: {} }
      assert.deepEqual(replaced({ [POLICY_FIELD]: invalid }, ROOMS)[POLICY_FIELD], ROOMS)
    })

    it('refuses an invalid policy, naming the rule at fault', () => {
      assert.equal(refusal({}, { ...ROOMS, records: { '/posts/*': { require: { eq: [{ field: 'room' }] } } } }),
        'invalid policy: records["/posts/*"].require.eq: expected [left, right]')
      assert.equal(refusal({}, 'public'), 'invalid policy: policy must be a JSON object')
    })

    it('refuses a policy a document cannot hold as written', () => {
      const withNull = { ...ROOMS, view: { room: { type: 'string', default: null } } }
      assert.ok(compilePolicy(withNull).ok, 'a valid policy')
      assert.equal(refusal({}, withNull), 'policy cannot be stored as written: null at /view/room/default would delete the key (leave the key out instead)')
      const withOrder = { ...ROOMS, fields: { '/posts': { exists: { literal: { '@o': [] } } } } }
      assert.ok(compilePolicy(withOrder).ok, 'a valid policy')
      assert.equal(refusal({}, withOrder), 'policy cannot be stored as written: "@o" at /fields/~1posts/exists/literal/@o would be stored as a list')
      const inArray: JsonObject = { ...ROOMS, fields: { '/posts': { eq: [{ doc: '/mode' }, { literal: { '@o': [] } }] } } }
      assert.deepEqual(replaced({}, inArray)[POLICY_FIELD], inArray, 'inside an array it is stored whole')
    })

    it('gives exactly the new policy for any pair of policies (property)', () => {
      const condition = fc.oneof(
        fc.constantFrom<Json>('public', 'private', 'identified', true),
        fc.record({ role: fc.constantFrom('judge', 'player') }),
        fc.record({ eq: fc.tuple(fc.record({ doc: fc.constantFrom('/phase', '/mode') }), fc.oneof(fc.string(), fc.integer(), fc.array(fc.integer(), { maxLength: 3 }))) }),
        fc.record({ any: fc.array(fc.constantFrom<Json>('public', { role: 'judge' }, { viewer_is: 'owner' }), { minLength: 1, maxLength: 3 }) })
      )
      const pattern = fc.constantFrom('/', '/phase', '/players', '/players/*', '/players/*/hand', '/chat/*/text')
      const policy = fc.record({
        version: fc.constant(1),
        observe: fc.record({ anonymous: fc.boolean(), identified: fc.boolean() }, { requiredKeys: [] }),
        fields: fc.dictionary(pattern, condition, { maxKeys: 5 }),
        records: fc.dictionary(fc.constantFrom('/players/*', '/chat/*'), fc.record({ require: condition }), { maxKeys: 2 })
      }, { requiredKeys: ['version'] }).map(p => JSON.parse(JSON.stringify(p)) as JsonObject)
      fc.assert(fc.property(policy, policy, (before, after) => {
        const tree: JsonObject = { phase: 'play', [POLICY_FIELD]: structuredClone(before) }
        const result = policyReplacement(tree, after)
        if (!result.ok) assert.fail(result.error)
        if (result.delta === null) {
          assert.deepEqual(tree[POLICY_FIELD], after)
          return
        }
        assert.deepEqual(checkPolicyChange(tree, result.delta), { ok: true })
        mergeInto(tree, result.delta)
        assert.deepEqual(tree[POLICY_FIELD], after)
        assert.equal(tree.phase, 'play')
      }), { numRuns: 300 })
    })
  })

  describe('checkPolicyChange', () => {
    const tree: JsonObject = { [POLICY_FIELD]: structuredClone(ROOMS) }

    it('accepts changes that leave the policy alone, keep it valid, or remove it on purpose', () => {
      assert.deepEqual(checkPolicyChange(tree, { posts: { '@o': [] } }), { ok: true })
      assert.deepEqual(checkPolicyChange(tree, { [POLICY_FIELD]: { observe: { anonymous: false } } }), { ok: true })
      assert.deepEqual(checkPolicyChange(tree, { [POLICY_FIELD]: null }), { ok: true })
      assert.deepEqual(checkPolicyChange({}, { [POLICY_FIELD]: ROOMS }), { ok: true })
    })

    it('refuses a change whose resulting policy does not compile, and leaves the tree as it was', () => {
      const before = structuredClone(tree)
      assert.deepEqual(checkPolicyChange(tree, { [POLICY_FIELD]: { tokenKeys: ['not-a-key'] } }).ok, false)
      assert.match((checkPolicyChange(tree, { [POLICY_FIELD]: { tokenKeys: ['not-a-key'] } }) as { error: string }).error, /^invalid policy: tokenKeys\[0\]: /)
      assert.deepEqual(checkPolicyChange(tree, { [POLICY_FIELD]: { version: null } }), { ok: false, error: 'invalid policy: "version" must be 1' })
      assert.deepEqual(checkPolicyChange(tree, { [POLICY_FIELD]: 'open' }), { ok: false, error: 'invalid policy: policy must be a JSON object' })
      assert.deepEqual(checkPolicyChange({}, { [POLICY_FIELD]: { fields: {} } }), { ok: false, error: 'invalid policy: "version" must be 1' })
      assert.deepEqual(tree, before)
    })
  })

  describe('policyProblemOfTree', () => {
    it('says why a document\'s policy is invalid, and nothing for a valid or missing one', () => {
      assert.equal(policyProblemOfTree({}), undefined)
      assert.equal(policyProblemOfTree({ [POLICY_FIELD]: ROOMS }), undefined)
      assert.equal(policyProblemOfTree({ [POLICY_FIELD]: { ...ROOMS, version: 2 } }), 'invalid policy: "version" must be 1')
      assert.equal(policyProblemOfTree({ [POLICY_FIELD]: [1] }), 'invalid policy: policy must be a JSON object')
    })
  })
})
