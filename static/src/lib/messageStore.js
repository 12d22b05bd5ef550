// Message store for one room: confirmed messages placed by id (never twice),
// plus local outgoing messages keyed by clientId (pending / failed) until the
// server's copy (ack or push, whichever comes first) replaces them.
// `reactive` lets the Vue layer make `state` reactive; tests pass nothing.

const identity = (x) => x

export class MessageStore {
  constructor({ reactive = identity, isOwn } = {}) {
    this.confirmed = new Map() // id -> Message
    this.local = new Map() // clientId -> local entry
    this.seq = 0
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

  /**
   * Merge server messages (history pages, `missed`, pushes, acks) in any order.
   * Returns the messages that were new.
   */
  addConfirmed(messages) {
    const added = []
    let changed = false
    for (const m of Array.isArray(messages) ? messages : [messages]) {
      if (!m || typeof m.id !== 'number') continue
      if (m.clientId && this.local.delete(m.clientId)) changed = true
      if (this.confirmed.has(m.id)) continue
      this.confirmed.set(m.id, m)
      added.push(m)
      changed = true
    }
    if (changed) this._rebuild()
    return added
  }

  /** A new outgoing message, shown as pending until confirmed. */
  addLocal({ clientId, content, sender, replyTo = null, createdAt = new Date().toISOString() }) {
    this.local.set(clientId, { clientId, content, sender, replyTo, createdAt, status: 'pending', error: null, seq: this.seq++ })
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
    return [...this.local.values()].filter((e) => e.status === 'pending').sort((a, b) => a.seq - b.seq)
  }

  clear() {
    this.confirmed.clear()
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
        status: 'sent',
        error: null,
        own: this.isOwn(m),
      }
    })
    const locals = [...this.local.values()].sort((a, b) => a.seq - b.seq)
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
