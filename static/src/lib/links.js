// Links in user text, made clickable without trusting the text: only http(s) URLs become
// links, as parts the view renders with text interpolation (never HTML from users), and each
// opens in a new tab with rel="noopener noreferrer" (the page it opens cannot reach back into
// this one, nor learn where the click came from). No previews are fetched.

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi
// Punctuation that usually ends a sentence rather than a URL.
const TRAILING = /[.,;:!?'")\]}]+$/

/** `text` as parts: `{ text }` for plain text, `{ href, text }` for a link. */
export function linkParts(text) {
  const parts = []
  let last = 0
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0]
    const trailing = url.match(TRAILING)
    // Keep a closing parenthesis that closes one opened inside the URL (Wikipedia links).
    if (trailing) {
      let cut = trailing[0]
      if (cut.startsWith(')') && (url.match(/\(/g) || []).length > (url.match(/\)/g) || []).length - cut.length) {
        cut = cut.slice(1)
      }
      url = url.slice(0, url.length - cut.length)
    }
    if (!safeHref(url)) continue
    if (match.index > last) parts.push({ text: text.slice(last, match.index) })
    parts.push({ href: url, text: url })
    last = match.index + url.length
  }
  if (last < text.length) parts.push({ text: text.slice(last) })
  return parts.length ? parts : [{ text }]
}

/** Whether `url` parses as an http(s) URL. */
function safeHref(url) {
  try {
    const parsed = new URL(url)
    return parsed.protocol === 'http:' || parsed.protocol === 'https:'
  } catch {
    return false
  }
}
