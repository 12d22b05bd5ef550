// ChatSession and message changes: edits, deletions, reactions, chat:update, and the change
// cursor that resumes them, against a fake server that numbers a room's changes like the
// real one (every new message and every change takes the room's next seq).
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest'
import { ChatSession } from '../../src/lib/chatSession.js'
import { createPrefs, memoryStorage } from '../../src/lib/prefs.js'
import { FakeWebSocket, fakeApi, msg, flush } from './fakes.js'

const ME = 'aaaaaaaaaaaaaaaaaaaaaaaa'
const BOB = 'bbbbbbbbbbbbbbbbbbbbbbbb'

function changeServer({ owner = false, pushUpdates = true } = {}) {
  const srv = {
    seq: 0,
    nextId: 1,
    messages: [], // current states, ids ascending (shared with the fake REST API)
    joins: [],
    acks: [],
    changesHasMore: false,
    fail: () => null,
    hold: () => false,
    held: [],
  }
  const put = (m) => {
    const i = srv.messages.findIndex((x) => x.id === m.id)
    if (i >= 0) srv.messages[i] = m
    else srv.messages.push(m)
    return m
  }
  srv.post = (extra = {}) => put(msg(srv.nextId++, { authorId: BOB, editedAt: null, deleted: false, reactions: [], ...extra, seq: ++srv.seq }))
  srv.change = (id, fn) => {
    const m = srv.messages.find((x) => x.id === id)
    return put({ ...fn(m), seq: ++srv.seq })
  }
  srv.api = fakeApi(srv.messages)
  const find = (id) => srv.messages.find((m) => m.id === id)
  FakeWebSocket.server = (ws, f) => {
    if (srv.hold(f)) return srv.held.push({ ws, f })
    const err = srv.fail(f)
    if (err) return ws.nack(f.ref, err)
    const d = f.data
    const answer = (m, changed) => {
      if (changed && pushUpdates) ws.receive({ event: 'chat:update', data: m })
      ws.ack(f.ref, { message: m })
    }
    switch (f.event) {
      case 'room:join': {
        srv.joins.push(d)
        const since = d.sinceId
        const missed = since != null ? srv.messages.filter((m) => m.id > since) : []
        const changes =
          since != null && d.sinceChange != null ? srv.messages.filter((m) => m.id <= since && m.seq > d.sinceChange).sort((a, b) => a.seq - b.seq) : []
        return ws.ack(f.ref, {
          room: { id: 1, code: d.code, createdAt: '' },
          members: [{ nickname: d.nickname }],
          missed,
          hasMore: false,
          owner,
          seq: srv.seq,
          changes: srv.changesHasMore ? changes.slice(0, 1) : changes,
          changesHasMore: srv.changesHasMore,
        })
      }
      case 'chat:send': {
        const m = srv.post({ clientId: d.clientId, content: d.content, sender: 'me', authorId: ME })
        ws.receive({ event: 'chat:message', data: m })
        return ws.ack(f.ref, { message: m })
      }
      case 'chat:edit': {
        const m = find(d.id)
        if (!m || m.deleted) return ws.nack(f.ref, 'not_found')
        if (m.authorId !== ME) return ws.nack(f.ref, 'forbidden')
        if (m.content === d.content) return answer(m, false)
        return answer(srv.change(d.id, (x) => ({ ...x, content: d.content, editedAt: '2026-12-02T10:00:00.000Z' })), true)
      }
      case 'chat:delete': {
        const m = find(d.id)
        if (!m) return ws.nack(f.ref, 'not_found')
        if (m.authorId !== ME && !owner) return ws.nack(f.ref, 'forbidden')
        if (m.deleted) return answer(m, false)
        return answer(srv.change(d.id, (x) => ({ ...x, content: '', deleted: true, reactions: [] })), true)
      }
      case 'reaction:add':
      case 'reaction:remove': {
        const m = find(d.id)
        if (!m || m.deleted) return ws.nack(f.ref, 'not_found')
        const r = m.reactions.find((x) => x.emoji === d.emoji)
        const add = f.event === 'reaction:add'
        const mine = (srv.mine ||= new Set())
        const key = d.id + d.emoji
        if (add === mine.has(key)) return answer(m, false)
        if (add) mine.add(key)
        else mine.delete(key)
        const count = (r ? r.count : 0) + (add ? 1 : -1)
        const others = m.reactions.filter((x) => x.emoji !== d.emoji)
        const reactions = (count ? [...others, { emoji: d.emoji, count }] : others).sort((a, b) => b.count - a.count || (a.emoji < b.emoji ? -1 : 1))
        return answer(srv.change(d.id, (x) => ({ ...x, reactions })), true)
      }
      default:
        return ws.ack(f.ref, {})
    }
  }
  return srv
}

