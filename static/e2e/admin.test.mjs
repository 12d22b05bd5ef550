// End-to-end, the operators' page (/admin) in Chromium against three real nodes sharing
// PostgreSQL and Redis, with nginx in front for the drain: the key form, a card per node with
// its own sessions, the traffic charts and the busiest rooms under load (screenshots at desktop
// and phone sizes), draining and resuming a node from the page while its clients move to the
// others, deleting a message from the page's form while a browser member watches, closing a
// room. Needs TEST_DATABASE_URL, redis-server and nginx (scripts/test.sh provides them);
// skipped without them unless CHAT_REQUIRE_POSTGRES=1 / CHAT_REQUIRE_REDIS=1.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import {
  clusterUnavailable,
  nginxUnavailable,
  startCluster,
  startNginx,
  ChatClient,
  launchBrowser,
  screenshot,
  until,
  sleep,
  recordErrors,
} from './harness.mjs'

const skip = clusterUnavailable() || nginxUnavailable() || false // a reason to skip, or false
const KEY = 'e2e-operators-key-7f3a9c1d5b'
const STATS_INTERVAL_MS = 500
const NODE_ARGS = ['--api-keys', `e2e-ops ${KEY}`, '--stats-interval', `${STATS_INTERVAL_MS}ms`, '--drain-window', '500ms']
const AUTH = { authorization: `Bearer ${KEY}` }

let cluster, nginx, browser, desk, phone, member, errorsDesk, errorsPhone, errorsMember
let code // the room of the load, the drain and the deletion
const direct = [] // ChatClients opened on a node's own port: 1 on e2e-1, 2 on e2e-2, 3 on e2e-3
const balanced = [] // ChatClients opened through nginx
const everyone = () => [...direct, ...balanced]

const card = (page, node) => page.locator(`[data-testid=admin-node][data-node="${node}"]`)
const cardSessions = async (page, node) => Number(await card(page, node).getByTestId('admin-node-sessions').textContent())
const inViewport = (loc) => loc.evaluate((el) => {
  const r = el.getBoundingClientRect()
  return r.top >= 0 && r.bottom <= window.innerHeight
})
const chartLine = (page, chart, series) => page.locator(`[data-testid=admin-chart-${chart}] path[data-series="${series}"]`)

/** GET /api/admin/overview from node 1, as the page reads it. */
async function overview() {
  const r = await cluster.nodes[0].api('GET', '/api/admin/overview', null, AUTH)
  assert.equal(r.status, 200, r.text)
  return r.json
}
const sessionsOf = (o) => Object.fromEntries(o.nodes.map((n) => [n.node, n.sessions]))

/** `count` ChatClients connected to `url`, added to `list`; after a `reconnect` they come back through nginx. */
async function clients(url, count, list) {
  const made = []
  for (let i = 0; i < count; i++) {
    const c = new ChatClient(url, { reconnectUrl: nginx.wsUrl, retryMs: 200 })
    await c.connect()
    list.push(c)
    made.push(c)
  }
  return made
}

/** Every client in `list` sends a message every `everyMs` until stopped (under the 20/10s send limit). */
function startLoad(list, roomCode, everyMs) {
  let running = true
  const counts = { sent: 0, failed: 0 }
  const loops = list.map(async (c, i) => {
    await sleep(Math.round((i * everyMs) / list.length)) // spread over the interval
    for (let n = 0; running; n++) {
      if (c.ready) c.send(roomCode, `load ${i}.${n}`).then(() => counts.sent++, () => counts.failed++)
      await sleep(everyMs)
    }
  })
  return {
    counts,
    async stop() {
      running = false
      await Promise.all(loops)
    },
  }
}

/** The status a node answers a WebSocket upgrade with (101 when it takes it). */
function upgradeStatus(port) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/ws',
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve(res.statusCode)
    })
    req.on('response', (res) => {
      res.resume()
      resolve(res.statusCode)
    })
    req.on('error', reject)
    req.end()
  })
}

