import { describe, it, expect, vi } from 'vitest'
import { applyPresence, TypingTracker, TypingNotifier, typingParts, typingText } from '../../src/lib/presence.js'
import { codeFromLocation, newClientId, randomNickname } from '../../src/lib/names.js'
import { normalizeCode, isValidCode, contentLength } from '../../src/lib/limits.js'
import { createPrefs, memoryStorage } from '../../src/lib/prefs.js'

describe('presence', () => {
  const start = { members: [{ nickname: 'ada' }], count: 1 }
  it('applies joined / left deltas and the count', () => {
    let s = applyPresence(start, { roomCode: 'X', count: 2, joined: 'bob' })
    expect(s).toEqual({ members: [{ nickname: 'ada' }, { nickname: 'bob' }], count: 2 })
    s = applyPresence(s, { roomCode: 'X', count: 1, left: 'ada' })
    expect(s).toEqual({ members: [{ nickname: 'bob' }], count: 1 })
  })
  it('a rename is left=old joined=new', () => {
    const s = applyPresence(start, { count: 1, left: 'ada', joined: 'ada2' })
    expect(s.members).toEqual([{ nickname: 'ada2' }])
  })
  it('a full member list replaces the list', () => {
    const s = applyPresence(start, { count: 2, joined: 'c', members: [{ nickname: 'x' }, { nickname: 'c' }] })
    expect(s.members.map((m) => m.nickname)).toEqual(['x', 'c'])
  })
  it('only removes one entry for a duplicated nickname', () => {
    const s = applyPresence({ members: [{ nickname: 'a' }, { nickname: 'a' }], count: 2 }, { count: 1, left: 'a' })
    expect(s.members).toEqual([{ nickname: 'a' }])
  })
})

