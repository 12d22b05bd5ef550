#!/usr/bin/env bash
# Builds release binaries, starts a chat node (embedded store by default), runs the
# standard load scenarios against it and writes results (JSON), reports (HTML), each node's
# /metrics after each scenario and the node's log under target/loadtest/<timestamp>/.
# Exits non-zero if any scenario failed (a lost message, or errors).
#
#   loadtest/run-standard.sh                         # embedded store, one node
#   loadtest/run-standard.sh --postgres URL          # PostgreSQL store
#   loadtest/run-standard.sh --postgres URL --redis URL   # two nodes relaying through Redis
#   loadtest/run-standard.sh --postgres URL --redis SEEDS --redis-cluster   # ... a Redis Cluster
#   loadtest/run-standard.sh --duration 20 --scenarios "fanout burst"
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'USAGE'
Options:
  --postgres URL     use PostgreSQL (DATABASE_URL) instead of the embedded store
  --redis URL        start two nodes relaying through Redis (needs --postgres)
  --redis-cluster    --redis names a Redis Cluster (comma-separated seed URLs)
  --duration SECS    sending phase of each message scenario (default 20)
  --scenarios LIST   space-separated subset of "connections fanout burst soak"
                     (default "connections fanout burst"; soak runs 10 minutes)
  --port PORT        first node port (default 18080; a second node uses PORT+1)
  --skip-build       use the existing release binaries
USAGE
}

POSTGRES=""
REDIS=""
REDIS_CLUSTER=0
DURATION=20
SCENARIOS="connections fanout burst"
PORT=18080
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --postgres) POSTGRES="$2"; shift 2 ;;
    --redis) REDIS="$2"; shift 2 ;;
    --redis-cluster) REDIS_CLUSTER=1; shift ;;
    --duration) DURATION="$2"; shift 2 ;;
    --scenarios) SCENARIOS="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --skip-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 64 ;;
  esac
done
if [ -n "$REDIS" ] && [ -z "$POSTGRES" ]; then
  echo "--redis needs --postgres: nodes relaying through Redis must share one store" >&2
  exit 64
fi

cd "$(dirname "$0")/.."
if [ "$BUILD" = 1 ]; then
  cargo build --release -p chat-node -p chat-loadtest
fi
NODE_BIN=target/release/chat-node
LOAD_BIN=target/release/chat-loadtest
OUT="target/loadtest/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
DATA="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$DATA"
}
trap cleanup EXIT

NODES=1
[ -n "$REDIS" ] && NODES=2
URLS=()
for i in $(seq 0 $((NODES - 1))); do
  port=$((PORT + i))
  args=(--bind "127.0.0.1:$port" --data-dir "$DATA/node$i" --send-rate 0 --room-create-rate 0
        --static-dir /nonexistent --node-id "load$i")
  [ -n "$POSTGRES" ] && args+=(--database-url "$POSTGRES")
  [ -n "$REDIS" ] && args+=(--redis-url "$REDIS")
  [ "$REDIS_CLUSTER" = 1 ] && args+=(--redis-cluster)
  RUST_LOG="${RUST_LOG:-warn}" "$NODE_BIN" "${args[@]}" >"$OUT/node$i.log" 2>&1 &
  PIDS+=($!)
  URLS+=(--url "http://127.0.0.1:$port")
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null || {
    echo "node $i did not start; see $OUT/node$i.log" >&2; exit 1; }
done
STORE=embedded
[ -n "$POSTGRES" ] && STORE=postgres
echo "nodes: ${URLS[*]} (store: $STORE, server pid ${PIDS[0]}); results in $OUT"

STATUS=0
run() {
  local name="$1"; shift
  echo "== $name"
  if "$LOAD_BIN" "${URLS[@]}" --server-pid "${PIDS[0]}" \
      --out "$OUT/$name.json" --report "$OUT/$name.html" "$@" | tee "$OUT/$name.txt"; then
    :
  else
    STATUS=1
  fi
  # Each node's counters after the scenario (name.nodeN.metrics), for per-message figures.
  for i in $(seq 0 $((NODES - 1))); do
    curl -fsS "http://127.0.0.1:$((PORT + i))/metrics" >"$OUT/$name.node$i.metrics" 2>/dev/null || true
  done
}
for s in $SCENARIOS; do
  case "$s" in
    connections) run connections connections --sessions 5000 --rooms 500 --hold 10 ;;
    fanout) run fanout fanout --rooms 100 --members 10 --senders 2 --rate 5 --duration "$DURATION" ;;
    burst) run burst burst --rooms 50 --members 2 --senders 2 --duration "$DURATION" ;;
    soak) run soak soak --rooms 50 --members 10 --senders 2 --rate 2 --duration 600 ;;
    *) echo "unknown scenario $s" >&2; STATUS=64 ;;
  esac
done
echo "results: $OUT (*.json, *.html, *.txt, node logs)"
exit "$STATUS"