/** Whether every client in `list` got a `chat:message` with `content`. */
const allGot = (list, content) => list.every((c) => c.pushes.some((p) => p.event === 'chat:message' && p.data.content === content))

async function signIn(page, base) {
  await page.goto(base + '/admin')
  await page.getByTestId('admin-key-input').fill(KEY)
  await page.getByTestId('admin-key-submit').click()
  await page.getByTestId('admin-live').waitFor()
}

before(async () => {
  if (skip) return
  cluster = await startCluster(3, { args: NODE_ARGS })
  nginx = await startNginx(cluster.nodes)
  browser = await launchBrowser()
  const deskCtx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' })
  desk = await deskCtx.newPage()
  errorsDesk = recordErrors(desk)
})

after(async () => {
  for (const c of everyone()) c.close()
  if (browser) await browser.close().catch(() => {})
  if (nginx) await nginx.stop()
  if (cluster) await cluster.stop()
})

test('without the key the page shows only the key form, and a wrong key is refused with the node\'s message', { skip }, async () => {
  const [one] = cluster.nodes
  // the API itself: no key, a wrong key
  assert.equal((await one.api('GET', '/api/admin/overview')).status, 401)
  const wrong = await one.api('GET', '/api/admin/overview', null, { authorization: 'Bearer not-the-right-key-000000' })
  assert.equal(wrong.status, 401)
  assert.equal(wrong.json.error.code, 'unauthorized')

  const overviews = []
  desk.on('response', (r) => r.url().includes('/api/admin/overview') && overviews.push(r.status()))
  await desk.goto(one.base + '/admin')
  await desk.getByTestId('admin-key-form').waitFor()
  assert.equal(await desk.title(), 'Admin · Huddle')
  assert.equal(await desk.getByTestId('admin-live').count(), 0, 'no dashboard before a key')
  assert.deepEqual(overviews, [], 'nothing is asked of the admin API without a key')

  // a key of the wrong shape is refused here, before any request
  await desk.getByTestId('admin-key-input').fill('short')
  await desk.getByTestId('admin-key-submit').click()
  await until(async () => /16 to 512 characters/.test(await desk.getByTestId('admin-error').textContent()), 'the local key check')
  assert.deepEqual(overviews, [])

  // a well-formed wrong key: the node's 401 message, still the form
  await desk.getByTestId('admin-key-input').fill('not-the-right-key-000000')
  await desk.getByTestId('admin-key-submit').click()
  await until(async () => /the API key is not valid/.test(await desk.getByTestId('admin-error').textContent()), "the node's refusal shown")
  assert.match(await desk.getByTestId('admin-error').textContent(), /refused the key/)
  assert.deepEqual(overviews, [401])
  await desk.getByTestId('admin-key-form').waitFor()
  assert.equal(await desk.getByTestId('admin-live').count(), 0, 'the dashboard is not shown')
  assert.equal(await desk.getByTestId('admin-node').count(), 0, 'no node is shown')
  const text = await desk.locator('body').innerText()
  assert.doesNotMatch(text, /e2e-\d|Sessions|Busiest rooms/, 'no admin data on the page')
  assert.equal(await desk.evaluate(() => sessionStorage.getItem('chat.adminKey')), null, 'a refused key is not kept')
  await screenshot(desk, 'admin-refused')
})

