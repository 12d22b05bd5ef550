#!/usr/bin/env bash
# Browser client tests: unit (Vitest) and end-to-end (real node + Debian's headless Chromium).
# Non-interactive; works on a fresh machine (installs chromium through apt when missing).
# Env: CHAT_NODE_BIN (node binary; default target/debug/chat-node, built when missing),
#      SKIP_E2E=1 (unit tests and build only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATIC="$ROOT/static"
unit="not run"
build="not run"
e2e="not run"
passed=0
failed=0
LOGDIR="$(mktemp -d)"
strip() { sed -e 's/\x1b\[[0-9;]*m//g' "$1"; }
count_vitest() { # "Tests  47 passed (47)" / "Tests  1 failed | 46 passed (47)"
  local line p f
  line="$(strip "$1" | grep -E '^ *Tests +' | tail -1 || true)"
  p="$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)"
  f="$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)"
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
}
count_node() { # "# pass 10" / "# fail 0"
  local p f
  p="$(strip "$1" | grep -E '^# pass [0-9]+' | tail -1 | grep -oE '[0-9]+' || echo 0)"
  f="$(strip "$1" | grep -E '^# fail [0-9]+' | tail -1 | grep -oE '[0-9]+' || echo 0)"
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
}

summary() {
  local rc=$?
  [ -f "$LOGDIR/unit.log" ] && count_vitest "$LOGDIR/unit.log"
  [ -f "$LOGDIR/e2e.log" ] && count_node "$LOGDIR/e2e.log"
  rm -rf "$LOGDIR"
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  echo
  echo "client tests (unit: $unit; build: $build; e2e: $e2e; exit $rc)"
  echo "client: $passed passed, $failed failed"
  exit "$rc"
}
trap summary EXIT

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    need_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node and npm are required (Node >= 20.19)" >&2
  exit 1
fi

if [ "${SKIP_E2E:-0}" != "1" ]; then
  if [ ! -x /usr/bin/chromium ]; then
    echo "== installing chromium (apt)"
    apt_install chromium fonts-liberation fonts-noto-color-emoji
  fi
fi

cd "$STATIC"
echo "== npm ci"
npm ci --no-audit --no-fund

echo "== unit tests (vitest)"
unit="failed"
npm test 2>&1 | tee "$LOGDIR/unit.log"
unit="passed"

echo "== build (vite)"
build="failed"
npm run build
build="ok"

if [ "${SKIP_E2E:-0}" = "1" ]; then
  e2e="skipped"
  exit 0
fi

if [ -z "${CHAT_NODE_BIN:-}" ]; then
  if [ ! -x "$ROOT/target/debug/chat-node" ]; then
    echo "== cargo build --bin chat-node"
    (cd "$ROOT" && cargo build --bin chat-node)
  fi
  export CHAT_NODE_BIN="$ROOT/target/debug/chat-node"
fi

echo "== end-to-end tests (node $CHAT_NODE_BIN, /usr/bin/chromium)"
e2e="failed"
npm run e2e 2>&1 | tee "$LOGDIR/e2e.log"
e2e="passed"
