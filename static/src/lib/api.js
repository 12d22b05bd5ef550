// REST helpers (same origin). `fetchImpl` is injectable for tests.
import { ProtocolError } from './protocol.js'

// The error code of a failed response without a JSON error body (a proxy's page, say).
const STATUS_CODE = { 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 429: 'rate_limited', 503: 'unavailable' }

/**
 * `call(method, path, body)`: one JSON request; resolves with the body of an `ok` answer,
 * rejects with ProtocolError(code, message) from the `{ok: false, error}` body (or the HTTP
 * status), and with `disconnected` when the request never got an answer. `headers()` gives
 * more headers for each request (the admin page's `Authorization`).
 */
export function createCaller({ base = '', fetchImpl, headers } = {}) {
  const f = fetchImpl || ((...a) => globalThis.fetch(...a))
  return async function call(method, path, body) {
    const h = { ...(headers ? headers() : {}) }
    if (body) h['content-type'] = 'application/json'
    let res
    try {
      res = await f(base + path, {
        method,
        headers: Object.keys(h).length ? h : undefined,
        body: body ? JSON.stringify(body) : undefined,
      })
    } catch {
      throw new ProtocolError('disconnected', 'network error')
    }
    let json = null
    try {
      json = await res.json()
    } catch {
      /* non-JSON */
    }
    if (!res.ok || !json || json.ok === false) {
      const e = (json && json.error) || {}
      const code = e.code || STATUS_CODE[res.status] || 'internal'
      throw new ProtocolError(code, e.message || `HTTP ${res.status}`)
    }
    return json
  }
}

export function createApi({ base = '', fetchImpl } = {}) {
  const call = createCaller({ base, fetchImpl })
  return {
    /** -> {messages (newest first), nextBeforeId} */
    history(roomCode, { limit = 50, beforeId } = {}) {
      const q = new URLSearchParams({ roomCode, limit: String(limit) })
      if (beforeId != null) q.set('beforeId', String(beforeId))
      return call('GET', `/api/messages?${q}`)
    },
    /** -> {room, ownerKey}: the owner key is shown only here. */
    createRoom() {
      return call('POST', '/api/rooms').then((j) => ({ room: j.room, ownerKey: j.ownerKey ?? null }))
    },
    getRoom(code) {
      return call('GET', `/api/rooms/${encodeURIComponent(code)}`)
    },
  }
}
