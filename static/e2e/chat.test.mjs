// End-to-end: two real browsers chat through a real node. Run with `npm run e2e`
// after `npm run build` (the node serves static/dist).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startNode, launchBrowser, screenshot, until, sleep, recordFrames, recordErrors } from './harness.mjs'

let node, browser, ctxA, ctxB, pageA, pageB, framesA, errorsA, errorsB
let code

const messages = (page) => page.locator('[data-testid=message]')
const messageWith = (page, text) => page.locator('[data-testid=message]', { hasText: text })
const texts = (page) => page.locator('[data-testid=message] [data-testid=content]').allTextContents()
const connState = (page) => page.getByTestId('connection').getAttribute('data-state')

async function send(page, text) {
  const box = page.locator('#composer-input')
  await box.click()
  await box.fill(text)
  await box.press('Enter')
}

before(async () => {
  node = await startNode()
  browser = await launchBrowser()
  ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' })
  ctxB = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' })
  pageA = await ctxA.newPage()
  pageB = await ctxB.newPage()
  framesA = recordFrames(pageA)
  errorsA = recordErrors(pageA)
  errorsB = recordErrors(pageB)
})

after(async () => {
  if (browser) await browser.close().catch(() => {})
  if (node) await node.kill()
})

test('the node serves the client at / and answers health', async () => {
  const h = await node.api('GET', '/api/health')
  assert.equal(h.status, 200)
  assert.equal(h.json.ok, true)
  const res = await fetch(node.base + '/')
  assert.equal(res.status, 200)
  assert.match(await res.text(), /<div id="app">/)
})

test('A creates a room; B joins by the code shown on screen', async () => {
  await pageA.goto(node.base + '/')
  await pageA.getByLabel('Your name').fill('Ada')
  await screenshot(pageA, '01-lobby')
  await pageA.getByRole('button', { name: 'Create a new room' }).click()
  const codeEl = pageA.getByTestId('room-code')
  await codeEl.waitFor()
  code = (await codeEl.textContent()).trim()
  assert.match(code, /^[A-Z0-9]{6}$/)
  await until(async () => (await connState(pageA)) === 'connected', 'A connected')
  // A created the room: its browser kept the owner key and joined with it.
  await pageA.getByTestId('owner-badge').waitFor()

  await pageB.goto(node.base + '/')
  await pageB.getByLabel('Your name').fill('Bob')
  // typed in lower case: codes are case-insensitive and shown upper-case
  await pageB.getByLabel('Room code').fill(code.toLowerCase())
  assert.equal(await pageB.getByLabel('Room code').inputValue(), code)
  await pageB.getByRole('button', { name: 'Join', exact: true }).click()
  await pageB.getByTestId('room-code').waitFor()
  assert.equal((await pageB.getByTestId('room-code').textContent()).trim(), code)
  await until(async () => (await connState(pageB)) === 'connected', 'B connected')
  assert.equal(await pageB.getByTestId('owner-badge').count(), 0, 'B joined by code: a member')
})

test('presence shows both, on both sides', async () => {
  for (const page of [pageA, pageB]) {
    await until(async () => {
      const t = await page.getByTestId('members').textContent()
      return t.includes('Ada') && t.includes('Bob')
    }, 'members list shows Ada and Bob')
    await until(async () => (await page.getByTestId('member-count').textContent()).trim() === '2', 'member count 2')
  }
})

