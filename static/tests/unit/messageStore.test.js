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
