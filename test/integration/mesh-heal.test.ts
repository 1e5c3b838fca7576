import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateKey } from '../../node/identity.ts'
import { encodePublicKey, signFleetCertSync } from '../../src/identity/index.ts'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'
import type { Running } from '../helpers/processes.ts'

/**
 * The mesh heals: super-peers that joined through one bootstrap peer find each other (discovery
 * topic), a restarted one finds its peers again (persisted peer store), and losing any one node
 * leaves the others connected. Authority and super-peers are separate OS processes.
 */
for (const enforcing of [false, true]) {
describe(`backbone mesh heals after a node is lost (${enforcing ? 'fleet certificates enforced' : 'open backbone'})`, function () {
  this.timeout(180_000)

  let dir: string
  let authority: Running
  let docId: string
  let fleetFlags: string[] = []
  let operatorKey: Awaited<ReturnType<typeof generateKeyPair>>
  const peers = new Map<string, Running>()

  async function startAuthority (extra: string[] = []): Promise<void> {
    authority = await startCli(authorityArgs({ dir: join(dir, 'authority'), name: 'heal', extra: [...fleetFlags, ...extra] }))
    docId = authority.ready.docId
  }

  /** With a fleet, each super-peer's identity exists first so the operator can certify it. */
  async function certify (name: string): Promise<string[]> {
    if (!enforcing) return []
    const key = await loadOrCreateKey(join(dir, name, 'peer.key'))
    const certFile = join(dir, `${name}.cert`)
    await writeFile(certFile, signFleetCertSync(operatorKey, { peerId: peerIdFromPrivateKey(key).toString(), region: 'test', expires: Date.now() + 86_400_000 }, Date.now()))
    return ['--fleet-cert', certFile, ...fleetFlags]
  }

  async function startSuperPeer (name: string, bootstrap: string[]): Promise<Running> {
    // The flat mesh: what must heal here is the gossipsub mesh between super-peers.
    const peer = await startCli(superPeerArgs({ dataDir: join(dir, name), docId, bootstrap, extra: ['--topology', 'flat', ...await certify(name)] }))
    peers.set(name, peer)
    return peer
  }

  async function connectedTo (peer: Running): Promise<Set<string>> {
    const list = await peer.admin('/peers') as Array<{ peerId: string }>
    return new Set(list.map(entry => entry.peerId))
  }

  /** Waits until every named super-peer is connected to every other. */
  async function fullyConnected (names: string[]): Promise<void> {
    await waitFor(`${names.join(', ')} connected to each other`, async () => {
      for (const name of names) {
        const connected = await connectedTo(peers.get(name)!)
        for (const other of names) {
          if (other !== name && !connected.has(peers.get(other)!.ready.peerId)) return undefined
        }
      }
      return true
    }, { timeoutMs: 45_000 }).catch(async (err: Error) => {
      const graph = await Promise.all(names.map(async name => `${name}: ${[...await connectedTo(peers.get(name)!).catch(() => new Set())].join(' ')}`))
      throw new Error(`${err.message}\nids: ${names.map(n => `${n}=${peers.get(n)!.ready.peerId as string}`).join(' ')}\n${graph.join('\n')}`)
    })
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dc7b-heal-'))
    if (enforcing) {
      operatorKey = await generateKeyPair('Ed25519')
      fleetFlags = ['--trust-operator', encodePublicKey(operatorKey.publicKey.raw)]
    }
    await startAuthority()
  })

  after(async () => {
    await killAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('super-peers that bootstrapped through one peer find each other, stay connected when it dies, and a restarted one rejoins them', async () => {
    // Open: as in the demo, one seed on the authority, the others on the seed only. Fleet: all on
    // the authority only, which forwards nothing between them and must introduce them.
    const seed = await startSuperPeer('sp1', authority.ready.addrs)
    await startSuperPeer('sp2', enforcing ? authority.ready.addrs : seed.ready.addrs)
    await startSuperPeer('sp3', enforcing ? authority.ready.addrs : seed.ready.addrs)
    await fullyConnected(['sp1', 'sp2', 'sp3'])

    // Losing sp1 does not cut sp2 from sp3 (with the bootstrap lists alone they would not even have met).
    await seed.kill('SIGKILL')
    const sp2 = peers.get('sp2')!
    await waitFor('sp2 to notice sp1 is gone', async () => (await connectedTo(sp2)).has(seed.ready.peerId) ? undefined : true)
    await fullyConnected(['sp2', 'sp3'])

    // Restarted with only the authority to bootstrap from, sp1 finds sp2 and sp3 again.
    const restarted = await startSuperPeer('sp1', authority.ready.addrs)
    assert.equal(restarted.ready.peerId, seed.ready.peerId, 'same identity from its data directory')
    await fullyConnected(['sp1', 'sp2', 'sp3'])

    // Losing the authority does not isolate the super-peers: each keeps the others in its mesh.
    await authority.kill('SIGKILL')
    for (const name of ['sp1', 'sp2', 'sp3']) {
      await waitFor(`${name} to notice the authority is gone`, async () => (await connectedTo(peers.get(name)!)).has(authority.ready.peerId) ? undefined : true)
    }
    await fullyConnected(['sp1', 'sp2', 'sp3'])
    for (const name of ['sp1', 'sp2', 'sp3']) {
      const others = ['sp1', 'sp2', 'sp3'].filter(other => other !== name).map(other => peers.get(other)!.ready.peerId as string)
      await waitFor(`${name}'s gossipsub mesh to hold the other super-peers`, async () => {
        const { mesh } = await peers.get(name)!.admin('/fleet')
        return others.every(id => (mesh[docId] as string[]).includes(id)) ? true : undefined
      })
    }

    // Frames still reach every super-peer: the authority comes back knowing only sp3.
    await startAuthority(['--bootstrap', peers.get('sp3')!.ready.addrs[0]])
    const driver = new AuthorityDriver(authority)
    const ids = [driver.send({ healed: 1 }), driver.send({ healed: 2 })]
    await driver.until('changes acked', () => ids.every(id => driver.acked.has(id)))
    const { seq } = await authority.admin('/status')
    for (const [name, peer] of peers) {
      await waitFor(`${name} at seq ${seq as number}`, async () => {
        const state = await peer.admin(`/docs/${docId}/state`)
        return state.seq === seq && state.tree.healed === 2 ? true : undefined
      })
    }
  })
})
}
