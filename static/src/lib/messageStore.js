// Message store for one room: confirmed messages placed by id (never twice),
// plus local outgoing messages keyed by clientId (pending / failed) until the
// server's copy (ack or push, whichever comes first) replaces them.
// A message changes (edits, deletion, reactions): each state carries the `seq` of the
// room's change stream it was made at, and a held message is replaced only by a state with
// a greater seq, whatever the order in which pushes, acks, `missed`, `changes` and history
// pages bring them.
// `reactive` lets the Vue layer make `state` reactive; tests pass nothing.

const identity = (x) => x

/** How many states of messages not held yet (an update that overtook a history page) are kept. */
const LATER_MAX = 500

/**
 * A server Message with every Version 2 field present: messages from older servers lack
 * them and count as not edited, not deleted, without reactions, at seq 0. A deleted
 * message shows no content and no reactions whatever it carried.
 */
export function normalizeMessage(m) {
  const deleted = m.deleted === true
  const reactions = deleted || !Array.isArray(m.reactions)
    ? []
    : m.reactions
        .filter((r) => r && typeof r.emoji === 'string' && Number.isInteger(r.count) && r.count > 0)
        .map((r) => ({ emoji: r.emoji, count: r.count }))
  return {
    ...m,
    content: deleted ? '' : typeof m.content === 'string' ? m.content : '',
    authorId: typeof m.authorId === 'string' && m.authorId ? m.authorId : null,
    editedAt: !deleted && typeof m.editedAt === 'string' && m.editedAt ? m.editedAt : null,
    deleted,
    reactions,
    seq: Number.isInteger(m.seq) && m.seq > 0 ? m.seq : 0,
  }
}

export class MessageStore {
  constructor({ reactive = identity, isOwn } = {}) {
    this.confirmed = new Map() // id -> Message (normalized)
    this.later = new Map() // id -> newest state seen of a message not held yet
    this.local = new Map() // clientId -> local entry
    this.nextLocal = 0 // send order of local messages
    this.isOwn = isOwn || (() => false)
    this.state = reactive({ items: [], highestId: null, lowestId: null, count: 0 })
  }

  /** Highest confirmed id seen: the `sinceId` to resume from (null when none seen). */
  get sinceId() {
    return this.state.highestId
  }

  get oldestId() {
    return this.state.lowestId
  }

  has(id) {
    return this.confirmed.has(id)
  }

  /** The held message with this id (normalized), or null. */
  get(id) {
    return this.confirmed.get(id) || null
  }

  /**
   * Merge server messages (history pages, `missed`, pushes, acks) in any order. A message
   * already held is replaced when this state is newer (a greater seq). Returns the
   * messages that were new.
   */
  addConfirmed(messages) {
    const added = []
    let changed = false
    for (const raw of Array.isArray(messages) ? messages : [messages]) {
      if (!raw || typeof raw.id !== 'number') continue
      let m = normalizeMessage(raw)
      if (m.clientId && this.local.delete(m.clientId)) changed = true
      const held = this.confirmed.get(m.id)
      if (held) {
        if (m.seq > held.seq) {
          this.confirmed.set(m.id, m)
          changed = true
        }
        continue
      }
      const later = this.later.get(m.id)
      if (later) {
        this.later.delete(m.id)
        if (later.seq > m.seq) m = later
      }
      this.confirmed.set(m.id, m)
      added.push(m)
      changed = true
    }
    if (changed) this._rebuild()
    return added
  }

  /**
   * A changed message (a `chat:update` push, an ack of a change, an entry of `changes`).
   * Returns 'applied' when it replaced the held message, 'stale' when the held one is as new
   * or newer (seq not greater), 'unknown' when the message is not held: that state is kept
   * for when the message arrives (a history page read before the change).
   */
  applyUpdate(raw) {
    if (!raw || typeof raw.id !== 'number') return 'unknown'
    const m = normalizeMessage(raw)
    const held = this.confirmed.get(m.id)
    if (!held) {
      const later = this.later.get(m.id)
      if (!later || m.seq > later.seq) {
        this.later.delete(m.id)
        this.later.set(m.id, m)
        if (this.later.size > LATER_MAX) this.later.delete(this.later.keys().next().value)
      }
      return 'unknown'
    }
    if (m.seq <= held.seq) return 'stale'
    this.confirmed.set(m.id, m)
    this._rebuild()
    return 'applied'
  }

