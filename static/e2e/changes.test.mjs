// End-to-end, message changes on one node: edits, deletions (own, and by the room's owner),
// reactions and the picker, the unread count in the title, screenshots of all of it.
// Run with `npm run e2e` after `npm run build`.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startNode, launchBrowser, screenshot, until, sleep, recordFrames, recordErrors, setHidden } from './harness.mjs'

let node, browser, ctxA, ctxB, pageA, pageB, framesA, framesB, errorsA, errorsB
let code

const messageWith = (page, text) => page.locator('[data-testid=message]', { hasText: text })
const byId = (page, id) => page.locator(`[data-testid=message][data-id="${id}"]`)
const connState = (page) => page.getByTestId('connection').getAttribute('data-state')
const contentOf = (page, id) => byId(page, id).getByTestId('content').textContent()

async function send(page, text) {
  const box = page.locator('#composer-input')
  await box.click()
  await box.fill(text)
  await box.press('Enter')
}

/** Send and wait until it is acked; its id. */
async function sendAcked(page, text) {
  await send(page, text)
  const m = messageWith(page, text).last()
  await until(async () => (await m.getAttribute('data-status')) === 'sent', `"${text}" acked`)
  return Number(await m.getAttribute('data-id'))
}

/** A message's action (they show on hover and focus). */
async function action(page, id, testid) {
  const m = byId(page, id)
  await m.hover()
  return m.getByTestId(testid)
}

/** The reaction chips of a message as [emoji, count, mine]. */
async function chips(page, id) {
  return byId(page, id)
    .getByTestId('reaction')
    .evaluateAll((els) => els.map((e) => [e.dataset.emoji, Number(e.querySelector('[data-testid=reaction-count]').textContent), e.dataset.mine === 'true']))
}

async function joinAs(page, name, roomCode) {
  await page.goto(node.base + '/')
  await page.getByLabel('Your name').fill(name)
  if (roomCode) {
    await page.getByLabel('Room code').fill(roomCode)
    await page.getByRole('button', { name: 'Join', exact: true }).click()
  } else {
    await page.getByRole('button', { name: 'Create a new room' }).click()
  }
  await page.getByTestId('room-code').waitFor()
  await until(async () => (await connState(page)) === 'connected', `${name} connected`)
  return (await page.getByTestId('room-code').textContent()).trim()
}

before(async () => {
  node = await startNode()
  browser = await launchBrowser()
  ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' })
  ctxB = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' })
  pageA = await ctxA.newPage()
  pageB = await ctxB.newPage()
  framesA = recordFrames(pageA)
  framesB = recordFrames(pageB)
  errorsA = recordErrors(pageA)
  errorsB = recordErrors(pageB)
  code = await joinAs(pageA, 'Ada')
  await pageA.getByTestId('owner-badge').waitFor()
  await joinAs(pageB, 'Bob', code)
})

after(async () => {
  if (browser) await browser.close().catch(() => {})
  if (node) await node.kill()
})

