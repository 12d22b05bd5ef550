// Protocol client: one WebSocket, JSON frames, `ref` on every request and acks
// matched back to their request by ref. Pushes go to a listener.
// No Vue, no DOM: unit-testable with a fake WebSocket.
import { asTimers } from './timers.js'

export class ProtocolError extends Error {
  constructor(code, message) {
    super(message || code)
    this.name = 'ProtocolError'
    this.code = code
  }
}

export const OPEN = 1

export class ProtocolClient {
  /**
   * @param {object} opts
   * @param {string} opts.url                WebSocket URL
   * @param {Function} [opts.WebSocketImpl]  constructor (defaults to globalThis.WebSocket)
   * @param {number} [opts.ackTimeoutMs]     reject a request with code "timeout" after this
   * @param {Function} [opts.onPush]         (event, data) => void for server pushes
   * @param {Function} [opts.onClose]        ({code, reason, wasClean}) => void
   * @param {object} [opts.timers]           a Timers group (lib/timers.js) or a clock for one
   */
  constructor({ url, WebSocketImpl, ackTimeoutMs = 15000, onPush, onClose, timers } = {}) {
    this.url = url
    this.WebSocketImpl = WebSocketImpl || globalThis.WebSocket
    this.ackTimeoutMs = ackTimeoutMs
    this.onPush = onPush || (() => {})
    this.onClose = onClose || (() => {})
    this.timers = asTimers(timers)
    this.nextRef = 1
    this.pending = new Map() // ref -> {resolve, reject, timer, event}
    this.ws = null
    this.closed = false
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === OPEN
  }

  /** Opens the socket; resolves when open, rejects if it closes or errors first. */
  connect() {
    return new Promise((resolve, reject) => {
      let settled = false
      let ws
      try {
        ws = new this.WebSocketImpl(this.url)
      } catch (e) {
        reject(new ProtocolError('disconnected', String(e && e.message ? e.message : e)))
        return
      }
      this.ws = ws
      ws.onopen = () => {
        settled = true
        resolve()
      }
      ws.onerror = () => {
        if (!settled) {
          settled = true
          reject(new ProtocolError('disconnected', 'connection failed'))
        }
      }
      ws.onmessage = (ev) => this._onFrame(ev.data)
      ws.onclose = (ev) => {
        if (!settled) {
          settled = true
          reject(new ProtocolError('disconnected', 'connection closed'))
        }
        this._onClosed(ev || {})
      }
    })
  }

  /** Sends a request with a fresh ref; resolves with ack data, rejects with ProtocolError. */
  request(event, data = {}) {
    if (!this.isOpen) {
      return Promise.reject(new ProtocolError('disconnected', 'not connected'))
    }
    const ref = this.nextRef++
    return new Promise((resolve, reject) => {
      const timer = this.timers.timeout(() => {
        if (this.pending.delete(ref)) reject(new ProtocolError('timeout', 'no answer from the server'))
      }, this.ackTimeoutMs)
      this.pending.set(ref, { resolve, reject, timer, event })
      try {
        this.ws.send(JSON.stringify({ event, ref, data }))
      } catch (e) {
        this.timers.cancel(timer)
        this.pending.delete(ref)
        reject(new ProtocolError('disconnected', 'send failed'))
      }
    })
  }

  close(code = 1000, reason = 'client closing') {
    this.closed = true
    if (this.ws) {
      try {
        this.ws.close(code, reason)
      } catch {
        /* ignore */
      }
    }
  }

  _onFrame(raw) {
    let msg
    try {
      msg = JSON.parse(raw)
    } catch {
      return // not ours to fix; ignore garbage
    }
    if (!msg || typeof msg !== 'object') return
    if (msg.event === 'ack') {
      const entry = this.pending.get(msg.ref)
      if (!entry) return // late ack after timeout, or unknown ref
      this.pending.delete(msg.ref)
      this.timers.cancel(entry.timer)
      if (msg.ok) entry.resolve(msg.data ?? {})
      else {
        const err = msg.error || {}
        entry.reject(new ProtocolError(err.code || 'internal', err.message))
      }
      return
    }
    if (typeof msg.event === 'string') this.onPush(msg.event, msg.data)
  }

  _onClosed(ev) {
    const pending = [...this.pending.values()]
    this.pending.clear()
    for (const p of pending) {
      this.timers.cancel(p.timer)
      p.reject(new ProtocolError('disconnected', 'connection lost'))
    }
    this.onClose({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean, byClient: this.closed })
  }
}

/** Same-origin WebSocket URL: ws(s)://host/ws */
export function wsUrlFor(location) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${proto}//${location.host}/ws`
}