test('with the key: a card per node, each with its own sessions', { skip }, async () => {
  const [one, two, three] = cluster.nodes
  await clients(`ws://127.0.0.1:${one.port}/ws`, 1, direct)
  await clients(`ws://127.0.0.1:${two.port}/ws`, 2, direct)
  await clients(`ws://127.0.0.1:${three.port}/ws`, 3, direct)

  await desk.getByTestId('admin-key-input').fill(KEY)
  await desk.getByTestId('admin-key-submit').click()
  await desk.getByTestId('admin-live').waitFor()
  assert.equal(await desk.getByTestId('admin-key-form').count(), 0)
  assert.equal(await desk.evaluate(() => sessionStorage.getItem('chat.adminKey')), KEY, 'the key is kept for the tab')
  await until(async () => (await desk.getByTestId('admin-node').count()) === 3, 'three node cards')
  assert.deepEqual(await desk.getByTestId('admin-node').evaluateAll((els) => els.map((e) => e.dataset.node)), ['e2e-1', 'e2e-2', 'e2e-3'])
  await until(
    async () => (await cardSessions(desk, 'e2e-1')) === 1 && (await cardSessions(desk, 'e2e-2')) === 2 && (await cardSessions(desk, 'e2e-3')) === 3,
    'the cards show 1, 2 and 3 sessions',
  )
  for (const n of ['e2e-1', 'e2e-2', 'e2e-3']) assert.equal(await card(desk, n).getAttribute('data-state'), 'ready')
  assert.match(await card(desk, 'e2e-1').innerText(), /this page/, 'the node that answers is marked')
  assert.match(await desk.getByTestId('admin-live').innerText(), /Live · via e2e-1/)

  // a reload keeps the key (sessionStorage): straight to the dashboard
  await desk.reload()
  await desk.getByTestId('admin-live').waitFor()
  await until(async () => (await desk.getByTestId('admin-node').count()) === 3, 'three cards after a reload')
})

test('under load the charts draw every node and the total, and the busiest rooms list the room', { skip }, async () => {
  const created = await cluster.nodes[1].api('POST', '/api/rooms')
  assert.equal(created.status, 201, created.text)
  code = created.json.room.code
  for (const [i, c] of direct.entries()) await c.join(code, `load-${i + 1}`)

  const load = startLoad(direct, code, 600) // 6 members, 10 messages a second in all
  try {
    // messages per second: the total and each node's line have points and a peak above 0
    const lineOk = async (chart, series) => {
      const l = chartLine(desk, chart, series)
      return Number(await l.getAttribute('data-points')) >= 3 && Number(await l.getAttribute('data-max')) > 0 && /^M[\d.-]+ [\d.-]+(L[\d.-]+ [\d.-]+){2,}$/.test(await l.getAttribute('d'))
    }
    for (const series of ['total', 'e2e-1', 'e2e-2', 'e2e-3']) await until(() => lineOk('messages', series), `the messages chart's ${series} line`)
    for (const series of ['total', 'e2e-1', 'e2e-2', 'e2e-3']) await until(() => lineOk('pushes', series), `the pushes chart's ${series} line`)
    // the latest totals the legends show are figures, not zero
    await until(async () => Number(await chartLine(desk, 'messages', 'total').getAttribute('data-last')) > 0, 'a non-zero latest total of messages')
    const total = Number(await chartLine(desk, 'messages', 'total').getAttribute('data-max'))
    assert.ok(total > 2 && total < 40, `the total peaks near 10 messages a second (${total})`)
    const pushes = Number(await chartLine(desk, 'pushes', 'total').getAttribute('data-max'))
    assert.ok(pushes > total, `every message is pushed to the room's six members (${pushes} pushes/s, ${total} msgs/s)`)
    const label = await desk.getByTestId('admin-chart-messages').getAttribute('aria-label')
    assert.match(label, /^Messages per second: Total [\d.,]+\/s, e2e-1 [\d.,]+\/s, e2e-2 [\d.,]+\/s, e2e-3 [\d.,]+\/s$/)
    // the values at the pointer: a row per line
    const svg = desk.getByTestId('admin-chart-messages')
    const box = await svg.boundingBox()
    await desk.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2)
    const tip = desk.getByTestId('admin-chart-messages-figure').locator('.chart-tip')
    await tip.waitFor()
    assert.equal(await tip.locator('.tip-row').count(), 4, 'the total and three nodes at the pointer')
    await desk.mouse.move(0, 0)
    await tip.waitFor({ state: 'detached' })

    // the busiest rooms: this one, its six members on three nodes
    const row = desk.locator(`[data-testid=admin-room][data-code="${code}"]`)
    await until(async () => (await row.count()) === 1 && (await row.getByTestId('admin-room-members').textContent()).trim() === '6', `room ${code} with 6 members`)
    assert.match(await row.innerText(), /\b3\s*$/m, 'on three nodes')
    assert.equal((await desk.getByTestId('admin-room').first().getAttribute('data-code')), code, 'it is the busiest')
    // each node's rooms figure counts it
    for (const n of ['e2e-1', 'e2e-2', 'e2e-3']) await until(async () => (await card(desk, n).getByTestId('admin-node-rooms').textContent()).trim() === '1', `${n} has 1 room`)

    // store and broker: every node commits, and gets the others' messages through Redis
    const figure = (label, node) => desk.locator(`[data-testid=admin-health] tr:has(th:text-is("${label}")) td[data-node="${node}"]`)
    for (const n of ['e2e-1', 'e2e-2', 'e2e-3']) {
      await until(async () => /^[\d.]+ ms$/.test(await figure('Commit p99', n).textContent()), `${n}'s commit latency`)
      await until(async () => /^[\d.]+ ms$/.test(await figure('Broker lag p99', n).textContent()), `${n}'s broker lag`)
    }
    // refused requests: the wrong keys of the first test, on e2e-1
    const refusedRow = desk.locator('[data-testid=admin-rejection][data-kind=unauthorized]')
    assert.ok(Number(await refusedRow.getAttribute('data-total')) >= 3, 'the wrong keys are counted')

    // screenshots under load: desktop (viewport and whole page) and a phone
    await sleep(1500) // a few more samples on the lines
    await screenshot(desk, 'admin-desktop')
    await screenshot(desk, 'admin-desktop-full', { fullPage: true })
    const phoneCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark' })
    phone = await phoneCtx.newPage()
    errorsPhone = recordErrors(phone)
    await signIn(phone, cluster.nodes[2].base)
    await until(async () => (await phone.getByTestId('admin-node').count()) === 3, 'three cards on the phone')
    await until(async () => Number(await chartLine(phone, 'messages', 'total').getAttribute('data-points')) >= 3, 'the phone draws the chart')
    await sleep(1000)
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    assert.ok(overflow <= 0, `the phone page does not scroll sideways (${overflow} px too wide)`)
    await screenshot(phone, 'admin-phone')
    await screenshot(phone, 'admin-phone-full', { fullPage: true })
    await phone.close()
  } finally {
    await load.stop()
  }
  assert.ok(load.counts.sent > 20, `the load was sent (${JSON.stringify(load.counts)})`)
  assert.equal(load.counts.failed, 0, 'no send was refused')
})

