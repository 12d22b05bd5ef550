// Display helpers (local time, day separators, avatar colours, grouping).

const timeFmt = () => new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' })
const fullFmt = () => new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' })
const dayFmt = () => new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' })
const dayFmtYear = () => new Intl.DateTimeFormat(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' })

export function formatTime(iso) {
  const d = new Date(iso)
  return isNaN(d) ? '' : timeFmt().format(d)
}

export function formatFull(iso) {
  const d = new Date(iso)
  return isNaN(d) ? '' : fullFmt().format(d)
}

function startOfDay(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime()
}

/** "Today", "Yesterday", or a local date. */
export function dayLabel(iso, now = new Date()) {
  const d = new Date(iso)
  if (isNaN(d)) return ''
  const diff = Math.round((startOfDay(now) - startOfDay(d)) / 86400000)
  if (diff === 0) return 'Today'
  if (diff === 1) return 'Yesterday'
  return (d.getFullYear() === now.getFullYear() ? dayFmt() : dayFmtYear()).format(d)
}

export function dayKey(iso) {
  const d = new Date(iso)
  return isNaN(d) ? '' : `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`
}

export function hueOf(name) {
  let h = 0
  for (const ch of String(name)) h = (h * 31 + ch.codePointAt(0)) >>> 0
  return h % 360
}

export function initials(name) {
  const parts = String(name).trim().split(/\s+/).filter(Boolean)
  if (!parts.length) return '?'
  const first = [...parts[0]][0] || ''
  const second = parts.length > 1 ? [...parts[parts.length - 1]][0] || '' : [...parts[0]][1] || ''
  return (first + second).toUpperCase()
}

/** The first `max` characters of `text`, with an ellipsis when it was longer. */
export function excerpt(text, max = 80) {
  return text.length > max ? text.slice(0, max - 1) + '…' : text
}

/**
 * Decorate store items for display: day separators, grouping of consecutive messages
 * from the same sender within `gapMs`, and for a reply the message it quotes (`quote`:
 * `{ sender, content, own, deleted }`, or null when that message is not loaded; a deleted
 * one quotes no text). An integration's
 * message (`bot`) never joins a member's group, even under the same name: it must not
 * pass for theirs.
 */
export function decorate(items, { gapMs = 5 * 60 * 1000 } = {}) {
  const byId = new Map(items.filter((i) => i.id != null).map((i) => [i.id, i]))
  const quoteOf = (id) => {
    const q = id != null ? byId.get(id) : null
    return q ? { sender: q.sender, content: q.deleted ? '' : excerpt(q.content), own: q.own, deleted: !!q.deleted } : null
  }
  const out = []
  let prev = null
  for (const it of items) {
    const day = dayKey(it.createdAt)
    const newDay = !prev || dayKey(prev.createdAt) !== day
    const t = new Date(it.createdAt).getTime()
    const grouped =
      !newDay &&
      prev &&
      prev.sender === it.sender &&
      prev.own === it.own &&
      !!prev.bot === !!it.bot &&
      t - new Date(prev.createdAt).getTime() < gapMs
    out.push({ ...it, newDay, dayLabel: newDay ? dayLabel(it.createdAt) : '', grouped, quote: quoteOf(it.replyTo) })
    prev = it
  }
  return out
}
