import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest'
import { ConnectionManager } from '../../src/lib/connection.js'
import { ProtocolClient } from '../../src/lib/protocol.js'
import { backoffDelay } from '../../src/lib/backoff.js'
import { FakeWebSocket, flush } from './fakes.js'

describe('backoffDelay', () => {
  it('grows exponentially, is capped, and is jittered', () => {
    const lo = (a) => backoffDelay(a, { baseMs: 500, maxMs: 8000, random: () => 0 })
    const hi = (a) => backoffDelay(a, { baseMs: 500, maxMs: 8000, random: () => 1 })
    expect([1, 2, 3, 4, 5, 6].map(hi)).toEqual([500, 1000, 2000, 4000, 8000, 8000])
    expect([1, 2, 3].map(lo)).toEqual([250, 500, 1000])
    const mid = backoffDelay(3, { baseMs: 500, maxMs: 8000, random: () => 0.5 })
    expect(mid).toBe(1500)
  })
})

describe('ConnectionManager', () => {
  let states, mgr, connectedCalls
  const make = (opts = {}) => {
    states = []
    connectedCalls = 0
    mgr = new ConnectionManager({
      createClient: ({ onPush, onClose }) => new ProtocolClient({ url: 'ws://x/ws', WebSocketImpl: FakeWebSocket, onPush, onClose }),
      onConnected: async () => {
        connectedCalls++
      },
      onStateChange: (s) => states.push(s),
      random: () => 1,
      baseMs: 100,
      maxMs: 1000,
      offlineAfter: 3,
      ...opts,
    })
    return mgr
  }
  beforeEach(() => {
    FakeWebSocket.reset()
    vi.useFakeTimers()
  })
  afterEach(() => vi.useRealTimers())

  it('connects, then reconnects with growing delays after drops, resetting on success', async () => {
    make()
    mgr.start()
    await flush()
    expect(mgr.state).toBe('connected')
    expect(connectedCalls).toBe(1)

    FakeWebSocket.autoOpen = false
    FakeWebSocket.last().drop()
    expect(mgr.state).toBe('reconnecting')
    expect(mgr.retryAt - Date.now()).toBe(100)
    vi.advanceTimersByTime(100)
    expect(mgr.state).toBe('connecting')
    FakeWebSocket.last().drop() // attempt 2 fails
    await flush()
    expect(mgr.state).toBe('reconnecting')
    expect(mgr.retryAt - Date.now()).toBe(200)
    vi.advanceTimersByTime(200)
    FakeWebSocket.last().drop() // attempt 3 fails -> offline (still retrying)
    await flush()
    expect(mgr.state).toBe('offline')
    expect(mgr.retryAt - Date.now()).toBe(400)

    FakeWebSocket.autoOpen = true
    vi.advanceTimersByTime(400)
    await flush()
    expect(mgr.state).toBe('connected')
    expect(connectedCalls).toBe(2)
    expect(mgr.attempt).toBe(0)
    expect(FakeWebSocket.instances.length).toBe(4)
  })

  it('retryNow skips the wait', async () => {
    make()
    mgr.start()
    await flush()
    FakeWebSocket.last().drop()
    expect(mgr.state).toBe('reconnecting')
    mgr.retryNow()
    await flush()
    expect(mgr.state).toBe('connected')
  })

  it('is offline at once when the browser is offline', async () => {
    make({ isOnline: () => false })
    mgr.start()
    await flush()
    FakeWebSocket.last().drop()
    expect(mgr.state).toBe('offline')
  })

  it('on a `reconnect` push closes and reconnects soon, with jitter', async () => {
    make({ drainJitterMs: 1000 })
    mgr.start()
    await flush()
    const first = FakeWebSocket.last()
    first.receive({ event: 'reconnect', data: { reason: 'draining' } })
    expect(first.readyState).toBe(3)
    expect(mgr.state).toBe('reconnecting')
    expect(mgr.retryAt - Date.now()).toBe(1100)
    vi.advanceTimersByTime(1100)
    await flush()
    expect(mgr.state).toBe('connected')
    expect(FakeWebSocket.instances.length).toBe(2)
    expect(connectedCalls).toBe(2)
  })

  it('stop() ends it for good', async () => {
    make()
    mgr.start()
    await flush()
    mgr.stop()
    expect(mgr.state).toBe('idle')
    vi.advanceTimersByTime(60000)
    expect(FakeWebSocket.instances.length).toBe(1)
  })
})
