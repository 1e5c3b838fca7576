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
 * Each network takes a /20 of it that no other network on this machine uses, because the bridges
 * all sit in the test's namespace: two runs on one subnet would route into each other's sites.
 * The test process sits on the bridge too (the block's .1), which is how it reaches admin endpoints.
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

/** 198.18.0.0/15 holds 32 blocks of /20; a block holds the bridge's /24 and 15 sites. */
const BLOCKS = 32
const PREFIX_LENGTH = 20
const SITES_PER_NETWORK = 15

export class TestNetwork {
  private readonly tag: string
  private readonly bridge: string
  /** The network's /20 is 198.<base>.<third>.0, where third counts up from `third0` per site. */
  private readonly base: number
  private readonly third0: number
  private readonly sites: Array<{ netns: string, hostEnd: string }> = []
  private nextSubnet = 1

  private constructor (tag: string, block: number) {
    this.tag = tag
    this.bridge = `dcb${tag}`
    this.base = 18 + Math.floor(block / 16)
    this.third0 = (block % 16) * 16
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
    const network = new TestNetwork(randomBytes(3).toString('hex'), await freeBlock())
    await ip('link', 'add', network.bridge, 'type', 'bridge')
    await ip('addr', 'add', `${network.address(0, 1)}/${PREFIX_LENGTH}`, 'dev', network.bridge)
    await ip('link', 'set', network.bridge, 'up')
    return network
  }

  /** Host `host` of the network's `subnet`th /24 (0 is the bridge's). */
  private address (subnet: number, host: number): string {
    return `198.${this.base}.${this.third0 + subnet}.${host}`
  }

  /** A new site with `hosts` addresses (.1, .2, … of the next /24 in the block) on one link. */
  async addSite (name: string, hosts = 1): Promise<Site> {
    const index = this.sites.length
    if (this.nextSubnet > SITES_PER_NETWORK) throw new Error(`a test network holds at most ${SITES_PER_NETWORK} sites`)
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
    const addresses = Array.from({ length: hosts }, (_, i) => this.address(subnet, i + 1))
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

/** A /20 block of 198.18.0.0/15 with no address on this machine's interfaces yet, picked at random. */
async function freeBlock (): Promise<number> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show'])
  const used = new Set<number>()
  for (const [, second, third] of stdout.matchAll(/inet 198\.(18|19)\.(\d+)\.\d+\//g)) {
    used.add((Number(second) - 18) * 16 + Math.floor(Number(third) / 16))
  }
  const free = Array.from({ length: BLOCKS }, (_, block) => block).filter(block => !used.has(block))
  if (free.length === 0) throw new Error('every /20 of 198.18.0.0/15 is in use by other test networks (leaked ones: ip netns list)')
  return free[Math.floor(Math.random() * free.length)]
}

async function ip (...args: string[]): Promise<void> {
  try {
    await run('ip', args)
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`ip ${args.join(' ')}: ${stderr.trim() || (err as Error).message}`)
  }
}
