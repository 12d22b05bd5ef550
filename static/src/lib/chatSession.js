// The chat session: one socket (via ConnectionManager), the room being viewed,
// its messages (MessageStore), presence, typing, history paging, sending, and changes to
// messages (edits, deletions, reactions) with the change cursor that resumes them.
// Plain JS; the Vue layer passes `reactive` so that `state` drives the view.
import { ProtocolClient, ProtocolError } from './protocol.js'
import { ConnectionManager } from './connection.js'
import { MessageStore } from './messageStore.js'
import { applyPresence, TypingTracker, TypingNotifier } from './presence.js'
import { newClientId } from './names.js'
import { normalizeCode, trimmed, nicknameProblem, contentProblem, NICKNAME_MAX } from './limits.js'
import { canEdit, canDelete, canReact } from './permissions.js'
import { ReactionMemory, removesReaction } from './reactions.js'
import { createPrefs } from './prefs.js'
import { asTimers } from './timers.js'

const identity = (x) => x

export class ChatSession {
  constructor({
    wsUrl,
    api,
    prefs,
    reactive = identity,
    WebSocketImpl,
    timers,
    random = Math.random,
    isOnline,
    ackTimeoutMs = 15000,
    historyPageSize = 50,
    typingTtlMs = 6000,
    crypto,
    connectionOptions = {},
  } = {}) {
    this.api = api
    this.prefs = prefs || createPrefs()
    this.timers = asTimers(timers) // one group for the session's timers: stop() clears them all
    this.crypto = crypto
    this.historyPageSize = historyPageSize
    this.ownIds = new Set()
    this.inflight = new Set()
    this.listeners = new Set()
    /** The room's change-stream position we are complete up to: max(join ack's seq, seq of
     *  every chat:message / chat:update push since). Null until a server told one. */
    this.cursor = null
    this.state = reactive({
      conn: 'idle',
      retryAt: null,
      code: null,
      room: null,
      joined: false,
      /** The message the next send replies to: {id, sender, content}, or null. */
      replyingTo: null,
      /** This session joined with the room's owner key. */
      owner: false,
      /** Our public authorId (from the acks of our own sends), null until known. */
      authorId: this.prefs.authorId(),
      /** The id of the message being edited inline, or null. */
      editing: null,
      /** The id of the message whose deletion waits for a confirmation, or null. */
      confirmingDelete: null,
      /** Changes waiting for their ack: message id -> 'edit' | 'delete' | 'react'. */
      busy: {},
      /** The last change that failed: {id, action, code, message}, or null. */
      actionError: null,
      joinError: null,
      nickname: this.prefs.defaultNick(),
      members: [],
      memberCount: 0,
      typing: [],
      history: { loaded: false, loading: false, done: false, cursor: null, error: null },
      notice: null,
    })
    this.store = new MessageStore({ reactive, isOwn: (m) => this.isOwnMessage(m) })
    this.reactions = new ReactionMemory({ prefs: this.prefs, reactive })
    this.typingIn = new TypingTracker({ ttlMs: typingTtlMs })
    this.typingRefresh = this.timers.slot()
    this.typingOut = new TypingNotifier({
      send: (typing) => this._sendTyping(typing),
      timers: this.timers,
      now: () => this.timers.now(),
    })
    this.conn = new ConnectionManager({
      createClient: ({ onPush, onClose }) =>
        new ProtocolClient({ url: wsUrl, WebSocketImpl, ackTimeoutMs, onPush, onClose, timers: this.timers }),
      onConnected: (client) => this._onConnected(client),
      onPush: (event, data) => this._onPush(event, data),
      onStateChange: (s) => this._onConnState(s),
      timers: this.timers,
      random,
      isOnline,
      ...connectionOptions,
    })
  }

  /** Listen to {type: 'messages', messages, source} events (for scrolling and announcements). */
  on(fn) {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }
  _emit(ev) {
    for (const fn of this.listeners) fn(ev)
  }

  get client() {
    return this.conn.client
  }

  // ---- rooms -------------------------------------------------------------

  /** Create a room over REST (works before the socket is up). Does not join. Keeps the
   *  room's owner key, which the server shows only now, for the joins to come. */
  async createRoom() {
    const { room, ownerKey } = await this.api.createRoom()
    if (ownerKey) this.prefs.setOwnerKey(room.code, ownerKey)
    return room
  }

