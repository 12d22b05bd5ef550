// End-to-end on two nodes sharing PostgreSQL and Redis: A's browser on node 1, B's on node 2.
// Reactions and edits cross the nodes, and a browser that was away (its node killed) resumes
// with the change cursor. Needs TEST_DATABASE_URL and redis-server (scripts/test.sh provides
// both); skipped without them unless CHAT_REQUIRE_POSTGRES=1 / CHAT_REQUIRE_REDIS=1.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { clusterUnavailable, startCluster, launchBrowser, screenshot, until, recordFrames, recordErrors } from './harness.mjs'

const skip = clusterUnavailable() || false // a reason to skip, or false
let cluster, browser, pageA, pageB, ctxB, framesB, errorsA, errorsB, code

const byId = (page, id) => page.locator(`[data-testid=message][data-id="${id}"]`)
const messageWith = (page, text) => page.locator('[data-testid=message]', { hasText: text })
const connState = (page) => page.getByTestId('connection').getAttribute('data-state')
const chips = (page, id) =>
  byId(page, id)
    .getByTestId('reaction')
    .evaluateAll((els) => els.map((e) => [e.dataset.emoji, Number(e.querySelector('[data-testid=reaction-count]').textContent), e.dataset.mine === 'true']))
const same = async (page, id, want) => JSON.stringify(await chips(page, id)) === JSON.stringify(want)

async function sendAcked(page, text) {
  const box = page.locator('#composer-input')
  await box.click()
  await box.fill(text)
  await box.press('Enter')
  const m = messageWith(page, text).last()
  await until(async () => (await m.getAttribute('data-status')) === 'sent', `"${text}" acked`)
  return Number(await m.getAttribute('data-id'))
}
async function pick(page, id, emoji) {
  await byId(page, id).hover()
  await byId(page, id).getByTestId('react').click()
  await byId(page, id).locator(`[data-testid=picker] [data-emoji="${emoji}"]`).click()
}

before(async () => {
  if (skip) return
  cluster = await startCluster(2)
  browser = await launchBrowser()
  const ctxA = await browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme: 'light' })
  ctxB = await browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme: 'dark' })
  pageA = await ctxA.newPage()
  pageB = await ctxB.newPage()
  framesB = recordFrames(pageB)
  errorsA = recordErrors(pageA)
  errorsB = recordErrors(pageB)
})

after(async () => {
  if (browser) await browser.close().catch(() => {})
  if (cluster) await cluster.stop()
})

test('reactions and edits between two users on different nodes', { skip }, async () => {
  const [one, two] = cluster.nodes
  await pageA.goto(one.base + '/')
  await pageA.getByLabel('Your name').fill('Ada')
  await pageA.getByRole('button', { name: 'Create a new room' }).click()
  await pageA.getByTestId('room-code').waitFor()
  code = (await pageA.getByTestId('room-code').textContent()).trim()
  await until(async () => (await connState(pageA)) === 'connected', 'A connected to node 1')
  await pageB.goto(`${two.base}/?room=${code}`)
  await until(async () => (await connState(pageB)) === 'connected', 'B connected to node 2')

  const id = await sendAcked(pageA, 'written on node 1')
  await byId(pageB, id).waitFor()
  await pick(pageB, id, '🎉')
  await until(() => same(pageB, id, [['🎉', 1, true]]), 'B: 🎉 1, its own')
  await until(() => same(pageA, id, [['🎉', 1, false]]), 'A (node 1) sees B\'s 🎉')
  await byId(pageA, id).locator('[data-testid=reaction][data-emoji="🎉"]').click()
  await pick(pageA, id, '👍')
  await until(() => same(pageB, id, [['🎉', 2, true], ['👍', 1, false]]), 'B (node 2) sees 🎉 2 and A\'s 👍')
  await until(() => same(pageA, id, [['🎉', 2, true], ['👍', 1, true]]), 'A: both its own')
  await byId(pageB, id).locator('[data-testid=reaction][data-emoji="🎉"]').click()
  await until(() => same(pageA, id, [['🎉', 1, true], ['👍', 1, true]]), 'A sees B take its 🎉 back')
  await until(() => same(pageB, id, [['🎉', 1, false], ['👍', 1, false]]), 'B: none its own')

  // an edit crosses the nodes too
  const bs = await sendAcked(pageB, 'writen on node 2')
  await byId(pageA, bs).waitFor()
  await byId(pageB, bs).hover()
  await byId(pageB, bs).getByTestId('edit').click()
  await byId(pageB, bs).locator('textarea').fill('written on node 2')
  await byId(pageB, bs).locator('textarea').press('Enter')
  await until(async () => (await byId(pageA, bs).getByTestId('content').textContent()) === 'written on node 2', 'A sees the edit made on node 2')
  await byId(pageA, bs).getByTestId('edited').waitFor()
  await screenshot(pageA, '30-cluster-node1')
  await screenshot(pageB, '31-cluster-node2')
})

