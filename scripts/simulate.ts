/**
 * npm run simulate -- [options]: the fleet simulator's shell (model: src/sim/, docs/simulation.md).
 *
 * Measures the unit costs from the real codecs on this machine (signed frames, viewer messages,
 * partials; frame verification, election hashes, tier merges), runs the model with a progress bar
 * on stderr, writes the report (Markdown with SVG plots) and ends with one `RESULT {json}` line.
 * `--size` prints how many hosts each region needs for a target load instead; `--bench-tiers`
 * what bench:tiers should measure, for made-up peer ids (bench:tiers runs it on its own).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { rendezvousScore } from '../src/elect/index.ts'
import type { JsonObject } from '../src/json.ts'
import { docIdFor, GENESIS_HASH, signFrameSync, verifyFrameSync } from '../src/log/index.ts'
import type { FrameLimits } from '../src/log/index.ts'
import { encodeMessage, frameMessage } from '../src/observe/protocol.ts'
import { ByteWriter } from '../src/reduce/bytes.ts'
import { encodePartial, Outbox, partialOf, tallyReducer, windowSigningBytes } from '../src/reduce/index.ts'
import type { Reducer, WindowEntry } from '../src/reduce/index.ts'
import { configProblem, makeRegions, NOMINAL_COSTS, predictSmall, resultOf, SIM_DEFAULTS, simulate, sizeFleet, viewersByShare } from '../src/sim/index.ts'
import type { Phase, SimConfig, UnitCosts } from '../src/sim/index.ts'
import { prng } from '../src/sim/random.ts'
import { writeReport } from './sim-report.ts'

interface Knob { key: keyof SimConfig, flag: string, help: string, scale?: number }

const KNOBS: Knob[] = [
  { key: 'viewers', flag: 'viewers', help: 'viewers in the world' },
  { key: 'superPeers', flag: 'super-peers', help: 'super-peer hosts' },
  { key: 'regions', flag: 'regions', help: 'regions (the first 10 are named cloud regions)' },
  { key: 'documents', flag: 'documents', help: 'documents (multi-tenant: 1,000 per tenant key)' },
  { key: 'zipf', flag: 'zipf', help: 'Zipf exponent of document popularity' },
  { key: 'locality', flag: 'locality', help: "share of a document's viewers in its home region" },
  { key: 'frameRate', flag: 'frame-rate', help: 'frames per second per document' },
  { key: 'fanout', flag: 'fanout', help: 'children per proxy in the tree' },
  { key: 'meshDegree', flag: 'mesh-degree', help: 'flat mesh degree D' },
  { key: 'spread', flag: 'spread', help: 'viewers of one document per super-peer before the balancer adds another' },
  { key: 'nicBitsPerS', flag: 'nic-gbps', help: 'host NIC egress, Gbit/s', scale: 1e9 },
  { key: 'cores', flag: 'cores', help: 'host CPU cores' },
  { key: 'roleCapacity', flag: 'role-capacity', help: 'most proxy roles a host takes' },
  { key: 'writers', flag: 'writers', help: 'share of viewers who write input' },
  { key: 'writerMessagesPerS', flag: 'writer-rate', help: 'messages per second per writer' },
  { key: 'windowMs', flag: 'window-ms', help: 'reducer window' },
  { key: 'kills', flag: 'kills', help: 'random host kills' },
  { key: 'durationS', flag: 'duration-s', help: 'simulated seconds the kills are spread over' },
  { key: 'detectMs', flag: 'detect-ms', help: 'time for a child to notice a dead parent' },
  { key: 'resubscribeRtts', flag: 'resubscribe-rtts', help: 'round trips to resubscribe to a new parent' },
  { key: 'exactDocs', flag: 'exact-docs', help: 'most popular documents whose region elections hash every member' },
  { key: 'seed', flag: 'seed', help: 'random seed' }
]

const USAGE = `npm run simulate -- [options]

A discrete-event simulation of a deltacast fleet driven by the real election and reducer code.
With no options it runs the planet-scale case.

Options (default in brackets):
${KNOBS.map(k => `  --${k.flag.padEnd(18)} ${k.help} [${SIM_DEFAULTS[k.key] / (k.scale ?? 1)}]`).join('\n')}
  --flat               RESULT describes the flat mesh instead of the tree (the report has both)
  --no-flat            skip the flat mesh
  --report PATH        report to write, SVGs beside it in sim/ [docs/simulation.md]; "-" for none
  --size               sizing: print hosts per region for the target load and exit
  --viewers-per-region N[,N...]  sizing: viewers in each region (one number: every region) [viewers split by region share]
  --utilization X      sizing: most of a host's NIC or CPU to use [0.6]
  --host-viewers N     sizing: most viewer connections per host [50000]
  --bench-tiers        the bench:tiers case: print the per-frame counts it should measure and exit
  --per-region N       bench-tiers: super-peers in each of eu, us, ap [3]; viewers in eu and us
  --change-bytes N     bench-tiers: bytes of the one change in each frame [512]
  --verify-us X        use X µs per frame verification instead of measuring it (size for other hardware)
  --send-us X          µs per message sent [${NOMINAL_COSTS.sendUs}, modelled]
  --help               this text
`

interface Cli {
  hostViewers: number
  verifyUs?: number
  sendUs?: number
  config: SimConfig
  flat: boolean
  noFlat: boolean
  report: string
  size: boolean
  perRegion?: string
  utilization: number
  /** --bench-tiers, with the frame rate and fan-out given (else bench:tiers' own). */
  benchTiers?: { perRegion: number, changeBytes: number, frameRate: number, fanout: number }
}