  /** View (and join) a room. Safe to call before the socket is connected. */
  enterRoom(rawCode, { nickname } = {}) {
    const code = normalizeCode(rawCode)
    if (this.state.code && this.state.code !== code) this.leaveRoom({ keepLast: true })
    this.state.code = code
    this.state.room = null
    this.state.joined = false
    this.state.joinError = null
    this.state.replyingTo = null
    this._resetChanges()
    this.cursor = null
    this.state.members = []
    this.state.memberCount = 0
    this.state.notice = null
    this.state.history = { loaded: false, loading: false, done: false, cursor: null, error: null }
    this._clearTyping()
    this.store.clear()
    this.ownIds = this.prefs.ownIds(code)
    this.reactions.load(code)
    const nick = (nickname && trimmed(nickname)) || this.prefs.nickFor(code)
    this.state.nickname = nick
    this.prefs.setRoomNick(code, nick)
    this.prefs.setLastRoom(code)
    if (this.conn.state === 'idle') this.conn.start()
    else if (this.conn.state === 'connected' && this.client) return this._join(this.client)
    return Promise.resolve()
  }

  leaveRoom({ keepLast = false } = {}) {
    const code = this.state.code
    if (!code) return
    this.typingOut.stop()
    if (this.state.joined && this.client && this.client.isOpen) {
      this.client.request('room:leave', { code }).catch(() => {})
    }
    this.state.code = null
    this.state.room = null
    this.state.joined = false
    this.state.members = []
    this.state.memberCount = 0
    this._resetChanges()
    this.cursor = null
    this._clearTyping()
    this.store.clear()
    this.reactions.load(null)
    if (!keepLast) this.prefs.setLastRoom(null)
  }

  /** Change nickname: remembered for this room (and as the default); renames the session. */
  async rename(raw) {
    const nick = trimmed(raw)
    if (nicknameProblem(nick)) {
      throw new ProtocolError('bad_request', `A nickname has 1 to ${NICKNAME_MAX} characters.`)
    }
    const old = this.state.nickname
    this.state.nickname = nick
    this.prefs.setDefaultNick(nick)
    if (this.state.code) this.prefs.setRoomNick(this.state.code, nick)
    if (this.state.joined && this.client && this.client.isOpen) {
      try {
        await this._join(this.client)
      } catch (e) {
        this.state.nickname = old
        if (this.state.code) this.prefs.setRoomNick(this.state.code, old)
        throw e
      }
    }
  }

  async _onConnected(client) {
    if (this.state.code) await this._join(client)
  }

  /** sinceId for a (re)join: highest id seen; 0 when history is loaded but the room was empty. */
  resumePoint() {
    if (this.store.sinceId != null) return this.store.sinceId
    if (this.state.history.loaded) return 0
    return null
  }

  async _join(client) {
    const code = this.state.code
    const data = { code, nickname: this.state.nickname, authorKey: this.prefs.authorKey() }
    const ownerKey = this.prefs.ownerKey(code)
    if (ownerKey) data.ownerKey = ownerKey
    const since = this.resumePoint()
    if (since != null) {
      data.sinceId = since
      // the changes made while we were away to the messages we hold
      if (this.cursor != null) data.sinceChange = this.cursor
    }
    let ack
    try {
      ack = await client.request('room:join', data)
    } catch (e) {
      if (this.state.code !== code) return
      if (e.code === 'disconnected') return // the reconnect re-joins
      if (e.code === 'timeout') {
        // no answer: do not sit "connected" without being in the room; reconnect and re-join
        client.close(4000, 'join timed out')
        return
      }
      if (e.code === 'forbidden' && ownerKey) {
        // A stale owner key (another room under the same code): forget it, join as a member.
        this.prefs.setOwnerKey(code, null)
        return this._join(client)
      }
      this.state.joinError = { code: e.code, message: e.message }
      if (e.code === 'not_found') {
        this.prefs.setLastRoom(null)
        this.prefs.forgetRecent(code)
      }
      throw e
    }
    if (this.state.code !== code) return
    this.state.room = ack.room || { code }
    this.state.joined = true
    this.state.owner = ack.owner === true
    this.state.joinError = null
    const members = Array.isArray(ack.members) ? ack.members.map((m) => ({ nickname: m.nickname })) : []
    this.state.members = members
    this.state.memberCount = members.length
    this._advanceCursor(ack.seq)
    const missed = Array.isArray(ack.missed) ? ack.missed : []
    this._learnAuthorId(missed)
    const added = this.store.addConfirmed(missed)
    if (added.length) this._emit({ type: 'messages', messages: added, source: 'missed' })
    // Current states of messages we hold (id <= sinceId) changed while we were away.
    for (const m of Array.isArray(ack.changes) ? ack.changes : []) this._changed(m)
    if (ack.hasMore && missed.length) await this._fillGap(code, missed[0].id, since)
    if (ack.changesHasMore === true) await this.reloadHistory()
    if (!this.state.history.loaded) await this.loadOlder()
    this._resendPending()
  }

