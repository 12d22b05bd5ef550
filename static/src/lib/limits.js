// The server's limits on what a client sends, in one place. The truth is the server's:
// docs/protocol.md ("Values"), actors/src/ids.rs (RoomCode, Nickname, ClientId) and
// actors/src/limits.rs (the default lengths). Every check in the client uses this module.

/** Room codes: 6 characters of this alphabet (no look-alikes 0 O 1 I L), case-insensitive on input. */
export const ROOM_CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789'
export const ROOM_CODE_LEN = 6
/** Nickname: 1..32 code points after trimming, no control, separator or format characters
 * (but the joiners and tags of emoji sequences). */
export const NICKNAME_MAX = 32
/** Message content: 1..2000 code points after trimming. */
export const CONTENT_MAX = 2000
/** clientId: 1..64 code points, not trimmed. */
export const CLIENT_ID_MAX = 64
/** Operators' API keys (src/auth.rs): 16..512 visible ASCII characters. */
export const API_KEY_MIN = 16
export const API_KEY_MAX = 512
/** Message ids are positive 64-bit integers (i64 in the store). */
const MESSAGE_ID_MAX = 9223372036854775807n

// Rust's str::trim (Unicode White_Space) and char::is_control (general category Cc).
const EDGE_SPACE = /^\p{White_Space}+|\p{White_Space}+$/gu
const CONTROL = /\p{Cc}/u
// Content keeps newlines and tabs; every other control character is refused.
const CONTENT_CONTROL = /[^\n\t\P{Cc}]/u
// Invisible or direction-changing characters the server refuses in names
// (actors/src/ids.rs, allowed_in_nickname).
const NAME_FORMAT = /[\p{Cf}\p{Zl}\p{Zp}]/u
const ZWJ = '\u200D'
const isTag = (ch) => ch >= '\u{E0020}' && ch <= '\u{E007F}'
const isEmoji = (ch) => /\p{Emoji}/u.test(ch)

/** Whether a name holds a format character outside an emoji sequence. */
function hasLookAlikeCharacter(name) {
  let before = null
  for (const ch of name) {
    if (NAME_FORMAT.test(ch)) {
      const afterEmoji = before !== null && (isEmoji(before) || isTag(before))
      if (!((ch === ZWJ || isTag(ch)) && afterEmoji)) return true
    }
    before = ch
  }
  return false
}

/** Trimmed as the server trims (leading and trailing Unicode white space). */
export function trimmed(s) {
  return String(s ?? '').replace(EDGE_SPACE, '')
}

/** Length in Unicode code points (the server's unit), untrimmed. */
export function codePoints(s) {
  return [...String(s ?? '')].length
}

// ---- room codes ------------------------------------------------------------

/** For the code input: upper-case, strip everything but [A-Z0-9], at most 6 characters. */
export function normalizeCode(input) {
  return String(input || '').toUpperCase().replace(/[^A-Z0-9]/g, '').slice(0, ROOM_CODE_LEN)
}

/** Exactly 6 characters of ROOM_CODE_ALPHABET, upper or lower case (what the server can find). */
export function isValidCode(code) {
  if (typeof code !== 'string' || code.length !== ROOM_CODE_LEN) return false
  for (const ch of code) {
    // ASCII upper-casing only, like the server's to_ascii_uppercase
    const up = ch >= 'a' && ch <= 'z' ? String.fromCharCode(ch.charCodeAt(0) - 32) : ch
    if (!ROOM_CODE_ALPHABET.includes(up)) return false
  }
  return true
}

// ---- nicknames --------------------------------------------------------------

/** What is wrong with a nickname: null when the server takes it, else 'empty' | 'too_long' | 'control'. */
export function nicknameProblem(raw) {
  const n = trimmed(raw)
  if (!n) return 'empty'
  if (codePoints(n) > NICKNAME_MAX) return 'too_long'
  if (CONTROL.test(n) || hasLookAlikeCharacter(n)) return 'control'
  return null
}

export function isValidNickname(raw) {
  return nicknameProblem(raw) === null
}

// ---- content ------------------------------------------------------------------

/** Number of code points after trimming (the server's length rule for content). */
export function contentLength(s) {
  return codePoints(trimmed(s))
}

/** What is wrong with a message's content: null, 'empty', 'too_long' or 'control'. */
export function contentProblem(raw) {
  const len = contentLength(raw)
  if (len === 0) return 'empty'
  if (len > CONTENT_MAX) return 'too_long'
  if (CONTENT_CONTROL.test(trimmed(raw))) return 'control'
  return null
}

// ---- clientId -------------------------------------------------------------------

/** 1..64 code points, not trimmed, no control characters. */
export function isValidClientId(id) {
  if (typeof id !== 'string') return false
  const n = codePoints(id)
  return n >= 1 && n <= CLIENT_ID_MAX && !CONTROL.test(id)
}

// ---- message ids --------------------------------------------------------------

/** A message id as typed (white space around it ignored): its digits, or null when it cannot be one. */
export function parseMessageId(input) {
  const s = String(input ?? '').trim()
  if (!/^[1-9][0-9]{0,18}$/.test(s)) return null
  return BigInt(s) <= MESSAGE_ID_MAX ? s : null
}

// ---- API keys -------------------------------------------------------------------

/** What is wrong with an API key as typed (trimmed): null, 'empty', 'length' or 'characters'. */
export function apiKeyProblem(raw) {
  const k = String(raw ?? '').trim()
  if (!k) return 'empty'
  if (k.length < API_KEY_MIN || k.length > API_KEY_MAX) return 'length'
  if (!/^[\x21-\x7e]+$/.test(k)) return 'characters'
  return null
}
