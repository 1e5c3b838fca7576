import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)

/**
 * Test hosts in Linux network namespaces, so multi-host and multi-region tests run real processes
 * with addresses of their own and links that can be cut.
 *
 * Each site (a region, or the authority's host) is one namespace joined to a bridge in the test's
 * own namespace by a veth pair. Addresses come from 198.18.0.0/15, the range RFC 2544 sets aside
 * for benchmark networks: it is routed nowhere, so a misdirected packet cannot leave the machine.
 * The test process sits on the bridge too (198.18.0.1), which is how it reaches admin endpoints.
 * Cutting a site takes its end of the veth down: its hosts keep running but reach no one.
 *
 * Needs root and iproute2 (`ip`). Names carry a random tag, so parallel runs do not collide.
 */
export interface Site {
  readonly name: string
  /** The namespace to run the site's processes in (`ip netns exec <netns> …`). */
  readonly netns: string
  /** The site's addresses, one per host placed there. */
  readonly addresses: readonly string[]
  /** Takes the site's link down: nothing in or out until heal(). */
  cut (): Promise<void>
  heal (): Promise<void>
  /** Bytes that left the site (its egress) and entered it, since the site was made. */
  bytes (): Promise<{ egress: number, ingress: number }>
}

const BRIDGE_ADDRESS = '198.18.0.1'
const PREFIX_LENGTH = 15

export class TestNetwork {
  private readonly tag: string
  private readonly bridge: string
  private readonly sites: Array<{ netns: string, hostEnd: string }> = []
  private nextSubnet = 1

  private constructor (tag: string) {
    this.tag = tag
    this.bridge = `dcb${tag}`
  }

  /** True where this process may create namespaces (root with iproute2). */
  static async available (): Promise<boolean> {
    if (process.getuid?.() !== 0) return false
    try {
      await run('ip', ['netns', 'list'])
      return true
    } catch {
      return false
    }
  }

  static async create (): Promise<TestNetwork> {
    const network = new TestNetwork(randomBytes(3).toString('hex'))
    await ip('link', 'add', network.bridge, 'type', 'bridge')
    await ip('addr', 'add', `${BRIDGE_ADDRESS}/${PREFIX_LENGTH}`, 'dev', network.bridge)
    await ip('link', 'set', network.bridge, 'up')
    return network
  }

  /** A new site with `hosts` addresses (198.18.<n>.1, .2, …) on one link. */
  async addSite (name: string, hosts = 1): Promise<Site> {
    const index = this.sites.length
    const subnet = this.nextSubnet++
    const netns = `dc-${this.tag}-${name}`
    const hostEnd = `dcv${this.tag}${index}` // interface names are at most 15 bytes
    const siteEnd = `dcs${this.tag}${index}`
    await ip('netns', 'add', netns)
    this.sites.push({ netns, hostEnd })
    await ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', siteEnd)
    await ip('link', 'set', siteEnd, 'netns', netns)
    await ip('link', 'set', hostEnd, 'master', this.bridge)
    await ip('link', 'set', hostEnd, 'up')
    const addresses = Array.from({ length: hosts }, (_, i) => `198.18.${subnet}.${i + 1}`)
    for (const address of addresses) {
      await ip('-n', netns, 'addr', 'add', `${address}/${PREFIX_LENGTH}`, 'dev', siteEnd)
    }
    await ip('-n', netns, 'link', 'set', siteEnd, 'up')
    await ip('-n', netns, 'link', 'set', 'lo', 'up')
    return {
      name,
      netns,
      addresses,
      cut: async () => { await ip('link', 'set', hostEnd, 'down') },
      heal: async () => { await ip('link', 'set', hostEnd, 'up') },
      // Seen from our end of the veth: what it receives left the site, what it sends entered it.
      bytes: async () => ({
        egress: Number(await readFile(`/sys/class/net/${hostEnd}/statistics/rx_bytes`, 'utf8')),
        ingress: Number(await readFile(`/sys/class/net/${hostEnd}/statistics/tx_bytes`, 'utf8'))
      })
    }
  }

  /** Removes every namespace, veth and the bridge (the namespaces' processes should be gone). */
  async destroy (): Promise<void> {
    for (const { netns, hostEnd } of this.sites.splice(0)) {
      await ip('link', 'del', hostEnd).catch(() => {}) // deleting one end deletes the pair
      await ip('netns', 'del', netns).catch(() => {})
    }
    await ip('link', 'del', this.bridge).catch(() => {})
  }
}

async function ip (...args: string[]): Promise<void> {
  try {
    await run('ip', args)
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`ip ${args.join(' ')}: ${stderr.trim() || (err as Error).message}`)
  }
}
