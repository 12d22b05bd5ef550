import { describe, it, expect } from 'vitest'
import { titleText, setTitle } from '../../src/lib/title.js'

describe('title', () => {
  it('names the lobby, the room and the unread count', () => {
    expect(titleText()).toBe('Huddle')
    expect(titleText({ code: null, unread: 4 })).toBe('Huddle')
    expect(titleText({ code: 'K7QX2M' })).toBe('K7QX2M · Huddle')
    expect(titleText({ code: 'K7QX2M', unread: 0 })).toBe('K7QX2M · Huddle')
    expect(titleText({ code: 'K7QX2M', unread: 3 })).toBe('(3) K7QX2M · Huddle')
  })
  it('writes the document title', () => {
    const doc = { title: '' }
    setTitle({ code: 'K7QX2M', unread: 2 }, doc)
    expect(doc.title).toBe('(2) K7QX2M · Huddle')
    setTitle({}, doc)
    expect(doc.title).toBe('Huddle')
  })
})