test('messages go both ways, in order, own messages marked and acked', async () => {
  await send(pageA, 'Hello Bob! 👋')
  await messageWith(pageB, 'Hello Bob!').waitFor()
  await until(async () => (await messageWith(pageA, 'Hello Bob!').getAttribute('data-status')) === 'sent', "A's message acked")
  assert.match(await messageWith(pageA, 'Hello Bob!').getAttribute('class'), /\bown\b/)
  assert.doesNotMatch(await messageWith(pageB, 'Hello Bob!').getAttribute('class'), /\bown\b/)

  // Shift+Enter makes a new line, Enter sends
  const box = pageB.locator('#composer-input')
  await box.click()
  await box.type('Hi Ada,')
  await box.press('Shift+Enter')
  await box.type('good to see you <b>here</b>')
  await box.press('Enter')
  await messageWith(pageA, 'good to see you').waitFor()
  const got = await messageWith(pageA, 'good to see you').locator('[data-testid=content]').textContent()
  assert.equal(got, 'Hi Ada,\ngood to see you <b>here</b>') // rendered as text, never as HTML
  assert.equal(await pageA.locator('[data-testid=message] b').count(), 0)

  await send(pageA, 'A long word: ' + 'x'.repeat(300))
  await send(pageA, 'Third from Ada')
  await until(async () => (await texts(pageB)).length === 4, 'B has 4 messages')
  const a = await texts(pageA)
  const b = await texts(pageB)
  assert.deepEqual(a, b)
  // no horizontal overflow from the long word
  const overflow = await pageB.locator('.scroller').evaluate((el) => el.scrollWidth > el.clientWidth)
  assert.equal(overflow, false)
  // the message ids are increasing on screen
  const ids = await messages(pageB).evaluateAll((els) => els.map((e) => Number(e.dataset.id)))
  assert.deepEqual([...ids].sort((x, y) => x - y), ids)
  // each chat:send carried a clientId and every request a ref
  const sends = framesA.sent.filter((f) => f.event === 'chat:send')
  assert.ok(sends.length >= 3)
  for (const f of framesA.sent) assert.ok(f.ref !== undefined, `frame ${f.event} has a ref`)
  for (const f of sends) assert.match(f.data.clientId, /^[0-9a-f-]{36}$/)
  await screenshot(pageA, '02-room-ada')
  await screenshot(pageB, '03-room-bob')
})

test('typing shows in the other tab, and clears', async () => {
  const box = pageA.locator('#composer-input')
  await box.click()
  await box.type('I am typ')
  await until(async () => /Ada is typing/.test(await pageB.getByTestId('typing').textContent()), 'B sees "Ada is typing…"')
  // The name is isolated from the words around it (a right-to-left name cannot reorder them).
  assert.equal(await pageB.getByTestId('typing').locator('bdi').textContent(), 'Ada')
  await screenshot(pageB, '04-typing')
  await box.fill('')
  await box.type('ing!')
  await box.press('Enter')
  await until(async () => (await pageB.getByTestId('typing').textContent()).trim() === '', 'typing line clears after send')
  await messageWith(pageB, 'ing!').waitFor()
})

test('an integration posting under a member\'s name is marked as a bot, not grouped with them', async () => {
  await send(pageA, 'the real Ada')
  await messageWith(pageB, 'the real Ada').waitFor()
  const r = await node.api('POST', '/api/messages', { roomCode: code, sender: 'Ada', content: 'an integration' })
  assert.equal(r.status, 201)
  assert.equal(r.json.message.bot, true)
  const posted = messageWith(pageB, 'an integration')
  await posted.waitFor()
  assert.equal(await posted.getByTestId('bot-badge').textContent(), 'bot')
  assert.equal(await messageWith(pageB, 'the real Ada').getByTestId('bot-badge').count(), 0)
  // Its own header (name and badge), not a continuation of Ada's group.
  assert.equal(await posted.getByTestId('sender').count(), 1)
})

