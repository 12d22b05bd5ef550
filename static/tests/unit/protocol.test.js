import { describe, it, expect, beforeEach, vi } from 'vitest'
import { ProtocolClient, wsUrlFor } from '../../src/lib/protocol.js'
import { FakeWebSocket, flush } from './fakes.js'

describe('ProtocolClient', () => {
  beforeEach(() => FakeWebSocket.reset())

  it('puts a ref on every request and matches acks by ref, in any order', async () => {
    const c = new ProtocolClient({ url: 'ws://x/ws', WebSocketImpl: FakeWebSocket })
    await c.connect()
    const ws = FakeWebSocket.last()
    const p1 = c.request('room:create', {})
    const p2 = c.request('room:join', { code: 'ABC123', nickname: 'ada' })
    const [f1, f2] = ws.sent
    expect(f1.ref).not.toBe(f2.ref)
    expect(f2).toMatchObject({ event: 'room:join', data: { code: 'ABC123', nickname: 'ada' } })
    ws.ack(f2.ref, { room: { code: 'ABC123' }, members: [], missed: [], hasMore: false })
    ws.ack(f1.ref, { room: { code: 'NEW111' } })
    await expect(p1).resolves.toEqual({ room: { code: 'NEW111' } })
    await expect(p2).resolves.toMatchObject({ room: { code: 'ABC123' } })
  })

  it('rejects with the server error code', async () => {
    const c = new ProtocolClient({ url: 'ws://x/ws', WebSocketImpl: FakeWebSocket })
    await c.connect()
    const ws = FakeWebSocket.last()
    const p = c.request('chat:send', { roomCode: 'ABC123', content: 'x' })
    ws.nack(ws.sent[0].ref, 'rate_limited', 'too many')
    await expect(p).rejects.toMatchObject({ code: 'rate_limited', message: 'too many' })
  })

  it('delivers pushes to onPush and ignores unknown acks and garbage', async () => {
    const pushes = []
    const c = new ProtocolClient({ url: 'ws://x/ws', WebSocketImpl: FakeWebSocket, onPush: (e, d) => pushes.push([e, d]) })
    await c.connect()
    const ws = FakeWebSocket.last()
    ws.receive({ event: 'ack', ref: 999, ok: true, data: {} })
    ws.onmessage({ data: 'not json' })
    ws.receive({ event: 'chat:message', data: { id: 1 } })
    expect(pushes).toEqual([['chat:message', { id: 1 }]])
  })

  it('rejects every pending request with "disconnected" when the socket closes', async () => {
    let closed = null
    const c = new ProtocolClient({ url: 'ws://x/ws', WebSocketImpl: FakeWebSocket, onClose: (e) => (closed = e) })
    await c.connect()
    const p = c.request('chat:send', {})
    FakeWebSocket.last().drop(1012)
    await expect(p).rejects.toMatchObject({ code: 'disconnected' })
    expect(closed.code).toBe(1012)
    await expect(c.request('typing', {})).rejects.toMatchObject({ code: 'disconnected' })
  })

  it('times out a request without an ack', async () => {
    vi.useFakeTimers()
    try {
      const c = new ProtocolClient({ url: 'ws://x/ws', WebSocketImpl: FakeWebSocket, ackTimeoutMs: 1000 })
      const conn = c.connect()
      await flush()
      await conn
      const p = c.request('chat:send', {})
      const check = expect(p).rejects.toMatchObject({ code: 'timeout' })
      vi.advanceTimersByTime(1001)
      await check
      // a late ack is ignored
      FakeWebSocket.last().ack(FakeWebSocket.last().sent[0].ref, {})
    } finally {
      vi.useRealTimers()
    }
  })

  it('rejects connect when the socket fails to open', async () => {
    FakeWebSocket.autoOpen = false
    const c = new ProtocolClient({ url: 'ws://x/ws', WebSocketImpl: FakeWebSocket })
    const p = c.connect()
    FakeWebSocket.last().drop()
    await expect(p).rejects.toMatchObject({ code: 'disconnected' })
  })

  it('builds a same-origin ws URL', () => {
    expect(wsUrlFor({ protocol: 'http:', host: '127.0.0.1:8080' })).toBe('ws://127.0.0.1:8080/ws')
    expect(wsUrlFor({ protocol: 'https:', host: 'chat.example' })).toBe('wss://chat.example/ws')
  })
})
