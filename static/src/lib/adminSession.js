// The /admin page's state and everything it does (issue 17), without Vue: the key (asked once,
// kept in sessionStorage for the tab), the overview polled every `interval` seconds, and the
// operator's actions. A 401 from any call forgets the key and asks for it again with the
// server's message; other failures keep the last overview on screen and say what went wrong.
// The page passes Vue's `reactive`; the unit tests pass nothing and a fake fetch and clock.
import { createAdminApi } from './adminApi.js'
import { asTimers } from './timers.js'
import { apiKeyProblem, API_KEY_MIN, API_KEY_MAX } from './limits.js'
import { withPendingStates, withoutClosedRooms } from './adminStats.js'

/** Where the key is kept: sessionStorage, so it lives as long as the tab and no longer. */
export const ADMIN_KEY_STORAGE = 'chat.adminKey'
/** The poll interval until the overview names one (seconds). */
export const DEFAULT_INTERVAL = 2
// What an action set shows through this many intervals of records that do not know it yet.
const PENDING_INTERVALS = 4
const PENDING_MIN_MS = 8000

const KEY_PROBLEM = {
  empty: 'Enter the API key.',
  length: `An API key has ${API_KEY_MIN} to ${API_KEY_MAX} characters.`,
  characters: 'An API key has no spaces and only plain ASCII characters.',
}

export class AdminSession {
  /**
   * @param {object} [opts]
   * @param {Function} [opts.fetchImpl]  fetch for the admin API (default: the global one)
   * @param {object} [opts.api]          an admin API as createAdminApi() makes, instead
   * @param {object} [opts.storage]      sessionStorage, or null (the key is then kept in memory)
   * @param {object} [opts.timers]       a Timers group or a clock for one
   * @param {Function} [opts.reactive]   Vue's reactive(), for the page
   */
  constructor({ fetchImpl, api, storage = null, timers, reactive = (o) => o } = {}) {
    this.storage = storage
    this.timers = asTimers(timers)
    this.poll = this.timers.slot()
    this.key = null
    this.api = api || createAdminApi({ fetchImpl, key: () => this.key })
    this.inflight = null
    this.again = false
    this.stopped = false
    this.state = reactive({
      /** 'signed-out' (the key form), 'checking' (the key is being tried), 'live' */
      phase: 'signed-out',
      /** why the key form is shown again (the server's 401 message), or a local check's */
      authError: '',
      /** the last overview answered, as it came */
      overview: null,
      /** when it came (ms) */
      updatedAt: null,
      /** why the last refresh failed ('' when it did not) */
      pollError: '',
      /** the latest action's outcome: {kind: 'ok' | 'error', text} or null */
      notice: null,
      /** actions under way, by what they act on (`drain:e2e-2`, `close:K7QX2M`, `delete`) */
      busy: {},
      /** states set by a drain or resume that the records may not carry yet: {node: {state, until}} */
      pending: {},
      /** rooms just closed: {code: until} */
      closed: {},
    })
  }

  /** Poll interval in seconds: the overview's, else DEFAULT_INTERVAL. */
  get interval() {
    const i = this.state.overview && Number(this.state.overview.interval)
    return i > 0 ? i : DEFAULT_INTERVAL
  }

  /** The nodes as the page shows them: the overview's, with the states actions just set. */
  nodes(now = this.timers.now()) {
    return withPendingStates(this.state.overview ? this.state.overview.nodes : [], this.state.pending, now).nodes
  }

  /** The busiest rooms, without the ones just closed. */
  rooms(now = this.timers.now()) {
    return withoutClosedRooms(this.state.overview ? this.state.overview.rooms : [], this.state.closed, now).rooms
  }

  /** On page load: go live with the tab's key, if it has one. */
  start() {
    const stored = this.readStored()
    if (stored) return this.signIn(stored)
    return Promise.resolve(false)
  }

  /** Tries `key` with an overview. Resolves true when the page went live, false when the form stays. */
  async signIn(raw) {
    const problem = apiKeyProblem(raw)
    if (problem) {
      this.state.authError = KEY_PROBLEM[problem]
      return false
    }
    this.stopped = false
    this.key = String(raw).trim()
    this.state.authError = ''
    this.state.phase = 'checking'
    await this.refresh()
    if (this.state.phase === 'signed-out') return false
    // Any answer but a 401 means the key was not refused: keep it for the tab.
    this.writeStored(this.key)
    this.state.phase = 'live'
    return true
  }

  /** Forgets the key (and the figures); the form is shown. `why` is the message it shows. */
  signOut(why = '') {
    this.poll.clear()
    this.key = null
    this.writeStored(null)
    this.state.phase = 'signed-out'
    this.state.authError = why
    this.state.overview = null
    this.state.updatedAt = null
    this.state.pollError = ''
    this.state.notice = null
    this.state.busy = {}
    this.state.pending = {}
    this.state.closed = {}
  }

