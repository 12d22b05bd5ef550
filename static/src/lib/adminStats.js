// What the admin page shows of the overview (GET /api/admin/overview): traffic shares, figures
// as text, the rejection table, and the merging of an action's answer into records that are
// a few seconds old. Plain functions; the page and the unit tests share them.

/**
 * Each node's share of the messages per second of all nodes, as a fraction (0..1) by node
 * id; null for every node while nothing is sent (a share of nothing is not 0 %).
 */
export function trafficShares(nodes) {
  const sum = (nodes || []).reduce((s, n) => s + (n.messagesPerSecond > 0 ? n.messagesPerSecond : 0), 0)
  const out = {}
  for (const n of nodes || []) out[n.node] = sum > 0 ? Math.max(0, n.messagesPerSecond || 0) / sum : null
  return out
}

/** `42 %`, `<1 %` for a share that is there but rounds to 0, `–` for none. */
export function formatShare(f) {
  if (f == null || !Number.isFinite(f)) return '–'
  if (f > 0 && f < 0.005) return '<1 %'
  return `${Math.round(f * 100)} %`
}

/** Seconds as the two largest units: `45 s`, `12 min 5 s`, `3 h 4 min`, `2 d 5 h`. */
export function formatUptime(seconds) {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return '–'
  const s = Math.floor(seconds)
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  if (d) return `${d} d ${h} h`
  if (h) return `${h} h ${m} min`
  if (m) return `${m} min ${sec} s`
  return `${sec} s`
}

/** A latency in milliseconds: `0.35 ms`, `4.2 ms`, `120 ms`; `–` when there was nothing to measure (null). */
export function formatMs(v) {
  if (v == null || !Number.isFinite(v)) return '–'
  if (v >= 100) return `${Math.round(v)} ms`
  if (v >= 10) return `${Number(v.toFixed(1))} ms`
  return `${Number(v.toFixed(2))} ms`
}

/** A mean batch size (messages per commit): `2.3`; `–` without batches. */
export function formatBatch(v) {
  if (v == null || !Number.isFinite(v)) return '–'
  return String(Number(v.toFixed(v >= 100 ? 0 : 1)))
}

/**
 * A record's commit figures with null for what the interval did not measure: a record says
 * 0 ms and a mean batch of 0 when the node committed nothing, which is no latency at all.
 */
export function measuredCommit(n) {
  const c = (n && n.commit) || {}
  const none = !(Number(c.batches) > 0)
  const v = (x) => (none || x == null ? null : x)
  return { p50Ms: v(c.p50Ms), p99Ms: v(c.p99Ms), meanBatch: v(c.meanBatch), batches: c.batches ?? null }
}

/**
 * A record's broker lag with null when nothing arrived from another node: `messages` says how
 * many did (a record without it, from an older node: 0 and 0 mean none).
 */
export function measuredLag(n) {
  const l = (n && n.brokerLag) || {}
  const none = l.messages != null ? !(Number(l.messages) > 0) : !(l.p50Ms > 0) && !(l.p99Ms > 0)
  return { p50Ms: none ? null : l.p50Ms ?? null, p99Ms: none ? null : l.p99Ms ?? null }
}

/** A rate: `0`, `0.5`, `12.5`, `1,250`. */
export function formatRate(v) {
  if (v == null || !Number.isFinite(v)) return '–'
  if (v >= 100) return Math.round(v).toLocaleString('en-US')
  return String(Number(v.toFixed(1)))
}

/**
 * The limit rejections as rows: `[{kind, counts: {nodeId: n}, total}]`, one per kind any node
 * reports, those with rejections first (most first), then the quiet ones by name.
 */
export function rejectionRows(nodes) {
  const kinds = new Set()
  for (const n of nodes || []) for (const k of Object.keys(n.rejections || {})) kinds.add(k)
  const rows = [...kinds].map((kind) => {
    const counts = {}
    let total = 0
    for (const n of nodes) {
      const c = Number((n.rejections || {})[kind]) || 0
      counts[n.node] = c
      total += c
    }
    return { kind, counts, total }
  })
  return rows.sort((a, b) => b.total - a.total || a.kind.localeCompare(b.kind))
}

/** `rate_limited` -> `rate limited`. */
export function kindLabel(kind) {
  return String(kind).replace(/_/g, ' ')
}

/**
 * The nodes with the state an action just set (`pending`: `{nodeId: {state, until}}`) in place
 * of the one their records still carry: a record is up to one stats interval old, and a drain
 * must not show "ready" again for a moment. An override ends when the record agrees or at
 * `until` (ms). Returns `{nodes, pending}`, `pending` without the overrides that ended.
 */
export function withPendingStates(nodes, pending, now) {
  const left = {}
  const out = (nodes || []).map((n) => {
    const p = pending && pending[n.node]
    if (!p || p.until <= now || p.state === n.state) return n
    left[n.node] = p
    return { ...n, state: p.state }
  })
  return { nodes: out, pending: left }
}

/**
 * The busiest rooms without those just closed (`closed`: `{code: until}`, ms): every node's
 * record lists a room until that node's next report, and records come a few seconds apart,
 * so a closed room stays hidden until `until` even when one overview already left it out.
 * Returns `{rooms, closed}`, `closed` without the entries that expired.
 */
export function withoutClosedRooms(rooms, closed, now) {
  const left = {}
  for (const [code, until] of Object.entries(closed || {})) if (until > now) left[code] = until
  return { rooms: (rooms || []).filter((r) => !left[r.code]), closed: left }
}