  /** After a join with hasMore: page back through REST until we reach what we had. */
  async _fillGap(code, beforeId, sinceId) {
    let cursor = beforeId
    for (let page = 0; page < 1000 && cursor != null; page++) {
      let res
      try {
        res = await this.api.history(code, { limit: 200, beforeId: cursor })
      } catch {
        return
      }
      if (this.state.code !== code) return
      const msgs = res.messages || []
      const added = this.store.addConfirmed(msgs)
      if (added.length) this._emit({ type: 'messages', messages: added, source: 'missed' })
      if (sinceId == null || msgs.some((m) => m.id <= sinceId)) return
      cursor = res.nextBeforeId
    }
  }

  /**
   * Read the room's history again, from the newest message down to the oldest we hold, and
   * replace what we hold with it (after a join whose `changes` were too many to list).
   */
  async reloadHistory() {
    const code = this.state.code
    if (!code) return
    const oldest = this.store.oldestId
    const read = []
    let beforeId
    let next = null
    for (let page = 0; page < 1000; page++) {
      let res
      try {
        res = await this.api.history(code, beforeId != null ? { limit: 200, beforeId } : { limit: 200 })
      } catch (e) {
        if (this.state.code === code) this.state.notice = { code: e.code, message: 'Could not reload the history: some messages may show an old state.' }
        return
      }
      if (this.state.code !== code) return
      const msgs = res.messages || []
      read.push(...msgs)
      next = res.nextBeforeId ?? null
      if (next == null || oldest == null || msgs.some((m) => m.id <= oldest)) break
      beforeId = next
    }
    this._learnAuthorId(read)
    const added = this.store.replaceConfirmed(read)
    const h = this.state.history
    h.loaded = true
    h.cursor = next
    h.done = next == null
    if (added.length) this._emit({ type: 'messages', messages: added, source: 'history' })
  }

  /** Load the next older history page (the first call loads the newest page). */
  async loadOlder() {
    const code = this.state.code
    const h = this.state.history
    if (!code || h.loading || h.done) return
    h.loading = true
    h.error = null
    try {
      const opts = { limit: this.historyPageSize }
      if (h.loaded && h.cursor != null) opts.beforeId = h.cursor
      const res = await this.api.history(code, opts)
      if (this.state.code !== code) return
      this._learnAuthorId(res.messages || [])
      const added = this.store.addConfirmed(res.messages || [])
      h.loaded = true
      h.cursor = res.nextBeforeId ?? null
      h.done = res.nextBeforeId == null
      if (added.length) this._emit({ type: 'messages', messages: added, source: 'history' })
    } catch (e) {
      if (this.state.code === code) h.error = { code: e.code, message: e.message }
    } finally {
      if (this.state.code === code) h.loading = false
    }
  }

  // ---- sending -----------------------------------------------------------

  /** The next message replies to `message` (a confirmed one: it needs an id). */
  startReply(message) {
    if (message?.id == null) return
    this.state.replyingTo = { id: message.id, sender: message.sender, content: message.content }
  }

  cancelReply() {
    this.state.replyingTo = null
  }

  /** Send a message (a reply, after startReply). Returns the clientId, or null when there
   *  is nothing to send. */
  send(text) {
    const content = trimmed(text)
    if (!content || !this.state.code) return null
    const clientId = newClientId(this.crypto)
    this.ownIds.add(clientId)
    this.prefs.saveOwnIds(this.state.code, this.ownIds)
    const replyTo = this.state.replyingTo?.id ?? null
    this.state.replyingTo = null
    this.store.addLocal({ clientId, content, sender: this.state.nickname, replyTo })
    this.typingOut.stop()
    if (contentProblem(content) === 'too_long') {
      this.store.markFailed(clientId, { code: 'too_large', message: 'message too long' })
      return clientId
    }
    this._transmit(clientId)
    return clientId
  }

  /** Retry a failed message with the same clientId (idempotent on the server). */
  retry(clientId) {
    const e = this.store.getLocal(clientId)
    if (!e) return
    this.store.markPending(clientId)
    this._transmit(clientId)
  }

  discard(clientId) {
    this.store.removeLocal(clientId)
  }

  _resendPending() {
    for (const e of this.store.pendingLocal()) this._transmit(e.clientId)
  }