test('B replies to A: the reply quotes the message, and the quote leads to it', async () => {
  const target = messageWith(pageB, 'the real Ada')
  await target.hover()
  await target.getByTestId('reply').click()
  await pageB.getByTestId('replying').waitFor()
  assert.match(await pageB.getByTestId('replying').textContent(), /Replying to\s+Ada/)
  await send(pageB, 'a reply to the real one')
  assert.equal(await pageB.getByTestId('replying').count(), 0, 'the reply line goes once sent')
  const reply = messageWith(pageA, 'a reply to the real one')
  await reply.waitFor()
  const quote = reply.getByTestId('quote')
  // A sees its own message quoted as its own.
  assert.match(await quote.textContent(), /You\s*the real Ada/)
  await screenshot(pageA, '05-reply')
  await quote.click()
  const original = pageA.locator('[data-testid=message]', { hasText: 'the real Ada' }).first()
  await until(async () => /\bflash\b/.test(await original.getAttribute('class')), 'the quoted message is marked')
  // Escape cancels a reply before it is sent. (The reply quotes the text too: the original
  // is the first message holding it.)
  const again = messageWith(pageB, 'the real Ada').first()
  await again.hover()
  await again.getByTestId('reply').click()
  await pageB.locator('#composer-input').press('Escape')
  assert.equal(await pageB.getByTestId('replying').count(), 0)
})

test('links in messages open safely; markup stays text', async () => {
  await send(pageA, 'docs at https://example.com/guide. and <b>bold</b> javascript:alert(1)')
  const m = messageWith(pageB, 'docs at')
  await m.waitFor()
  const links = m.locator('a')
  assert.equal(await links.count(), 1)
  assert.equal(await links.getAttribute('href'), 'https://example.com/guide')
  assert.equal(await links.getAttribute('rel'), 'noopener noreferrer')
  assert.equal(await links.getAttribute('target'), '_blank')
  assert.equal(await m.locator('b').count(), 0, 'no HTML from users')
  assert.match(await m.getByTestId('content').textContent(), /<b>bold<\/b> javascript:alert\(1\)$/)
})

test('reload keeps the room and the history', async () => {
  const before = await texts(pageB)
  await pageB.reload()
  await pageB.getByTestId('room-code').waitFor()
  assert.equal((await pageB.getByTestId('room-code').textContent()).trim(), code)
  await until(async () => (await texts(pageB)).length === before.length, 'history restored after reload')
  assert.deepEqual(await texts(pageB), before)
  assert.equal(await pageB.getByTestId('my-name').textContent(), 'Bob') // nickname remembered
  // B's own messages are still its own after the reload
  assert.match(await messageWith(pageB, 'good to see you').getAttribute('class'), /\bown\b/)
})

test('a new nickname shows for the others and is remembered for the room', async () => {
  await pageB.getByRole('button', { name: /change your name/ }).click()
  const input = pageB.getByLabel('Name', { exact: true })
  await input.fill('Bobby Tables')
  await screenshot(pageB, '12-rename-dialog')
  await input.press('Enter')
  await until(async () => (await pageB.getByTestId('my-name').textContent()) === 'Bobby Tables', 'B renamed')
  await until(async () => {
    const t = await pageA.getByTestId('members').textContent()
    return t.includes('Bobby Tables') && !/Bob(?! Tables)/.test(t.replace('Bobby Tables', ''))
  }, 'A sees the new name in place of the old one')
  assert.equal((await pageA.getByTestId('member-count').textContent()).trim(), '2')
  await pageB.reload()
  await pageB.getByTestId('room-code').waitFor()
  assert.equal(await pageB.getByTestId('my-name').textContent(), 'Bobby Tables')
  await until(async () => (await connState(pageB)) === 'connected', 'B connected again')
})

test('a share link opens straight into the room (?room= and #)', async () => {
  const ctx = await (await browser).newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true })
  const p = await ctx.newPage()
  await p.goto(`${node.base}/?room=${code.toLowerCase()}`)
  await p.getByTestId('room-code').waitFor()
  assert.equal((await p.getByTestId('room-code').textContent()).trim(), code)
  await until(async () => (await texts(p)).length >= 5, 'history on the phone')
  await until(async () => (await pageA.getByTestId('member-count').textContent()).trim() === '3', 'A sees 3 people')
  await screenshot(p, '05-phone-dark')
  await p.getByRole('button', { name: /People in the room/ }).click()
  await sleep(300)
  await screenshot(p, '06-phone-people')
  const p2 = await ctx.newPage()
  await p2.goto(`${node.base}/#${code}`)
  await p2.getByTestId('room-code').waitFor()
  assert.equal((await p2.getByTestId('room-code').textContent()).trim(), code)
  await ctx.close()
  await until(async () => (await pageA.getByTestId('member-count').textContent()).trim() === '2', 'A sees 2 people after the phone left')
})