function parseCli (argv: string[]): Cli | { help: true } {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' }, flat: { type: 'boolean' }, 'no-flat': { type: 'boolean' }, size: { type: 'boolean' }, report: { type: 'string' }, 'viewers-per-region': { type: 'string' }, utilization: { type: 'string' }, 'host-viewers': { type: 'string' }, 'verify-us': { type: 'string' }, 'send-us': { type: 'string' }, 'bench-tiers': { type: 'boolean' }, 'per-region': { type: 'string' }, 'change-bytes': { type: 'string' } }
  for (const k of KNOBS) options[k.flag] = { type: 'string' }
  const { values } = parseArgs({ args: argv, options, strict: true })
  if (values.help === true) return { help: true }
  const config: Record<string, number> = { ...SIM_DEFAULTS }
  for (const k of KNOBS) {
    const text = values[k.flag]
    if (typeof text !== 'string') continue
    const value = Number(text.replaceAll('_', ''))
    if (!Number.isFinite(value)) throw new UsageError(`--${k.flag} must be a number, got ${JSON.stringify(text)}`)
    config[k.key] = value * (k.scale ?? 1)
  }
  const problem = configProblem(config as unknown as SimConfig)
  if (problem !== undefined) throw new UsageError(problem)
  const utilization = Number(values.utilization ?? 0.6)
  if (!(utilization > 0 && utilization <= 1)) throw new UsageError(`--utilization must be in (0, 1], got ${String(values.utilization)}`)
  const positive = (flag: string, fallback: number | undefined): number | undefined => {
    const text = values[flag]
    if (typeof text !== 'string') return fallback
    const value = Number(text.replaceAll('_', ''))
    if (!(value > 0)) throw new UsageError(`--${flag} must be a positive number, got ${JSON.stringify(text)}`)
    return value
  }
  const whole = (flag: string, fallback: number): number => {
    const value = positive(flag, fallback)!
    if (!Number.isInteger(value)) throw new UsageError(`--${flag} must be a whole number, got ${String(values[flag])}`)
    return value
  }
  return {
    // bench:tiers' defaults: BENCH_TIERS_FRAMES_PER_S 20, the super-peers' --fanout 32.
    benchTiers: values['bench-tiers'] === true
      ? { perRegion: whole('per-region', 3), changeBytes: whole('change-bytes', 512), frameRate: typeof values['frame-rate'] === 'string' ? config.frameRate : 20, fanout: typeof values.fanout === 'string' ? config.fanout : 32 }
      : undefined,
    hostViewers: positive('host-viewers', 50_000)!,
    verifyUs: positive('verify-us', undefined),
    sendUs: positive('send-us', undefined),
    config: config as unknown as SimConfig,
    flat: values.flat === true,
    noFlat: values['no-flat'] === true,
    report: typeof values.report === 'string' ? values.report : 'docs/simulation.md',
    size: values.size === true,
    perRegion: typeof values['viewers-per-region'] === 'string' ? values['viewers-per-region'] : undefined,
    utilization
  }
}

