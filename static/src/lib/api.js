// REST helpers (same origin). `fetchImpl` is injectable for tests.
import { ProtocolError } from './protocol.js'

export function createApi({ base = '', fetchImpl } = {}) {
  const f = fetchImpl || ((...a) => globalThis.fetch(...a))
  async function call(method, path, body) {
    let res
    try {
      res = await f(base + path, {
        method,
        headers: body ? { 'content-type': 'application/json' } : undefined,
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
      const code = e.code || (res.status === 404 ? 'not_found' : res.status === 429 ? 'rate_limited' : res.status === 503 ? 'unavailable' : 'internal')
      throw new ProtocolError(code, e.message || `HTTP ${res.status}`)
    }
    return json
  }
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
