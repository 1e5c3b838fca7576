import { decodePublicKey, verifyToken } from '../../src/identity/index.ts'
import { parseDocId } from '../../src/log/index.ts'
import { bytesEqual } from '../../src/log/bytes.ts'
import { POLICY_FIELD } from '../../src/privacy/index.ts'
import { isJsonObject } from '../../src/json.ts'
import type { ObservableDoc } from '../../src/observe/observable-doc.ts'
import type { Viewer } from '../../src/privacy/index.ts'

export type ViewerIdentity =
  | { ok: true, viewer: Viewer, expires?: number, /** The key that signed the token (identified viewers). */ signer?: Uint8Array }
  | { ok: false, error: string }

/** Most token-signing keys a policy may name besides the authority's own. */
const MAX_TOKEN_KEYS = 16

/**
 * Who is observing: anonymous without a token; otherwise the principal and roles of a token
 * signed by a key the document trusts: the authority's (inside the doc id, always trusted) or
 * one the document names in its signed log (`"@policy": {"tokenKeys": ["<base32 key>"]}`).
 */
export function viewerOf (doc: ObservableDoc, token: string | undefined, now: number): ViewerIdentity {
  if (token === undefined) return { ok: true, viewer: { roles: [] } }
  const verified = verifyToken(token, { docId: doc.docId, trustedKeys: namedTokenKeys(doc), now })
  if (!verified.ok) return { ok: false, error: `viewer token refused (${verified.code}): ${verified.error}` }
  const signer = decodePublicKey(verified.viewer.kid)
  return {
    ok: true,
    viewer: { principal: verified.viewer.principal, roles: verified.viewer.roles },
    expires: verified.viewer.expires,
    ...(signer.ok ? { signer: signer.value } : {})
  }
}

/**
 * Whether the document still trusts `signer` to sign viewer tokens: the document key always,
 * a named key only while "@policy".tokenKeys lists it. Checked again when the policy changes.
 */
export function trustsTokenKey (doc: ObservableDoc, signer: Uint8Array): boolean {
  const docKey = parseDocId(doc.docId)
  if (docKey.ok && bytesEqual(docKey.value.publicKey, signer)) return true
  return namedTokenKeys(doc).some(key => bytesEqual(key, signer))
}

function namedTokenKeys (doc: ObservableDoc): Uint8Array[] {
  const policy = doc.snapshot().tree[POLICY_FIELD]
  if (!isJsonObject(policy) || !Array.isArray(policy.tokenKeys)) return []
  return policy.tokenKeys.slice(0, MAX_TOKEN_KEYS).flatMap(key => {
    const decoded = decodePublicKey(key)
    return decoded.ok ? [decoded.value] : []
  })
}