test('an unknown code is reported in the lobby', async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true })
  const p = await ctx.newPage()
  await p.goto(node.base + '/')
  await p.getByLabel('Room code').fill('ZZZZZZ')
  await p.getByRole('button', { name: 'Join', exact: true }).click()
  await p.getByRole('alert').waitFor()
  assert.match(await p.getByRole('alert').textContent(), /no room with the code ZZZZZZ/)
  await screenshot(p, '11-lobby-error-phone-dark')
  // the same through a stale share link: back in the lobby, with the reason
  await p.goto(node.base + '/?room=ZZZZZZ')
  await p.getByRole('alert').waitFor()
  assert.match(await p.getByRole('alert').textContent(), /no room with the code ZZZZZZ/)
  assert.equal(new URL(p.url()).search, '')
  await ctx.close()
})

test('history pages in as you scroll up, in order, each message once', async () => {
  const room = await node.api('POST', '/api/rooms')
  assert.equal(room.status, 201, room.text)
  const c = room.json.room.code
  const N = 130
  for (let i = 1; i <= N; i++) {
    const r = await node.api('POST', '/api/messages', { roomCode: c, sender: i % 3 ? 'Grace' : 'Linus', content: `history ${String(i).padStart(3, '0')}` })
    assert.equal(r.status, 201, r.text)
  }
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' })
  const p = await ctx.newPage()
  await p.goto(`${node.base}/#${c}`)
  await until(async () => (await texts(p)).length >= 50, 'first page')
  assert.equal((await texts(p)).at(-1), `history ${N}`)
  // scrolled to the newest message
  const nearBottom = await p.locator('.scroller').evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 80)
  assert.ok(nearBottom, 'starts at the bottom')
  for (let round = 0; round < 10 && (await texts(p)).length < N; round++) {
    await p.locator('.scroller').evaluate((el) => (el.scrollTop = 0))
    await sleep(400)
  }
  await until(async () => (await texts(p)).length === N, `all ${N} messages after scrolling up`)
  const all = await texts(p)
  const expected = Array.from({ length: N }, (_, i) => `history ${String(i + 1).padStart(3, '0')}`)
  assert.deepEqual(all, expected)
  await p.getByText('This is the beginning of').waitFor()
  await p.locator('.scroller').evaluate((el) => (el.scrollTop = 0))
  await sleep(200)
  await screenshot(p, '09-history-top-dark')
  await ctx.close()
})