class UsageError extends Error {
  static override name = 'UsageError'
  override name = 'UsageError'
}

// Representative changes: a score tick, a chat message appended to a list, a cursor move.
const DELTAS: JsonObject[] = [
  { score: { home: 3, away: 1 }, clock: '71:04' },
  { chat: { m8812: { from: 'ada', text: 'what a save! did anyone else see that keeper?', at: 1764625200123 }, '@o': [[0, 199], 'm8812'] } },
  { cursors: { u4417: { x: 412, y: 1033, sel: [12, 19] } } }
]

const timeUs = (n: number, run: (i: number) => void): number => {
  for (let i = 0; i < Math.min(n, 100); i++) run(i) // warm-up
  const started = performance.now()
  for (let i = 0; i < n; i++) run(i)
  return (performance.now() - started) * 1000 / n
}

/** Unit costs from the real codecs and code paths, measured now on this machine. */
async function measureCosts (): Promise<UnitCosts> {
  const docKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))
  const peerKey = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(9))
  const docId = docIdFor(docKey.publicKey.raw, 'match-4417')
  const frames = DELTAS.map((delta, i) => signFrameSync(docKey, { docId, epoch: 1, seq: 1_000_000 + i, time: 1_764_625_200_000, prevHash: GENESIS_HASH, changes: [delta] }))
  const frameBytes = frames.reduce((s, f) => s + f.bytes.length, 0) / frames.length
  const viewerMessageBytes = DELTAS.reduce((s, delta, i) => s + encodeMessage(frameMessage(1_000_000 + i, delta)).length, 0) / DELTAS.length
  const limits: FrameLimits = { maxFrameBytes: 1 << 20 }
  const verifyFrameUs = timeUs(300, i => { if (!verifyFrameSync(frames[i % frames.length].bytes, docId, limits).ok) throw new Error('a signed frame did not verify') })

  const scope = `${docId}/eu-west`
  const ids = Array.from({ length: 2000 }, (_, i) => `12D3KooW${String(i).padStart(44, 'x')}`)
  let sink = 0
  const hashUs = timeUs(20_000, i => { sink += rendezvousScore(scope, ids[i % ids.length], 1) })
  if (!(sink > 0)) throw new Error('unreachable')

  // Partials: an 8-key tally window per origin, signed by the origin's key (real signature bytes).
  const POLL = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'pink', 'white']
  const tally = tallyReducer({ capacity: POLL.length, keys: POLL }) as Reducer<unknown>
  const origin = `${peerIdFromPrivateKey(peerKey).toString()}/${'b'.repeat(22)}`
  const entryOf = (o: number): WindowEntry => {
    const state = tally.empty()
    for (let k = 0; k < 40; k++) tally.add(state, POLL[(o + k * 3) % POLL.length], { window: 1_764_625_200, writer: `w${k}`, id: k + 1 })
    const out = new ByteWriter()
    tally.encode(state, out)
    const unsigned: WindowEntry = { origin: origin.slice(0, -4) + String(o).padStart(4, '0'), window: 1_764_625_200, state: out.finish(), signature: null }
    return { ...unsigned, signature: peerKey.sign(windowSigningBytes('poll', tally.code, unsigned)) as Uint8Array }
  }
  const entries = Array.from({ length: 201 }, (_, o) => entryOf(o))
  const one = encodePartial(partialOf('poll', tally.code, entries.slice(0, 1))).length
  const many = encodePartial(partialOf('poll', tally.code, entries)).length
  const partialEntryBytes = (many - one) / (entries.length - 1)
  const singles = entries.map(e => partialOf('poll', tally.code, [e]))
  let outbox = new Outbox('poll', tally.code)
  const mergeEntryUs = timeUs(20_000, i => {
    if (i % singles.length === 0) outbox = new Outbox('poll', tally.code) // a tier's outbox for one window
    outbox.add(singles[i % singles.length])
  })
  return {
    ...NOMINAL_COSTS,
    frameBytes,
    viewerMessageBytes,
    partialHeaderBytes: one - partialEntryBytes,
    partialEntryBytes,
    verifyFrameUs,
    hashUs,
    mergeEntryUs
  }
}
const PHASES: Phase[] = ['fleet', 'trees', 'kills', 'flat']
const PHASE_WEIGHT: Record<Phase, number> = { fleet: 0.05, trees: 0.75, kills: 0.1, flat: 0.1 }