test('B edits its message: A sees the new text and the edited mark; Esc and Up arrow work', async () => {
  const id = await sendAcked(pageB, 'Helo, wrold')
  await byId(pageA, id).waitFor()
  assert.equal(await byId(pageA, id).getByTestId('edited').count(), 0)
  // A cannot edit B's message
  assert.equal(await (await action(pageA, id, 'edit')).count(), 0, 'no Edit on a message of someone else')

  await (await action(pageB, id, 'edit')).click()
  const editor = byId(pageB, id).locator('textarea')
  await editor.waitFor()
  assert.equal(await editor.inputValue(), 'Helo, wrold')
  assert.equal(await pageB.evaluate(() => document.activeElement?.tagName), 'TEXTAREA', 'the editor has the focus')
  await editor.fill('Hello, world')
  await editor.press('Enter')
  await until(async () => (await byId(pageB, id).locator('textarea').count()) === 0, 'the editor closes once saved')
  await until(async () => (await contentOf(pageA, id)) === 'Hello, world', 'A sees the edit')
  const mark = byId(pageA, id).getByTestId('edited')
  await mark.waitFor()
  assert.match(await mark.textContent(), /edited/)
  assert.match(await mark.getAttribute('title'), /^Edited \S/)
  assert.equal(await contentOf(pageB, id), 'Hello, world')
  assert.equal(await byId(pageB, id).getByTestId('edited').count(), 1)
  const edits = framesB.sent.filter((f) => f.event === 'chat:edit')
  assert.deepEqual(edits.map((f) => f.data), [{ roomCode: code, id, content: 'Hello, world' }])
  // the ack and the push carry the whole message, with its seq
  const update = framesA.received.find((f) => f.event === 'chat:update' && f.data.id === id)
  assert.ok(update, 'A got a chat:update push')
  assert.equal(update.data.content, 'Hello, world')
  assert.equal(typeof update.data.seq, 'number')
  assert.equal(typeof update.data.editedAt, 'string')

  // Up in the empty composer edits the last own message; Shift+Enter is a new line there
  const box = pageB.locator('#composer-input')
  await box.click()
  await box.press('ArrowUp')
  await editor.waitFor()
  await editor.press('End')
  await editor.press('Shift+Enter')
  await editor.type('second line')
  await editor.press('Escape') // cancelled: nothing sent
  await until(async () => (await byId(pageB, id).locator('textarea').count()) === 0, 'Esc closes the editor')
  assert.equal(await contentOf(pageB, id), 'Hello, world')
  assert.equal(framesB.sent.filter((f) => f.event === 'chat:edit').length, 1, 'Esc sent nothing')
  await box.click()
  await box.press('ArrowUp')
  await editor.waitFor()
  await editor.press('End')
  await editor.press('Shift+Enter')
  await editor.type('second line')
  await editor.press('Enter')
  await until(async () => (await contentOf(pageA, id)) === 'Hello, world\nsecond line', 'A sees the two-line edit')
})

test('B deletes its message after confirming: a placeholder for both, and a reply to it quotes no text', async () => {
  const id = await sendAcked(pageB, 'this one goes away')
  await byId(pageA, id).waitFor()
  // A replies to it first
  await (await action(pageA, id, 'reply')).click()
  await send(pageA, 'replying to the doomed one')
  const reply = messageWith(pageB, 'replying to the doomed one')
  await reply.waitFor()
  assert.match(await reply.getByTestId('quote').textContent(), /this one goes away/)

  await (await action(pageB, id, 'delete')).click()
  const confirm = byId(pageB, id).getByTestId('confirm-delete')
  await confirm.waitFor()
  await confirm.getByTestId('confirm-delete-no').click() // cancel first
  assert.equal(await byId(pageB, id).getByTestId('confirm-delete').count(), 0)
  assert.equal(framesB.sent.filter((f) => f.event === 'chat:delete').length, 0, 'cancelled: nothing sent')
  await (await action(pageB, id, 'delete')).click()
  await byId(pageB, id).getByTestId('confirm-delete-yes').click()
  for (const page of [pageA, pageB]) {
    const m = byId(page, id)
    await m.getByTestId('deleted-placeholder').waitFor()
    assert.match(await m.getByTestId('deleted-placeholder').textContent(), /Message deleted/)
    assert.equal(await m.getByTestId('content').count(), 0, 'no content')
    assert.equal(await m.getByTestId('reactions').count(), 0, 'no reactions')
    assert.equal(await m.locator('button').count(), 0, 'no actions')
    assert.equal(await m.getAttribute('data-deleted'), 'true')
  }
  assert.match(await messageWith(pageB, 'replying to the doomed one').getByTestId('quote').textContent(), /message deleted/)
  assert.deepEqual(
    framesB.sent.filter((f) => f.event === 'chat:delete').map((f) => f.data),
    [{ roomCode: code, id }],
  )
  // history says so too
  const h = await node.api('GET', `/api/messages?roomCode=${code}&limit=10`)
  const stored = h.json.messages.find((m) => m.id === id)
  assert.equal(stored.deleted, true)
  assert.equal(stored.content, '')
})