test('rate limit: errors are shown next to the message and a retry (same clientId) sends it', async () => {
  const room = await node.api('POST', '/api/rooms')
  const c = room.json.room.code
  const ctx = await browser.newContext({ viewport: { width: 1024, height: 760 } })
  const p = await ctx.newPage()
  const frames = recordFrames(p)
  await p.goto(`${node.base}/?room=${c}`)
  await until(async () => (await connState(p)) === 'connected', 'connected')
  const box = p.locator('#composer-input')
  for (let i = 1; i <= 24; i++) {
    await box.fill(`burst ${i}`)
    await box.press('Enter')
  }
  await until(async () => (await p.locator('[data-testid=message][data-status=pending]').count()) === 0, 'every send answered')
  const failed = p.locator('[data-testid=message][data-status=failed]')
  const nFailed = await failed.count()
  assert.ok(nFailed >= 1, 'the session limit (20 in 10 s) turned some sends down')
  assert.match(await failed.first().getByTestId('error').textContent(), /too fast/)
  await screenshot(p, '10-rate-limited')
  const cid = await failed.first().getAttribute('data-client-id')
  const failedText = await failed.first().locator('[data-testid=content]').textContent()
  await sleep(10500) // let the window slide
  const retryButtons = p.getByRole('button', { name: 'Retry', exact: true })
  while ((await retryButtons.count()) > 0) await retryButtons.first().click()
  await until(async () => (await p.locator('[data-testid=message][data-status=sent]').count()) === 24, 'all 24 sent after retrying')
  const sends = frames.sent.filter((f) => f.event === 'chat:send' && f.data.clientId === cid)
  assert.equal(sends.length, 2, 'the retry reused the clientId')
  const ok = await p.locator(`[data-testid=message][data-client-id="${cid}"]`).getAttribute('data-status')
  assert.equal(ok, 'sent')
  assert.equal(await p.locator(`[data-testid=message][data-client-id="${cid}"] [data-testid=content]`).textContent(), failedText)
  // no duplicates on the server either
  const h = await node.api('GET', `/api/messages?roomCode=${c}&limit=200`)
  assert.equal(h.json.messages.length, 24)
  await ctx.close()
})

test('node killed (SIGKILL) and restarted: messages sent meanwhile through REST appear after reconnect', async () => {
  const before = await texts(pageA)
  await node.kill('SIGKILL')
  await until(async () => (await connState(pageA)) !== 'connected', 'A notices the drop')
  // a message typed while the node is down waits as pending
  await send(pageA, 'Sent while the node was down')
  await until(async () => (await messageWith(pageA, 'Sent while the node was down').getAttribute('data-status')) === 'pending', 'pending while down')
  await sleep(3500) // let the backoff grow, so the restart happens between two attempts
  await screenshot(pageA, '07-reconnecting')
  const joinsBefore = framesA.sent.filter((f) => f.event === 'room:join').length

  await node.start()
  const rest = []
  for (const content of ['REST one while you were away', 'REST two while you were away']) {
    const r = await node.api('POST', '/api/messages', { roomCode: code, sender: 'Integration', content })
    assert.equal(r.status, 201, `POST /api/messages: ${r.text}`)
    rest.push(r.json.message)
  }

  await until(async () => (await connState(pageA)) === 'connected', 'A reconnected', 30000)
  for (const m of rest) await messageWith(pageA, m.content).waitFor({ timeout: 15000 })
  await until(async () => (await messageWith(pageA, 'Sent while the node was down').getAttribute('data-status')) === 'sent', 'queued message sent after reconnect')
  // the rejoin carried sinceId = the highest id seen before the drop
  const rejoin = framesA.sent.filter((f) => f.event === 'room:join').slice(joinsBefore)[0]
  assert.ok(rejoin, 'A re-joined')
  assert.equal(typeof rejoin.data.sinceId, 'number')
  assert.ok(rejoin.data.sinceId > 0 && rejoin.data.sinceId < rest[0].id, `sinceId ${rejoin.data.sinceId} below the REST ids`)
  // B reconnected too and sees the same, nothing twice, nothing lost
  await until(async () => (await connState(pageB)) === 'connected', 'B reconnected', 30000)
  const expected = [...before, rest[0].content, rest[1].content, 'Sent while the node was down']
  await until(async () => (await texts(pageB)).length === expected.length, 'B has every message once')
  const a = await texts(pageA)
  const b = await texts(pageB)
  assert.deepEqual(new Set(a), new Set(expected))
  assert.equal(a.length, expected.length)
  assert.deepEqual(a, b)
  await screenshot(pageA, '08-after-restart')
})

