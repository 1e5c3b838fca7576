// `npm start` end to end: the demo starts an authority, super-peers and a web server; Chromium
// opens the printed URL and sees the document live; SIGINT stops everything cleanly.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { launchChromium } from '../browser/helpers/harness.ts'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import type { Browser } from 'playwright-core'

const DEMO = fileURLToPath(new URL('../../scripts/demo.ts', import.meta.url))

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('npm start (the demo)', function () {
  this.timeout(90_000) // five processes and a browser, on a 2-core machine running the rest of the suite
  let demo: ChildProcessWithoutNullStreams | undefined
  let browser: Browser | undefined
  const superPeerPids: number[] = []

  after(async () => {
    await browser?.close()
    if (demo !== undefined && demo.exitCode === null && demo.signalCode === null) demo.kill('SIGKILL')
    for (const pid of superPeerPids) if (alive(pid)) process.kill(pid, 'SIGKILL')
  })

  it('serves a page that follows the live document, and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, [DEMO], { env: { ...process.env, PORT: '0' }, stdio: ['pipe', 'pipe', 'pipe'] })
    demo = child
    let output = ''
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    const exited = new Promise<number | string>(resolve => child.once('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown') }))

    let topologyUrl: string | undefined
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', line => {
        output += line + '\n'
        const pid = /super-peer\s+\S+\s+region \w+\s+pid (\d+)/.exec(line)
        if (pid !== null) superPeerPids.push(Number(pid[1]))
        const topology = /topology.*?(http:\/\/\S+)/.exec(line)
        if (topology !== null) topologyUrl = topology[1]
        const open = /Open (http:\/\/\S+)/.exec(line)
        if (open !== null) resolve(open[1])
      })
      void exited.then(code => { reject(new Error(`demo exited (${code}) before printing its URL:\n${output}`)) })
    })
    assert.equal(superPeerPids.length, 4, 'four super-peers')

    browser = await launchChromium()
    const page = await browser.newPage()
    page.on('pageerror', err => { output += `page error: ${err.message}\n` })
    await page.goto(url)
    const seqOnPage = async (): Promise<number> => Number(await page.textContent('#seq'))
    await page.waitForFunction(() => Number(document.getElementById('seq')?.textContent) > 0, undefined, { timeout: 15_000, polling: 100 })
    const first = await seqOnPage()
    await page.waitForFunction(seq => Number(document.getElementById('seq')?.textContent) >= seq + 3, first, { timeout: 10_000, polling: 100 })

    assert.ok(await page.locator('#leaderboard li').count() >= 5, 'the leaderboard lists the players')
    assert.equal(await page.textContent('#state'), 'live')
    assert.match(await page.textContent('#peer') ?? '', /^sp-(eu|us)-\d · (eu|us) · (WebRTC-Direct|WebSockets)$/)
    // Reactions go up the tree and come back merged, counted in the document.
    await page.click('#reactions button[data-reaction="fire"]')
    await page.click('#reactions button[data-reaction="fire"]')
    await page.waitForFunction(() => /🔥 2$/.test(document.querySelector('#reactions button[data-reaction="fire"]')?.textContent ?? ''), undefined, { timeout: 20_000, polling: 100 })
    await page.waitForFunction(() => /you sent 2, 2 counted/.test(document.getElementById('reacted')?.textContent ?? ''), undefined, { timeout: 20_000, polling: 100 })
    assert.ok(topologyUrl !== undefined, `a line gives the topology page's URL:\n${output}`)
    assert.equal(await page.getAttribute('#topology', 'href'), topologyUrl, 'the page links to the topology page')
    const tree = await (await fetch(`${topologyUrl}/api/topology`)).json()
    assert.equal(tree.nodes.filter((node: { up: boolean }) => node.up).length, 4, 'the topology page sees the four super-peers')
    await page.close()

    const stoppedAt = Date.now()
    child.kill('SIGINT')
    const code = await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 15_000, 'timeout'))])
    assert.equal(code, 0, `demo exit code (after ${Date.now() - stoppedAt} ms):\n${output}`)
    assert.deepEqual(superPeerPids.filter(alive), [], 'every super-peer exited')
  })
})