test("A, the room's owner, deletes B's message; B may not delete A's", async () => {
  const spam = await sendAcked(pageB, 'spam from Bob')
  const adas = await sendAcked(pageA, 'a message by Ada')
  await byId(pageB, adas).waitFor()
  await byId(pageA, spam).waitFor()
  assert.equal(await (await action(pageB, adas, 'delete')).count(), 0, 'B is not the owner: no Delete on Ada\'s message')
  assert.equal(await (await action(pageB, adas, 'edit')).count(), 0)
  const del = await action(pageA, spam, 'delete')
  assert.match(await del.getAttribute('aria-label'), /you own this room/)
  assert.equal(await (await action(pageA, spam, 'edit')).count(), 0, 'the owner deletes, does not edit')
  await del.click()
  await byId(pageA, spam).getByTestId('confirm-delete-yes').click()
  await byId(pageB, spam).getByTestId('deleted-placeholder').waitFor()
  await byId(pageA, spam).getByTestId('deleted-placeholder').waitFor()
  // the panel tells A it owns the room
  assert.equal(await pageA.getByTestId('owner-hint').count(), 1)
  assert.equal(await pageB.getByTestId('owner-hint').count(), 0)
})

test('reactions: the picker adds one, chips count and highlight ours, a click toggles', async () => {
  const id = await sendAcked(pageA, 'react to this')
  await byId(pageB, id).waitFor()
  await (await action(pageB, id, 'react')).click()
  const picker = byId(pageB, id).getByTestId('picker')
  await picker.waitFor()
  // keyboard: the picker has the focus; arrows move, Enter picks
  assert.equal(await pageB.evaluate(() => document.activeElement?.dataset.emoji), '👍')
  await pageB.keyboard.press('ArrowRight')
  await pageB.keyboard.press('ArrowRight')
  await pageB.keyboard.press('ArrowRight')
  assert.equal(await pageB.evaluate(() => document.activeElement?.dataset.emoji), '🎉')
  await pageB.keyboard.press('Enter')
  await until(async () => JSON.stringify(await chips(pageB, id)) === JSON.stringify([['🎉', 1, true]]), 'B sees its 🎉')
  await until(async () => JSON.stringify(await chips(pageA, id)) === JSON.stringify([['🎉', 1, false]]), 'A sees 🎉 1, not its own')
  // A adds the same by its chip, then 👍 by the picker
  await byId(pageA, id).locator('[data-testid=reaction][data-emoji="🎉"]').click()
  await until(async () => JSON.stringify(await chips(pageA, id)) === JSON.stringify([['🎉', 2, true]]), 'A: 🎉 2, its own')
  await (await action(pageA, id, 'react')).click()
  await byId(pageA, id).locator('[data-testid=picker] [data-emoji="👍"]').click()
  await until(async () => JSON.stringify(await chips(pageB, id)) === JSON.stringify([['🎉', 2, true], ['👍', 1, false]]), 'B sees 🎉 2 then 👍 1')
  // B takes its 🎉 back
  await byId(pageB, id).locator('[data-testid=reaction][data-emoji="🎉"]').click()
  await until(async () => JSON.stringify(await chips(pageA, id)) === JSON.stringify([['🎉', 1, true], ['👍', 1, true]]), 'A: 🎉 1 and 👍 1, both its own')
  await until(async () => JSON.stringify(await chips(pageB, id)) === JSON.stringify([['🎉', 1, false], ['👍', 1, false]]), 'B: neither is its own')
  const sentB = framesB.sent.filter((f) => f.event.startsWith('reaction:')).map((f) => [f.event, f.data.emoji, f.data.id])
  assert.deepEqual(sentB, [
    ['reaction:add', '🎉', id],
    ['reaction:remove', '🎉', id],
  ])
  // which ones are ours survives a reload (this browser remembers)
  await pageA.reload()
  await byId(pageA, id).waitFor()
  await until(async () => JSON.stringify(await chips(pageA, id)) === JSON.stringify([['🎉', 1, true], ['👍', 1, true]]), 'A still highlights its own after a reload')
  await until(async () => (await connState(pageA)) === 'connected', 'A connected again')
})

