// E2E harness: a REAL chat node process and a real headless Chromium (Debian's, via playwright-core).
import { spawn, spawnSync } from 'node:child_process'
import net from 'node:net'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { chromium } from 'playwright-core'

const here = path.dirname(fileURLToPath(import.meta.url))
export const staticRoot = path.resolve(here, '..')
export const distDir = path.join(staticRoot, 'dist')
export const repoRoot = path.resolve(staticRoot, '..')
export const screenshotDir = process.env.E2E_SCREENSHOT_DIR || path.join(repoRoot, 'target', 'e2e-screenshots')
export const nodeBin = process.env.CHAT_NODE_BIN ? path.resolve(process.env.CHAT_NODE_BIN) : path.join(repoRoot, 'target', 'debug', 'chat-node')
export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Poll `fn` until it returns a truthy value (returned) or time runs out (throws `what`). */
export async function until(fn, what, timeoutMs = 15000, everyMs = 100) {
  const end = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
      last = v
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what} (last: ${last && last.message ? last.message : JSON.stringify(last)})`)
    await sleep(everyMs)
  }
}

export class NodeProcess {
  /** `args`: more flags (a cluster's --database-url, --redis-url, --node-id). */
  constructor({ port, dataDir, args = [] }) {
    this.port = port
    this.dataDir = dataDir
    this.extraArgs = args
    this.base = `http://127.0.0.1:${port}`
    this.proc = null
    this.log = []
  }

  async start(timeoutMs = 30000) {
    if (!fs.existsSync(nodeBin)) throw new Error(`chat node binary not found at ${nodeBin} (build it with cargo build --bin chat-node, or set CHAT_NODE_BIN)`)
    if (!fs.existsSync(path.join(distDir, 'index.html'))) throw new Error(`${distDir}/index.html missing: run npm run build first`)
    const args = ['--bind', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir, '--static-dir', distDir, ...this.extraArgs]
    const proc = spawn(nodeBin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' } })
    this.proc = proc
    const keep = (chunk) => {
      for (const line of String(chunk).split('\n')) if (line) this.log.push(line)
      if (this.log.length > 2000) this.log.splice(0, this.log.length - 2000)
    }
    proc.stdout.on('data', keep)
    proc.stderr.on('data', keep)
    let exited = null
    proc.on('exit', (code, signal) => (exited = { code, signal }))
    await until(
      async () => {
        if (exited) throw new Error(`node exited early (${JSON.stringify(exited)}):\n${this.log.slice(-40).join('\n')}`)
        const r = await fetch(this.base + '/api/health').catch(() => null)
        return r && r.status === 200
      },
      `GET ${this.base}/api/health to answer 200`,
      timeoutMs,
    ).catch((e) => {
      if (exited) throw new Error(`node exited early (${JSON.stringify(exited)}):\n${this.log.slice(-40).join('\n')}`)
      throw e
    })
  }

  /** SIGKILL: no draining, no goodbye. */
  async kill(signal = 'SIGKILL') {
    const p = this.proc
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const done = new Promise((r) => p.once('exit', r))
    p.kill(signal)
    await Promise.race([done, sleep(10000)])
    this.proc = null
  }

  /** A REST call: `{status, json, text}`. `headers`: more headers (an `authorization`). */
  async api(method, pathname, body, headers = {}) {
    const r = await fetch(this.base + pathname, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    })
    const text = await r.text()
    let json = null
    try {
      json = JSON.parse(text)
    } catch {
      /* not JSON */
    }
    return { status: r.status, json, text }
  }
}

export async function startNode() {
  const port = await freePort()
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-e2e-'))
  const node = new NodeProcess({ port, dataDir })
  await node.start()
  return node
}

/**
 * What a cluster needs: a PostgreSQL (TEST_DATABASE_URL, as scripts/test.sh exports it from
 * scripts/postgres-test-instance.sh) and redis-server. Returns null when both are there,
 * else the reason to skip; throws instead when CHAT_REQUIRE_POSTGRES=1 / CHAT_REQUIRE_REDIS=1
 * (CI must not pass without running the cluster tests).
 */
export function clusterUnavailable() {
  const required = (name) => process.env[name] === '1'
  if (!process.env.TEST_DATABASE_URL) {
    if (required('CHAT_REQUIRE_POSTGRES')) throw new Error('CHAT_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set')
    return 'TEST_DATABASE_URL is not set (eval "$(scripts/postgres-test-instance.sh start)")'
  }
  const redis = spawnSync('redis-server', ['--version'], { stdio: 'ignore' })
  if (redis.error || redis.status !== 0) {
    if (required('CHAT_REQUIRE_REDIS')) throw new Error('CHAT_REQUIRE_REDIS=1 but redis-server is not installed')
    return 'redis-server is not installed'
  }
  return null
}

