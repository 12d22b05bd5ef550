import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest'
import { ChatSession } from '../../src/lib/chatSession.js'
import { createPrefs, memoryStorage } from '../../src/lib/prefs.js'
import { FakeWebSocket, fakeApi, msg, flush } from './fakes.js'

/** A tiny in-memory server speaking the protocol through FakeWebSocket. */
function fakeServer({ messages = [], hold = () => false, fail = () => null } = {}) {
  const srv = { messages, joins: [], nextId: 1000, held: [] }
  FakeWebSocket.server = (ws, f) => {
    const h = hold(f)
    if (h) {
      srv.held.push({ ws, f })
      return
    }
    const err = fail(f)
    if (err) return ws.nack(f.ref, err)
    if (f.event === 'room:join') {
      srv.joins.push(f.data)
      let missed = []
      let hasMore = false
      if (f.data.sinceId != null) {
        const after = srv.messages.filter((m) => m.id > f.data.sinceId)
        hasMore = after.length > 3
        missed = after.slice(-3) // a limit of 3, to exercise hasMore
      }
      if (f.data.ownerKey && f.data.ownerKey !== srv.ownerKey) return ws.nack(f.ref, 'forbidden')
      const owner = f.data.ownerKey != null
      ws.ack(f.ref, { room: { id: 1, code: f.data.code, createdAt: '' }, members: [{ nickname: f.data.nickname }, { nickname: 'bob' }], missed, hasMore, owner })
    } else if (f.event === 'chat:send') {
      let m = srv.messages.find((x) => x.clientId === f.data.clientId)
      if (!m) {
        m = msg(srv.nextId++, { clientId: f.data.clientId, content: f.data.content, sender: 'me' })
        srv.messages.push(m)
      }
      ws.ack(f.ref, { message: m })
    } else {
      ws.ack(f.ref, {})
    }
  }
  return srv
}

function session(api) {
  return new ChatSession({
    wsUrl: 'ws://x/ws',
    api,
    prefs: createPrefs(memoryStorage(), () => 0),
    WebSocketImpl: FakeWebSocket,
    random: () => 0,
    historyPageSize: 2,
    connectionOptions: { baseMs: 100, maxMs: 1000 },
  })
}

