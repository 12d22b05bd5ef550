import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest'
import { Timers, asTimers, systemClock } from '../../src/lib/timers.js'
import { ChatSession } from '../../src/lib/chatSession.js'
import { ConnectionManager } from '../../src/lib/connection.js'
import { TypingNotifier } from '../../src/lib/presence.js'
import { createPrefs, memoryStorage } from '../../src/lib/prefs.js'
import { FakeWebSocket, fakeApi, flush } from './fakes.js'

describe('Timers', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('runs a timeout once and forgets it', () => {
    const t = new Timers()
    const fn = vi.fn()
    t.timeout(fn, 100)
    expect(t.size).toBe(1)
    vi.advanceTimersByTime(99)
    expect(fn).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(fn).toHaveBeenCalledTimes(1)
    expect(t.size).toBe(0)
    vi.advanceTimersByTime(1000)
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it('cancels a timeout; cancelling twice, after it ran, or null is harmless', () => {
    const t = new Timers()
    const fn = vi.fn()
    const h = t.timeout(fn, 100)
    t.cancel(h)
    t.cancel(h)
    t.cancel(null)
    t.cancel(undefined)
    vi.advanceTimersByTime(200)
    expect(fn).not.toHaveBeenCalled()
    expect(t.size).toBe(0)
    const h2 = t.timeout(fn, 10)
    vi.advanceTimersByTime(10)
    t.cancel(h2)
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it('runs an interval until cancelled', () => {
    const t = new Timers()
    const fn = vi.fn()
    const h = t.interval(fn, 500)
    vi.advanceTimersByTime(1600)
    expect(fn).toHaveBeenCalledTimes(3)
    t.cancel(h)
    vi.advanceTimersByTime(5000)
    expect(fn).toHaveBeenCalledTimes(3)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('clearAll cancels every pending timeout and interval, and the group stays usable', () => {
    const t = new Timers()
    const fn = vi.fn()
    t.timeout(fn, 100)
    t.timeout(fn, 200)
    t.interval(fn, 50)
    t.slot().set(fn, 300)
    expect(t.size).toBe(4)
    expect(vi.getTimerCount()).toBe(4)
    t.clearAll()
    expect(t.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(1000)
    expect(fn).not.toHaveBeenCalled()
    t.timeout(fn, 10)
    vi.advanceTimersByTime(10)
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it('a slot holds one timeout: set() replaces, clear() cancels', () => {
    const t = new Timers()
    const s = t.slot()
    const a = vi.fn()
    const b = vi.fn()
    expect(s.pending).toBe(false)
    s.set(a, 100)
    s.set(b, 100)
    expect(s.pending).toBe(true)
    expect(t.size).toBe(1)
    vi.advanceTimersByTime(100)
    expect(a).not.toHaveBeenCalled()
    expect(b).toHaveBeenCalledTimes(1)
    expect(s.pending).toBe(false)
    s.set(a, 100)
    s.clear()
    vi.advanceTimersByTime(200)
    expect(a).not.toHaveBeenCalled()
  })

  it('a slot may re-arm itself from its own callback', () => {
    const t = new Timers()
    const s = t.slot()
    let n = 0
    const tick = () => {
      n++
      if (n < 3) s.set(tick, 100)
    }
    s.set(tick, 100)
    vi.advanceTimersByTime(1000)
    expect(n).toBe(3)
    expect(s.pending).toBe(false)
    expect(t.size).toBe(0)
  })

  it('uses an injected clock, filling the rest from the system', () => {
    const calls = []
    const clock = {
      setTimeout: (fn, ms) => {
        calls.push(['set', ms])
        return { fn }
      },
      clearTimeout: (id) => calls.push(['clear', typeof id.fn]),
      now: () => 42,
    }
    const t = new Timers(clock)
    expect(t.now()).toBe(42)
    const h = t.timeout(() => {}, 5)
    t.cancel(h)
    expect(calls).toEqual([['set', 5], ['clear', 'function']])
    expect(t.clock.setInterval).toBe(systemClock.setInterval)
    expect(new Timers().now()).toBe(Date.now())
  })

  it('asTimers keeps a group and wraps a clock', () => {
    const t = new Timers()
    expect(asTimers(t)).toBe(t)
    expect(asTimers()).toBeInstanceOf(Timers)
    expect(asTimers({ now: () => 7 }).now()).toBe(7)
  })
})

describe('timers are cleared on stop', () => {
  beforeEach(() => {
    FakeWebSocket.reset()
    vi.useFakeTimers()
  })
  afterEach(() => vi.useRealTimers())

  it('TypingNotifier.stop clears the idle timer', () => {
    const sent = []
    const n = new TypingNotifier({ send: (x) => sent.push(x) })
    n.input()
    expect(vi.getTimerCount()).toBe(1)
    n.stop()
    expect(vi.getTimerCount()).toBe(0)
    expect(sent).toEqual([true, false])
  })

  it('ConnectionManager.stop clears the reconnect timer', async () => {
    const m = new ConnectionManager({
      createClient: () => ({ connect: () => Promise.reject(new Error('down')), close() {}, isOpen: false }),
      random: () => 0,
    })
    m.start()
    await flush()
    expect(m.state).toBe('reconnecting')
    expect(vi.getTimerCount()).toBe(1)
    m.stop()
    expect(m.state).toBe('idle')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('ChatSession.stop leaves no timer behind (typing expiry, typing idle)', async () => {
    FakeWebSocket.server = (ws, f) => {
      if (f.event === 'room:join') ws.ack(f.ref, { room: { id: 1, code: f.data.code }, members: [{ nickname: 'me' }, { nickname: 'bob' }], missed: [] })
      else ws.ack(f.ref, {})
    }
    const s = new ChatSession({
      wsUrl: 'ws://x/ws',
      api: fakeApi([]),
      prefs: createPrefs(memoryStorage(), () => 0),
      WebSocketImpl: FakeWebSocket,
      random: () => 0,
    })
    s.enterRoom('K7QX2M', { nickname: 'me' })
    await flush(30)
    expect(s.state.joined).toBe(true)
    const ws = FakeWebSocket.last()
    ws.receive({ event: 'typing', data: { roomCode: 'K7QX2M', nickname: 'bob', typing: true } })
    s.typingInput()
    expect(s.state.typing).toEqual(['bob'])
    expect(s.timers.size).toBeGreaterThanOrEqual(2)
    s.stop()
    expect(s.timers.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })
})
