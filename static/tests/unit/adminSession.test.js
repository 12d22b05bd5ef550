import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest'
import { AdminSession, ADMIN_KEY_STORAGE, actionErrorText } from '../../src/lib/adminSession.js'
import { createAdminApi } from '../../src/lib/adminApi.js'
import { memoryStorage } from '../../src/lib/prefs.js'
import { flush } from './fakes.js'

const KEY = 'k'.repeat(24)

/** A fake admin REST server: answers by `METHOD path`, records every request. */
function fakeServer() {
  const calls = []
  const routes = new Map()
  const fetchImpl = async (url, init = {}) => {
    const method = init.method || 'GET'
    calls.push({ method, url, headers: init.headers || {} })
    const auth = (init.headers || {}).authorization
    if (auth !== `Bearer ${KEY}`) return respond(401, { ok: false, error: { code: 'unauthorized', message: auth ? 'the API key is not valid' : 'this needs an API key' } })
    const r = routes.get(`${method} ${url}`)
    if (!r) return respond(404, { ok: false, error: { code: 'not_found', message: 'no such route' } })
    const [status, body] = typeof r === 'function' ? r() : r
    if (status === 'throw') throw new TypeError('Failed to fetch')
    return respond(status, body)
  }
  return { calls, routes, fetchImpl, on: (route, status, body) => routes.set(route, typeof status === 'function' ? status : [status, body]) }
}
const respond = (status, body) => ({ ok: status >= 200 && status < 300, status, json: async () => body })

const overview = (over = {}) => ({
  ok: true,
  node: 'e2e-1',
  interval: 2.0,
  nodes: [
    { node: 'e2e-1', state: 'ready', sessions: 3, messagesPerSecond: 1, history: [] },
    { node: 'e2e-2', state: 'ready', sessions: 2, messagesPerSecond: 3, history: [] },
  ],
  rooms: [{ code: 'K7QX2M', members: 4, messagesPerMinute: 30, nodes: 2 }],
  ...over,
})

describe('admin API', () => {
  it('sends the key on every call, to the documented routes', async () => {
    const srv = fakeServer()
    srv.on('POST /api/admin/nodes/e2e-2/drain', 202, { ok: true, node: 'e2e-2', state: 'draining' })
    srv.on('DELETE /api/rooms/K7QX2M/messages/12', 200, { ok: true, message: { id: 12 } })
    let key = KEY
    const api = createAdminApi({ fetchImpl: srv.fetchImpl, key: () => key })
    expect(await api.drain('e2e-2')).toEqual({ ok: true, node: 'e2e-2', state: 'draining' })
    await api.deleteMessage('K7QX2M', '12')
    expect(srv.calls.map((c) => `${c.method} ${c.url} ${c.headers.authorization}`)).toEqual([
      `POST /api/admin/nodes/e2e-2/drain Bearer ${KEY}`,
      `DELETE /api/rooms/K7QX2M/messages/12 Bearer ${KEY}`,
    ])
    key = null
    await expect(api.overview()).rejects.toMatchObject({ code: 'unauthorized', message: 'this needs an API key' })
  })
  it('encodes path segments and maps failures to error codes', async () => {
    const srv = fakeServer()
    const api = createAdminApi({ fetchImpl: srv.fetchImpl, key: () => KEY })
    await expect(api.resume('a/b')).rejects.toMatchObject({ code: 'not_found' })
    expect(srv.calls[0].url).toBe('/api/admin/nodes/a%2Fb/resume')
    srv.on('DELETE /api/admin/rooms/K7QX2M', () => ['throw'])
    await expect(api.closeRoom('K7QX2M')).rejects.toMatchObject({ code: 'disconnected' })
    const bare = createAdminApi({ fetchImpl: async () => ({ ok: false, status: 503, json: async () => { throw new Error('html') } }), key: () => KEY })
    await expect(bare.overview()).rejects.toMatchObject({ code: 'unavailable', message: 'HTTP 503' })
  })
})