function progressBar (started: number): (phase: Phase, done: number, total: number) => void {
  let lastDraw = 0
  return (phase, done, total) => {
    const t = performance.now()
    if (t - lastDraw < 250 && done < total) return
    lastDraw = t
    const before = PHASES.slice(0, PHASES.indexOf(phase)).reduce((s, p) => s + PHASE_WEIGHT[p], 0)
    const share = Math.min(1, before + PHASE_WEIGHT[phase] * (total === 0 ? 1 : done / total))
    const width = 30
    const filled = Math.round(share * width)
    process.stderr.write(`\r  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}%  ${phase.padEnd(5)} ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')}  ${((t - started) / 1000).toFixed(0)} s   `)
    if (phase === 'flat' && done >= total) process.stderr.write('\n')
  }
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

function size (config: SimConfig, costs: UnitCosts, perRegion: string | undefined, utilization: number, hostViewers: number): void {
  const regions = makeRegions(config.regions, prng(config.seed))
  let viewers: number[]
  if (perRegion === undefined) viewers = viewersByShare(config.viewers, regions.map(r => r.share))
  else {
    const parts = perRegion.split(',').map(p => Number(p.replaceAll('_', '')))
    if (parts.some(p => !Number.isFinite(p) || p < 0)) throw new UsageError(`--viewers-per-region must be numbers, got ${perRegion}`)
    viewers = parts.length === 1 ? regions.map(() => parts[0]) : parts
    if (viewers.length !== regions.length) throw new UsageError(`--viewers-per-region lists ${viewers.length} regions, --regions is ${regions.length}`)
  }
  const rows = sizeFleet({
    viewersPerRegion: viewers, regionNames: regions.map(r => r.name), documents: config.documents, zipf: config.zipf, locality: config.locality,
    frameRate: config.frameRate, spread: config.spread, nicBitsPerS: config.nicBitsPerS, cores: config.cores, maxViewersPerHost: hostViewers, utilization
  }, costs)
  console.log(`sizing: ${fmt(config.documents)} documents at ${config.frameRate} frames/s, hosts of ${config.nicBitsPerS / 1e9} Gbit/s, ${config.cores} cores and ${fmt(hostViewers)} viewers, NIC and CPU used to ${utilization * 100}%`)
  console.log(`frame ${fmt(costs.frameBytes)} B, viewer message ${fmt(costs.viewerMessageBytes)} B (+${costs.viewerOverheadBytes} B transport), verify ${fmt(costs.verifyFrameUs, 1)} µs, send ${costs.sendUs} µs (modelled)`)
  console.log('region            viewers        hosts  bound    egress/host     cpu/host  links in')
  for (const r of rows) {
    console.log(`${r.region.padEnd(16)} ${fmt(r.viewers).padStart(14)} ${fmt(r.hosts).padStart(8)}  ${r.bound.padEnd(7)} ${(fmt(r.egressPerHost * 8 / 1e9, 2) + ' Gbit/s').padStart(12)} ${(fmt(r.cpuPerHost * 100, 1) + '%').padStart(10)}  ${fmt(r.links)}`)
  }
  const total = rows.reduce((s, r) => s + r.hosts, 0)
  console.log(`total ${fmt(total)} hosts for ${fmt(viewers.reduce((s, v) => s + v, 0))} viewers`)
  console.log(`RESULT ${JSON.stringify({ hosts: total, per_region: Object.fromEntries(rows.map(r => [r.region, r.hosts])) })}`)
}

/** What bench:tiers should measure under tiers: its regions and viewers, made-up peer ids, a real frame of its size. */
async function benchTiers (bench: NonNullable<Cli['benchTiers']>, costs: UnitCosts): Promise<void> {
  const regions = ['eu', 'us', 'ap']
  const withViewers = ['eu', 'us']
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(11))
  const docId = docIdFor(key.publicKey.raw, 'bench')
  const frameBytes = signFrameSync(key, { docId, epoch: 1, seq: 1000, time: 1_764_625_200_000, prevHash: GENESIS_HASH, changes: [{ n: 1000, pad: 'x'.repeat(bench.changeBytes) }] }).bytes.length
  const hosts = await Promise.all(Array.from({ length: regions.length * bench.perRegion }, async (_, i) => ({
    peerId: peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(100 + i))).toString(), region: regions[Math.floor(i / bench.perRegion)]
  })))
  const carriers = hosts.flatMap((h, host) => withViewers.includes(h.region) ? [{ host, viewers: 1 }] : [])
  const p = predictSmall({ regions, hosts, docId, carriers, frameRate: bench.frameRate, fanout: bench.fanout, meshDegree: 6 }, { ...costs, frameBytes })
  console.log(`bench:tiers case: ${regions.length} regions × ${bench.perRegion} super-peers, viewers in ${withViewers.join(' and ')}, authority outside; ${bench.frameRate} frames/s of ${frameBytes} B, fan-out ${bench.fanout}`)
  const line = (name: string, value: string): void => { console.log(`${name.padEnd(48)} ${value}`) }
  line('authority frame messages per frame', fmt(p.authorityFramesPerFrame, 2))
  line('frame messages per frame, all nodes', fmt(p.framesPerFrame, 2))
  line('copies into each region per frame', regions.map(r => `${r} ${fmt(p.copiesIntoRegion[r], 2)}`).join(', '))
  line('authority egress, B per frame', fmt(p.authorityFrameBytesPerFrame))
  line('bytes per frame crossing sites', fmt(p.crossSiteFrameBytesPerFrame))
  line('bytes per frame, all frame messages', fmt(p.frameBytesPerFrame))
  line('membership accepted/s per super-peer (steady)', `${fmt(p.membershipPerNodePerS, 2)} (schedule's bound ${fmt(p.membershipBoundPerNodePerS, 2)})`)
  line('membership B/s on all links (steady)', fmt(p.membershipBytesPerS))
  for (const t of p.trees) line(`tree ${t.region}`, `proxy ${t.proxy ?? 'none'}, ${t.members.length} members, ${t.scopes.length} sub-scopes`)
  console.log(`RESULT ${JSON.stringify({
    authority_frames_per_frame: p.authorityFramesPerFrame,
    frames_per_frame: p.framesPerFrame,
    cross_region_copies_per_frame: withViewers.reduce((s, r) => s + p.copiesIntoRegion[r], 0) / withViewers.length,
    authority_egress_bytes_per_frame: p.authorityFrameBytesPerFrame,
    membership_msgs_per_s_per_node: Number(p.membershipPerNodePerS.toFixed(4))
  })}`)
}

