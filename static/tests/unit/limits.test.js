import { describe, it, expect } from 'vitest'
import {
  ROOM_CODE_ALPHABET,
  ROOM_CODE_LEN,
  NICKNAME_MAX,
  CONTENT_MAX,
  CLIENT_ID_MAX,
  trimmed,
  codePoints,
  normalizeCode,
  isValidCode,
  nicknameProblem,
  isValidNickname,
  contentLength,
  contentProblem,
  isValidClientId,
  parseMessageId,
  apiKeyProblem,
  API_KEY_MIN,
  API_KEY_MAX,
} from '../../src/lib/limits.js'
import { codeFromLocation } from '../../src/lib/names.js'

describe('limits: the numbers are the server defaults', () => {
  it('mirrors docs/protocol.md and actors/src', () => {
    expect(ROOM_CODE_ALPHABET).toBe('ABCDEFGHJKMNPQRSTUVWXYZ23456789')
    expect(ROOM_CODE_ALPHABET.length).toBe(31)
    expect(ROOM_CODE_LEN).toBe(6)
    expect(NICKNAME_MAX).toBe(32)
    expect(CONTENT_MAX).toBe(2000)
    expect(CLIENT_ID_MAX).toBe(64)
  })
})

describe('limits: room codes', () => {
  it('accepts six characters of the alphabet, either case', () => {
    for (const ok of ['K7QX2M', 'k7qx2m', 'K7qX2m', 'ZZZZZZ', 'ABCDEF', '234567', 'HJKMNP']) {
      expect(isValidCode(ok), ok).toBe(true)
    }
  })
  it('refuses the look-alikes the server excludes (0 O 1 I L)', () => {
    for (const bad of ['ABCDE0', 'ABCDEO', 'ABCDE1', 'ABCDEI', 'abcdeL', 'abcdel', 'abcdei', 'abcdeo', 'K7QX20', 'K7QX2O']) {
      expect(isValidCode(bad), bad).toBe(false)
    }
  })
  it('refuses wrong lengths, punctuation, non-ASCII and non-strings', () => {
    for (const bad of ['', 'K7QX2', 'K7QX2MM', 'K7QX2!', 'K7 X2M', 'ÄÄÄÄÄÄ', 'K7QX2ſ', 'K7QX2\u0131', null, undefined, 123456]) {
      expect(isValidCode(bad), String(bad)).toBe(false)
    }
  })
  it('every alphabet character is valid, every other ASCII letter or digit is not', () => {
    for (const ch of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ') {
      const code = ch.repeat(6)
      expect(isValidCode(code), code).toBe(ROOM_CODE_ALPHABET.includes(ch))
      expect(isValidCode(code.toLowerCase()), code.toLowerCase()).toBe(ROOM_CODE_ALPHABET.includes(ch))
    }
  })
  it('normalizes input: upper case, separators dropped, at most six', () => {
    expect(normalizeCode(' k7qx-2m ')).toBe('K7QX2M')
    expect(normalizeCode('k7qx2mxyz')).toBe('K7QX2M')
    expect(normalizeCode(null)).toBe('')
  })
  it('a share link with a code the server cannot have is not a room', () => {
    expect(codeFromLocation({ search: '?room=k7qx2m', hash: '' })).toBe('K7QX2M')
    expect(codeFromLocation({ search: '?room=ABCDE0', hash: '' })).toBe(null)
    expect(codeFromLocation({ search: '', hash: '#ABCDEI' })).toBe(null)
    expect(codeFromLocation({ search: '', hash: '#abcdel' })).toBe(null)
  })
})

describe('limits: nicknames', () => {
  it('takes 1..32 code points after trimming', () => {
    expect(nicknameProblem('ada')).toBe(null)
    expect(nicknameProblem('  ada  ')).toBe(null)
    expect(nicknameProblem('x'.repeat(32))).toBe(null)
    expect(nicknameProblem(' ' + 'x'.repeat(32) + ' ')).toBe(null)
    expect(nicknameProblem('😀'.repeat(32))).toBe(null) // 64 UTF-16 units, 32 code points
    expect(nicknameProblem('x'.repeat(33))).toBe('too_long')
    expect(nicknameProblem('')).toBe('empty')
    expect(nicknameProblem('   ')).toBe('empty')
    expect(nicknameProblem(null)).toBe('empty')
  })
  it('refuses control characters (Unicode Cc) inside the name', () => {
    for (const bad of ['a\tb', 'a\nb', 'a\u0000b', 'a\u001fb', 'a\u007fb', 'a\u0085b', 'a\u009fb']) {
      expect(nicknameProblem(bad), JSON.stringify(bad)).toBe('control')
      expect(isValidNickname(bad)).toBe(false)
    }
    expect(isValidNickname('Ada Lovelace')).toBe(true)
    expect(isValidNickname('Zoë 😀')).toBe(true)
  })
  it('trims like the server: Unicode white space at the edges', () => {
    expect(trimmed('\u00a0\u2003ada\u3000\n')).toBe('ada')
    expect(trimmed('\u0085ada\u0085')).toBe('ada') // NEL is white space to Rust's trim
    expect(nicknameProblem('\u0085ada')).toBe(null)
    expect(trimmed('\ufeffada')).toBe('\ufeffada') // BOM is not
  })
})

