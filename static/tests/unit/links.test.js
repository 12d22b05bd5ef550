import { describe, it, expect } from 'vitest'
import { linkParts } from '../../src/lib/links.js'

describe('linkParts', () => {
  it('finds http(s) links among text, and leaves the rest as text', () => {
    expect(linkParts('see https://example.com/a?b=1 and http://x.org.')).toEqual([
      { text: 'see ' },
      { href: 'https://example.com/a?b=1', text: 'https://example.com/a?b=1' },
      { text: ' and ' },
      { href: 'http://x.org', text: 'http://x.org' },
      { text: '.' },
    ])
  })
  it('never links other schemes or markup', () => {
    for (const text of ['javascript:alert(1)', 'data:text/html,<b>x</b>', '<a href="https://evil.example">x</a> ok', 'ftp://host/file']) {
      const links = linkParts(text).filter((p) => p.href)
      expect(links.every((p) => p.href.startsWith('https://') || p.href.startsWith('http://'))).toBe(true)
      expect(links.some((p) => p.href.includes('"') || p.href.includes('<'))).toBe(false)
    }
    expect(linkParts('javascript:alert(1)')).toEqual([{ text: 'javascript:alert(1)' }])
  })
  it('keeps a parenthesis that belongs to the URL, drops one that closes the sentence', () => {
    expect(linkParts('(https://en.wikipedia.org/wiki/Rust_(language))').filter((p) => p.href)[0].href).toBe(
      'https://en.wikipedia.org/wiki/Rust_(language)',
    )
    expect(linkParts('(see https://example.com)').filter((p) => p.href)[0].href).toBe('https://example.com')
  })
  it('puts the whole text back together', () => {
    const text = 'a https://a.example/x, b (https://b.example) c'
    expect(linkParts(text).map((p) => p.text).join('')).toBe(text)
  })
})