test('unread count in the title while the tab is hidden: others\' new messages only', async () => {
  await setHidden(pageA, true)
  const edited = await sendAcked(pageB, 'unread one')
  await sendAcked(pageB, 'unread two')
  await sendAcked(pageA, 'my own, not unread') // A types while hidden
  await sendAcked(pageB, 'unread three')
  await until(async () => (await pageA.title()) === `(3) ${code} · Huddle`, 'A\'s title counts 3', 10000)
  // a change is not a new message
  await (await action(pageB, edited, 'edit')).click()
  const editor = byId(pageB, edited).locator('textarea')
  await editor.fill('unread one, edited')
  await editor.press('Enter')
  await until(async () => (await contentOf(pageA, edited)) === 'unread one, edited', 'A got the edit')
  await sleep(200)
  assert.equal(await pageA.title(), `(3) ${code} · Huddle`)
  assert.equal(await pageB.title(), `${code} · Huddle`, 'B is visible: no count')
  await setHidden(pageA, false)
  assert.equal(await pageA.title(), `${code} · Huddle`, 'cleared once visible')
})

test('screenshots: edited, deleted, reactions and the picker; light and dark, desktop and phone', async () => {
  // a tidy room for the pictures
  const room = await node.api('POST', '/api/rooms')
  const c = room.json.room.code
  const ownerKey = room.json.ownerKey
  const setup = async (page, name) => {
    await page.addInitScript(
      ([roomCode, key, nick]) => {
        localStorage.setItem('huddle.nick', nick)
        if (key) localStorage.setItem('huddle.owner:' + roomCode, key)
      },
      [c, name === 'Ada' ? ownerKey : null, name],
    )
    await page.goto(`${node.base}/?room=${c}`)
    await until(async () => (await connState(page)) === 'connected', `${name} connected`)
  }
  const a = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' })).newPage()
  const b = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' })).newPage()
  const errors = [...[a, b].map(recordErrors)]
  await setup(a, 'Ada')
  await setup(b, 'Bob')
  const first = await sendAcked(b, 'Has anyone tried the new build? It seems faster to me')
  await byId(a, first).waitFor()
  const second = await sendAcked(a, 'Yes! Startup went from 4 s to under 1 s here 🚀')
  await byId(b, second).waitFor()
  const typo = await sendAcked(b, 'I will write it up in the relese notes')
  await (await action(b, typo, 'edit')).click()
  await byId(b, typo).locator('textarea').fill('I will write it up in the release notes')
  await byId(b, typo).locator('textarea').press('Enter')
  const gone = await sendAcked(b, 'oops, wrong room')
  await byId(a, gone).waitFor()
  await (await action(b, gone, 'delete')).click()
  await byId(b, gone).getByTestId('confirm-delete-yes').click()
  await byId(a, gone).getByTestId('deleted-placeholder').waitFor()
  for (const [page, id, emoji] of [
    [a, first, '👍'],
    [b, second, '🎉'],
    [a, second, '🎉'],
    [b, second, '❤️'],
  ]) {
    await (await action(page, id, 'react')).click()
    await byId(page, id).locator(`[data-testid=picker] [data-emoji="${emoji}"]`).click()
    await until(async () => (await chips(page, id)).some(([e, , mine]) => e === emoji && mine), `${emoji} on ${id}`)
  }
  await until(async () => (await contentOf(a, typo)) === 'I will write it up in the release notes', 'A sees the edit')
  await until(async () => JSON.stringify(await chips(a, second)) === JSON.stringify([['🎉', 2, true], ['❤️', 1, false]]), 'A sees the reactions')
  const last = await sendAcked(a, 'Nice, thanks Bob')
  await byId(b, last).waitFor()
  await a.mouse.move(0, 0)
  await b.mouse.move(0, 0)
  await screenshot(a, '20-changes-light-desktop')
  await screenshot(b, '21-changes-dark-desktop')
  // the picker open, and a message being edited
  await (await action(a, last, 'react')).click()
  await byId(a, last).getByTestId('picker').waitFor()
  await screenshot(a, '22-picker-light-desktop')
  await (await action(b, first, 'edit')).click()
  await byId(b, first).locator('textarea').waitFor()
  await screenshot(b, '23-editing-dark-desktop')
  await byId(b, first).locator('textarea').press('Escape')
  // the owner's confirmation on another's message
  await a.keyboard.press('Escape')
  await (await action(a, first, 'delete')).click()
  await byId(a, first).getByTestId('confirm-delete').waitFor()
  await screenshot(a, '24-confirm-delete-light-desktop')
  await byId(a, first).getByTestId('confirm-delete-no').click()
  // phones
  for (const scheme of ['light', 'dark']) {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: scheme, isMobile: true, hasTouch: true })
    const p = await ctx.newPage()
    errors.push(recordErrors(p))
    await p.goto(`${node.base}/?room=${c}`)
    await until(async () => (await connState(p)) === 'connected', 'phone connected')
    await byId(p, last).waitFor()
    await screenshot(p, `25-changes-${scheme}-phone`)
    await byId(p, second).getByTestId('reactions').waitFor()
    await byId(p, second).tap()
    await (await byId(p, second).getByTestId('react')).tap()
    await byId(p, second).getByTestId('picker').waitFor()
    await screenshot(p, `26-picker-${scheme}-phone`)
    await ctx.close()
  }
  assert.deepEqual(errors.flat(), [])
})