describe('ChatSession', () => {
  beforeEach(() => {
    FakeWebSocket.reset()
    vi.useFakeTimers()
  })
  afterEach(() => vi.useRealTimers())

  it('keeps the owner key of a room it creates and joins with it; one author key for every room', async () => {
    const api = fakeApi([])
    const srv = fakeServer()
    srv.ownerKey = 'owner-key-of-ABC123-0000000000001'
    const s = session(api)
    const room = await s.createRoom()
    s.enterRoom(room.code, { nickname: 'me' })
    await flush(30)
    expect(s.state.owner).toBe(true)
    const [first] = srv.joins
    expect(first.ownerKey).toBe(srv.ownerKey)
    s.enterRoom('XYZ789', { nickname: 'me' })
    await flush(30)
    const second = srv.joins[srv.joins.length - 1]
    expect(second.code).toBe('XYZ789')
    expect(second.ownerKey).toBeUndefined()
    expect(second.authorKey).toBe(first.authorKey)
    expect(s.state.owner).toBe(false)
  })

  it('sends a reply with replyTo once, then plain messages again; a cancelled reply is not one', async () => {
    fakeServer({ messages: [msg(7, { sender: 'bob', content: 'the original' })] })
    const s = session(fakeApi([msg(7, { sender: 'bob', content: 'the original' })]))
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    const original = s.store.state.items.find((i) => i.id === 7)
    s.startReply(original)
    expect(s.state.replyingTo).toEqual({ id: 7, sender: 'bob', content: 'the original' })
    s.send('a reply')
    expect(s.state.replyingTo).toBe(null)
    s.send('not a reply')
    s.startReply(original)
    s.cancelReply()
    s.send('nor this')
    await flush(40)
    const sends = FakeWebSocket.last().framesOf('chat:send').map((f) => [f.data.content, f.data.replyTo])
    expect(sends).toEqual([
      ['a reply', 7],
      ['not a reply', undefined],
      ['nor this', undefined],
    ])
    s.startReply({ id: null, sender: 'me', content: 'pending' })
    expect(s.state.replyingTo).toBe(null)
  })

  it('forgets a stale owner key and joins as a member', async () => {
    const srv = fakeServer()
    srv.ownerKey = 'the-real-one'
    const s = session(fakeApi([]))
    s.prefs.setOwnerKey('ABC123', 'an-old-key')
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    expect(s.state.joined).toBe(true)
    expect(s.state.owner).toBe(false)
    expect(s.prefs.ownerKey('ABC123')).toBe(null)
  })

  it('joins without sinceId first, then loads history, newest page first', async () => {
    const api = fakeApi([msg(1), msg(2), msg(3)])
    fakeServer({ messages: api.messages })
    const s = session(api)
    s.enterRoom('abc123', { nickname: 'me' })
    await flush(30)
    expect(s.state.conn).toBe('connected')
    expect(s.state.code).toBe('ABC123')
    const join = FakeWebSocket.last().framesOf('room:join')[0]
    expect(join.data).toEqual({ code: 'ABC123', nickname: 'me', authorKey: expect.stringMatching(/^[\w-]{32}$/) })
    expect(s.store.state.items.map((i) => i.id)).toEqual([2, 3])
    expect(s.state.members.map((m) => m.nickname)).toEqual(['me', 'bob'])
    await s.loadOlder()
    expect(s.store.state.items.map((i) => i.id)).toEqual([1, 2, 3])
    expect(s.state.history.done).toBe(true)
    await s.loadOlder()
    expect(api.calls.length).toBe(2)
  })

  it('merges pushes that race with history, by id, without duplicates', async () => {
    const api = fakeApi([msg(1), msg(2)])
    fakeServer({ messages: api.messages })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    FakeWebSocket.autoOpen = true
    await flush(3)
    FakeWebSocket.last().receive({ event: 'chat:message', data: msg(2) })
    FakeWebSocket.last().receive({ event: 'chat:message', data: msg(3) })
    await flush(30)
    FakeWebSocket.last().receive({ event: 'chat:message', data: msg(3) })
    expect(s.store.state.items.map((i) => i.id)).toEqual([1, 2, 3])
  })

  it('send: pending, then sent on ack; the push for the same message changes nothing', async () => {
    const api = fakeApi([])
    const srv = fakeServer({ messages: api.messages, hold: (f) => f.event === 'chat:send' })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(30)
    const cid = s.send('  hello  ')
    expect(s.store.state.items).toMatchObject([{ status: 'pending', content: 'hello', own: true }])
    const { ws, f } = srv.held[0]
    expect(f.data).toEqual({ roomCode: 'ABC123', content: 'hello', clientId: cid })
    const m = msg(50, { clientId: cid, content: 'hello', sender: 'me' })
    ws.receive({ event: 'chat:message', data: m }) // push first
    ws.ack(f.ref, { message: m })
    await flush()
    expect(s.store.state.items).toMatchObject([{ id: 50, status: 'sent', own: true }])
    expect(s.send('   ')).toBe(null)
  })

  it('a failed send shows its error and is retried with the same clientId', async () => {
    const api = fakeApi([])
    let failNext = true
    fakeServer({
      messages: api.messages,
      fail: (f) => {
        if (f.event === 'chat:send' && failNext) {
          failNext = false
          return 'rate_limited'
        }
        return null
      },
    })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(30)
    const cid = s.send('hi')
    await flush()
    expect(s.store.state.items[0]).toMatchObject({ status: 'failed', error: { code: 'rate_limited' } })
    s.retry(cid)
    expect(s.store.state.items[0].status).toBe('pending')
    await flush()
    expect(s.store.state.items[0]).toMatchObject({ status: 'sent', clientId: cid })
    const sends = FakeWebSocket.last().framesOf('chat:send')
    expect(sends.map((x) => x.data.clientId)).toEqual([cid, cid])
  })

  it('reconnects after a drop and re-joins with sinceId = highest id seen, merging missed', async () => {
    const api = fakeApi([msg(1), msg(2)])
    const srv = fakeServer({ messages: api.messages })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(30)
    FakeWebSocket.last().receive({ event: 'chat:message', data: msg(5) })
    expect(s.resumePoint()).toBe(5)
    FakeWebSocket.last().drop()
    expect(s.state.conn).toBe('reconnecting')
    srv.messages.push(msg(5), msg(6), msg(7))
    vi.advanceTimersByTime(100)
    await flush(30)
    expect(s.state.conn).toBe('connected')
    expect(srv.joins.at(-1)).toEqual({ code: 'ABC123', nickname: 'me', sinceId: 5, authorKey: expect.any(String) })
    expect(s.store.state.items.map((i) => i.id)).toEqual([1, 2, 5, 6, 7])
  })

  it('fills the gap through REST when missed has more', async () => {
    const api = fakeApi([msg(1)])
    const srv = fakeServer({ messages: api.messages })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(30)
    expect(s.resumePoint()).toBe(1)
    FakeWebSocket.last().drop()
    for (let i = 2; i <= 12; i++) srv.messages.push(msg(i))
    vi.advanceTimersByTime(100)
    await flush(60)
    expect(s.store.state.items.map((i) => i.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
  })

  it('an empty room resumes from sinceId 0', async () => {
    const api = fakeApi([])
    const srv = fakeServer({ messages: api.messages })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(30)
    expect(s.resumePoint()).toBe(0)
    FakeWebSocket.last().drop()
    srv.messages.push(msg(1))
    vi.advanceTimersByTime(100)
    await flush(30)
    expect(srv.joins.at(-1).sinceId).toBe(0)
    expect(s.store.state.items.map((i) => i.id)).toEqual([1])
  })

  it('a send cut off by a drop stays pending and is resent with the same clientId after rejoin', async () => {
    const api = fakeApi([])
    let holding = true
    const srv = fakeServer({ messages: api.messages, hold: (f) => holding && f.event === 'chat:send' })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(30)
    const cid = s.send('are you there?')
    // the server stored it, but the connection died before the ack
    srv.messages.push(msg(1, { clientId: cid, content: 'are you there?', sender: 'me' }))
    FakeWebSocket.last().drop()
    await flush()
    expect(s.store.state.items[0].status).toBe('pending')
    holding = false
    vi.advanceTimersByTime(100)
    await flush(30)
    expect(s.store.state.items).toMatchObject([{ id: 1, status: 'sent', own: true }])
    expect(srv.messages.length).toBe(1)
  })

  it('messages typed while offline are queued and sent on reconnect', async () => {
    const api = fakeApi([])
    const srv = fakeServer({ messages: api.messages })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(30)
    FakeWebSocket.autoOpen = false
    FakeWebSocket.last().drop()
    s.send('queued')
    expect(s.store.state.items[0].status).toBe('pending')
    FakeWebSocket.autoOpen = true
    vi.advanceTimersByTime(100)
    await flush(30)
    expect(s.store.state.items[0]).toMatchObject({ status: 'sent', content: 'queued' })
    expect(srv.messages.length).toBe(1)
  })

  it('presence and typing pushes update members and the typing line; typing expires', async () => {
    const api = fakeApi([])
    fakeServer({ messages: api.messages })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(30)
    const ws = FakeWebSocket.last()
    ws.receive({ event: 'presence', data: { roomCode: 'ABC123', count: 3, joined: 'cy' } })
    expect(s.state.members.map((m) => m.nickname)).toEqual(['me', 'bob', 'cy'])
    expect(s.state.memberCount).toBe(3)
    ws.receive({ event: 'typing', data: { roomCode: 'ABC123', nickname: 'bob', typing: true } })
    expect(s.state.typing).toEqual(['bob'])
    ws.receive({ event: 'typing', data: { roomCode: 'OTHER1', nickname: 'zed', typing: true } })
    expect(s.state.typing).toEqual(['bob'])
    vi.advanceTimersByTime(7000)
    expect(s.state.typing).toEqual([])
    ws.receive({ event: 'typing', data: { roomCode: 'ABC123', nickname: 'cy', typing: true } })
    ws.receive({ event: 'chat:message', data: msg(9, { sender: 'cy' }) })
    expect(s.state.typing).toEqual([])
  })

  it('sends typing true while typing and false on send', async () => {
    const api = fakeApi([])
    fakeServer({ messages: api.messages })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(30)
    s.typingInput()
    s.typingInput()
    s.send('x')
    const t = FakeWebSocket.last().framesOf('typing').map((f) => f.data)
    expect(t).toEqual([
      { roomCode: 'ABC123', typing: true },
      { roomCode: 'ABC123', typing: false },
    ])
  })

  it('an unknown room ends with joinError not_found and forgets the last room', async () => {
    const api = fakeApi([])
    fakeServer({ fail: (f) => (f.event === 'room:join' ? 'not_found' : null) })
    const s = session(api)
    s.enterRoom('ZZZZZZ', { nickname: 'me' })
    await flush(30)
    expect(s.state.joinError).toMatchObject({ code: 'not_found' })
    expect(s.prefs.lastRoom()).toBe(null)
  })

  it('rename re-joins with the new nickname and remembers it for the room', async () => {
    const api = fakeApi([])
    const srv = fakeServer({ messages: api.messages })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(30)
    await s.rename('  ada ')
    expect(srv.joins.at(-1)).toMatchObject({ code: 'ABC123', nickname: 'ada', sinceId: 0 })
    expect(s.prefs.roomNick('ABC123')).toBe('ada')
    await expect(s.rename('x'.repeat(33))).rejects.toMatchObject({ code: 'bad_request' })
  })

  it('a join without an answer reconnects instead of staying half-joined', async () => {
    const api = fakeApi([])
    let silent = true
    const srv = fakeServer({ messages: api.messages, hold: (f) => silent && f.event === 'room:join' })
    const s = session(api)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(10)
    expect(srv.held.length).toBe(1)
    silent = false
    vi.advanceTimersByTime(15001) // ack timeout
    await flush(10)
    expect(s.state.conn).toBe('reconnecting')
    vi.advanceTimersByTime(100)
    await flush(30)
    expect(s.state.conn).toBe('connected')
    expect(s.state.joined).toBe(true)
    expect(FakeWebSocket.instances.length).toBe(2)
  })
})
