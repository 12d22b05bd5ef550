import { describe, it, expect } from 'vitest'
import { MessageStore } from '../../src/lib/messageStore.js'
import { msg } from './fakes.js'

describe('MessageStore', () => {
  it('orders messages by id whatever the arrival order', () => {
    const s = new MessageStore()
    s.addConfirmed([msg(5), msg(2)])
    s.addConfirmed(msg(9))
    s.addConfirmed([msg(1), msg(7)])
    expect(s.state.items.map((i) => i.id)).toEqual([1, 2, 5, 7, 9])
    expect(s.sinceId).toBe(9)
    expect(s.oldestId).toBe(1)
  })

  it('never shows a message twice (history + missed + push)', () => {
    const s = new MessageStore()
    expect(s.addConfirmed([msg(3), msg(2), msg(1)]).length).toBe(3) // history, newest first
    expect(s.addConfirmed([msg(3), msg(4)]).map((m) => m.id)).toEqual([4]) // missed
    expect(s.addConfirmed(msg(4))).toEqual([]) // push of the same
    expect(s.state.items.map((i) => i.id)).toEqual([1, 2, 3, 4])
    expect(s.state.count).toBe(4)
  })

  it('keeps the bot mark of integration messages, and only theirs', () => {
    const s = new MessageStore()
    s.addConfirmed([msg(1, { bot: true }), msg(2, { bot: false }), msg(3)])
    s.addLocal({ clientId: 'c9', content: 'mine', sender: 'ada' })
    expect(s.state.items.map((i) => i.bot)).toEqual([true, false, false, false])
  })

  it('keeps what a message replies to, confirmed or still pending', () => {
    const s = new MessageStore()
    s.addConfirmed([msg(1), msg(2, { replyTo: 1 })])
    s.addLocal({ clientId: 'c1', content: 'reply', sender: 'ada', replyTo: 2 })
    expect(s.state.items.map((i) => i.replyTo)).toEqual([null, 1, 2])
  })

  it('has no sinceId while empty', () => {
    expect(new MessageStore().sinceId).toBe(null)
  })

  it('shows a local message as pending, then as sent when its ack arrives', () => {
    const s = new MessageStore()
    s.addConfirmed(msg(1))
    s.addLocal({ clientId: 'c1', content: 'hello', sender: 'ada' })
    let last = s.state.items.at(-1)
    expect(last).toMatchObject({ status: 'pending', id: null, clientId: 'c1', own: true, content: 'hello' })
    s.addConfirmed(msg(2, { clientId: 'c1', sender: 'ada', content: 'hello' }))
    expect(s.state.items.length).toBe(2)
    last = s.state.items.at(-1)
    expect(last).toMatchObject({ status: 'sent', id: 2, clientId: 'c1' })
  })

  it('handles push before ack and ack before push alike (one copy)', () => {
    const s = new MessageStore()
    s.addLocal({ clientId: 'c1', content: 'x', sender: 'ada' })
    s.addConfirmed(msg(7, { clientId: 'c1' })) // push first
    s.addConfirmed(msg(7, { clientId: 'c1' })) // then ack
    expect(s.state.items.map((i) => [i.id, i.status])).toEqual([[7, 'sent']])
  })

  it('keeps pending messages after confirmed ones, in send order', () => {
    const s = new MessageStore()
    s.addLocal({ clientId: 'a', content: '1', sender: 'me' })
    s.addLocal({ clientId: 'b', content: '2', sender: 'me' })
    s.addConfirmed(msg(10))
    expect(s.state.items.map((i) => i.key)).toEqual(['m10', 'ca', 'cb'])
    expect(s.pendingLocal().map((e) => e.clientId)).toEqual(['a', 'b'])
  })

  it('marks a failed send with its error and retries it with the same clientId', () => {
    const s = new MessageStore()
    s.addLocal({ clientId: 'c9', content: 'hey', sender: 'me' })
    s.markFailed('c9', { code: 'rate_limited', message: 'slow down' })
    expect(s.state.items[0]).toMatchObject({ status: 'failed', clientId: 'c9', error: { code: 'rate_limited' } })
    expect(s.pendingLocal()).toEqual([])
    s.markPending('c9')
    expect(s.state.items[0]).toMatchObject({ status: 'pending', clientId: 'c9', error: null })
    expect(s.pendingLocal().map((e) => e.clientId)).toEqual(['c9'])
  })

  it('marks messages as own through isOwn', () => {
    const s = new MessageStore({ isOwn: (m) => m.clientId === 'mine' })
    s.addConfirmed([msg(1, { clientId: 'mine' }), msg(2)])
    expect(s.state.items.map((i) => i.own)).toEqual([true, false])
  })

  it('ignores junk', () => {
    const s = new MessageStore()
    s.addConfirmed([null, { id: 'x' }, msg(1)])
    expect(s.state.items.length).toBe(1)
  })
})