async function main (): Promise<void> {
  const started = performance.now()
  const cli = parseCli(process.argv.slice(2))
  if ('help' in cli) { process.stdout.write(USAGE); return }
  process.stderr.write('  measuring unit costs from the real codecs\n')
  const measured = await measureCosts()
  const costs: UnitCosts = { ...measured, verifyFrameUs: cli.verifyUs ?? measured.verifyFrameUs, sendUs: cli.sendUs ?? measured.sendUs }
  if (cli.size) { size(cli.config, costs, cli.perRegion, cli.utilization, cli.hostViewers); return }
  if (cli.benchTiers !== undefined) { await benchTiers(cli.benchTiers, costs); return }
  const c = cli.config
  console.log(`simulate: ${fmt(c.viewers)} viewers, ${fmt(c.superPeers)} super-peers in ${c.regions} regions, ${fmt(c.documents)} documents (Zipf ${c.zipf}), ${c.frameRate} frames/s, fan-out ${c.fanout}, seed ${c.seed}`)
  console.log(`unit costs: frame ${fmt(costs.frameBytes)} B, viewer message ${fmt(costs.viewerMessageBytes)} B, partial ${fmt(costs.partialHeaderBytes)} B + ${fmt(costs.partialEntryBytes)} B per entry; verify ${fmt(costs.verifyFrameUs, 1)} µs, hash ${fmt(costs.hashUs, 2)} µs, merge ${fmt(costs.mergeEntryUs, 2)} µs per entry`)
  const report = simulate(c, costs, { flat: !cli.noFlat, progress: progressBar(started) })
  if (cli.noFlat) process.stderr.write('\n')
  const wallS = (performance.now() - started) / 1000
  const tree = resultOf(report, report.tree, wallS)
  const flat = report.flat === undefined ? undefined : resultOf(report, report.flat, wallS)
  for (const [label, r] of [['tree', tree], ['flat', flat]] as const) {
    if (r === undefined) continue
    console.log(`${label}: depth ${r.max_depth}, egress/NIC max ${fmt(r.max_egress_vs_nic * 100, 2)}% p99 ${fmt(r.p99_egress_vs_nic * 100, 2)}%, authority ${fmt(r.authority_egress_bytes_per_s)} B/s, ` +
      `cross-region ${fmt(r.cross_region_bytes_per_frame_top_doc)} B/frame (top doc), membership ${fmt(r.membership_msgs_per_s_per_node, 1)} msgs/s/node, ` +
      `failover p99 ${fmt(r.failover_ms_p99)} ms, authority partials ${fmt(r.authority_partials_per_s, 1)}/s`)
  }
  if (cli.report !== '-') {
    const svgDir = join(dirname(cli.report), 'sim')
    await mkdir(svgDir, { recursive: true })
    const files = writeReport(report, { tree, flat, wallS, svgDir: relative(dirname(cli.report), svgDir) })
    for (const [name, text] of files.svgs) await writeFile(join(svgDir, name), text)
    await writeFile(cli.report, files.markdown)
    console.log(`report ${cli.report} (${files.svgs.size} plots in ${svgDir})`)
  }
  const headline = cli.flat && flat !== undefined ? flat : tree
  const result: Record<string, unknown> = { design: cli.flat && flat !== undefined ? 'flat' : 'tree', ...headline, wall_s: Number(((performance.now() - started) / 1000).toFixed(1)) }
  const other = cli.flat ? tree : flat
  if (other !== undefined) for (const [k, v] of Object.entries(other)) if (!['viewers', 'super_peers', 'documents', 'regions', 'wall_s'].includes(k)) result[`${cli.flat ? 'tree' : 'flat'}_${k}`] = v
  console.log(`RESULT ${JSON.stringify(result)}`)
}

main().catch((err: unknown) => {
  if (err instanceof UsageError || (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`simulate: ${err.message}\n(npm run simulate -- --help lists the options)\n`)
  } else {
    process.stderr.write(`simulate: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  }
  process.exitCode = 1
})
