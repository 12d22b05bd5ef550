// Connection state machine around ProtocolClient:
//   idle -> connecting -> connected
//   connected --drop--> reconnecting --(timer)--> connecting -> connected ...
//   after `offlineAfter` failed attempts, or while the browser says it is offline: offline
//   (still retrying with capped backoff; retryNow() skips the wait).
// A `reconnect` push (node draining) closes the socket and reconnects soon, with jitter.
import { backoffDelay } from './backoff.js'
import { asTimers } from './timers.js'

export class ConnectionManager {
  /**
   * @param {object} o
   * @param {Function} o.createClient ({onPush, onClose}) => ProtocolClient-like {connect, close, request}
   * @param {Function} [o.onConnected] async (client) => void, e.g. (re)join rooms; run on every connect
   * @param {Function} [o.onPush] (event, data) => void
   * @param {Function} [o.onStateChange] (state) => void
   * @param {object} [o.timers] a Timers group (lib/timers.js) or a clock for one
   * @param {Function} [o.random]
   * @param {Function} [o.isOnline] () => boolean
   */
  constructor({ createClient, onConnected, onPush, onStateChange, timers, random = Math.random, isOnline, baseMs = 500, maxMs = 15000, offlineAfter = 6, drainJitterMs = 1000 } = {}) {
    this.createClient = createClient
    this.onConnected = onConnected || (async () => {})
    this.onPushCb = onPush || (() => {})
    this.onStateChange = onStateChange || (() => {})
    this.timers = asTimers(timers)
    this.random = random
    this.isOnline = isOnline || (() => true)
    this.baseMs = baseMs
    this.maxMs = maxMs
    this.offlineAfter = offlineAfter
    this.drainJitterMs = drainJitterMs
    this.state = 'idle'
    this.attempt = 0 // consecutive failed attempts
    this.retryAt = null
    this.client = null
    this.retryTimer = this.timers.slot()
    this.stopped = false
    this.generation = 0
  }

  _set(state) {
    if (this.state !== state) {
      this.state = state
      this.onStateChange(state)
    }
  }

  start() {
    this.stopped = false
    if (this.state === 'idle') this._connect()
  }

  stop() {
    this.stopped = true
    this._clearTimer()
    this.generation++
    if (this.client) this.client.close()
    this.client = null
    this._set('idle')
  }

  /** Skip the backoff wait (a "Retry now" button, or the browser came back online). */
  retryNow() {
    if (this.stopped) return
    if (this.state === 'reconnecting' || this.state === 'offline') {
      this._clearTimer()
      this._connect()
    }
  }

  _clearTimer() {
    this.retryTimer.clear()
    this.retryAt = null
  }

  async _connect() {
    const gen = ++this.generation
    this._set('connecting')
    const client = this.createClient({
      onPush: (event, data) => {
        if (gen !== this.generation) return
        if (event === 'reconnect') {
          this._drain()
          return
        }
        this.onPushCb(event, data)
      },
      onClose: () => {
        if (gen !== this.generation) return
        this._dropped()
      },
    })
    this.client = client
    try {
      await client.connect()
    } catch {
      // onClose normally follows and schedules; make sure we do if it does not.
      if (gen === this.generation && this.state === 'connecting') this._dropped()
      return
    }
    if (gen !== this.generation) return
    try {
      await this.onConnected(client)
    } catch {
      // the app handles its own join errors; a lost socket shows up as onClose
    }
    if (gen !== this.generation || !client.isOpen) return
    this.attempt = 0
    this._set('connected')
  }

  _drain() {
    // Node is shutting down: reconnect (to another node / the restarted one) with jitter.
    const gen = ++this.generation
    if (this.client) this.client.close(1000, 'node draining')
    this.client = null
    this.attempt = 0
    this._schedule(Math.round(100 + this.random() * this.drainJitterMs), gen)
  }

  _dropped() {
    this.client = null
    if (this.stopped) return
    this.attempt++
    this.generation++
    this._schedule(backoffDelay(this.attempt, { baseMs: this.baseMs, maxMs: this.maxMs, random: this.random }), this.generation)
  }

  _schedule(delay, gen) {
    this._clearTimer()
    this.retryAt = this.timers.now() + delay
    this._set(!this.isOnline() || this.attempt >= this.offlineAfter ? 'offline' : 'reconnecting')
    this.retryTimer.set(() => {
      this.retryAt = null
      if (gen === this.generation && !this.stopped) this._connect()
    }, delay)
  }
}
