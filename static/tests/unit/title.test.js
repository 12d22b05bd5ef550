import { describe, it, expect } from 'vitest'
import { titleText, setTitle, unreadAfter, pageHidden } from '../../src/lib/title.js'

describe('title', () => {
  it('names the lobby, the room and the unread count', () => {
    expect(titleText()).toBe('Huddle')
    expect(titleText({ code: null, unread: 4 })).toBe('Huddle')
    expect(titleText({ code: 'K7QX2M' })).toBe('K7QX2M · Huddle')
    expect(titleText({ code: 'K7QX2M', unread: 0 })).toBe('K7QX2M · Huddle')
    expect(titleText({ code: 'K7QX2M', unread: 3 })).toBe('(3) K7QX2M · Huddle')
  })
  it('names the admin page', () => {
    expect(titleText({ page: 'Admin' })).toBe('Admin · Huddle')
  })
  it('writes the document title', () => {
    const doc = { title: '' }
    setTitle({ code: 'K7QX2M', unread: 2 }, doc)
    expect(doc.title).toBe('(2) K7QX2M · Huddle')
    setTitle({}, doc)
    expect(doc.title).toBe('Huddle')
  })
})

describe('unread count', () => {
  const own = (m) => m.sender === 'me'
  const msgs = (...senders) => senders.map((sender, i) => ({ id: i + 1, sender }))

  it('counts the others\' new messages while the tab is hidden, not ours', () => {
    let n = 0
    n = unreadAfter(n, msgs('bob', 'me', 'cy'), { hidden: true, isOwn: own })
    expect(n).toBe(2)
    n = unreadAfter(n, msgs('me'), { hidden: true, isOwn: own })
    expect(n).toBe(2)
    n = unreadAfter(n, msgs('bob'), { hidden: true, isOwn: own })
    expect(titleText({ code: 'K7QX2M', unread: n })).toBe('(3) K7QX2M · Huddle')
  })

  it('counts nothing while the tab is visible', () => {
    expect(unreadAfter(0, msgs('bob', 'cy'), { hidden: false, isOwn: own })).toBe(0)
  })

  it('reads the page visibility', () => {
    expect(pageHidden({ visibilityState: 'hidden' })).toBe(true)
    expect(pageHidden({ visibilityState: 'visible' })).toBe(false)
    expect(pageHidden(null)).toBe(false)
  })
})
