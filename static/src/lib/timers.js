// The one timer helper: every timeout and interval of the client goes through a Timers
// group, so whoever owns the group can clear everything it started (a session's stop(), a
// component's unmount) and nobody keeps hand-rolled `if (t) clearTimeout(t); t = setTimeout(...)`
// bookkeeping. Plain JS; the clock is injectable, and the default one looks the global
// setTimeout up at call time, so Vitest's fake timers apply.

export const systemClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id),
  now: () => Date.now(),
}

export class Timers {
  /** @param {object} [clock] any of {setTimeout, clearTimeout, setInterval, clearInterval, now}; the rest is the system's */
  constructor(clock) {
    this.clock = { ...systemClock, ...(clock || {}) }
    this.live = new Map() // handle -> {interval, id}
    this.nextHandle = 1
  }

  now() {
    return this.clock.now()
  }

  /** Run `fn` once after `ms`. Returns a handle for cancel(). */
  timeout(fn, ms) {
    const handle = this.nextHandle++
    const id = this.clock.setTimeout(() => {
      if (!this.live.delete(handle)) return
      fn()
    }, ms)
    this.live.set(handle, { interval: false, id })
    return handle
  }

  /** Run `fn` every `ms` until cancelled. Returns a handle for cancel(). */
  interval(fn, ms) {
    const handle = this.nextHandle++
    const id = this.clock.setInterval(() => {
      if (this.live.has(handle)) fn()
    }, ms)
    this.live.set(handle, { interval: true, id })
    return handle
  }

  /** Cancel a timeout or interval; a handle that already ran, was cancelled or is null is ignored. */
  cancel(handle) {
    const t = handle == null ? null : this.live.get(handle)
    if (!t) return
    this.live.delete(handle)
    if (t.interval) this.clock.clearInterval(t.id)
    else this.clock.clearTimeout(t.id)
  }

  /** A slot holds at most one pending timeout: set() replaces the previous one. */
  slot() {
    return new TimerSlot(this)
  }

  /** Cancel everything this group started and has not run yet. */
  clearAll() {
    for (const handle of [...this.live.keys()]) this.cancel(handle)
  }

  /** Number of pending timeouts and running intervals. */
  get size() {
    return this.live.size
  }
}

export class TimerSlot {
  constructor(timers) {
    this.timers = timers
    this.handle = null
  }
  /** Run `fn` after `ms`, cancelling what the slot held. */
  set(fn, ms) {
    this.clear()
    const handle = this.timers.timeout(() => {
      if (this.handle === handle) this.handle = null
      fn()
    }, ms)
    this.handle = handle
  }
  clear() {
    this.timers.cancel(this.handle)
    this.handle = null
  }
  get pending() {
    return this.handle != null && this.timers.live.has(this.handle)
  }
}

/** A Timers group as given, or a new one over the given clock (or the system's). */
export function asTimers(timers) {
  return timers instanceof Timers ? timers : new Timers(timers)
}
