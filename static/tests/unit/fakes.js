// Test doubles: a fake WebSocket and a scriptable fake server behind it.
export class FakeWebSocket {
  static instances = []
  static server = null // (ws, frame) => void, to auto-answer
  static autoOpen = true
  constructor(url) {
    this.url = url
    this.readyState = 0
    this.sent = []
    FakeWebSocket.instances.push(this)
    if (FakeWebSocket.autoOpen) queueMicrotask(() => this.open())
  }
  static reset() {
    FakeWebSocket.instances = []
    FakeWebSocket.server = null
    FakeWebSocket.autoOpen = true
  }
  static last() {
    return FakeWebSocket.instances[FakeWebSocket.instances.length - 1]
  }
  open() {
    if (this.readyState !== 0) return
    this.readyState = 1
    this.onopen && this.onopen({})
  }
  send(s) {
    const frame = JSON.parse(s)
    this.sent.push(frame)
    if (FakeWebSocket.server) FakeWebSocket.server(this, frame)
  }
  receive(obj) {
    this.onmessage && this.onmessage({ data: JSON.stringify(obj) })
  }
  ack(ref, data) {
    this.receive({ event: 'ack', ref, ok: true, data })
  }
  nack(ref, code, message = code) {
    this.receive({ event: 'ack', ref, ok: false, error: { code, message } })
  }
  close(code = 1000) {
    if (this.readyState === 3) return
    this.readyState = 3
    this.onclose && this.onclose({ code, wasClean: true })
  }
  /** The server side goes away (crash). */
  drop(code = 1006) {
    if (this.readyState === 3) return
    const wasConnecting = this.readyState === 0
    this.readyState = 3
    if (wasConnecting) this.onerror && this.onerror({})
    this.onclose && this.onclose({ code, wasClean: false })
  }
  framesOf(event) {
    return this.sent.filter((f) => f.event === event)
  }
}

export function msg(id, extra = {}) {
  return {
    id,
    roomId: 1,
    roomCode: 'ABC123',
    sender: 'bob',
    content: 'm' + id,
    createdAt: new Date(1700000000000 + id * 1000).toISOString(),
    clientId: null,
    ...extra,
  }
}

/** A fake REST API over a list of messages (ids ascending). */
export function fakeApi(messages = []) {
  const api = {
    messages,
    calls: [],
    async history(roomCode, { limit = 50, beforeId } = {}) {
      api.calls.push({ roomCode, limit, beforeId })
      const older = api.messages.filter((m) => beforeId == null || m.id < beforeId).sort((a, b) => b.id - a.id)
      const page = older.slice(0, limit)
      const next = older.length > limit ? page[page.length - 1].id : null
      return { ok: true, messages: page, nextBeforeId: next }
    },
    async createRoom() {
      return { room: { id: 1, code: 'ABC123', createdAt: new Date().toISOString() }, ownerKey: 'owner-key-of-ABC123-0000000000001' }
    },
  }
  return api
}

export const flush = async (n = 10) => {
  for (let i = 0; i < n; i++) await Promise.resolve()
}
