// Nicknames, room codes and small helpers. The limits themselves live in limits.js.
import { isValidCode, normalizeCode, ROOM_CODE_LEN, CONTENT_MAX } from './limits.js'

const ADJECTIVES = ['Amber', 'Brave', 'Calm', 'Clever', 'Cosmic', 'Swift', 'Gentle', 'Happy', 'Jolly', 'Lucky', 'Mellow', 'Misty', 'Noble', 'Quiet', 'Rapid', 'Sunny', 'Witty', 'Zesty', 'Bright', 'Bold', 'Curious', 'Daring', 'Fuzzy', 'Keen']
const ANIMALS = ['Otter', 'Falcon', 'Panda', 'Fox', 'Heron', 'Lynx', 'Koala', 'Badger', 'Dolphin', 'Owl', 'Tiger', 'Wombat', 'Raven', 'Gecko', 'Moose', 'Puffin', 'Yak', 'Lemur', 'Bison', 'Marten', 'Orca', 'Robin']

export function randomNickname(random = Math.random) {
  const a = ADJECTIVES[Math.floor(random() * ADJECTIVES.length)]
  const b = ANIMALS[Math.floor(random() * ANIMALS.length)]
  return `${a} ${b}`
}

/** Room code from `/?room=CODE` or `/#CODE`, or null. */
export function codeFromLocation(location) {
  try {
    const params = new URLSearchParams(location.search || '')
    const q = params.get('room')
    if (q && isValidCode(normalizeCode(q))) return normalizeCode(q)
  } catch {
    /* ignore */
  }
  const h = (location.hash || '').replace(/^#\/?/, '')
  if (h && isValidCode(normalizeCode(h)) && h.length === ROOM_CODE_LEN) return normalizeCode(h)
  return null
}

export function newClientId(cryptoImpl = globalThis.crypto) {
  if (cryptoImpl && typeof cryptoImpl.randomUUID === 'function') return cryptoImpl.randomUUID()
  // randomUUID needs a secure context; fall back to getRandomValues / Math.random
  const bytes = new Uint8Array(16)
  if (cryptoImpl && cryptoImpl.getRandomValues) cryptoImpl.getRandomValues(bytes)
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256)
  bytes[6] = (bytes[6] & 0x0f) | 0x40
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  const h = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

const ERROR_TEXT = {
  rate_limited: 'You are sending too fast. Wait a moment, then retry.',
  too_large: `Too long: a message can have at most ${CONTENT_MAX} characters.`,
  unavailable: 'The server could not store this right now. Retry is safe: it will not be sent twice.',
  timeout: 'No answer from the server.',
  disconnected: 'Connection lost.',
  not_in_room: 'You are not in this room.',
  not_found: 'This room does not exist.',
  bad_request: 'The server rejected this message.',
  internal: 'Server error.',
}

export function errorText(err) {
  if (!err) return ''
  return ERROR_TEXT[err.code] || err.message || 'Something went wrong.'
}

// What went wrong with an edit, a deletion or a reaction (the ack's error code).
const ACTION_TEXT = {
  forbidden: 'You may not change this message.',
  not_found: 'This message is gone (deleted, or no longer in this room).',
  too_large: `Too long: a message can have at most ${CONTENT_MAX} characters.`,
  empty: 'A message cannot be empty. Delete it instead.',
  bad_request: 'The server refused this change.',
}

/** Text for a failed change; `action` is 'edit' | 'delete' | 'react'. */
export function actionErrorText(err, action) {
  if (!err) return ''
  if (err.code === 'too_large' && action === 'react') return err.message || 'This message has too many different reactions.'
  return ACTION_TEXT[err.code] || errorText(err)
}