  /**
   * Replace what is held with a fresh read of the room's history (newest messages, any
   * order): held messages inside the range read that it lacks are dropped; a held state
   * newer than the one read (a push that came meanwhile) is kept. Returns the new ones.
   */
  replaceConfirmed(messages) {
    const list = (Array.isArray(messages) ? messages : []).filter((m) => m && typeof m.id === 'number')
    if (list.length) {
      const ids = new Set(list.map((m) => m.id))
      const lo = Math.min(...ids)
      const hi = Math.max(...ids)
      for (const id of [...this.confirmed.keys()]) {
        if (id >= lo && id <= hi && !ids.has(id)) this.confirmed.delete(id)
      }
    }
    const added = this.addConfirmed(list)
    this._rebuild()
    return added
  }

  /** Recompute the items (e.g. once `isOwn` can tell more). */
  refresh() {
    this._rebuild()
  }

  /** A new outgoing message, shown as pending until confirmed. */
  addLocal({ clientId, content, sender, replyTo = null, createdAt = new Date().toISOString() }) {
    this.local.set(clientId, { clientId, content, sender, replyTo, createdAt, status: 'pending', error: null, order: this.nextLocal++ })
    this._rebuild()
    return clientId
  }

  getLocal(clientId) {
    return this.local.get(clientId) || null
  }

  markFailed(clientId, error) {
    const e = this.local.get(clientId)
    if (!e) return false
    e.status = 'failed'
    e.error = error ? { code: error.code || 'internal', message: error.message || '' } : { code: 'internal', message: '' }
    this._rebuild()
    return true
  }

  /** Back to pending (a retry). The clientId stays the same, so the send is idempotent. */
  markPending(clientId) {
    const e = this.local.get(clientId)
    if (!e) return false
    e.status = 'pending'
    e.error = null
    this._rebuild()
    return true
  }

  removeLocal(clientId) {
    if (this.local.delete(clientId)) this._rebuild()
  }

  /** Local messages still waiting to be (re)sent, oldest first. */
  pendingLocal() {
    return [...this.local.values()].filter((e) => e.status === 'pending').sort((a, b) => a.order - b.order)
  }

  clear() {
    this.confirmed.clear()
    this.later.clear()
    this.local.clear()
    this._rebuild()
  }

  _rebuild() {
    const ids = [...this.confirmed.keys()].sort((a, b) => a - b)
    const items = ids.map((id) => {
      const m = this.confirmed.get(id)
      return {
        key: 'm' + id,
        id,
        sender: m.sender,
        content: m.content,
        createdAt: m.createdAt,
        clientId: m.clientId ?? null,
        bot: m.bot === true,
        replyTo: Number.isInteger(m.replyTo) ? m.replyTo : null,
        authorId: m.authorId,
        editedAt: m.editedAt,
        deleted: m.deleted,
        reactions: m.reactions,
        seq: m.seq,
        status: 'sent',
        error: null,
        own: this.isOwn(m),
      }
    })
    const locals = [...this.local.values()].sort((a, b) => a.order - b.order)
    for (const e of locals) {
      items.push({
        key: 'c' + e.clientId,
        id: null,
        sender: e.sender,
        content: e.content,
        createdAt: e.createdAt,
        clientId: e.clientId,
        bot: false,
        replyTo: e.replyTo ?? null,
        authorId: null,
        editedAt: null,
        deleted: false,
        reactions: [],
        seq: 0,
        status: e.status,
        error: e.error,
        own: true,
      })
    }
    this.state.items = items
    this.state.highestId = ids.length ? ids[ids.length - 1] : null
    this.state.lowestId = ids.length ? ids[0] : null
    this.state.count = ids.length
  }
}