  /** Stops polling for good (the page unmounts). */
  stop() {
    this.stopped = true
    this.timers.clearAll()
  }

  /**
   * Fetches the overview now; the next poll follows `interval` seconds after it answered, so
   * a slow node is never asked twice at once. A refresh asked for while one is under way
   * runs right after it (an action's effect is then read from a fresh overview).
   */
  refresh() {
    if (this.inflight) {
      this.again = true
      return this.inflight
    }
    this.poll.clear()
    this.inflight = (async () => {
      try {
        do {
          this.again = false
          await this.fetchOverview()
        } while (this.again && this.key)
      } finally {
        this.inflight = null
        if (this.key && !this.stopped) this.poll.set(() => this.refresh(), this.interval * 1000)
      }
    })()
    return this.inflight
  }

  async fetchOverview() {
    const key = this.key
    try {
      const overview = await this.api.overview()
      if (this.key !== key) return // signed out (or in again) meanwhile
      const now = this.timers.now()
      this.state.overview = overview
      this.state.updatedAt = now
      this.state.pollError = ''
      this.state.pending = withPendingStates(overview.nodes, this.state.pending, now).pending
      this.state.closed = withoutClosedRooms(overview.rooms, this.state.closed, now).closed
    } catch (e) {
      if (this.key !== key) return
      if (this.refused(e)) return
      this.state.pollError = e.message || e.code || 'the overview failed'
    }
  }

  /** A 401: the key is not (or no longer) accepted. Back to the form with the server's words. */
  refused(e) {
    if (!e || e.code !== 'unauthorized') return false
    this.signOut(e.message && e.message !== e.code ? `The node refused the key: ${e.message}` : 'The node refused the key.')
    return true
  }

  /** Drains a node: it tells its clients to reconnect elsewhere and refuses new ones. */
  drain(node) {
    return this.nodeAction(node, 'drain', 'draining', `${node} is draining: its clients are reconnecting to the other nodes.`)
  }

  /** Lets a drained node take clients again. */
  resume(node) {
    return this.nodeAction(node, 'resume', 'ready', `${node} is ready again.`)
  }

  async nodeAction(node, action, state, text) {
    const answer = await this.act(`${action}:${node}`, () => this.api[action](node), text)
    if (!answer) return false
    this.state.pending = { ...this.state.pending, [node]: { state: answer.state || state, until: this.pendingUntil() } }
    this.refresh()
    return true
  }

  /** Closes a room: its members are disconnected and it is gone. */
  async closeRoom(code) {
    const answer = await this.act(`close:${code}`, () => this.api.closeRoom(code), `Room ${code} is closed.`)
    if (!answer) return false
    this.state.closed = { ...this.state.closed, [code]: this.pendingUntil() }
    this.refresh()
    return true
  }

  /** Deletes a message by id; its room's members see the deleted placeholder. */
  async deleteMessage(code, id) {
    const answer = await this.act('delete', () => this.api.deleteMessage(code, id), `Message ${id} in ${code} is deleted.`)
    return !!answer
  }

  /** Runs one action: busy while it runs, its outcome in `notice`; resolves with the answer or null. */
  async act(what, run, okText) {
    if (this.state.busy[what]) return null
    this.state.busy = { ...this.state.busy, [what]: true }
    try {
      const answer = await run()
      this.state.notice = { kind: 'ok', text: okText }
      return answer
    } catch (e) {
      if (!this.refused(e)) this.state.notice = { kind: 'error', text: actionErrorText(e) }
      return null
    } finally {
      const { [what]: _, ...rest } = this.state.busy
      this.state.busy = rest
    }
  }

  dismissNotice() {
    this.state.notice = null
  }

  pendingUntil() {
    return this.timers.now() + Math.max(PENDING_MIN_MS, PENDING_INTERVALS * this.interval * 1000)
  }

  readStored() {
    try {
      return this.storage ? this.storage.getItem(ADMIN_KEY_STORAGE) : null
    } catch {
      return null
    }
  }

  writeStored(key) {
    try {
      if (!this.storage) return
      if (key) this.storage.setItem(ADMIN_KEY_STORAGE, key)
      else this.storage.removeItem(ADMIN_KEY_STORAGE)
    } catch {
      /* storage refused (private mode, quota): the key lives in memory for this page */
    }
  }
}

const ACTION_TEXT = {
  not_found: 'Not found',
  bad_request: 'Refused',
  unavailable: 'Unavailable, try again',
  forbidden: 'Not allowed',
  disconnected: 'The node did not answer',
}

/** An action's failure as a line: what kind of failure, then the server's message. */
export function actionErrorText(e) {
  const head = ACTION_TEXT[e && e.code] || 'Failed'
  const msg = e && e.message && e.message !== e.code ? e.message : ''
  return msg ? `${head}: ${msg}` : head
}
