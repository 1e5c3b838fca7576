import assert from 'node:assert/strict'
import {
  DOC_ID_MAX_LENGTH, DOC_KEY_CHARS, InvalidDocIdInputError, docIdFor, docIdOfTopic, isValidDocName, parseDocId, topicFor
} from '../../../src/log/index.ts'

// RFC 8032 test 1 public key.
const KEY = Uint8Array.from(Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex'))
const KEY_B32 = '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena'

describe('log/doc-id', () => {
  it('derives base32(key) + "." + name', () => {
    assert.equal(docIdFor(KEY, 'example'), `${KEY_B32}.example`)
    assert.equal(KEY_B32.length, DOC_KEY_CHARS)
  })

  it('parses its own output back to key and name', () => {
    const parsed = parseDocId(docIdFor(KEY, 'a_b-9'))
    assert.ok(parsed.ok)
    assert.deepEqual(parsed.value.publicKey, KEY)
    assert.equal(parsed.value.name, 'a_b-9')
  })

  it('accepts names of 1 and 64 characters, rejects 65', () => {
    assert.ok(isValidDocName('a'))
    assert.ok(isValidDocName('a'.repeat(64)))
    assert.ok(!isValidDocName('a'.repeat(65)))
    assert.equal(docIdFor(KEY, 'z'.repeat(64)).length, DOC_ID_MAX_LENGTH)
  })

  it('throws InvalidDocIdInputError for bad names and key lengths', () => {
    for (const name of ['', 'A', '-a', '_a', 'a.b', 'a b', 'é', 'a'.repeat(65)]) {
      assert.throws(() => docIdFor(KEY, name), (err: Error) => err.name === 'InvalidDocIdInputError', name)
    }
    assert.throws(() => docIdFor(KEY.subarray(1), 'x'), InvalidDocIdInputError)
    assert.throws(() => docIdFor(new Uint8Array(33), 'x'), InvalidDocIdInputError)
  })

  it('rejects malformed doc id strings as data', () => {
    const bad = [
      '',
      KEY_B32, // no name
      `${KEY_B32}.`, // empty name
      `${KEY_B32}.Example`, // upper case name
      `${KEY_B32.toUpperCase()}.example`, // upper case key
      `${KEY_B32.slice(1)}.example`, // 51 chars
      `${KEY_B32}a.example`, // 53 chars
      `${KEY_B32.slice(0, -1)}1.example`, // '1' is not base32
      `${KEY_B32.slice(0, -1)}b.example`, // non-zero trailing bits: a second spelling of a key
      `${KEY_B32}=.example`, // padding
      `${KEY_B32}.exa.mple`,
      `${KEY_B32}.${'a'.repeat(65)}`,
      ` ${KEY_B32}.example`,
      `${KEY_B32}.example\n`
    ]
    for (const docId of bad) {
      const parsed = parseDocId(docId)
      assert.equal(parsed.ok, false, JSON.stringify(docId))
      if (!parsed.ok) assert.equal(typeof parsed.error, 'string')
    }
  })

  it('names the topic and reads a doc id back out of it', () => {
    const docId = docIdFor(KEY, 'example')
    assert.equal(topicFor(docId), `/deltacast/1/doc/${KEY_B32}.example`)
    assert.deepEqual(docIdOfTopic(topicFor(docId)), { ok: true, value: docId })
    assert.equal(docIdOfTopic(`/deltacast/2/doc/${docId}`).ok, false)
    assert.equal(docIdOfTopic('/deltacast/1/doc/nope').ok, false)
  })
})