/** A throwaway Redis on a free loopback port, nothing saved. */
export async function startRedis() {
  const port = await freePort()
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  let exited = null
  proc.on('exit', (code) => (exited = code))
  await until(
    () =>
      new Promise((resolve, reject) => {
        if (exited !== null) return reject(new Error(`redis-server exited (${exited})`))
        const sock = net.connect(port, '127.0.0.1', () => {
          sock.end()
          resolve(true)
        })
        sock.on('error', () => resolve(false))
      }),
    `redis-server on port ${port}`,
    10000,
    50,
  )
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const done = new Promise((r) => proc.once('exit', r))
      proc.kill('SIGTERM')
      await Promise.race([done, sleep(5000)])
    },
  }
}

/**
 * `n` chat nodes sharing one PostgreSQL (TEST_DATABASE_URL) and one Redis (started here):
 * a client may use any of them. `args`: more flags for every node (`--api-keys`,
 * `--stats-interval 1s`). Check clusterUnavailable() first.
 */
export async function startCluster(n = 2, { args: extra = [] } = {}) {
  const redis = await startRedis()
  const nodes = []
  try {
    for (let i = 1; i <= n; i++) {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-e2e-'))
      const args = ['--database-url', process.env.TEST_DATABASE_URL, '--redis-url', redis.url, '--node-id', `e2e-${i}`, ...extra]
      let node
      for (let attempt = 1; ; attempt++) {
        node = new NodeProcess({ port: await freePort(), dataDir, args })
        try {
          await node.start()
          break
        } catch (e) {
          // the port picked was taken meanwhile: the node exits at once; try another
          if (attempt >= 3 || !/exited early/.test(String(e.message))) throw e
        }
      }
      nodes.push(node)
    }
  } catch (e) {
    for (const node of nodes) await node.kill()
    await redis.stop()
    throw e
  }
  return {
    nodes,
    redis,
    async stop() {
      for (const node of nodes) await node.kill()
      await redis.stop()
    },
  }
}

export const nginxPath = process.env.NGINX_PATH || '/usr/sbin/nginx'

/** Whether Debian's nginx is there (the drain test's balancer); a reason to skip, or null. */
export function nginxUnavailable() {
  return fs.existsSync(nginxPath) ? null : `${nginxPath} missing: apt-get install -y nginx-light`
}

/**
 * nginx on a free loopback port in front of `nodes`, configured as deploy/nginx/nginx.conf
 * balances the compose deployment: least_conn, WebSocket upgrades passed through with the
 * browser's Host, and `proxy_next_upstream error timeout http_503`, so a draining node's
 * 503 sends a reconnecting client to the next node. Everything it writes stays in a temp dir.
 */