function session(srv, storage = memoryStorage()) {
  return new ChatSession({
    wsUrl: 'ws://x/ws',
    api: srv.api,
    prefs: createPrefs(storage, () => 0),
    WebSocketImpl: FakeWebSocket,
    random: () => 0,
    historyPageSize: 50,
    connectionOptions: { baseMs: 100, maxMs: 1000 },
  })
}

const item = (s, id) => s.store.state.items.find((i) => i.id === id)
const push = (event, data) => FakeWebSocket.last().receive({ event, data })

async function reconnect(s) {
  FakeWebSocket.last().drop()
  vi.advanceTimersByTime(100)
  await flush(40)
  expect(s.state.joined).toBe(true)
}

describe('ChatSession: changes to messages', () => {
  beforeEach(() => {
    FakeWebSocket.reset()
    vi.useFakeTimers()
  })
  afterEach(() => vi.useRealTimers())

  it('keeps the cursor from the join ack and pushes, not from missed, changes or history', async () => {
    const srv = changeServer()
    srv.post()
    srv.post()
    srv.change(1, (m) => ({ ...m, content: 'edited early' })) // seq 3
    const s = session(srv)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    // the first join has no sinceId, so no sinceChange either
    expect(srv.joins[0].sinceId).toBeUndefined()
    expect(srv.joins[0].sinceChange).toBeUndefined()
    expect(s.cursor).toBe(3)
    expect(item(s, 1).content).toBe('edited early') // history is current
    // pushes move it
    push('chat:message', srv.post({ content: 'live' })) // seq 4
    expect(s.cursor).toBe(4)
    push('chat:update', srv.change(2, (m) => ({ ...m, content: 'm2 edited' }))) // seq 5
    expect(s.cursor).toBe(5)
    expect(item(s, 2).content).toBe('m2 edited')
    // an older push of another room moves nothing
    push('chat:update', { ...msg(1), roomCode: 'OTHER1', seq: 99 })
    expect(s.cursor).toBe(5)
    // away: a new message and changes the pushes did not bring
    srv.change(1, (m) => ({ ...m, content: 'edited while away', editedAt: '2026-12-02T11:00:00.000Z' })) // 6
    srv.post({ content: 'new while away' }) // 7 (id 4)
    srv.change(4, (m) => ({ ...m, content: 'new, then edited' })) // 8
    srv.seq += 4 // the room's other messages moved on (ack seq 12)
    await reconnect(s)
    const rejoin = srv.joins.at(-1)
    expect(rejoin).toMatchObject({ sinceId: 3, sinceChange: 5 })
    expect(item(s, 1)).toMatchObject({ content: 'edited while away', editedAt: '2026-12-02T11:00:00.000Z' })
    expect(item(s, 4).content).toBe('new, then edited') // missed brings current states
    expect(s.cursor).toBe(12) // the ack's seq, not a message's
    // a missed or changes entry with a greater seq than the ack's does not move it either
    srv.change(2, (m) => ({ ...m, content: 'x' })) // 13
    const ws = FakeWebSocket.last()
    FakeWebSocket.server = (w, f) => {
      if (f.event === 'room:join') w.ack(f.ref, { room: { code: 'ABC123' }, members: [], missed: [msg(9, { seq: 40 })], hasMore: false, seq: 13, changes: [msg(2, { content: 'y', seq: 41 })], changesHasMore: false })
    }
    ws.drop()
    vi.advanceTimersByTime(1000)
    await flush(40)
    expect(s.cursor).toBe(13)
    expect(item(s, 2).content).toBe('y')
  })

  it('an update whose seq is not greater than the held one is ignored', async () => {
    const srv = changeServer()
    srv.post()
    const s = session(srv)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    push('chat:update', msg(1, { content: 'second edit', editedAt: '2026-12-02T10:00:02.000Z', seq: 7 }))
    push('chat:update', msg(1, { content: 'first edit', editedAt: '2026-12-02T10:00:01.000Z', seq: 6 }))
    push('chat:update', msg(1, { content: 'same seq', seq: 7 }))
    expect(item(s, 1)).toMatchObject({ content: 'second edit', seq: 7 })
  })

  it('changesHasMore: reloads the history and replaces what it holds', async () => {
    const srv = changeServer()
    for (let i = 0; i < 5; i++) srv.post()
    const s = session(srv)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    const callsBefore = srv.api.calls.length
    FakeWebSocket.last().drop()
    for (let id = 1; id <= 5; id++) srv.change(id, (m) => ({ ...m, content: `changed ${id}` }))
    srv.change(3, (m) => ({ ...m, content: '', deleted: true }))
    srv.changesHasMore = true // the ack lists only the first change
    vi.advanceTimersByTime(100)
    await flush(60)
    expect(srv.api.calls.length).toBeGreaterThan(callsBefore)
    expect(s.store.state.items.map((i) => i.content)).toEqual(['changed 1', 'changed 2', '', 'changed 4', 'changed 5'])
    expect(item(s, 3).deleted).toBe(true)
  })

  it('learns our authorId from a send ack, keeps it per browser, edits our messages only', async () => {
    const storage = memoryStorage()
    const srv = changeServer()
    srv.post({ content: "bob's" })
    const s = session(srv, storage)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    expect(s.state.authorId).toBe(null)
    expect(s.canEdit(item(s, 1))).toBe(false)
    s.send('mine')
    await flush(20)
    expect(s.state.authorId).toBe(ME)
    expect(createPrefs(storage).authorId()).toBe(ME)
    expect(s.canEdit(item(s, 2))).toBe(true)
    expect(s.canEdit(item(s, 1))).toBe(false)
    expect(s.canDelete(item(s, 1))).toBe(false) // not the owner
    expect(s.startEdit(item(s, 1))).toBe(false)
    expect(s.state.editing).toBe(null)

    expect(s.startEdit(item(s, 2))).toBe(true)
    expect(s.state.editing).toBe(2)
    expect(await s.saveEdit(2, '  mine, edited  ')).toBe(true)
    expect(FakeWebSocket.last().framesOf('chat:edit').map((f) => f.data)).toEqual([{ roomCode: 'ABC123', id: 2, content: 'mine, edited' }])
    expect(item(s, 2)).toMatchObject({ content: 'mine, edited', editedAt: '2026-12-02T10:00:00.000Z' })
    expect(s.state.editing).toBe(null)
    // the same text again sends nothing
    s.startEdit(item(s, 2))
    expect(await s.saveEdit(2, 'mine, edited')).toBe(true)
    expect(FakeWebSocket.last().framesOf('chat:edit').length).toBe(1)
    // an empty edit is refused here (delete instead)
    s.startEdit(item(s, 2))
    expect(await s.saveEdit(2, '   ')).toBe(false)
    expect(s.state.actionError).toMatchObject({ id: 2, action: 'edit', code: 'empty' })
    expect(s.state.editing).toBe(2)

    // a later page load of the same browser knows which messages are ours from the start
    const again = session(srv, storage)
    again.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    expect(again.canEdit(item(again, 2))).toBe(true)
    expect(item(again, 2).own).toBe(true)
  })

  it('learns our authorId from our own messages in history (our clientIds)', async () => {
    const storage = memoryStorage()
    createPrefs(storage).saveOwnIds('ABC123', new Set(['c-1']))
    const srv = changeServer()
    srv.post({ clientId: 'c-1', authorId: ME })
    srv.post({ clientId: 'c-2', authorId: BOB })
    const s = session(srv, storage)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    expect(s.state.authorId).toBe(ME)
  })

  it('the Up arrow edits our newest editable message', async () => {
    const srv = changeServer()
    const s = session(srv)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    expect(s.editLast()).toBe(false)
    s.send('one')
    s.send('two')
    await flush(20)
    srv.post({ content: "bob's, newest" })
    push('chat:message', srv.messages.at(-1))
    expect(s.editLast()).toBe(true)
    expect(item(s, s.state.editing).content).toBe('two')
    s.cancelEdit()
    expect(s.state.editing).toBe(null)
  })

  it('an edit refused by the server shows its error with the message', async () => {
    const srv = changeServer()
    const s = session(srv)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    s.send('mine')
    await flush(20)
    srv.fail = (f) => (f.event === 'chat:edit' ? 'rate_limited' : null)
    s.startEdit(item(s, 1))
    expect(await s.saveEdit(1, 'again')).toBe(false)
    expect(s.state.actionError).toMatchObject({ id: 1, action: 'edit', code: 'rate_limited' })
    expect(s.state.editing).toBe(1) // still open, the text is not lost
    expect(item(s, 1).content).toBe('mine')
  })

  it('deletes our own message after a confirmation; a deleted one takes no more changes', async () => {
    const srv = changeServer()
    const s = session(srv)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    s.send('oops')
    await flush(20)
    expect(s.askDelete(item(s, 1))).toBe(true)
    expect(s.state.confirmingDelete).toBe(1)
    s.cancelDelete()
    expect(s.state.confirmingDelete).toBe(null)
    expect(FakeWebSocket.last().framesOf('chat:delete')).toEqual([])
    s.askDelete(item(s, 1))
    expect(await s.deleteMessage(1)).toBe(true)
    expect(FakeWebSocket.last().framesOf('chat:delete').map((f) => f.data)).toEqual([{ roomCode: 'ABC123', id: 1 }])
    expect(item(s, 1)).toMatchObject({ deleted: true, content: '', reactions: [] })
    expect(s.state.confirmingDelete).toBe(null)
    expect(s.canEdit(item(s, 1))).toBe(false)
    expect(s.canDelete(item(s, 1))).toBe(false)
    expect(s.canReact(item(s, 1))).toBe(false)
  })

  it("the room's owner deletes another member's message; a member may not", async () => {
    const srv = changeServer({ owner: true })
    srv.post({ content: 'spam' })
    const s = session(srv)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    expect(s.state.owner).toBe(true)
    expect(s.canDelete(item(s, 1))).toBe(true)
    expect(s.canEdit(item(s, 1))).toBe(false)
    s.askDelete(item(s, 1))
    expect(await s.deleteMessage(1)).toBe(true)
    expect(item(s, 1).deleted).toBe(true)

    FakeWebSocket.reset()
    const srv2 = changeServer({ owner: false })
    srv2.post({ content: 'not yours' })
    const m = session(srv2)
    m.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    expect(m.canDelete(item(m, 1))).toBe(false)
    expect(m.askDelete(item(m, 1))).toBe(false)
    // if it asked anyway, the server's forbidden shows
    expect(await m.deleteMessage(1)).toBe(false)
    expect(m.state.actionError).toMatchObject({ id: 1, action: 'delete', code: 'forbidden' })
  })

  it('a deletion pushed by someone else closes our editor and confirmation on it', async () => {
    const srv = changeServer({ owner: false })
    const s = session(srv)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    s.send('mine')
    await flush(20)
    s.startEdit(item(s, 1))
    push('chat:update', srv.change(1, (m) => ({ ...m, deleted: true, content: '' }))) // the owner deleted it
    expect(s.state.editing).toBe(null)
    expect(item(s, 1).deleted).toBe(true)
  })

  it('reactions: a click adds ours, a second removes it; highlight kept per browser from our acks', async () => {
    const storage = memoryStorage()
    const srv = changeServer()
    srv.post({ content: 'react to me' })
    const s = session(srv, storage)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    expect(await s.toggleReaction(item(s, 1), '👍')).toBe(true)
    expect(item(s, 1).reactions).toEqual([{ emoji: '👍', count: 1 }])
    expect(s.reactions.mine(1)).toEqual(['👍'])
    // someone else adds the same
    push('chat:update', srv.change(1, (m) => ({ ...m, reactions: [{ emoji: '👍', count: 2 }] })))
    expect(item(s, 1).reactions).toEqual([{ emoji: '👍', count: 2 }])
    // the next page load still highlights ours
    const again = session(srv, storage)
    again.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    expect(again.reactions.mine(1)).toEqual(['👍'])
    expect(await again.toggleReaction(item(again, 1), '👍')).toBe(true)
    const ws = FakeWebSocket.last()
    expect(ws.framesOf('reaction:remove').map((f) => f.data)).toEqual([{ roomCode: 'ABC123', id: 1, emoji: '👍' }])
    expect(item(again, 1).reactions).toEqual([{ emoji: '👍', count: 1 }])
    expect(again.reactions.mine(1)).toEqual([])
    expect(createPrefs(storage).myReactions('ABC123')).toEqual({})
  })

  it('a refused reaction shows the server error and remembers nothing', async () => {
    const srv = changeServer()
    srv.post()
    const s = session(srv)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    srv.fail = (f) => (f.event === 'reaction:add' ? 'too_large' : null)
    expect(await s.toggleReaction(item(s, 1), '🙏')).toBe(false)
    expect(s.state.actionError).toMatchObject({ id: 1, action: 'react', code: 'too_large' })
    expect(s.reactions.mine(1)).toEqual([])
    expect(s.state.busy).toEqual({})
  })

  it('marks a change busy until its ack, and the ack and push apply once in either order', async () => {
    const srv = changeServer({ pushUpdates: false })
    srv.post()
    const s = session(srv)
    s.enterRoom('ABC123', { nickname: 'me' })
    await flush(40)
    srv.hold = (f) => f.event === 'reaction:add'
    const done = s.toggleReaction(item(s, 1), '🎉')
    expect(s.state.busy).toEqual({ 1: 'react' })
    const { ws, f } = srv.held[0]
    const m = srv.change(1, (x) => ({ ...x, reactions: [{ emoji: '🎉', count: 1 }] }))
    ws.receive({ event: 'chat:update', data: m }) // push first
    ws.ack(f.ref, { message: m })
    expect(await done).toBe(true)
    expect(item(s, 1).reactions).toEqual([{ emoji: '🎉', count: 1 }])
    expect(s.state.busy).toEqual({})
  })
})
