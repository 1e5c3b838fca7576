// docs/protocol.md's "Versions" table must name the versions the code speaks.

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { FLEET_PROTOCOL } from '../../node/fleet/handshake.ts'
import { FLEET_CERT_CONTEXT, TOKEN_CONTEXT } from '../../src/identity/index.ts'
import { FRAME_VERSION, SIGNING_CONTEXT, TOPIC_PREFIX } from '../../src/log/index.ts'
import { OBSERVE_PROTOCOL } from '../../src/observe/protocol.ts'
import { POLICY_VERSION } from '../../src/privacy/index.ts'
import { SYNC_PROTOCOL } from '../../src/sync/messages.ts'
import { RELAY_PROTOCOL } from '../../src/relay/messages.ts'
import { ANNOUNCEMENT_CONTEXT, ANNOUNCEMENT_VERSION, MEMBERSHIP_PROTOCOL } from '../../src/membership/index.ts'
import { ELECT_CONTEXT } from '../../src/elect/index.ts'
import { PARTIAL_VERSION, REDUCE_PROTOCOL } from '../../src/reduce/index.ts'
import { MEMBERSHIP_TOPIC_PREFIX } from '../../node/membership/index.ts'
import { SWARM_LINK_PROTOCOL, SWARM_SIGNING_CONTEXT } from '../../src/swarm/index.ts'

/** The "version today" column of the table, by its "format" column. */
function versionsTable (): Map<string, string> {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
  const section = doc.slice(doc.indexOf('## Versions'), doc.indexOf('## Doc id'))
  const rows = section.split('\n').filter(line => line.startsWith('| ') && !line.startsWith('| format'))
  return new Map(rows.map(line => {
    const [format, version] = line.split('|').slice(1, 3).map(cell => cell.trim())
    return [format, version.replace(/^`|`$/g, '')]
  }))
}

describe('docs/protocol.md versions', function () {
  it('name the versions the code speaks', function () {
    assert.deepEqual(Object.fromEntries(versionsTable()), {
      'frame layout': `0x${FRAME_VERSION.toString(16).padStart(2, '0')}`,
      'frame signing context': SIGNING_CONTEXT,
      'gossipsub topic': TOPIC_PREFIX,
      'sync protocol': SYNC_PROTOCOL,
      'observe protocol': OBSERVE_PROTOCOL,
      'fleet handshake': FLEET_PROTOCOL,
      'viewer token': TOKEN_CONTEXT,
      'fleet certificate': FLEET_CERT_CONTEXT,
      'privacy policy': `"version": ${POLICY_VERSION}`,
      'relay protocol': RELAY_PROTOCOL,
      'reduce protocol': REDUCE_PROTOCOL,
      'membership topic': MEMBERSHIP_TOPIC_PREFIX,
      'membership announcement': `0x${ANNOUNCEMENT_VERSION.toString(16).padStart(2, '0')}`,
      'announcement signing context': ANNOUNCEMENT_CONTEXT,
      'membership snapshot': MEMBERSHIP_PROTOCOL,
      'election hash': ELECT_CONTEXT,
      'reducer partial': `0x${PARTIAL_VERSION.toString(16).padStart(2, '0')}`,
      'swarm link protocol': SWARM_LINK_PROTOCOL,
      'swarm signing context': SWARM_SIGNING_CONTEXT
    })
  })
})
