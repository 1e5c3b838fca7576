// The card-game privacy policy of docs/privacy.md, plus a public chat: shared by
// bench/privacy.ts and test/browser/privacy.test.ts (which adds per-room chat records).

import type { JsonObject } from '../../src/json.ts'

/** Phase and players public, owners private, a hand visible to its owner or once the phase is 'reveal'. */
export const CARD_GAME_POLICY: JsonObject = {
  version: 1,
  observe: { anonymous: true, identified: true },
  policies: { revealed: { eq: [{ doc: '/phase' }, 'reveal'] } },
  fields: {
    '/phase': 'public',
    '/players': 'public',
    '/players/*/owner': 'private',
    '/players/*/hand': { any: [{ viewer_is: 'owner' }, { policy: 'revealed' }] },
    '/chat': 'public'
  }
}
