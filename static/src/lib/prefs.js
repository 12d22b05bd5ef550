// Remembered preferences in localStorage (injectable storage for tests).
import { randomNickname } from './names.js'

const P = 'huddle.'

export function memoryStorage() {
  const m = new Map()
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
  }
}

/** A random secret of `length` URL-safe characters, from the platform's CSPRNG. */
export function randomSecret(length = 32) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const bytes = new Uint8Array(length)
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => alphabet[b & 63]).join('')
}

export function createPrefs(storage, random = Math.random) {
  const s = storage || memoryStorage()
  const get = (k) => {
    try {
      return s.getItem(P + k)
    } catch {
      return null
    }
  }
  const set = (k, v) => {
    try {
      if (v == null) s.removeItem(P + k)
      else s.setItem(P + k, v)
    } catch {
      /* storage full or disabled: not fatal */
    }
  }
  return {
    /** The nickname for new rooms; generated and stored on first visit. */
    defaultNick() {
      let n = get('nick')
      if (!n) {
        n = randomNickname(random)
        set('nick', n)
      }
      return n
    },
    setDefaultNick: (n) => set('nick', n),
    roomNick: (code) => get('nick:' + code),
    setRoomNick: (code, n) => set('nick:' + code, n),
    /** Nickname to use in a room: the one remembered for it, else the default. */
    nickFor(code) {
      return this.roomNick(code) || this.defaultNick()
    },
    lastRoom: () => get('lastRoom'),
    setLastRoom(code) {
      set('lastRoom', code)
      if (code) this.addRecent(code)
    },
    /** Recently visited rooms, newest first (at most 5). */
    recentRooms() {
      try {
        const a = JSON.parse(get('recent') || '[]')
        return Array.isArray(a) ? a.filter((c) => typeof c === 'string') : []
      } catch {
        return []
      }
    },
    addRecent(code) {
      set('recent', JSON.stringify([code, ...this.recentRooms().filter((c) => c !== code)].slice(0, 5)))
    },
    forgetRecent(code) {
      set('recent', JSON.stringify(this.recentRooms().filter((c) => c !== code)))
    },
    ownIds(code) {
      try {
        const a = JSON.parse(get('own:' + code) || '[]')
        return new Set(Array.isArray(a) ? a : [])
      } catch {
        return new Set()
      }
    },
    saveOwnIds(code, ids) {
      set('own:' + code, JSON.stringify([...ids].slice(-500)))
    },
    /** This browser's author key: made once, sent on every join, never shown. Messages
     *  sent with it carry the same authorId in every room. */
    authorKey() {
      let k = get('authorKey')
      if (!k) {
        k = randomSecret(32)
        set('authorKey', k)
        set('authorId', null) // the id of an earlier key (if any) is not this key's
      }
      return k
    },
    /** The public authorId the server derives from our author key, as learnt from the
     *  acks of our own sends (null until one came): tells which messages are ours. */
    authorId: () => get('authorId'),
    setAuthorId: (id) => set('authorId', id),
    /** The reactions this browser added in a room: {messageId: [emoji]}. */
    myReactions(code) {
      try {
        const o = JSON.parse(get('reactions:' + code) || '{}')
        if (!o || typeof o !== 'object' || Array.isArray(o)) return {}
        const out = {}
        for (const [id, list] of Object.entries(o)) {
          if (Array.isArray(list)) out[id] = list.filter((e) => typeof e === 'string')
        }
        return out
      } catch {
        return {}
      }
    },
    saveMyReactions: (code, byId) => set('reactions:' + code, Object.keys(byId).length ? JSON.stringify(byId) : null),
    /** The owner key of a room this browser created (shown only at creation). */
    ownerKey: (code) => get('owner:' + code),
    setOwnerKey: (code, key) => set('owner:' + code, key),
  }
}