export async function startNginx(nodes) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-e2e-nginx-'))
  const port = await freePort()
  const servers = nodes.map((n) => `        server 127.0.0.1:${n.port} max_fails=1 fail_timeout=5s;`).join('\n')
  const conf = `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path ${dir}/client-body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    upstream chat {
        least_conn;
${servers}
        keepalive 16;
    }
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      '';
    }
    server {
        listen 127.0.0.1:${port};
        location = /nginx-health { default_type text/plain; return 200 "ok\\n"; }
        location / {
            proxy_pass http://chat;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_connect_timeout 5s;
            proxy_next_upstream error timeout http_503;
            proxy_next_upstream_tries 3;
            proxy_buffering off;
        }
    }
}
`
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf)
  const proc = spawn(nginxPath, ['-e', path.join(dir, 'error.log'), '-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
  const log = []
  const keep = (chunk) => log.push(...String(chunk).split('\n').filter(Boolean))
  proc.stdout.on('data', keep)
  proc.stderr.on('data', keep)
  let exited = null
  proc.on('exit', (code) => (exited = code))
  const base = `http://127.0.0.1:${port}`
  const errorLog = () => (fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8') : '')
  await until(
    async () => {
      if (exited !== null) throw new Error(`nginx exited (${exited}): ${log.join('\n')}\n${errorLog()}`)
      const r = await fetch(base + '/nginx-health').catch(() => null)
      return r && r.status === 200
    },
    `nginx on ${base}`,
    10000,
  )
  return {
    port,
    base,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    errorLog,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const done = new Promise((r) => proc.once('exit', r))
      proc.kill('SIGQUIT') // graceful: workers finish their requests
      await Promise.race([done, sleep(3000)])
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    },
  }
}

/**
 * Node's WebSocket: the global one (Node 22+, or 20 with --experimental-websocket), else the
 * `ws` that playwright-core bundles (same event API), so the suite needs no other package.
 */
export const NodeWebSocket = globalThis.WebSocket || createRequire(import.meta.url)('playwright-core/lib/utilsBundle').ws

/**
 * A scripted chat member over a raw WebSocket, speaking docs/protocol.md: requests with a
 * `ref`, acks matched by ref, pushes recorded. When the node says `reconnect` (a drain, a
 * closed room) or the socket drops, it connects again to `reconnectUrl` (default: its
 * `url`; give it a balancer's to move elsewhere), retrying every `retryMs`, and joins its
 * rooms again; `connects` counts the connections made.
 */
export class ChatClient {
  constructor(url, { reconnectUrl = url, retryMs = 300 } = {}) {
    this.url = url
    this.reconnectUrl = reconnectUrl
    this.retryMs = retryMs
    this.ws = null
    this.nextRef = 1
    this.pending = new Map()
    this.rooms = new Map() // code -> nickname
    this.pushes = []
    this.connects = 0
    this.connected = false
    this.ready = false // connected, and back in its rooms after a reconnect
    this.closed = false
    this.lastUrl = null
  }

  /** Opens the socket (to `url` the first time); resolves once it is open. */
  connect(url = this.connects ? this.reconnectUrl : this.url) {
    return new Promise((resolve, reject) => {
      const ws = new NodeWebSocket(url)
      this.ws = ws
      let opened = false
      ws.addEventListener('open', () => {
        opened = true
        this.connected = true
        this.connects++
        this.lastUrl = url
        if (!this.rooms.size) this.ready = true
        resolve(this)
      })
      ws.addEventListener('message', (e) => this.onFrame(typeof e.data === 'string' ? e.data : String(e.data)))
      ws.addEventListener('close', () => {
        this.connected = false
        this.ready = false
        for (const p of this.pending.values()) p.reject(new Error('disconnected'))
        this.pending.clear()
        if (!opened) reject(new Error(`could not connect to ${url}`))
        else if (!this.closed && this.ws === ws) this.reconnectSoon()
      })
      ws.addEventListener('error', () => {})
    })
  }

  onFrame(text) {
    let f
    try {
      f = JSON.parse(text)
    } catch {
      return
    }
    if (f.event === 'ack') {
      const p = this.pending.get(f.ref)
      if (!p) return
      this.pending.delete(f.ref)
      if (f.ok) p.resolve(f.data)
      else p.reject(Object.assign(new Error(f.error.message), { code: f.error.code }))
      return
    }
    this.pushes.push(f)
    if (f.event === 'reconnect') this.ws.close()
  }

  async reconnectSoon() {
    while (!this.closed) {
      await sleep(this.retryMs)
      if (this.closed) return
      try {
        await this.connect(this.reconnectUrl)
        // a room that is gone (closed) is left out; the others are joined again
        for (const [code, nickname] of [...this.rooms]) await this.request('room:join', { code, nickname }).catch(() => this.rooms.delete(code))
        this.ready = this.connected
        return
      } catch {
        /* the node (or every node) refused: try again */
      }
    }
  }

  /** One request; resolves with the ack's data, rejects with its error. */
  request(event, data) {
    if (!this.ws || !this.connected) return Promise.reject(new Error('not connected'))
    const ref = this.nextRef++
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject })
      this.ws.send(JSON.stringify({ event, ref, data }))
    })
  }

  async join(code, nickname) {
    const ack = await this.request('room:join', { code, nickname })
    this.rooms.set(code, nickname)
    this.ready = this.connected
    return ack
  }

  send(roomCode, content) {
    return this.request('chat:send', { roomCode, content })
  }

  close() {
    this.closed = true
    if (this.ws) this.ws.close()
  }
}

export async function launchBrowser() {
  if (!fs.existsSync(chromiumPath)) throw new Error(`${chromiumPath} missing: apt-get install -y chromium`)
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS })
}

/** Pretend the page's tab is hidden (another tab in front) or visible again. */
export async function setHidden(page, hidden) {
  await page.evaluate((h) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') })
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => h })
    document.dispatchEvent(new Event('visibilitychange'))
  }, hidden)
}

/** `<screenshotDir>/<name>.png` of the viewport, or with `{fullPage: true}` of the whole page. */
export async function screenshot(page, name, { fullPage = false } = {}) {
  fs.mkdirSync(screenshotDir, { recursive: true })
  const file = path.join(screenshotDir, `${name}.png`)
  await page.screenshot({ path: file, fullPage })
  return file
}

/** Collect the WebSocket frames a page sends (parsed), to assert on the protocol. */
export function recordFrames(page) {
  const sent = []
  const received = []
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      try {
        sent.push(JSON.parse(f.payload))
      } catch {
        /* binary */
      }
    })
    ws.on('framereceived', (f) => {
      try {
        received.push(JSON.parse(f.payload))
      } catch {
        /* binary */
      }
    })
  })
  return { sent, received }
}

/** Errors the page throws or logs, to fail on. */
export function recordErrors(page) {
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('console', (m) => {
    if (m.type() === 'error' && !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/i.test(m.text())) errors.push(m.text())
  })
  return errors
}
