// The arithmetic of the admin page's line charts (components/admin/LineChart.vue): series
// from the nodes' histories, their total on one time grid, scales, "nice" ticks, labels and
// SVG paths. Plain functions of numbers, so they are unit-tested without a DOM.

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

/** The samples of one figure (`messagesPerSecond`, `pushesPerSecond`) of each node: `[{id, points: [{t, v}]}]`, oldest first. */
export function seriesOf(nodes, key) {
  return (nodes || []).map((n) => ({
    id: n.node,
    points: (n.history || [])
      .map((h) => ({ t: Date.parse(h.at), v: h[key] }))
      .filter((p) => Number.isFinite(p.t) && typeof p.v === 'number' && Number.isFinite(p.v))
      .sort((a, b) => a.t - b.t),
  }))
}

/** A series' value at `t` by linear interpolation between its samples; null outside them. */
export function valueAt(points, t) {
  if (!points.length || t < points[0].t || t > points[points.length - 1].t) return null
  let lo = 0
  let hi = points.length - 1
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (points[mid].t <= t) lo = mid
    else hi = mid
  }
  const a = points[lo]
  const b = points[hi]
  if (b.t === a.t) return b.v
  return a.v + ((b.v - a.v) * (t - a.t)) / (b.t - a.t)
}

/**
 * The sum of the series on one grid, `stepMs` apart. Nodes sample at their own moments, so the
 * grid is laid back from the latest moment every node has reached (the newest point of the
 * total is then complete, not a dip where one node's record is a second older), and each
 * node's value at a grid point is interpolated. The grid starts where the nodes' kept
 * histories all begin (they are cut at the same length, a fraction of a step apart, and a
 * total over only some of them would dip); a node whose history begins later than that
 * (more than two steps after the earliest: it started since) adds 0 before it.
 */
export function totalSeries(series, stepMs) {
  const live = series.filter((s) => s.points.length)
  if (!live.length || !(stepMs > 0)) return []
  const end = Math.min(...live.map((s) => s.points[s.points.length - 1].t))
  const firsts = live.map((s) => s.points[0].t)
  const earliest = Math.min(...firsts)
  const start = Math.max(...firsts.filter((f) => f - earliest <= 2 * stepMs))
  const out = []
  for (let t = end; t >= start; t -= stepMs) {
    let sum = 0
    for (const s of live) sum += t < s.points[0].t ? 0 : valueAt(s.points, t) ?? 0
    out.push({ t, v: sum })
    if (out.length > 10000) break // a bad step must not hang the page
  }
  return out.reverse()
}

/** The time span of the series: [first, last] in ms, or null without points. */
export function timeDomain(series) {
  let lo = Infinity
  let hi = -Infinity
  for (const s of series)
    for (const p of s.points) {
      if (p.t < lo) lo = p.t
      if (p.t > hi) hi = p.t
    }
  return lo <= hi ? [lo, hi] : null
}

/** The largest value of the series (0 without any). */
export function maxValue(series) {
  let m = 0
  for (const s of series) for (const p of s.points) if (p.v > m) m = p.v
  return m
}

/** `[d0, d1]` mapped onto `[r0, r1]`; a zero-width domain maps to the middle. */
export function linearScale([d0, d1], [r0, r1]) {
  const span = d1 - d0
  if (!span) return () => (r0 + r1) / 2
  return (v) => r0 + ((v - d0) * (r1 - r0)) / span
}

/** The smallest step of 1, 2, 2.5 or 5 times a power of ten that is at least `raw`. */
export function niceStep(raw) {
  if (!(raw > 0)) return 1
  const pow = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= raw * (1 - 1e-9)) return m * pow
  return 10 * pow
}

/**
 * Ticks from 0 for a value axis whose data reach `max`: about `count` steps, the top tick
 * at or above `max`. An all-zero chart still gets an axis (0..1).
 */
export function valueTicks(max, count = 4) {
  const top = max > 0 ? max : 1
  const step = niceStep(top / Math.max(1, count))
  const n = Math.max(1, Math.ceil(top / step - 1e-9))
  const ticks = []
  for (let i = 0; i <= n; i++) ticks.push(round(i * step))
  return { max: ticks[ticks.length - 1], ticks }
}

const round = (v) => Math.round(v * 1e9) / 1e9

export const TIME_STEPS = [1, 2, 5, 10, 15, 30].map((s) => s * SECOND).concat([1, 2, 5, 10, 15, 30].map((m) => m * MINUTE), [1, 2, 3, 6, 12, 24].map((h) => h * HOUR))

/**
 * Time ticks in [t0, t1]: the smallest step of TIME_STEPS giving at most `count` ticks, on
 * round local times (every full minute, every 30 s...). `offsetMs` is the local time's offset
 * from UTC (east positive), so a 1 h step lands on the local hour.
 */
export function timeTicks(t0, t1, count = 5, offsetMs = 0) {
  if (!(t1 > t0) || count < 1) return { step: TIME_STEPS[0], ticks: [] }
  const step = TIME_STEPS.find((s) => (t1 - t0) / s <= count) || TIME_STEPS[TIME_STEPS.length - 1]
  const ticks = []
  const first = Math.ceil((t0 + offsetMs) / step) * step - offsetMs
  for (let t = first; t <= t1; t += step) ticks.push(t)
  return { step, ticks }
}

const pad2 = (n) => String(n).padStart(2, '0')

/** A time tick's label in local time: `07:05`, with seconds (`07:05:30`) when the step is under a minute. */
export function formatTimeTick(t, step) {
  const d = new Date(t)
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`
  return step < MINUTE ? `${hm}:${pad2(d.getSeconds())}` : hm
}

/** A value axis label, short: 0, 0.25, 2.5, 12, 150, 1.5k, 12k, 2.5M. */
export function formatValue(v) {
  if (v == null || !Number.isFinite(v)) return '–'
  const a = Math.abs(v)
  if (a >= 1e6) return trim(v / 1e6, a >= 1e7 ? 0 : 1) + 'M'
  if (a >= 1e3) return trim(v / 1e3, a >= 1e4 ? 0 : 1) + 'k'
  if (a >= 100 || a === 0) return String(Math.round(v))
  if (a >= 10) return trim(v, 1)
  return trim(v, 2)
}

const trim = (v, digits) => String(Number(v.toFixed(digits)))

/** An SVG path through the points (`M x y L x y ...`), coordinates rounded to 0.1 px. */
export function linePath(points, x, y) {
  let d = ''
  for (const p of points) {
    if (p.v == null) continue
    d += `${d ? 'L' : 'M'}${r1(x(p.t))} ${r1(y(p.v))}`
  }
  return d
}

const r1 = (v) => Math.round(v * 10) / 10