test('a refused change shows its error with the message (rate limit on reactions)', async () => {
  const id = await sendAcked(pageB, 'toggle me a lot')
  await byId(pageA, id).waitFor()
  // B's 👀 keeps the chip there while A toggles its own on and off
  await (await action(pageB, id, 'react')).click()
  await byId(pageB, id).locator('[data-testid=picker] [data-emoji="👀"]').click()
  const chip = byId(pageA, id).locator('[data-testid=reaction][data-emoji="👀"]')
  await chip.waitFor()
  // edits, deletions and reactions take tokens from the send budget (20 in 10 s)
  const error = byId(pageA, id).getByTestId('action-error')
  for (let i = 0; i < 40 && (await error.count()) === 0; i++) {
    await until(async () => !(await chip.isDisabled()), 'the chip is ready again')
    await chip.click()
    await until(async () => !(await chip.isDisabled()) || (await error.count()) > 0, 'answered')
  }
  await error.waitFor()
  assert.match(await error.textContent(), /too fast/)
  // scrolled into sight, not left under the fold
  await until(
    () =>
      error.evaluate((el) => {
        const box = el.getBoundingClientRect()
        const view = el.closest('.scroller').getBoundingClientRect()
        return box.top >= view.top && box.bottom <= view.bottom
      }),
    'the error is in view',
    3000,
  )
  const nack = framesA.received.find((f) => f.event === 'ack' && f.ok === false && f.error?.code === 'rate_limited')
  assert.ok(nack, 'the server answered rate_limited')
  await screenshot(pageA, '27-change-refused')
  await error.getByRole('button', { name: 'Dismiss' }).click()
  assert.equal(await error.count(), 0)
})

test('no script errors in the pages', () => {
  assert.deepEqual(errorsA, [])
  assert.deepEqual(errorsB, [])
})