test('Drain from the page: asked first, the card says draining, its clients move and keep receiving; then Resume', { skip }, async () => {
  // six more members through nginx, spread over the nodes by least_conn
  const before = sessionsOf(await overview())
  for (const [i, c] of (await clients(nginx.wsUrl, 6, balanced)).entries()) await c.join(code, `lb-${i + 1}`)
  await until(async () => Object.values(sessionsOf(await overview())).reduce((a, b) => a + b, 0) === 12, '12 sessions in the overview')
  const sessions = sessionsOf(await overview())
  const viaNginx = Object.fromEntries(Object.keys(sessions).map((n) => [n, sessions[n] - before[n]]))
  // drain the node (not the page's) that nginx gave the most clients
  const target = ['e2e-2', 'e2e-3'].sort((a, b) => viaNginx[b] - viaNginx[a])[0]
  assert.ok(viaNginx[target] > 0, `nginx put clients on ${target}: ${JSON.stringify(viaNginx)}`)
  const targetNode = cluster.nodes[Number(target.slice(-1)) - 1]
  const moving = sessions[target]
  await until(async () => (await cardSessions(desk, target)) === moving, `${target}'s card shows ${moving} sessions`)
  const connectsBefore = everyone().map((c) => c.connects)

  // the API behind the button: a key is needed, and an unknown node is a 404
  assert.equal((await cluster.nodes[0].api('POST', `/api/admin/nodes/${target}/drain`)).status, 401)
  const unknown = await cluster.nodes[0].api('POST', '/api/admin/nodes/e2e-9/drain', null, AUTH)
  assert.equal(unknown.status, 404, unknown.text)
  assert.equal(unknown.json.error.code, 'not_found')

  // the first click only asks; Cancel backs out
  await card(desk, target).getByTestId('admin-drain').click()
  const ask = card(desk, target).getByTestId('admin-confirm')
  await ask.waitFor()
  assert.match(await ask.getAttribute('aria-label'), new RegExp(`^Drain ${target}\\? Its ${moving} sessions reconnect`))
  await card(desk, target).getByTestId('admin-confirm-no').click()
  await card(desk, target).getByTestId('admin-drain').waitFor()
  await sleep(300)
  assert.equal((await targetNode.api('GET', '/api/ready')).status, 200, 'Cancel drained nothing')

  await card(desk, target).getByTestId('admin-drain').click()
  await card(desk, target).getByTestId('admin-confirm-yes').click()
  await until(async () => (await card(desk, target).getAttribute('data-state')) === 'draining', `${target}'s card says draining`)
  assert.equal((await card(desk, target).getByTestId('admin-node-state').textContent()).trim(), 'draining')
  await until(async () => /is draining/.test(await desk.getByTestId('admin-notice').textContent()), 'the notice')
  await until(async () => (await targetNode.api('GET', '/api/ready')).status === 503, `${target} fails its readiness`)

  // its clients reconnect (through nginx) to the others, and are back in the room
  await until(async () => (await cardSessions(desk, target)) === 0, `${target}'s card shows 0 sessions`, 20000)
  await until(() => everyone().every((c) => c.ready), 'every client connected and in the room again', 20000)
  await until(
    async () => {
      const s = sessionsOf(await overview())
      return s[target] === 0 && Object.values(s).reduce((a, b) => a + b, 0) === 12
    },
    'all 12 sessions on the other nodes',
  )
  const moved = everyone().filter((c, i) => c.connects > connectsBefore[i])
  assert.equal(moved.length, moving, `the ${moving} clients of ${target} reconnected, no others`)
  assert.ok(moved.every((c) => c.lastUrl === nginx.wsUrl && c.pushes.some((p) => p.event === 'reconnect')), 'told to reconnect, and did through nginx')
  const record = (await overview()).nodes.find((n) => n.node === target)
  assert.equal(record.state, 'draining', "the drained node's own record says draining")
  assert.equal(await upgradeStatus(targetNode.port), 503, 'the drained node refuses new WebSockets')

  // and they keep receiving: a message from a client that stayed reaches everyone, the moved too
  const stayed = everyone().find((c) => !moved.includes(c))
  await stayed.send(code, 'after the drain')
  await until(() => allGot(everyone(), 'after the drain'), 'every client (the moved ones too) got the message sent after the drain')
  const others = ['e2e-1', 'e2e-2', 'e2e-3'].filter((n) => n !== target)
  await until(async () => (await cardSessions(desk, others[0])) + (await cardSessions(desk, others[1])) === 12, 'the other cards show the 12 sessions')
  await screenshot(desk, 'admin-drained')

  // Resume: ready again, and it takes new sessions
  await card(desk, target).getByTestId('admin-resume').click()
  await until(async () => (await card(desk, target).getAttribute('data-state')) === 'ready', `${target}'s card says ready`)
  await until(async () => /ready again/.test(await desk.getByTestId('admin-notice').textContent()), 'the notice')
  await until(async () => (await targetNode.api('GET', '/api/ready')).status === 200, `${target} is ready`)
  await until(async () => (await overview()).nodes.find((n) => n.node === target).state === 'ready', "its record says ready")
  const back = (await clients(`ws://127.0.0.1:${targetNode.port}/ws`, 1, direct))[0]
  await back.join(code, 'back')
  await until(async () => (await cardSessions(desk, target)) === 1, `${target}'s card shows its new session`)
  await card(desk, target).getByTestId('admin-drain').waitFor()
})