describe('AdminSession', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  function setup({ stored } = {}) {
    const srv = fakeServer()
    srv.on('GET /api/admin/overview', 200, overview())
    const storage = memoryStorage()
    if (stored) storage.setItem(ADMIN_KEY_STORAGE, stored)
    const admin = new AdminSession({ fetchImpl: srv.fetchImpl, storage })
    return { srv, storage, admin }
  }
  const overviews = (srv) => srv.calls.filter((c) => c.url === '/api/admin/overview').length

  it('asks for a key when the tab has none, and checks a key before sending it', async () => {
    const { srv, admin } = setup()
    expect(await admin.start()).toBe(false)
    expect(admin.state.phase).toBe('signed-out')
    expect(await admin.signIn('  ')).toBe(false)
    expect(admin.state.authError).toMatch(/Enter the API key/)
    expect(await admin.signIn('short')).toBe(false)
    expect(admin.state.authError).toMatch(/16 to 512/)
    expect(await admin.signIn('has a space in it, long enough')).toBe(false)
    expect(admin.state.authError).toMatch(/no spaces/)
    expect(srv.calls).toEqual([])
  })

  it('a refused key shows the form again with the server\'s message, and is not kept', async () => {
    const { storage, admin } = setup()
    expect(await admin.signIn('w'.repeat(20))).toBe(false)
    expect(admin.state.phase).toBe('signed-out')
    expect(admin.state.authError).toBe('The node refused the key: the API key is not valid')
    expect(admin.state.overview).toBeNull()
    expect(storage.getItem(ADMIN_KEY_STORAGE)).toBeNull()
    await vi.advanceTimersByTimeAsync(10000)
    expect(admin.timers.size).toBe(0) // no polling without a key
  })

  it('an accepted key is kept for the tab; the overview is polled every `interval` seconds', async () => {
    const { srv, storage, admin } = setup()
    srv.on('GET /api/admin/overview', 200, overview({ interval: 1.5 }))
    expect(await admin.signIn(`  ${KEY} `)).toBe(true)
    expect(admin.state.phase).toBe('live')
    expect(storage.getItem(ADMIN_KEY_STORAGE)).toBe(KEY)
    expect(admin.state.overview.node).toBe('e2e-1')
    expect(admin.interval).toBe(1.5)
    expect(overviews(srv)).toBe(1)
    await vi.advanceTimersByTimeAsync(1499)
    expect(overviews(srv)).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(overviews(srv)).toBe(2)
    await vi.advanceTimersByTimeAsync(1500)
    expect(overviews(srv)).toBe(3)
    admin.stop()
    await vi.advanceTimersByTimeAsync(10000)
    expect(overviews(srv)).toBe(3)
  })

  it('polls every 2 s when the overview names no interval', async () => {
    const { srv, admin } = setup()
    srv.on('GET /api/admin/overview', 200, overview({ interval: undefined }))
    await admin.signIn(KEY)
    expect(admin.interval).toBe(2)
    await vi.advanceTimersByTimeAsync(2000)
    expect(overviews(srv)).toBe(2)
    admin.stop()
  })

  it('goes live at once with the key the tab kept', async () => {
    const { srv, admin } = setup({ stored: KEY })
    expect(await admin.start()).toBe(true)
    expect(admin.state.phase).toBe('live')
    expect(srv.calls[0].headers.authorization).toBe(`Bearer ${KEY}`)
    admin.stop()
  })

  it('a 401 while polling (the key was revoked) forgets the key and shows the form with the reason', async () => {
    const { srv, storage, admin } = setup({ stored: KEY })
    await admin.start()
    srv.on('GET /api/admin/overview', 401, { ok: false, error: { code: 'unauthorized', message: 'the API key is not valid' } })
    await vi.advanceTimersByTimeAsync(2000)
    expect(admin.state.phase).toBe('signed-out')
    expect(admin.state.authError).toBe('The node refused the key: the API key is not valid')
    expect(admin.state.overview).toBeNull()
    expect(storage.getItem(ADMIN_KEY_STORAGE)).toBeNull()
    const n = overviews(srv)
    await vi.advanceTimersByTimeAsync(10000)
    expect(overviews(srv)).toBe(n)
  })

  it('keeps the last overview when a refresh fails, says why, and recovers', async () => {
    const { srv, admin } = setup({ stored: KEY })
    await admin.start()
    srv.on('GET /api/admin/overview', 503, { ok: false, error: { code: 'unavailable', message: 'redis is unreachable' } })
    await vi.advanceTimersByTimeAsync(2000)
    expect(admin.state.phase).toBe('live')
    expect(admin.state.pollError).toBe('redis is unreachable')
    expect(admin.state.overview.nodes).toHaveLength(2)
    srv.on('GET /api/admin/overview', 200, overview())
    await vi.advanceTimersByTimeAsync(2000)
    expect(admin.state.pollError).toBe('')
    admin.stop()
  })

  it('a key the node could not check (network down) is kept, and the page says it is not updating', async () => {
    const { srv, storage, admin } = setup()
    srv.on('GET /api/admin/overview', () => ['throw'])
    expect(await admin.signIn(KEY)).toBe(true)
    expect(admin.state.pollError).toBe('network error')
    expect(storage.getItem(ADMIN_KEY_STORAGE)).toBe(KEY)
    admin.stop()
  })

  it('drain: the node shows draining at once, although its record says ready for a few seconds', async () => {
    const { srv, admin } = setup({ stored: KEY })
    await admin.start()
    srv.on('POST /api/admin/nodes/e2e-2/drain', 202, { ok: true, node: 'e2e-2', state: 'draining' })
    const p = admin.drain('e2e-2')
    expect(admin.state.busy['drain:e2e-2']).toBe(true)
    expect(await p).toBe(true)
    expect(admin.state.busy).toEqual({})
    expect(admin.state.notice).toEqual({ kind: 'ok', text: expect.stringContaining('e2e-2 is draining') })
    expect(admin.nodes().map((n) => n.state)).toEqual(['ready', 'draining'])
    await flush()
    expect(overviews(srv)).toBe(2) // refreshed right after the action
    expect(admin.nodes().map((n) => n.state)).toEqual(['ready', 'draining']) // the stale record does not win
    // the record catches up; then the override is gone and the record rules
    srv.on('GET /api/admin/overview', 200, overview({ nodes: [overview().nodes[0], { ...overview().nodes[1], state: 'draining', sessions: 0 }] }))
    await vi.advanceTimersByTimeAsync(2000)
    expect(admin.state.pending).toEqual({})
    expect(admin.nodes()[1]).toMatchObject({ state: 'draining', sessions: 0 })
    // resume
    srv.on('POST /api/admin/nodes/e2e-2/resume', 202, { ok: true, node: 'e2e-2', state: 'ready' })
    await admin.resume('e2e-2')
    expect(admin.nodes()[1].state).toBe('ready')
    admin.stop()
  })

  it('an override ends after a few intervals even if the records never agree', async () => {
    const { srv, admin } = setup({ stored: KEY })
    await admin.start()
    srv.on('POST /api/admin/nodes/e2e-2/drain', 202, { ok: true, node: 'e2e-2', state: 'draining' })
    await admin.drain('e2e-2')
    await vi.advanceTimersByTimeAsync(8000)
    expect(admin.nodes()[1].state).toBe('ready')
    admin.stop()
  })

  it('a failed action says why and changes nothing', async () => {
    const { srv, admin } = setup({ stored: KEY })
    await admin.start()
    expect(await admin.drain('nope')).toBe(false)
    expect(admin.state.notice).toEqual({ kind: 'error', text: 'Not found: no such route' })
    expect(admin.state.pending).toEqual({})
    expect(admin.state.phase).toBe('live')
    srv.on('DELETE /api/rooms/K7QX2M/messages/5', 401, { ok: false, error: { code: 'unauthorized', message: 'the API key is not valid' } })
    expect(await admin.deleteMessage('K7QX2M', '5')).toBe(false)
    expect(admin.state.phase).toBe('signed-out') // a 401 from an action also asks for the key again
    expect(admin.state.authError).toBe('The node refused the key: the API key is not valid')
  })

  it('closing a room hides it from the busiest rooms until the records drop it', async () => {
    const { srv, admin } = setup({ stored: KEY })
    await admin.start()
    expect(admin.rooms().map((r) => r.code)).toEqual(['K7QX2M'])
    srv.on('DELETE /api/admin/rooms/K7QX2M', 200, { ok: true, code: 'K7QX2M' })
    expect(await admin.closeRoom('K7QX2M')).toBe(true)
    expect(admin.rooms()).toEqual([])
    expect(admin.state.notice.text).toBe('Room K7QX2M is closed.')
    await flush()
    expect(admin.rooms()).toEqual([]) // still listed by a record made before the close
    admin.stop()
  })

  it('deletes a message by room and id', async () => {
    const { srv, admin } = setup({ stored: KEY })
    await admin.start()
    srv.on('DELETE /api/rooms/K7QX2M/messages/42', 200, { ok: true, message: { id: 42, deleted: true } })
    expect(await admin.deleteMessage('K7QX2M', '42')).toBe(true)
    expect(admin.state.notice).toEqual({ kind: 'ok', text: 'Message 42 in K7QX2M is deleted.' })
    admin.stop()
  })

  it('never asks twice at once: a refresh during one runs right after it', async () => {
    const { srv, admin } = setup({ stored: KEY })
    let release
    let inFlight = 0
    let most = 0
    srv.on('GET /api/admin/overview', () => [200, overview()])
    const slow = srv.fetchImpl
    admin.api = createAdminApi({
      key: () => admin.key,
      fetchImpl: async (...a) => {
        inFlight++
        most = Math.max(most, inFlight)
        await new Promise((r) => (release = r))
        inFlight--
        return slow(...a)
      },
    })
    const first = admin.signIn(KEY)
    await flush()
    admin.refresh()
    admin.refresh()
    release()
    await flush()
    release()
    await first
    expect(most).toBe(1)
    expect(overviews(srv)).toBe(2)
    admin.stop()
  })

  it('forgetting the key stops polling and clears the figures', async () => {
    const { srv, storage, admin } = setup({ stored: KEY })
    await admin.start()
    admin.signOut()
    expect(admin.state.phase).toBe('signed-out')
    expect(admin.state.authError).toBe('')
    expect(admin.state.overview).toBeNull()
    expect(storage.getItem(ADMIN_KEY_STORAGE)).toBeNull()
    const n = overviews(srv)
    await vi.advanceTimersByTimeAsync(10000)
    expect(overviews(srv)).toBe(n)
  })

  it('works without storage (a browser that refuses it)', async () => {
    const srv = fakeServer()
    srv.on('GET /api/admin/overview', 200, overview())
    const broken = { getItem: () => { throw new Error('denied') }, setItem: () => { throw new Error('denied') }, removeItem: () => { throw new Error('denied') } }
    const admin = new AdminSession({ fetchImpl: srv.fetchImpl, storage: broken })
    expect(await admin.start()).toBe(false)
    expect(await admin.signIn(KEY)).toBe(true)
    admin.stop()
  })
})

describe('actionErrorText', () => {
  it('names the kind of failure and adds the server\'s words', () => {
    expect(actionErrorText({ code: 'not_found', message: 'no such node' })).toBe('Not found: no such node')
    expect(actionErrorText({ code: 'weird', message: 'weird' })).toBe('Failed')
    expect(actionErrorText({ code: 'disconnected', message: 'network error' })).toBe('The node did not answer: network error')
  })
})