test("B's node dies; the changes made meanwhile reach B through the change cursor", { skip }, async () => {
  const [, two] = cluster.nodes
  const id = Number(await messageWith(pageA, 'written on node 1').getAttribute('data-id'))
  const bs = Number(await messageWith(pageA, 'written on node 2').getAttribute('data-id'))
  const older = await sendAcked(pageA, 'an older one, changed while B is away')
  await byId(pageB, older).waitFor()
  const joinsBefore = framesB.sent.filter((f) => f.event === 'room:join').length
  const receivedBefore = framesB.received.length
  await ctxB.setOffline(true)
  await two.kill('SIGKILL')
  await until(async () => (await connState(pageB)) !== 'connected', 'B notices the drop')
  // while B is away, on node 1: an edit, a reaction, a deletion (as the owner), a new message
  await byId(pageA, older).hover()
  await byId(pageA, older).getByTestId('edit').click()
  await byId(pageA, older).locator('textarea').fill('changed while B was away')
  await byId(pageA, older).locator('textarea').press('Enter')
  await byId(pageA, older).getByTestId('edited').waitFor()
  await pick(pageA, id, '👀')
  await until(() => same(pageA, id, [['🎉', 1, true], ['👀', 1, true], ['👍', 1, true]]), 'A added 👀')
  await byId(pageA, bs).hover()
  await byId(pageA, bs).getByTestId('delete').click()
  await byId(pageA, bs).getByTestId('confirm-delete-yes').click()
  await byId(pageA, bs).getByTestId('deleted-placeholder').waitFor()
  const newer = await sendAcked(pageA, 'new while B was away')

  await two.start()
  await ctxB.setOffline(false)
  await until(async () => (await connState(pageB)) === 'connected', 'B reconnected to node 2', 30000)
  await until(async () => (await byId(pageB, older).getByTestId('content').textContent()) === 'changed while B was away', 'B got the edit')
  await byId(pageB, older).getByTestId('edited').waitFor()
  await until(() => same(pageB, id, [['🎉', 1, false], ['👀', 1, false], ['👍', 1, false]]), 'B got the reaction')
  await byId(pageB, bs).getByTestId('deleted-placeholder').waitFor()
  await byId(pageB, newer).waitFor()
  const rejoin = framesB.sent.filter((f) => f.event === 'room:join').slice(joinsBefore)[0]
  assert.ok(rejoin, 'B re-joined')
  assert.equal(typeof rejoin.data.sinceId, 'number')
  assert.equal(typeof rejoin.data.sinceChange, 'number', 'the rejoin carried the change cursor')
  const ack = framesB.received.slice(receivedBefore).find((f) => f.event === 'ack' && f.ref === rejoin.ref)
  assert.ok(ack && ack.ok, 'join acked')
  assert.deepEqual(ack.data.changes.map((m) => m.id).sort((x, y) => x - y), [id, bs, older].sort((x, y) => x - y), 'the changes came in the ack')
  assert.equal(ack.data.changesHasMore, false)
  assert.ok(ack.data.missed.some((m) => m.id === newer))
  assert.ok(ack.data.seq >= Math.max(...ack.data.changes.map((m) => m.seq)))
  await screenshot(pageB, '32-cluster-resumed')
})

test('no script errors in the cluster pages', { skip }, () => {
  assert.deepEqual(errorsA, [])
  assert.deepEqual(errorsB, [])
})