test("Delete from the page's form: a browser member sees the message turn into the placeholder", { skip }, async () => {
  const memberCtx = await browser.newContext({ viewport: { width: 1100, height: 760 } })
  member = await memberCtx.newPage()
  errorsMember = recordErrors(member)
  await member.goto(`${cluster.nodes[0].base}/?room=${code}`)
  await until(async () => (await member.getByTestId('connection').getAttribute('data-state')) === 'connected', 'the browser member is in the room')
  const ack = await direct[1].send(code, 'an operator deletes this one')
  const id = ack.message.id
  const msg = member.locator(`[data-testid=message][data-id="${id}"]`)
  await until(async () => /an operator deletes this one/.test(await msg.innerText()), 'the member sees the message')

  // a bad id is refused by the form, before any request
  await desk.getByTestId('admin-delete-code').fill(code.toLowerCase())
  assert.equal(await desk.getByTestId('admin-delete-code').inputValue(), code, 'the code is upper-cased as typed')
  await desk.getByTestId('admin-delete-id').fill('12a')
  await desk.getByTestId('admin-delete-submit').click()
  await desk.getByText('A message id is a whole number').waitFor()

  await desk.getByTestId('admin-delete-id').fill(String(id))
  await desk.getByTestId('admin-delete-submit').click()
  await until(async () => (await desk.getByTestId('admin-notice').textContent()).includes(`Message ${id} in ${code} is deleted`), 'the notice')
  assert.equal(await desk.getByTestId('admin-notice').getAttribute('data-kind'), 'ok')
  assert.equal(await desk.getByTestId('admin-delete-id').inputValue(), '', 'the id is cleared')
  assert.ok(await inViewport(desk.getByTestId('admin-notice')), 'the outcome shows where the operator is (the form is at the bottom of the page)')
  await screenshot(desk, 'admin-deleted')
  await msg.getByTestId('deleted-placeholder').waitFor()
  assert.match(await msg.getByTestId('deleted-placeholder').innerText(), /Message deleted/)
  assert.doesNotMatch(await msg.innerText(), /an operator deletes this one/)
  await until(() => everyone().every((c) => c.pushes.some((p) => p.event === 'chat:update' && p.data.id === id && p.data.deleted)), 'every member got the chat:update')
  await screenshot(member, 'admin-deleted-member')

  // an id that is no message of the room: the node's 404 is shown as an error notice
  await desk.getByTestId('admin-delete-id').fill('999999999')
  await desk.getByTestId('admin-delete-submit').click()
  await until(async () => (await desk.getByTestId('admin-notice').getAttribute('data-kind')) === 'error', 'an error notice for an unknown message')
  assert.match(await desk.getByTestId('admin-notice').textContent(), /^\s*Not found/)
  assert.ok(await inViewport(desk.getByTestId('admin-notice')), 'the error shows where the operator is')
  await screenshot(desk, 'admin-delete-error')
})

test('Close a room from the busiest rooms: asked first, its members are sent away and it is gone', { skip }, async () => {
  const row = desk.locator(`[data-testid=admin-room][data-code="${code}"]`)
  await row.getByTestId('admin-close-room').click()
  await row.getByTestId('admin-confirm').waitFor() // asked first
  assert.equal((await cluster.nodes[0].api('GET', `/api/rooms/${code}`)).status, 200, 'nothing closed by the first click')
  await row.getByTestId('admin-confirm-yes').click()
  await until(async () => (await desk.getByTestId('admin-notice').textContent()).includes(`Room ${code} is closed`), 'the notice')
  await until(async () => (await row.count()) === 0, 'the room leaves the table')
  await until(() => everyone().every((c) => !c.rooms.has(code) && c.connected), 'every client was told to reconnect and its rejoin refused', 20000)
  const details = await cluster.nodes[2].api('GET', `/api/rooms/${code}`)
  assert.equal(details.status, 404, 'the code is gone on every node')
})

test('no script errors in the pages', { skip }, () => {
  assert.deepEqual(errorsDesk, [])
  assert.deepEqual(errorsPhone || [], [])
  assert.deepEqual(errorsMember || [], [])
})