  async _transmit(clientId) {
    const e = this.store.getLocal(clientId)
    const client = this.client
    if (!e || e.status !== 'pending') return
    if (this.inflight.has(clientId)) return
    if (!client || !client.isOpen || !this.state.joined) return // queued: sent after (re)join
    const roomCode = this.state.code
    this.inflight.add(clientId)
    try {
      const data = { roomCode, content: e.content, clientId }
      if (e.replyTo != null) data.replyTo = e.replyTo
      const ack = await client.request('chat:send', data)
      if (this.state.code !== roomCode) return
      this._learnAuthorId([ack.message])
      const added = this.store.addConfirmed([ack.message])
      if (added.length) this._emit({ type: 'messages', messages: added, source: 'ack' })
    } catch (err) {
      if (this.state.code !== roomCode) return
      if (err.code === 'disconnected') return // stays pending; resent (same clientId) after rejoin
      this.store.markFailed(clientId, { code: err.code, message: err.message })
    } finally {
      this.inflight.delete(clientId)
    }
  }

  // ---- changes: edits, deletions, reactions --------------------------------

  /** Who we are, for the permission checks: {authorId, owner}. */
  get me() {
    return { authorId: this.state.authorId, owner: this.state.owner }
  }

  /** Ours: sent from this browser (its clientId), or written with our author key. */
  isOwnMessage(m) {
    if (!m) return false
    if (m.clientId && this.ownIds.has(m.clientId)) return true
    return !!this.state.authorId && m.authorId === this.state.authorId
  }

  canEdit(message) {
    return canEdit(message, this.me)
  }
  canDelete(message) {
    return canDelete(message, this.me)
  }
  canReact(message) {
    return canReact(message) && this.state.joined
  }

  /** Our authorId, from our own messages (a send's ack, or a message with our clientId). */
  _learnAuthorId(messages) {
    for (const m of messages) {
      if (!m || typeof m.authorId !== 'string' || !m.authorId) continue
      if (!m.clientId || !this.ownIds.has(m.clientId)) continue
      if (m.authorId !== this.state.authorId) {
        this.state.authorId = m.authorId
        this.prefs.setAuthorId(m.authorId)
        this.store.refresh()
      }
    }
  }

  /** A change's cursor: only join acks and pushes move it (never missed, changes or history). */
  _advanceCursor(seq) {
    if (Number.isInteger(seq) && seq >= 0 && (this.cursor == null || seq > this.cursor)) this.cursor = seq
  }

  /** A newer state of a message (push, ack or `changes`); stale states are ignored. */
  _changed(message) {
    const result = this.store.applyUpdate(message)
    if (result !== 'applied') return result
    if (message.deleted === true) {
      this.reactions.forget(message.id)
      if (this.state.editing === message.id) this.state.editing = null
      if (this.state.confirmingDelete === message.id) this.state.confirmingDelete = null
      if (this.state.replyingTo?.id === message.id) this.state.replyingTo = null
    }
    this._emit({ type: 'update', message })
    return result
  }

  _resetChanges() {
    this.state.editing = null
    this.state.confirmingDelete = null
    this.state.busy = {}
    this.state.actionError = null
  }

  _setBusy(id, action) {
    const busy = { ...this.state.busy }
    if (action) busy[id] = action
    else delete busy[id]
    this.state.busy = busy
  }

  /** Send a change; its ack's message is applied. Resolves true, or false with actionError set. */
  async _change(event, action, data) {
    const roomCode = this.state.code
    const client = this.client
    this.state.actionError = null
    if (!client || !client.isOpen || !this.state.joined) {
      this.state.actionError = { id: data.id, action, code: 'disconnected', message: 'not connected' }
      return false
    }
    this._setBusy(data.id, action)
    try {
      const ack = await client.request(event, { roomCode, ...data })
      if (this.state.code !== roomCode) return false
      if (ack && ack.message) this._changed(ack.message)
      return ack || {}
    } catch (e) {
      if (this.state.code === roomCode) this.state.actionError = { id: data.id, action, code: e.code, message: e.message }
      return false
    } finally {
      if (this.state.code === roomCode) this._setBusy(data.id, null)
    }
  }

  dismissActionError() {
    this.state.actionError = null
  }

  /** Edit a message of ours inline (`message`: a store item). */
  startEdit(message) {
    if (!this.canEdit(message)) return false
    this.state.confirmingDelete = null
    this.state.actionError = null
    this.state.editing = message.id
    return true
  }

  cancelEdit() {
    this.state.editing = null
  }

  /** Edit our newest editable message (the Up arrow in an empty composer). */
  editLast() {
    const items = this.store.state.items
    for (let i = items.length - 1; i >= 0; i--) {
      if (this.canEdit(items[i])) return this.startEdit(items[i])
    }
    return false
  }

