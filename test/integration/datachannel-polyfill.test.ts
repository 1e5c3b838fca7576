// patches/node-datachannel+*.patch: the polyfill's RTCPeerConnection forgets a data channel the
// remote opened once it closes (it kept each, with the libp2p stream on it, for the connection's
// life: every stream a browser opened on a WebRTC-Direct edge). Real peer connections on loopback.
import assert from 'node:assert/strict'
import { RTCPeerConnection } from 'node-datachannel/polyfill'
import { waitFor } from '../helpers/processes.ts'

/** The polyfill's own count of open data channels (its 'peer-connection' stats). */
async function openChannels (pc: RTCPeerConnection): Promise<{ open: number, closed: number }> {
  const report = await pc.getStats()
  const stats = [...report.values()].find((s: { type: string }) => s.type === 'peer-connection') as { dataChannelsOpened: number, dataChannelsClosed: number }
  return { open: stats.dataChannelsOpened, closed: stats.dataChannelsClosed }
}

describe('node-datachannel polyfill (patched)', function () {
  this.timeout(30_000)
  const pcs: RTCPeerConnection[] = []
  afterEach(() => { for (const pc of pcs.splice(0)) pc.close() })

  it('forgets a data channel the remote opened once it closes', async () => {
    const local = new RTCPeerConnection({ iceServers: [] })
    const remote = new RTCPeerConnection({ iceServers: [] })
    pcs.push(local, remote)
    // candidates wait until the other side has the description they belong to
    const trickle = (from: RTCPeerConnection, to: RTCPeerConnection): void => {
      const pending: RTCIceCandidate[] = []
      const flush = (): void => { if (to.remoteDescription !== null) for (const c of pending.splice(0)) void to.addIceCandidate(c) }
      from.onicecandidate = ({ candidate }) => { if (candidate !== null) { pending.push(candidate); flush() } }
      to.addEventListener('signalingstatechange', flush)
    }
    trickle(local, remote)
    trickle(remote, local)
    const inbound: RTCDataChannel[] = []
    remote.ondatachannel = ({ channel }) => { inbound.push(channel) }

    const first = local.createDataChannel('first')
    await local.setLocalDescription(await local.createOffer())
    await remote.setRemoteDescription(local.localDescription!)
    await remote.setLocalDescription(await remote.createAnswer())
    await local.setRemoteDescription(remote.localDescription!)
    const second = local.createDataChannel('second')
    await waitFor('both channels to reach the remote', () => inbound.length === 2 && inbound.every(c => c.readyState === 'open') ? true : undefined, { intervalMs: 20 })
    assert.deepEqual(await openChannels(remote), { open: 2, closed: 0 })

    // the local side closes one: the remote's copy closes too, and the remote forgets it
    second.close()
    const remoteSecond = inbound.find(c => c.label === 'second')!
    await waitFor('the remote to see the channel close', () => remoteSecond.readyState === 'closed' ? true : undefined, { intervalMs: 20 })
    await waitFor('the remote to forget it', async () => (await openChannels(remote)).open === 1 ? true : undefined, { timeoutMs: 10_000, intervalMs: 20 })
    assert.deepEqual(await openChannels(remote), { open: 1, closed: 1 })
    assert.equal(first.readyState, 'open')
  })
})
