/** Minimal SVG charts for the simulation report: grouped bars and cumulative distributions. No library needed. */

export interface Series { readonly name: string, readonly values: readonly number[] }

const W = 640
const H = 330
const M = { left: 70, right: 20, top: 48, bottom: 56 }
const COLORS = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5']

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** 1.2k, 3.4M: short tick labels. */
export function short (n: number): string {
  const a = Math.abs(n)
  if (a >= 1e9) return `${+(n / 1e9).toPrecision(3)}G`
  if (a >= 1e6) return `${+(n / 1e6).toPrecision(3)}M`
  if (a >= 1e3) return `${+(n / 1e3).toPrecision(3)}k`
  return `${+n.toPrecision(3)}`
}

function frame (title: string, xLabel: string, yLabel: string, body: string, legend: readonly string[]): string {
  const items = legend.map((name, i) => `<rect x="${M.left + 10 + i * 150}" y="${M.top - 24}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${M.left + 27 + i * 150}" y="${M.top - 14}" font-size="12">${esc(name)}</text>`).join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">` +
    `<rect width="${W}" height="${H}" fill="white"/>` +
    `<text x="${W / 2}" y="16" font-size="14" text-anchor="middle" font-weight="bold">${esc(title)}</text>${items}` +
    `<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>` +
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="black"/>` +
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>` +
    `<text x="16" y="${(M.top + H - M.bottom) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 16 ${(M.top + H - M.bottom) / 2})">${esc(yLabel)}</text>` +
    body + '</svg>\n'
}

function yAxis (top: number, log: boolean): { y: (v: number) => number, ticks: string } {
  const plotH = H - M.top - M.bottom
  const lo = log ? 0 : 0
  const hiLog = log ? Math.max(1, Math.ceil(Math.log10(Math.max(top, 1)))) : 0
  const y = log
    ? (v: number) => H - M.bottom - (v <= 0 ? 0 : Math.max(0, Math.log10(Math.max(v, 1))) / hiLog * plotH)
    : (v: number) => H - M.bottom - (top <= 0 ? 0 : (v - lo) / top * plotH)
  const values = log ? Array.from({ length: hiLog + 1 }, (_, i) => 10 ** i) : Array.from({ length: 5 }, (_, i) => top * i / 4)
  const ticks = values.map(v => `<line x1="${M.left - 4}" y1="${y(v)}" x2="${W - M.right}" y2="${y(v)}" stroke="#ddd"/><text x="${M.left - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${short(v)}</text>`).join('')
  return { y, ticks }
}

/** Grouped bars: one group per label, one bar per series. */
export function barChart (title: string, labels: readonly string[], series: readonly Series[], xLabel: string, yLabel: string, options: { log?: boolean } = {}): string {
  const top = Math.max(1e-9, ...series.flatMap(s => s.values)) * (options.log === true ? 1 : 1.1)
  const { y, ticks } = yAxis(top, options.log === true)
  const plotW = W - M.left - M.right
  const group = plotW / Math.max(1, labels.length)
  const bar = group * 0.8 / Math.max(1, series.length)
  let body = ticks
  labels.forEach((label, i) => {
    series.forEach((s, j) => {
      const v = s.values[i] ?? 0
      const x = M.left + i * group + group * 0.1 + j * bar
      body += `<rect x="${x}" y="${y(v)}" width="${bar}" height="${H - M.bottom - y(v)}" fill="${COLORS[j % COLORS.length]}"><title>${esc(`${s.name} ${label}: ${v}`)}</title></rect>`
    })
    body += `<text x="${M.left + (i + 0.5) * group}" y="${H - M.bottom + 15}" font-size="11" text-anchor="middle">${esc(label)}</text>`
  })
  return frame(title, xLabel, yLabel, body, series.map(s => s.name))
}

/** Cumulative distributions: the share of items at or below each value. */
export function cdfChart (title: string, series: readonly Series[], xLabel: string, marks: ReadonlyArray<{ at: number, label: string }> = []): string {
  const sorted = series.map(s => Float64Array.from(s.values).sort())
  const hi = Math.max(1e-9, ...sorted.map(v => v.length === 0 ? 0 : v[v.length - 1]), ...marks.map(m => m.at)) * 1.05
  const plotW = W - M.left - M.right
  const x = (v: number): number => M.left + v / hi * plotW
  const { y, ticks } = yAxis(1, false)
  let body = ticks.replace(/>([0-9.]+)</g, (_, v: string) => `>${Math.round(Number(v) * 100)}%<`)
  for (let i = 0; i <= 4; i++) body += `<text x="${x(hi * i / 4)}" y="${H - M.bottom + 15}" font-size="11" text-anchor="middle">${short(hi * i / 4)}</text>`
  sorted.forEach((values, j) => {
    if (values.length === 0) return
    const step = Math.max(1, Math.floor(values.length / 400))
    const points: string[] = [`${x(values[0])},${y(0)}`]
    for (let i = 0; i < values.length; i += step) points.push(`${x(values[i]).toFixed(1)},${y((i + 1) / values.length).toFixed(1)}`)
    points.push(`${x(values[values.length - 1]).toFixed(1)},${y(1)}`)
    body += `<polyline fill="none" stroke="${COLORS[j % COLORS.length]}" stroke-width="2" points="${points.join(' ')}"/>`
  })
  for (const m of marks) body += `<line x1="${x(m.at)}" y1="${M.top}" x2="${x(m.at)}" y2="${H - M.bottom}" stroke="#c53030" stroke-dasharray="4 3"/><text x="${x(m.at) - 4}" y="${M.top + 12}" font-size="11" text-anchor="end" fill="#c53030">${esc(m.label)}</text>`
  return frame(title, xLabel, 'share at or below', body, series.map(s => s.name))
}
