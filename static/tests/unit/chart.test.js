import { describe, it, expect } from 'vitest'
import {
  seriesOf,
  valueAt,
  totalSeries,
  timeDomain,
  maxValue,
  linearScale,
  niceStep,
  valueTicks,
  timeTicks,
  formatTimeTick,
  formatValue,
  linePath,
} from '../../src/lib/chart.js'

const T0 = Date.parse('2026-12-03T07:00:00Z')
const at = (s) => new Date(T0 + s * 1000).toISOString()
const node = (id, samples, key = 'messagesPerSecond') => ({ node: id, history: samples.map(([s, v]) => ({ at: at(s), [key]: v, pushesPerSecond: v * 10 })) })

describe('seriesOf', () => {
  it('takes one figure of every node history, oldest first, without unusable samples', () => {
    const nodes = [
      node('e2e-1', [
        [4, 3],
        [2, 1],
      ]),
      { node: 'e2e-2', history: [{ at: 'garbage', messagesPerSecond: 1 }, { at: at(2), messagesPerSecond: null }, { at: at(4), messagesPerSecond: 5 }] },
      { node: 'e2e-3' },
    ]
    const s = seriesOf(nodes, 'messagesPerSecond')
    expect(s.map((x) => x.id)).toEqual(['e2e-1', 'e2e-2', 'e2e-3'])
    expect(s[0].points).toEqual([
      { t: T0 + 2000, v: 1 },
      { t: T0 + 4000, v: 3 },
    ])
    expect(s[1].points).toEqual([{ t: T0 + 4000, v: 5 }])
    expect(s[2].points).toEqual([])
    expect(seriesOf(nodes, 'pushesPerSecond')[0].points.map((p) => p.v)).toEqual([10, 30])
  })
})

describe('valueAt', () => {
  const pts = [
    { t: 0, v: 0 },
    { t: 10, v: 10 },
    { t: 20, v: 0 },
  ]
  it('interpolates between samples and is null outside them', () => {
    expect(valueAt(pts, 0)).toBe(0)
    expect(valueAt(pts, 5)).toBe(5)
    expect(valueAt(pts, 10)).toBe(10)
    expect(valueAt(pts, 15)).toBe(5)
    expect(valueAt(pts, 20)).toBe(0)
    expect(valueAt(pts, -1)).toBeNull()
    expect(valueAt(pts, 21)).toBeNull()
    expect(valueAt([], 0)).toBeNull()
  })
})

describe('totalSeries', () => {
  it('sums nodes that sample at different moments on one grid ending where all have reported', () => {
    // node 1 samples on even seconds, node 2 half a second later and one sample behind
    const a = { id: 'a', points: [0, 2, 4, 6].map((s) => ({ t: T0 + s * 1000, v: 10 })) }
    const b = { id: 'b', points: [0.5, 2.5, 4.5].map((s) => ({ t: T0 + s * 1000, v: 4 })) }
    const total = totalSeries([a, b], 2000)
    expect(total[total.length - 1].t).toBe(T0 + 4500) // b's newest sample: complete, no dip
    expect(total.map((p) => p.v)).toEqual([14, 14, 14])
    expect(total.map((p) => p.t)).toEqual([T0 + 500, T0 + 2500, T0 + 4500])
  })
  it('counts a node that started later as 0 before its first sample', () => {
    const a = { id: 'a', points: [0, 1, 2, 3, 4].map((s) => ({ t: T0 + s * 1000, v: 1 })) }
    const late = { id: 'late', points: [3, 4].map((s) => ({ t: T0 + s * 1000, v: 5 })) }
    expect(totalSeries([a, late], 1000).map((p) => p.v)).toEqual([1, 1, 1, 6, 6])
  })
  it('starts where histories cut at the same length all begin, without a dip at the left edge', () => {
    const a = { id: 'a', points: [0, 2, 4, 6].map((s) => ({ t: T0 + s * 1000, v: 10 })) }
    const b = { id: 'b', points: [1.5, 3.5, 5.5].map((s) => ({ t: T0 + s * 1000, v: 4 })) }
    const total = totalSeries([a, b], 2000)
    expect(total.map((p) => p.v)).toEqual([14, 14, 14])
    expect(total[0].t).toBe(T0 + 1500)
  })
  it('is empty without points or with a bad step', () => {
    expect(totalSeries([], 1000)).toEqual([])
    expect(totalSeries([{ id: 'a', points: [] }], 1000)).toEqual([])
    expect(totalSeries([{ id: 'a', points: [{ t: 1, v: 1 }] }], 0)).toEqual([])
  })
  it('ignores nodes without history', () => {
    const a = { id: 'a', points: [{ t: T0, v: 2 }, { t: T0 + 1000, v: 3 }] }
    expect(totalSeries([a, { id: 'b', points: [] }], 1000).map((p) => p.v)).toEqual([2, 3])
  })
})