describe('limits: content', () => {
  it('counts code points after trimming', () => {
    expect(codePoints('😀a')).toBe(2)
    expect(contentLength('  😀a  ')).toBe(2)
    expect(contentLength('\n hello\nworld \n')).toBe(11)
  })
  it('takes 1..2000', () => {
    expect(contentProblem('hi')).toBe(null)
    expect(contentProblem('x'.repeat(2000))).toBe(null)
    expect(contentProblem('  ' + 'x'.repeat(2000) + '\n')).toBe(null)
    expect(contentProblem('😀'.repeat(2000))).toBe(null)
    expect(contentProblem('x'.repeat(2001))).toBe('too_long')
    expect(contentProblem('')).toBe('empty')
    expect(contentProblem(' \n\t ')).toBe('empty')
  })
})

describe('limits: clientId', () => {
  it('takes 1..64 code points, untrimmed', () => {
    expect(isValidClientId('c')).toBe(true)
    expect(isValidClientId('c'.repeat(64))).toBe(true)
    expect(isValidClientId(' ')).toBe(true) // not trimmed, not blank-checked by the server
    expect(isValidClientId('😀'.repeat(64))).toBe(true)
    expect(isValidClientId('c'.repeat(65))).toBe(false)
    expect(isValidClientId('')).toBe(false)
    expect(isValidClientId(null)).toBe(false)
    expect(isValidClientId(crypto.randomUUID())).toBe(true)
  })
})

describe('limits: characters the server refuses (hostile input)', () => {
  it('refuses invisible and direction-changing characters in names, keeps emoji sequences', () => {
    for (const bad of ['ad\u202Ea', 'a\u200Bda', '\u2066ada\u2069', 'a\u00ADda', 'a\u200Dda', 'a\u2028b']) {
      expect(nicknameProblem(bad)).toBe('control')
    }
    for (const good of ['👩\u200D💻 ada', 'Zoë', 'محمد', '❤\uFE0F']) {
      expect(nicknameProblem(good)).toBe(null)
    }
  })

  it('content keeps newlines and tabs, refuses other control characters', () => {
    expect(contentProblem('a\n\tb')).toBe(null)
    for (const bad of ['a\u0000b', 'a\rb', 'bell\u0007', 'a\u0085b']) {
      expect(contentProblem(bad)).toBe('control')
    }
  })

  it('client ids have no control characters', () => {
    expect(isValidClientId('c-1')).toBe(true)
    expect(isValidClientId('c\u0000')).toBe(false)
  })
})

describe('message ids (the admin page\'s delete form)', () => {
  it('takes a positive 64-bit integer as typed, as its digits', () => {
    expect(parseMessageId('1041')).toBe('1041')
    expect(parseMessageId(' 7 ')).toBe('7')
    expect(parseMessageId(1041)).toBe('1041')
    expect(parseMessageId('9223372036854775807')).toBe('9223372036854775807')
  })
  it('refuses what cannot be an id', () => {
    for (const bad of ['', '0', '-1', '01', '1.5', '1e3', '12a', '9223372036854775808', '99999999999999999999', null, undefined]) {
      expect(parseMessageId(bad)).toBeNull()
    }
  })
})

describe('API keys (src/auth.rs)', () => {
  it('are 16..512 visible ASCII characters', () => {
    expect(API_KEY_MIN).toBe(16)
    expect(API_KEY_MAX).toBe(512)
    expect(apiKeyProblem('a'.repeat(16))).toBeNull()
    expect(apiKeyProblem('  ' + 'a'.repeat(16) + '\n')).toBeNull()
    expect(apiKeyProblem('!~'.repeat(256))).toBeNull()
    expect(apiKeyProblem('')).toBe('empty')
    expect(apiKeyProblem('   ')).toBe('empty')
    expect(apiKeyProblem('a'.repeat(15))).toBe('length')
    expect(apiKeyProblem('a'.repeat(513))).toBe('length')
    expect(apiKeyProblem('a'.repeat(10) + ' ' + 'a'.repeat(10))).toBe('characters')
    expect(apiKeyProblem('a'.repeat(16) + 'é')).toBe('characters')
  })
})
