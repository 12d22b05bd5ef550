// Presence and typing state, pure and unit-testable.
import { asTimers } from './timers.js'

/** Apply a `presence` push to {members, count}. Returns a new object. */
export function applyPresence(current, push) {
  let members = current.members.slice()
  if (Array.isArray(push.members)) {
    members = push.members.map((m) => ({ nickname: m.nickname }))
  } else {
    if (push.left != null) {
      const i = members.findIndex((m) => m.nickname === push.left)
      if (i >= 0) members.splice(i, 1)
    }
    if (push.joined != null) members.push({ nickname: push.joined })
  }
  const count = typeof push.count === 'number' ? push.count : members.length
  return { members, count }
}

/** Others who are typing; entries expire client-side after `ttlMs` without a refresh. */
export class TypingTracker {
  constructor({ ttlMs = 6000 } = {}) {
    this.ttlMs = ttlMs
    this.until = new Map() // nickname -> expiry time
  }
  set(nickname, typing, now) {
    if (typing) this.until.set(nickname, now + this.ttlMs)
    else this.until.delete(nickname)
  }
  remove(nickname) {
    this.until.delete(nickname)
  }
  clear() {
    this.until.clear()
  }
  /** Names currently typing (expired ones dropped), in order of first typing. */
  active(now) {
    for (const [n, t] of this.until) if (t <= now) this.until.delete(n)
    return [...this.until.keys()]
  }
}

/** "ada is typing…", "ada and bob are typing…", "ada, bob and 2 others are typing…" */
/**
 * The typing line as parts: `{ name }` for a nickname, `{ text }` for the words around it,
 * so the view can isolate each name (`<bdi>`): a right-to-left name must not reorder the
 * words of the line.
 */
export function typingParts(names) {
  const name = (n) => ({ name: n })
  const text = (t) => ({ text: t })
  if (!names.length) return []
  if (names.length === 1) return [name(names[0]), text(' is typing…')]
  if (names.length === 2) return [name(names[0]), text(' and '), name(names[1]), text(' are typing…')]
  if (names.length === 3) {
    return [name(names[0]), text(', '), name(names[1]), text(' and '), name(names[2]), text(' are typing…')]
  }
  return [name(names[0]), text(', '), name(names[1]), text(` and ${names.length - 2} others are typing…`)]
}

/** The typing line as plain text. */
export function typingText(names) {
  return typingParts(names)
    .map((part) => part.name ?? part.text)
    .join('')
}

/**
 * Outgoing typing notifications: `true` on the first keystroke and again every
 * `refreshMs` while typing (so others' expiry timers do not lapse), `false` after
 * `idleMs` without input or when the message is sent.
 */
export class TypingNotifier {
  constructor({ send, idleMs = 3000, refreshMs = 3000, timers, now } = {}) {
    this.send = send
    this.idleMs = idleMs
    this.refreshMs = refreshMs
    this.timers = asTimers(timers)
    this.now = now || (() => this.timers.now())
    this.active = false
    this.lastSent = 0
    this.idle = this.timers.slot()
  }
  input() {
    const now = this.now()
    if (!this.active || now - this.lastSent >= this.refreshMs) {
      this.active = true
      this.lastSent = now
      this.send(true)
    }
    this.idle.set(() => this.stop(), this.idleMs)
  }
  stop() {
    this.idle.clear()
    if (this.active) {
      this.active = false
      this.send(false)
    }
  }
}