  /** Save an inline edit. Resolves true once the server has it (or nothing changed). */
  async saveEdit(id, text) {
    const held = this.store.get(id)
    const content = trimmed(text)
    const problem = contentProblem(content)
    if (problem) {
      const code = problem === 'empty' ? 'empty' : problem === 'too_long' ? 'too_large' : 'bad_request'
      this.state.actionError = { id, action: 'edit', code, message: '' }
      return false
    }
    if (held && held.content === content) {
      this.state.editing = null
      return true
    }
    const ok = await this._change('chat:edit', 'edit', { id, content })
    if (ok && this.state.editing === id) this.state.editing = null
    return !!ok
  }

  /** Ask for a confirmation before deleting (shown inline with the message). */
  askDelete(message) {
    if (!this.canDelete(message)) return false
    this.state.editing = null
    this.state.actionError = null
    this.state.confirmingDelete = message.id
    return true
  }

  cancelDelete() {
    this.state.confirmingDelete = null
  }

  /** Delete a message (ours, or any as the room's owner), after askDelete. */
  async deleteMessage(id) {
    this.state.confirmingDelete = null
    return !!(await this._change('chat:delete', 'delete', { id }))
  }

  /** Our reaction `emoji` on `message`: removed when we added it, else added. */
  toggleReaction(message, emoji) {
    if (!this.canReact(message)) return Promise.resolve(false)
    const remove = removesReaction(message.reactions, this.reactions.mine(message.id), emoji)
    return remove ? this.removeReaction(message.id, emoji) : this.addReaction(message.id, emoji)
  }

  async addReaction(id, emoji) {
    const ok = await this._change('reaction:add', 'react', { id, emoji })
    if (ok && ok.message?.deleted !== true) this.reactions.set(id, emoji, true)
    return !!ok
  }

  async removeReaction(id, emoji) {
    const ok = await this._change('reaction:remove', 'react', { id, emoji })
    if (ok) this.reactions.set(id, emoji, false)
    return !!ok
  }

  // ---- typing ------------------------------------------------------------

  /** Call on every input in the composer. */
  typingInput() {
    if (this.state.joined) this.typingOut.input()
  }
  typingStop() {
    this.typingOut.stop()
  }
  _sendTyping(typing) {
    const c = this.client
    if (c && c.isOpen && this.state.joined) c.request('typing', { roomCode: this.state.code, typing }).catch(() => {})
  }
  _refreshTyping() {
    const names = this.typingIn.active(this.timers.now())
    this.state.typing = names
    if (names.length) this.typingRefresh.set(() => this._refreshTyping(), 1000)
    else this.typingRefresh.clear()
  }
  _clearTyping() {
    this.typingIn.clear()
    this._refreshTyping()
  }

  // ---- pushes & connection -----------------------------------------------

  _onPush(event, data) {
    if (!data) return
    const code = this.state.code
    const mine = (rc) => rc && code && String(rc).toUpperCase() === code
    if (event === 'chat:message') {
      if (!mine(data.roomCode)) return
      this._advanceCursor(data.seq)
      this._learnAuthorId([data])
      const added = this.store.addConfirmed([data])
      if (added.length) this._emit({ type: 'messages', messages: added, source: 'push' })
      if (this.typingIn.until.has(data.sender)) {
        this.typingIn.remove(data.sender)
        this._refreshTyping()
      }
    } else if (event === 'chat:update') {
      if (!mine(data.roomCode)) return
      this._advanceCursor(data.seq)
      this._changed(data)
    } else if (event === 'presence') {
      if (!mine(data.roomCode)) return
      const next = applyPresence({ members: this.state.members, count: this.state.memberCount }, data)
      this.state.members = next.members
      this.state.memberCount = next.count
      if (data.left != null) {
        this.typingIn.remove(data.left)
        this._refreshTyping()
      }
    } else if (event === 'typing') {
      if (!mine(data.roomCode)) return
      this.typingIn.set(data.nickname, !!data.typing, this.timers.now())
      this._refreshTyping()
    } else if (event === 'error') {
      this.state.notice = data
    }
  }

  _onConnState(s) {
    this.state.conn = s
    this.state.retryAt = this.conn.retryAt
    if (s !== 'connected' && s !== 'connecting') {
      this.state.joined = false
      this.typingOut.active = false
      this._clearTyping()
    }
  }

  start() {
    this.conn.start()
  }
  retryNow() {
    this.conn.retryNow()
  }
  stop() {
    this.conn.stop()
    this.timers.clearAll() // typing expiry, typing idle, ack timeouts: nothing outlives the session
  }
}