describe('MessageStore: changes to messages', () => {
  it('treats messages of older servers as not edited, not deleted, without reactions, at seq 0', () => {
    const s = new MessageStore()
    s.addConfirmed(msg(1)) // no editedAt, deleted, reactions, seq, authorId
    expect(s.state.items[0]).toMatchObject({ editedAt: null, deleted: false, reactions: [], seq: 0, authorId: null })
  })

  it('a deleted message has no content and no reactions, whatever it carried', () => {
    const s = new MessageStore()
    s.addConfirmed(msg(1, { deleted: true, content: 'leak', reactions: [{ emoji: '👍', count: 2 }], editedAt: '2026-12-02T10:00:00.000Z', seq: 4 }))
    expect(s.state.items[0]).toMatchObject({ deleted: true, content: '', reactions: [], editedAt: null, seq: 4 })
  })

  it('replaces a held message in place with a newer state only (seq greater)', () => {
    const s = new MessageStore()
    s.addConfirmed([msg(1, { seq: 1 }), msg(2, { seq: 2 }), msg(3, { seq: 3 })])
    expect(s.applyUpdate(msg(2, { content: 'edited', editedAt: '2026-12-02T10:00:00.000Z', seq: 5 }))).toBe('applied')
    expect(s.state.items.map((i) => [i.id, i.content])).toEqual([
      [1, 'm1'],
      [2, 'edited'],
      [3, 'm3'],
    ])
    expect(s.state.items[1].editedAt).toBe('2026-12-02T10:00:00.000Z')
    // an older or equal state (a late push, an ack after the push) changes nothing
    expect(s.applyUpdate(msg(2, { content: 'older', seq: 4 }))).toBe('stale')
    expect(s.applyUpdate(msg(2, { content: 'same seq', seq: 5 }))).toBe('stale')
    expect(s.get(2).content).toBe('edited')
    // and neither does the state in a history page read before the edit
    expect(s.addConfirmed(msg(2, { content: 'm2', seq: 2 }))).toEqual([])
    expect(s.get(2).content).toBe('edited')
    // a newer one through addConfirmed (missed, history) replaces it, without counting as new
    expect(s.addConfirmed(msg(2, { content: 'newest', seq: 9 }))).toEqual([])
    expect(s.get(2).content).toBe('newest')
    expect(s.state.count).toBe(3)
  })

  it('keeps an update of a message it does not hold yet for when the message comes', () => {
    const s = new MessageStore()
    expect(s.applyUpdate(msg(7, { content: 'edited', seq: 8 }))).toBe('unknown')
    expect(s.state.items).toEqual([]) // not shown out of its place
    s.addConfirmed(msg(7, { content: 'm7', seq: 3 })) // a history page read before the edit
    expect(s.get(7)).toMatchObject({ content: 'edited', seq: 8 })
    s.applyUpdate(msg(8, { content: 'old', seq: 2 }))
    s.addConfirmed(msg(8, { content: 'current', seq: 6 }))
    expect(s.get(8).content).toBe('current')
  })

  it('replaceConfirmed drops held messages missing from the range read, keeps newer held states', () => {
    const s = new MessageStore()
    s.addConfirmed([msg(1, { seq: 1 }), msg(2, { seq: 2 }), msg(3, { seq: 3 }), msg(9, { seq: 9 })])
    s.applyUpdate(msg(3, { content: 'pushed meanwhile', seq: 12 }))
    s.replaceConfirmed([msg(3, { content: 'read', seq: 10 }), msg(2, { content: 'deleted', deleted: true, seq: 11 })])
    // 1 is outside the range read (kept), 9 too; nothing between 2 and 3 was dropped wrongly
    expect(s.state.items.map((i) => [i.id, i.content])).toEqual([
      [1, 'm1'],
      [2, ''],
      [3, 'pushed meanwhile'],
      [9, 'm9'],
    ])
    s.replaceConfirmed([msg(1, { seq: 1 }), msg(9, { seq: 9 })])
    expect(s.state.items.map((i) => i.id)).toEqual([1, 9])
  })
})
