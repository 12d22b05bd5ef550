import { describe, it, expect } from 'vitest'
import { ReactionMemory, reactionChips, removesReaction, QUICK_EMOJI, REMEMBERED_MAX } from '../../src/lib/reactions.js'
import { createPrefs, memoryStorage } from '../../src/lib/prefs.js'

describe('reactions', () => {
  it('remembers our reactions per room and message id, in local storage', () => {
    const storage = memoryStorage()
    const mem = new ReactionMemory({ prefs: createPrefs(storage) })
    mem.load('ABC123')
    mem.set(7, '👍', true)
    mem.set(7, '🎉', true)
    mem.set(8, '👍', true)
    mem.set(8, '👍', false)
    expect(mem.mine(7)).toEqual(['👍', '🎉'])
    expect(mem.mine(8)).toEqual([])
    // another page load of the same browser
    const again = new ReactionMemory({ prefs: createPrefs(storage) })
    again.load('ABC123')
    expect(again.has(7, '🎉')).toBe(true)
    expect(again.has(8, '👍')).toBe(false)
    // keyed by room: the same id elsewhere is another message
    again.load('XYZ789')
    expect(again.mine(7)).toEqual([])
    again.set(7, '😂', true)
    again.load('ABC123')
    expect(again.mine(7)).toEqual(['👍', '🎉'])
    again.forget(7)
    expect(again.mine(7)).toEqual([])
    expect(JSON.parse(storage.getItem('huddle.reactions:XYZ789'))).toEqual({ 7: ['😂'] })
  })

  it('keeps the newest messages only', () => {
    const mem = new ReactionMemory({ prefs: createPrefs(memoryStorage()) })
    mem.load('ABC123')
    for (let id = 1; id <= REMEMBERED_MAX + 3; id++) mem.set(id, '👍', true)
    expect(Object.keys(mem.state.byId).length).toBe(REMEMBERED_MAX)
    expect(mem.mine(1)).toEqual([])
    expect(mem.mine(REMEMBERED_MAX + 3)).toEqual(['👍'])
  })

  it('chips keep the server order and mark ours; a click removes ours, else adds', () => {
    const reactions = [
      { emoji: '🎉', count: 3 },
      { emoji: '👍', count: 1 },
    ]
    expect(reactionChips(reactions, ['👍', '😢'])).toEqual([
      { emoji: '🎉', count: 3, mine: false },
      { emoji: '👍', count: 1, mine: true },
    ])
    expect(removesReaction(reactions, ['👍'], '👍')).toBe(true)
    expect(removesReaction(reactions, ['👍'], '🎉')).toBe(false)
    // remembered, but the message no longer has it (count 0): adding is what a click means
    expect(removesReaction(reactions, ['😢'], '😢')).toBe(false)
    expect(reactionChips(undefined, ['👍'])).toEqual([])
  })

  it('offers a handful of single emoji', () => {
    expect(QUICK_EMOJI.length).toBeGreaterThanOrEqual(6)
    const seg = new Intl.Segmenter(undefined, { granularity: 'grapheme' })
    for (const e of QUICK_EMOJI) {
      expect([...seg.segment(e)].length).toBe(1)
      expect(new TextEncoder().encode(e).length).toBeLessThanOrEqual(32)
    }
  })
})
