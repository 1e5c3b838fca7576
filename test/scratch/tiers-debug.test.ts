import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AuthorityDriver } from '../helpers/authority-driver.ts'
import { authorityArgs, killAll, startCli, superPeerArgs, waitFor } from '../helpers/processes.ts'

describe('tiers debug', function () {
  this.timeout(120_000)
  after(killAll)
  it('flows', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbg-tiers-'))
    const authority = await startCli(authorityArgs({ dir: join(dir, 'a'), name: 'game' }))
    const driver = new AuthorityDriver(authority)
    const docId = authority.ready.docId
    const sps = []
    for (let i = 0; i < 3; i++) sps.push(await startCli(superPeerArgs({ dataDir: join(dir, `sp${i}`), docId, bootstrap: authority.ready.addrs, extra: ['--log-level', 'info'] })))
    for (let i = 0; i < 20; i++) driver.send({ n: i })
    await new Promise(r => setTimeout(r, 6000))
    for (const sp of sps) {
      const t = await sp.admin('/topology')
      for (const d of Object.values(t.docs) as any[]) console.log(t.peerId.slice(-6), d.role, 'parent', d.parent?.slice(-6), 'elected', d.electedParent?.slice(-6), 'children', d.children.map((c: string) => c.slice(-6)), d.seq, 'proxy', d.tree.regions[0]?.proxy.slice(-6), 'members', d.tree.regions[0]?.members.map((m: string) => m.slice(-6)))
      console.log(JSON.stringify(t.members))
    }
    console.log('auth', authority.ready.peerId.slice(-6), (await authority.admin('/status')).seq)
    console.log(sps[0].stderr().split('\n').filter(l => /tier|relay|carrying/.test(l)).slice(0, 10).join('\n'))
  })
})
