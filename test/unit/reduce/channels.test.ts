import assert from 'node:assert/strict'
import type { Json, JsonObject } from '../../../src/json.ts'
import { compilePolicy } from '../../../src/privacy/index.ts'
import { admit, channelsOfTree, compileChannels, RateBucket } from '../../../src/reduce/index.ts'
import type { Channels, Sender } from '../../../src/reduce/index.ts'

const POLICY = {
  version: 1,
  observe: { anonymous: true, identified: true },
  policies: { open: { eq: [{ doc: '/phase' }, 'voting'] } },
  view: { team: { type: 'string', default: 'none', maxLength: 8 } },
  fields: { '/': 'public' },
  input: {
    poll: {
      kind: 'tally',
      message: { type: 'string', enum: ['red', 'blue'] },
      send: { all: ['identified', { policy: 'open' }] },
      rate: { messages: 2, perMs: 1000 },
      windowMs: 500,
      field: '/poll/votes'
    },
    claps: { kind: 'count', message: { type: 'null' }, send: 'public', rate: { messages: 10, perMs: 1000 }, windowMs: 250, field: '/claps' },
    judges: { kind: 'max', message: { type: 'number', minimum: 0, maximum: 10 }, send: { role: 'judge' }, rate: { messages: 1, perMs: 1000 }, windowMs: 1000, field: '/score' },
    chat: {
      kind: 'sample',
      size: 20,
      message: { type: 'object', properties: { text: { type: 'string', maxLength: 280 } }, required: ['text'] },
      send: { eq: [{ view: 'team' }, 'red'] },
      rate: { messages: 5, perMs: 10000 },
      windowMs: 1000,
      field: '/chat',
      maxBytes: 300
    }
  }
} satisfies Json

const alice: Sender = { viewer: { principal: 'alice', roles: [] }, viewState: { team: 'red' } }
const anon: Sender = { viewer: { roles: [] }, viewState: { team: 'none' } }
const tree = (phase: string): JsonObject => ({ '@policy': POLICY, phase })

function compiled (): Channels {
  const channels = compileChannels(POLICY)
  assert.equal(channels.error, null)
  return channels
}

describe('input channels', () => {
  it('compile from "@policy".input, and the privacy policy still compiles beside them', () => {
    const channels = compiled()
    assert.deepEqual([...channels.channels.keys()], ['poll', 'claps', 'judges', 'chat'])
    const poll = channels.channels.get('poll')
    assert.equal(poll?.kind, 'tally')
    assert.deepEqual(poll?.field, ['poll', 'votes'])
    assert.deepEqual(poll?.rate, { messages: 2, perMs: 1000 })
    assert.equal(compilePolicy(POLICY).ok, true)
    const t = tree('voting')
    assert.equal(channelsOfTree(t), channelsOfTree(t))
    assert.equal(channelsOfTree(t).channels.size, 4)
    assert.equal(compileChannels({ version: 1 }).channels.size, 0)
  })

  it('refuse invalid declarations, saying where and why', () => {
    const cases: Array<[Json, RegExp]> = [
      [{ Poll: {} }, /input.Poll: a channel name/],
      [{ a: { ...POLICY.input.claps, kind: 'median' } }, /input.a.kind must be one of/],
      [{ a: { ...POLICY.input.claps, colour: 1 } }, /unknown key "colour"/],
      [{ a: { ...POLICY.input.claps, kind: 'sum', message: { type: 'number' } } }, /kind "sum" needs a message of type integer/],
      [{ a: { ...POLICY.input.claps, keys: 4 } }, /keys does not apply to kind "count"/],
      [{ a: { ...POLICY.input.claps, send: { viewer_is: 'owner' } } }, /has no record/],
      [{ a: { ...POLICY.input.claps, send: { policy: 'nope' } } }, /no policy named "nope"/],
      [{ a: { ...POLICY.input.claps, field: '/@policy/x' } }, /"@policy" is reserved/],
      [{ a: { ...POLICY.input.claps, field: '/x' }, b: { ...POLICY.input.claps, field: '/x/y' } }, /input.b.field overlaps the field of channel "a"/],
      [{ a: { ...POLICY.input.claps, windowMs: 1 } }, /windowMs must be an integer 50\.\.3600000/],
      [{ a: { ...POLICY.input.claps, rate: { messages: 1 } } }, /rate.perMs is required/],
      [{ a: { ...POLICY.input.claps, message: { type: 'string', enum: ['x', 'x'] } } }, /enum has duplicates/]
    ]
    for (const [input, why] of cases) {
      const channels = compileChannels({ ...POLICY, input } as Json)
      assert.equal(channels.channels.size, 0)
      assert.match(channels.error ?? '', why)
    }
  })

  it('admit a valid send and refuse each kind of bad send with its code, changing nothing', () => {
    const channels = compiled()
    const bucket = new RateBucket({ messages: 2, perMs: 1000 }, 0)
    const send = (name: string, body: Json, who: Sender, phase = 'voting', b = bucket) => admit(channels, name, body, who, tree(phase), b, 0)
    assert.equal(send('poll', 'red', alice).ok, true)
    const refusals: Array<[ReturnType<typeof send>, string, string?]> = [
      [send('pole', 'red', alice), 'unknown-channel'],
      [send('poll', 'red', anon), 'forbidden'],
      [send('poll', 'red', alice, 'closed'), 'forbidden'],
      [send('judges', 5, alice), 'forbidden'],
      [send('poll', 'green', alice), 'invalid-message', 'enum'],
      [send('chat', { text: 'x'.repeat(290) }, alice), 'too-large'],
      [send('chat', { text: 'hi', color: 'red' }, alice), 'invalid-message', 'unknown-property']
    ]
    for (const [result, code, rule] of refusals) {
      assert.equal(result.ok, false)
      if (!result.ok) {
        assert.equal(result.code, code, result.error)
        assert.equal(result.rule, rule)
      }
    }
    // None of the refusals took a token: one is left, then the viewer is over its rate.
    assert.equal(send('poll', 'blue', alice).ok, true)
    const over = send('poll', 'blue', alice)
    assert.equal(over.ok ? '' : over.code, 'rate-limited')
    assert.equal(admit(channels, 'poll', 'blue', alice, tree('voting'), bucket, 500).ok, true)
    assert.equal(send('judges', 7, { viewer: { principal: 'j', roles: ['judge'] }, viewState: {} }, 'x', new RateBucket({ messages: 1, perMs: 1000 }, 0)).ok, true)
  })

  it('refuse every send, naming the problem, when the declarations are invalid', () => {
    const channels = compileChannels({ ...POLICY, input: { a: { kind: 'count' } } } as Json)
    const result = admit(channels, 'a', null, alice, tree('voting'), new RateBucket({ messages: 1, perMs: 1000 }, 0), 0)
    assert.equal(result.ok, false)
    if (!result.ok) {
      assert.equal(result.code, 'unknown-channel')
      assert.match(result.error, /invalid input: input.a.message must be a schema object/)
    }
  })
})
