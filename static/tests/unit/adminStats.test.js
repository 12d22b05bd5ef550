import { describe, it, expect } from 'vitest'
import {
  trafficShares,
  formatShare,
  formatUptime,
  formatMs,
  formatBatch,
  formatRate,
  measuredCommit,
  measuredLag,
  rejectionRows,
  kindLabel,
  withPendingStates,
  withoutClosedRooms,
} from '../../src/lib/adminStats.js'

describe('traffic shares', () => {
  it('is each node\'s messages per second over the sum', () => {
    const s = trafficShares([
      { node: 'a', messagesPerSecond: 30 },
      { node: 'b', messagesPerSecond: 10 },
      { node: 'c', messagesPerSecond: 0 },
    ])
    expect(s).toEqual({ a: 0.75, b: 0.25, c: 0 })
  })
  it('is null for all while nothing is sent', () => {
    expect(trafficShares([{ node: 'a', messagesPerSecond: 0 }, { node: 'b' }])).toEqual({ a: null, b: null })
    expect(trafficShares([])).toEqual({})
  })
  it('reads as percent', () => {
    expect(formatShare(0.75)).toBe('75 %')
    expect(formatShare(0)).toBe('0 %')
    expect(formatShare(0.001)).toBe('<1 %')
    expect(formatShare(1)).toBe('100 %')
    expect(formatShare(null)).toBe('–')
  })
})

describe('figures as text', () => {
  it('writes uptimes in the two largest units', () => {
    expect(formatUptime(0)).toBe('0 s')
    expect(formatUptime(45.7)).toBe('45 s')
    expect(formatUptime(725)).toBe('12 min 5 s')
    expect(formatUptime(3 * 3600 + 4 * 60 + 9)).toBe('3 h 4 min')
    expect(formatUptime(2 * 86400 + 5 * 3600 + 1)).toBe('2 d 5 h')
    expect(formatUptime(null)).toBe('–')
    expect(formatUptime(-1)).toBe('–')
  })
  it('writes latencies, null as nothing measured', () => {
    expect(formatMs(0.348)).toBe('0.35 ms')
    expect(formatMs(4.2)).toBe('4.2 ms')
    expect(formatMs(12.345)).toBe('12.3 ms')
    expect(formatMs(120.4)).toBe('120 ms')
    expect(formatMs(null)).toBe('–')
  })
  it('writes batches and rates', () => {
    expect(formatBatch(2.345)).toBe('2.3')
    expect(formatBatch(1)).toBe('1')
    expect(formatBatch(null)).toBe('–')
    expect(formatRate(12.5)).toBe('12.5')
    expect(formatRate(0)).toBe('0')
    expect(formatRate(1250.2)).toBe('1,250')
    expect(formatRate(undefined)).toBe('–')
  })
})

describe('measured figures', () => {
  it('an interval without commits has no commit latency, not 0 ms', () => {
    expect(measuredCommit({ commit: { p50Ms: 0, p99Ms: 0, batches: 0, meanBatch: 0 } })).toEqual({ p50Ms: null, p99Ms: null, meanBatch: null, batches: 0 })
    expect(measuredCommit({ commit: { p50Ms: 2.5, p99Ms: 4, batches: 3, meanBatch: 1.5 } })).toEqual({ p50Ms: 2.5, p99Ms: 4, meanBatch: 1.5, batches: 3 })
    expect(measuredCommit({})).toEqual({ p50Ms: null, p99Ms: null, meanBatch: null, batches: null })
    expect(formatMs(measuredCommit({ commit: { p50Ms: 0, batches: 0 } }).p50Ms)).toBe('–')
  })
  it('no delivery from another node has no broker lag', () => {
    expect(measuredLag({ brokerLag: { p50Ms: 0, p99Ms: 0 } })).toEqual({ p50Ms: null, p99Ms: null })
    expect(measuredLag({ brokerLag: { p50Ms: 3.6, p99Ms: 4.7 } })).toEqual({ p50Ms: 3.6, p99Ms: 4.7 })
    expect(measuredLag(null)).toEqual({ p50Ms: null, p99Ms: null })
    // With the count the record carries, a real 0.0 ms median is a figure, no deliveries are none.
    expect(measuredLag({ brokerLag: { p50Ms: 0, p99Ms: 0.4, messages: 12 } })).toEqual({ p50Ms: 0, p99Ms: 0.4 })
    expect(measuredLag({ brokerLag: { p50Ms: 0, p99Ms: 0, messages: 0 } })).toEqual({ p50Ms: null, p99Ms: null })
  })
})

describe('rejections', () => {
  it('makes a row per kind any node reports, busiest first, then by name', () => {
    const rows = rejectionRows([
      { node: 'a', rejections: { rate_limited: 3, too_large: 0, join_rate: 1 } },
      { node: 'b', rejections: { rate_limited: 2, frame_rate: 0 } },
      { node: 'c' },
    ])
    expect(rows).toEqual([
      { kind: 'rate_limited', counts: { a: 3, b: 2, c: 0 }, total: 5 },
      { kind: 'join_rate', counts: { a: 1, b: 0, c: 0 }, total: 1 },
      { kind: 'frame_rate', counts: { a: 0, b: 0, c: 0 }, total: 0 },
      { kind: 'too_large', counts: { a: 0, b: 0, c: 0 }, total: 0 },
    ])
    expect(rejectionRows([])).toEqual([])
    expect(kindLabel('rate_limited')).toBe('rate limited')
  })
})

describe('merging what an action set into older records', () => {
  const nodes = [
    { node: 'a', state: 'ready' },
    { node: 'b', state: 'ready' },
  ]
  it('shows the pending state until the record agrees', () => {
    const pending = { b: { state: 'draining', until: 5000 } }
    const r = withPendingStates(nodes, pending, 1000)
    expect(r.nodes.map((n) => n.state)).toEqual(['ready', 'draining'])
    expect(r.pending).toEqual(pending)
    expect(nodes[1].state).toBe('ready') // the overview is not changed
    const agreed = withPendingStates([nodes[0], { node: 'b', state: 'draining' }], pending, 2000)
    expect(agreed.pending).toEqual({})
  })
  it('ends an override at its time, and one for a node that is gone', () => {
    const r = withPendingStates(nodes, { b: { state: 'draining', until: 5000 }, gone: { state: 'draining', until: 9000 } }, 5000)
    expect(r.nodes.map((n) => n.state)).toEqual(['ready', 'ready'])
    expect(r.pending).toEqual({})
  })
  it('hides closed rooms until their time, listed or not', () => {
    const rooms = [{ code: 'AAAAAA' }, { code: 'BBBBBB' }]
    const closed = { BBBBBB: 5000, CCCCCC: 5000, DDDDDD: 100 }
    const r = withoutClosedRooms(rooms, closed, 1000)
    expect(r.rooms.map((x) => x.code)).toEqual(['AAAAAA'])
    expect(r.closed).toEqual({ BBBBBB: 5000, CCCCCC: 5000 })
    expect(withoutClosedRooms(rooms, r.closed, 6000)).toEqual({ rooms, closed: {} })
  })
})