test('node drained (SIGTERM): the client follows the `reconnect` push and comes back', async () => {
  const received = framesA.received.length
  const before = await texts(pageA)
  await node.kill('SIGTERM')
  await until(async () => (await connState(pageA)) !== 'connected', 'A notices the shutdown')
  const gotReconnect = framesA.received.slice(received).some((f) => f.event === 'reconnect')
  await node.start()
  const r = await node.api('POST', '/api/messages', { roomCode: code, sender: 'Integration', content: 'after the drain' })
  assert.equal(r.status, 201, r.text)
  await until(async () => (await connState(pageA)) === 'connected', 'A reconnected', 30000)
  await messageWith(pageA, 'after the drain').waitFor({ timeout: 15000 })
  assert.deepEqual(await texts(pageA), [...before, 'after the drain'])
  assert.ok(gotReconnect, 'the node sent a `reconnect` push before closing (PROTOCOL.md: draining)')
})

test('more than 500 missed while away: the client pages the gap through REST, nothing lost', async () => {
  const room = await node.api('POST', '/api/rooms')
  const c = room.json.room.code
  const ctx = await browser.newContext({ viewport: { width: 1024, height: 700 } })
  const p = await ctx.newPage()
  const frames = recordFrames(p)
  await p.goto(`${node.base}/?room=${c}`)
  await until(async () => (await connState(p)) === 'connected', 'connected')
  await send(p, 'before the outage')
  await until(async () => (await messageWith(p, 'before the outage').getAttribute('data-status')) === 'sent', 'first message acked')
  const firstId = Number(await messageWith(p, 'before the outage').getAttribute('data-id'))
  // the browser goes offline (no new connections), the node dies and comes back, 520 messages arrive
  await ctx.setOffline(true)
  await node.kill('SIGKILL')
  await until(async () => (await connState(p)) !== 'connected', 'drop noticed')
  await node.start()
  const N = 520
  for (let i = 1; i <= N; i++) {
    const r = await node.api('POST', '/api/messages', { roomCode: c, sender: 'Bulk', content: `gap ${String(i).padStart(3, '0')}` })
    assert.equal(r.status, 201, r.text)
  }
  const joinsBefore = frames.sent.filter((f) => f.event === 'room:join').length
  const receivedBefore = frames.received.length
  await ctx.setOffline(false) // the `online` event makes the client retry at once
  await until(async () => (await connState(p)) === 'connected', 'reconnected', 30000)
  const rejoin = frames.sent.filter((f) => f.event === 'room:join').slice(joinsBefore)[0]
  assert.equal(rejoin.data.sinceId, firstId)
  const ack = frames.received.slice(receivedBefore).find((f) => f.event === 'ack' && f.ref === rejoin.ref) // refs restart per connection
  assert.ok(ack && ack.ok, 'join acked')
  assert.equal(ack.data.missed.length, 500, 'missed is capped at 500 (default)')
  assert.equal(ack.data.hasMore, true)
  await until(async () => (await texts(p)).length === N + 1, `all ${N + 1} messages, the gap filled`, 30000)
  const all = await texts(p)
  assert.deepEqual(all, ['before the outage', ...Array.from({ length: N }, (_, i) => `gap ${String(i + 1).padStart(3, '0')}`)])
  await ctx.close()
})

test('leaving shows the lobby with the room under "Recent rooms"; one click goes back', async () => {
  await pageB.getByRole('button', { name: 'Leave room' }).click()
  await pageB.getByRole('button', { name: 'Create a new room' }).waitFor()
  assert.equal(new URL(pageB.url()).search, '')
  await until(async () => (await pageA.getByTestId('member-count').textContent()).trim() === '1', 'A sees B leave')
  const recent = pageB.getByRole('button', { name: new RegExp(code) })
  await recent.waitFor()
  await screenshot(pageB, '13-lobby-recent')
  await recent.click()
  await pageB.getByTestId('room-code').waitFor()
  await until(async () => (await pageA.getByTestId('member-count').textContent()).trim() === '2', 'B is back')
  assert.equal(await pageB.getByTestId('my-name').textContent(), 'Bobby Tables')
})

test('no script errors in the pages', () => {
  assert.deepEqual(errorsA, [])
  assert.deepEqual(errorsB, [])
})