describe('typing', () => {
  it('tracks and expires typing states', () => {
    const t = new TypingTracker({ ttlMs: 5000 })
    t.set('ada', true, 0)
    t.set('bob', true, 1000)
    expect(t.active(2000)).toEqual(['ada', 'bob'])
    t.set('bob', false, 2500)
    expect(t.active(3000)).toEqual(['ada'])
    expect(t.active(5000)).toEqual([])
  })
  it('formats', () => {
    expect(typingText([])).toBe('')
    expect(typingText(['ada'])).toBe('ada is typing…')
    expect(typingText(['ada', 'bob'])).toBe('ada and bob are typing…')
    expect(typingText(['a', 'b', 'c', 'd', 'e'])).toBe('a, b and 3 others are typing…')
  })
  it('keeps every name a part of its own, for bidi isolation', () => {
    const rtl = 'אבי'
    expect(typingParts([rtl, 'bob'])).toEqual([{ name: rtl }, { text: ' and ' }, { name: 'bob' }, { text: ' are typing…' }])
    for (const n of [1, 2, 3, 5]) {
      const names = Array.from({ length: n }, (_, i) => `${rtl}${i}`)
      const shown = typingParts(names).filter((p) => p.name).map((p) => p.name)
      expect(shown).toEqual(names.slice(0, Math.min(n, n > 3 ? 2 : 3)))
      expect(typingParts(names).every((p) => p.name === undefined || !p.text)).toBe(true)
      expect(typingParts(names).filter((p) => p.text).some((p) => p.text.includes(rtl))).toBe(false)
    }
  })
  it('notifier: true once, refreshed while typing, false after a pause', () => {
    vi.useFakeTimers()
    try {
      const sent = []
      const n = new TypingNotifier({ send: (t) => sent.push(t), idleMs: 3000, refreshMs: 3000 })
      n.input()
      vi.advanceTimersByTime(1000)
      n.input()
      vi.advanceTimersByTime(1000)
      n.input()
      expect(sent).toEqual([true])
      vi.advanceTimersByTime(1500)
      n.input() // 3.5 s since the first true: refresh
      expect(sent).toEqual([true, true])
      vi.advanceTimersByTime(3000)
      expect(sent).toEqual([true, true, false])
      n.stop()
      expect(sent).toEqual([true, true, false])
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('names and prefs', () => {
  it('normalizes codes case-insensitively', () => {
    expect(normalizeCode(' k7qx-2m ')).toBe('K7QX2M')
    expect(isValidCode('K7QX2M')).toBe(true)
    expect(isValidCode('K7QX2')).toBe(false)
  })
  it('reads a code from ?room= or #', () => {
    expect(codeFromLocation({ search: '?room=k7qx2m', hash: '' })).toBe('K7QX2M')
    expect(codeFromLocation({ search: '', hash: '#K7QX2M' })).toBe('K7QX2M')
    expect(codeFromLocation({ search: '', hash: '' })).toBe(null)
    expect(codeFromLocation({ search: '?room=nope', hash: '#toolong1' })).toBe(null)
  })
  it('counts code points', () => {
    expect(contentLength('  😀a  ')).toBe(2)
  })
  it('makes unique client ids without randomUUID', () => {
    const a = newClientId({ getRandomValues: (b) => b.fill(7) })
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(newClientId()).not.toBe(newClientId())
  })
  it('keeps the last five rooms, newest first', () => {
    const p = createPrefs(memoryStorage())
    for (const c of ['AAAAAA', 'BBBBBB', 'CCCCCC', 'DDDDDD', 'EEEEEE', 'FFFFFF', 'BBBBBB']) p.setLastRoom(c)
    expect(p.recentRooms()).toEqual(['BBBBBB', 'FFFFFF', 'EEEEEE', 'DDDDDD', 'CCCCCC'])
    p.setLastRoom(null)
    expect(p.lastRoom()).toBe(null)
    p.forgetRecent('FFFFFF')
    expect(p.recentRooms()).toEqual(['BBBBBB', 'EEEEEE', 'DDDDDD', 'CCCCCC'])
  })
  it('remembers a random first nickname, and a nickname per room', () => {
    const p = createPrefs(memoryStorage(), () => 0)
    const d = p.defaultNick()
    expect(d).toBe(randomNickname(() => 0))
    expect(p.defaultNick()).toBe(d)
    p.setRoomNick('AAAAAA', 'ada')
    expect(p.nickFor('AAAAAA')).toBe('ada')
    expect(p.nickFor('BBBBBB')).toBe(d)
  })
})

import { decorate, initials, dayLabel } from '../../src/lib/format.js'
describe('format', () => {
  it('groups consecutive messages of one sender and separates days', () => {
    const base = new Date(2026, 0, 5, 10, 0).getTime()
    const it = (id, sender, t) => ({ id, sender, own: false, createdAt: new Date(base + t).toISOString() })
    const d = decorate([it(1, 'a', 0), it(2, 'a', 60000), it(3, 'b', 120000), it(4, 'b', 86400000)])
    expect(d.map((x) => [x.grouped, x.newDay])).toEqual([
      [false, true],
      [true, false],
      [false, false],
      [false, true],
    ])
  })
  it('never groups an integration message with a member of the same name', () => {
    const base = new Date(2026, 0, 5, 10, 0).getTime()
    const it = (id, bot) => ({ id, sender: 'ada', own: false, bot, createdAt: new Date(base + id * 1000).toISOString() })
    const d = decorate([it(1, false), it(2, true), it(3, true), it(4, false)])
    expect(d.map((x) => x.grouped)).toEqual([false, false, true, false])
  })
  it('gives a reply the message it quotes, shortened, or null when that one is not loaded', () => {
    const at = new Date(2026, 0, 5, 10, 0).toISOString()
    const d = decorate([
      { id: 1, sender: 'ada', own: true, content: 'x'.repeat(100), createdAt: at },
      { id: 2, sender: 'bob', own: false, content: 're', replyTo: 1, createdAt: at },
      { id: 3, sender: 'bob', own: false, content: 're', replyTo: 99, createdAt: at },
    ])
    expect(d.map((m) => m.quote)).toEqual([null, { sender: 'ada', content: 'x'.repeat(79) + '…', own: true, deleted: false }, null])
  })
  it('a reply to a deleted message quotes no text', () => {
    const at = new Date(2026, 0, 5, 10, 0).toISOString()
    const d = decorate([
      { id: 1, sender: 'ada', own: false, content: '', deleted: true, createdAt: at },
      { id: 2, sender: 'bob', own: false, content: 're', replyTo: 1, createdAt: at },
    ])
    expect(d[1].quote).toEqual({ sender: 'ada', content: '', own: false, deleted: true })
  })
  it('initials and day labels', () => {
    expect(initials('Brave Otter')).toBe('BO')
    expect(initials('ada')).toBe('AD')
    const now = new Date(2026, 0, 5, 12)
    expect(dayLabel(new Date(2026, 0, 5, 1).toISOString(), now)).toBe('Today')
    expect(dayLabel(new Date(2026, 0, 4, 23).toISOString(), now)).toBe('Yesterday')
  })
})