describe('domains and scales', () => {
  it('spans all series', () => {
    const s = [
      { points: [{ t: 5, v: 1 }, { t: 9, v: 7 }] },
      { points: [{ t: 2, v: 3 }] },
      { points: [] },
    ]
    expect(timeDomain(s)).toEqual([2, 9])
    expect(maxValue(s)).toBe(7)
    expect(timeDomain([{ points: [] }])).toBeNull()
    expect(maxValue([])).toBe(0)
  })
  it('maps linearly, flipping for a y axis', () => {
    const y = linearScale([0, 100], [200, 0])
    expect(y(0)).toBe(200)
    expect(y(50)).toBe(100)
    expect(y(100)).toBe(0)
    expect(linearScale([3, 3], [0, 10])(3)).toBe(5)
  })
})

describe('ticks', () => {
  it('picks 1, 2, 2.5, 5 steps', () => {
    expect(niceStep(0.7)).toBe(1)
    expect(niceStep(1)).toBe(1)
    expect(niceStep(1.3)).toBe(2)
    expect(niceStep(2.2)).toBe(2.5)
    expect(niceStep(3)).toBe(5)
    expect(niceStep(7)).toBe(10)
    expect(niceStep(0.03)).toBe(0.05)
    expect(niceStep(1800)).toBe(2000)
    expect(niceStep(0)).toBe(1)
  })
  it('gives value ticks from 0 reaching the data', () => {
    expect(valueTicks(10, 4)).toEqual({ max: 10, ticks: [0, 2.5, 5, 7.5, 10] })
    expect(valueTicks(12.5, 4)).toEqual({ max: 15, ticks: [0, 5, 10, 15] })
    expect(valueTicks(0)).toEqual({ max: 1, ticks: [0, 0.25, 0.5, 0.75, 1] })
    expect(valueTicks(0.3, 3).ticks).toEqual([0, 0.1, 0.2, 0.3])
    const big = valueTicks(9876, 4)
    expect(big.max).toBeGreaterThanOrEqual(9876)
    expect(big.ticks.length).toBeLessThanOrEqual(6)
  })
  it('gives time ticks on round times, at most `count`', () => {
    const { step, ticks } = timeTicks(T0 + 5000, T0 + 5 * 60000, 6)
    expect(step).toBe(60000)
    expect(ticks).toEqual([1, 2, 3, 4, 5].map((m) => T0 + m * 60000))
    const short = timeTicks(T0 + 1000, T0 + 40000, 5)
    expect(short.step).toBe(10000)
    expect(short.ticks).toEqual([10, 20, 30, 40].map((s) => T0 + s * 1000))
    expect(timeTicks(T0, T0, 5).ticks).toEqual([])
  })
  it('lands hour ticks on the local hour', () => {
    const offset = 5.5 * 3600000 // UTC+5:30
    const { step, ticks } = timeTicks(T0, T0 + 6 * 3600000, 6, offset)
    expect(step).toBe(3600000)
    for (const t of ticks) expect((t + offset) % 3600000).toBe(0)
  })
  it('labels times in local time, with seconds for short steps', () => {
    const d = new Date(2026, 11, 3, 7, 5, 30)
    expect(formatTimeTick(d.getTime(), 60000)).toBe('07:05')
    expect(formatTimeTick(d.getTime(), 10000)).toBe('07:05:30')
  })
  it('writes values short', () => {
    expect(formatValue(0)).toBe('0')
    expect(formatValue(0.25)).toBe('0.25')
    expect(formatValue(2.5)).toBe('2.5')
    expect(formatValue(12.34)).toBe('12.3')
    expect(formatValue(150.4)).toBe('150')
    expect(formatValue(1500)).toBe('1.5k')
    expect(formatValue(12000)).toBe('12k')
    expect(formatValue(2500000)).toBe('2.5M')
    expect(formatValue(null)).toBe('–')
    expect(formatValue(NaN)).toBe('–')
  })
})

describe('linePath', () => {
  it('draws through the points, rounded to 0.1 px', () => {
    const x = (t) => t * 10
    const y = (v) => 100 - v
    expect(linePath([{ t: 0, v: 0 }, { t: 1, v: 2.345 }, { t: 2, v: 5 }], x, y)).toBe('M0 100L10 97.7L20 95')
    expect(linePath([], x, y)).toBe('')
    expect(linePath([{ t: 0, v: null }, { t: 1, v: 1 }], x, y)).toBe('M10 99')
  })
})
