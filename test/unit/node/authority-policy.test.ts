// The authority keeps the document's policy valid: it checks the policy every change leaves
// behind, and replaces a whole policy in one frame (setPolicy, and the stdin driver's setPolicy).

import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { createInterface } from 'node:readline'
import { mergeInto } from '../../../src/delta/index.ts'
import { POLICY_FIELD, policyProblemOfTree } from '../../../src/privacy/index.ts'
import { Authority } from '../../../node/authority/authority.ts'
import { driveFromLines } from '../../../node/authority/stdin-driver.ts'
import { Counters } from '../../../node/metrics.ts'
import type { JsonObject } from '../../../src/json.ts'
import type { Frame } from '../../../src/log/index.ts'

const ROOMS: JsonObject = {
  version: 1,
  observe: { anonymous: true, identified: true },
  view: { room: { type: 'string', default: 'lobby' } },
  fields: { '/posts': 'public', '/posts/*/room': 'private' },
  records: { '/posts/*': { require: { eq: [{ field: 'room' }, { view: 'room' }] } } }
}

const APPROVED: JsonObject = {
  version: 1,
  observe: { anonymous: true },
  fields: { '/posts': 'public' },
  records: { '/posts/*': { require: { in: [{ field: 'state' }, ['approved', 'pinned']] } } }
}

describe('node/Authority: policy changes', () => {
  let dir: string
  let authority: Authority
  let frames: Frame[]

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc13-authority-'))
    authority = await Authority.open({ dir, name: 'rooms' })
    frames = []
    authority.on('frame', frame => frames.push(frame))
    await authority.change({ [POLICY_FIELD]: ROOMS, posts: { '@o': [1], 1: { room: 'lobby', state: 'approved', t: 'hi' } } })
  })

  afterEach(async () => {
    await authority.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('replaces a policy in one frame: every frame leaves a valid policy, and the last one exactly the new policy', async () => {
    // other changes on both sides of the replacement land in the same batch
    const acks = [
      authority.change({ posts: { 1: { t: 'hello' } } }),
      authority.setPolicy(APPROVED),
      authority.change({ posts: { 1: { state: 'pinned' } } })
    ]
    const seqs = (await Promise.all(acks)).map(ack => ack.seq)
    assert.deepEqual(authority.tree[POLICY_FIELD], APPROVED)

    const replay: JsonObject = {}
    for (const frame of frames) {
      for (const change of frame.changes) {
        mergeInto(replay, change)
        assert.ok(Object.hasOwn(replay, POLICY_FIELD), `frame ${frame.seq}: the document has a policy after every change`)
        assert.equal(policyProblemOfTree(replay), undefined, `frame ${frame.seq}: and it is valid`)
      }
    }
    assert.deepEqual(replay[POLICY_FIELD], APPROVED)
    const replacing = frames.slice(1).find(frame => frame.changes.some(change => Object.hasOwn(change, POLICY_FIELD)))!
    assert.equal(replacing.seq, seqs[1])

    await authority.close()
    authority = await Authority.open({ dir, name: 'rooms' })
    assert.deepEqual(authority.tree[POLICY_FIELD], APPROVED, 'the log replays to the same policy')
  })

  it('refuses a change whose merged policy is invalid, naming the rule; nothing is signed', async () => {
    const head = authority.head
    const before = structuredClone(authority.tree)
    await assert.rejects(authority.change({ [POLICY_FIELD]: APPROVED, posts: { 1: { t: 'lost' } } }), {
      name: 'ChangeRejectedError',
      message: 'change rejected: invalid policy: records["/posts/*"].require: a condition object has exactly one key; got ["eq","in"]'
    })
    await assert.rejects(authority.setPolicy({ ...APPROVED, fields: { '/posts': { eq: [1] } } }), {
      name: 'ChangeRejectedError',
      message: 'change rejected: invalid policy: fields["/posts"].eq: expected [left, right]'
    })
    await assert.rejects(authority.change({ [POLICY_FIELD]: { tokenKeys: ['nope'] } }), { message: /^change rejected: invalid policy: tokenKeys\[0\]: / })
    await authority.flush()
    assert.deepEqual(authority.head, head)
    assert.equal(frames.length, 1, 'only the first frame was ever signed')
    assert.deepEqual(authority.tree, before)
  })

  it('removes the policy only when asked with null, and makes no frame when the policy is already in force', async () => {
    const head = (await authority.setPolicy(ROOMS)).seq
    assert.equal(head, authority.head.seq)
    assert.equal(frames.length, 1, 'no frame for the policy already in force')
    await authority.setPolicy(null)
    assert.equal(Object.hasOwn(authority.tree, POLICY_FIELD), false)
    assert.deepEqual(frames.at(-1)!.changes, [{ [POLICY_FIELD]: null }])
  })

  it('takes setPolicy lines on stdin and answers each, with a clear error for a bad one', async () => {
    const input = new PassThrough()
    const output = new PassThrough()
    const counters = new Counters()
    const done = driveFromLines(authority, input, output, counters)
    const answers = createInterface({ input: output })[Symbol.asyncIterator]()
    const next = async (): Promise<JsonObject> => JSON.parse((await answers.next()).value as string)

    input.write(JSON.stringify({ id: 1, setPolicy: APPROVED }) + '\n')
    assert.deepEqual(await next(), { ack: 1, seq: 2 })
    assert.deepEqual(authority.tree[POLICY_FIELD], APPROVED)
    input.write(JSON.stringify({ id: 2, setPolicy: { ...APPROVED, observe: { everyone: true } } }) + '\n')
    assert.deepEqual(await next(), { id: 2, error: 'change rejected: invalid policy: observe: unknown key "everyone" (expected anonymous, identified)' })
    input.write(JSON.stringify({ id: 3, setPolicy: 'open', change: {} }) + '\n')
    assert.deepEqual(await next(), { id: 3, error: 'expected {"id": ..., "change": {...}} or {"id": ..., "setPolicy": {...} | null}' })
    input.end()
    await done
    assert.equal(counters.get('changes_rejected'), 1)
    assert.equal(counters.get('input_lines_rejected'), 1)
  })
})
