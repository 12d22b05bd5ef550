#!/usr/bin/env bash
# The test command: everything a change must pass, on a fresh Debian machine as root.
#
#   scripts/test.sh            # format, lint, Rust tests (SQLite, PostgreSQL, three-node
#                              # clusters with Redis and nginx), browser client, the REST
#                              # API against its OpenAPI document (schemathesis), deployment
#   SKIP_CLIENT=1 scripts/test.sh   # Rust side only
#
# It installs what is missing (one `apt-get update`, then `apt-get install -y ...`), starts
# a throwaway PostgreSQL on a free loopback port (the cluster tests start their own Redis
# servers and nginx), and removes them afterwards. .ci/run calls
# exactly this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

log() { printf '\n== %s\n' "$*"; }

# --- system packages (one apt-get update at most) ----------------------------------------
missing=()
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v bc >/dev/null 2>&1 || missing+=(bc)
if [[ -z "${SKIP_CLIENT:-}" ]] && ! command -v chromium >/dev/null 2>&1; then
    missing+=(chromium fonts-noto-color-emoji)
fi
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- format and lint -----------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

# --- Rust tests against SQLite and a real PostgreSQL ----------------------------------------
log "starting a throwaway PostgreSQL"
eval "$(scripts/postgres-test-instance.sh start)"
cleanup() { scripts/postgres-test-instance.sh stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
export CHAT_REQUIRE_POSTGRES=1
export CHAT_REQUIRE_REDIS=1
cargo build --bin chat-node

LOG=$(mktemp)
log "cargo test --workspace"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$LOG"
rust_status=${PIPESTATUS[0]}
set -e
rust_passed=$(grep -E '^test result:' "$LOG" | sed -E 's/.* ([0-9]+) passed.*/\1/' | paste -sd+ - | bc)
rust_failed=$(grep -E '^test result:' "$LOG" | sed -E 's/.* ([0-9]+) failed.*/\1/' | paste -sd+ - | bc)
rm -f "$LOG"

# --- browser client: unit tests, build, end-to-end in Chromium ------------------------------
client_passed=0
client_failed=0
client_status=0
if [[ -z "${SKIP_CLIENT:-}" ]]; then
    log "browser client"
    CLOG=$(mktemp)
    set +e
    CHAT_NODE_BIN="$ROOT/target/debug/chat-node" scripts/test-client.sh 2>&1 | tee "$CLOG"
    client_status=${PIPESTATUS[0]}
    set -e
    line=$(grep -E '^client: [0-9]+ passed, [0-9]+ failed' "$CLOG" | tail -n 1 || true)
    client_passed=$(echo "$line" | sed -E 's/^client: ([0-9]+) passed.*/\1/')
    client_failed=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    client_passed=${client_passed:-0}
    client_failed=${client_failed:-0}
    rm -f "$CLOG"
fi

# --- the REST API against its own OpenAPI document, attacked by schemathesis ----------------
log "schemathesis (REST API vs /api/openapi.json)"
SLOG=$(mktemp)
set +e
CHAT_NODE_BIN="$ROOT/target/debug/chat-node" scripts/schemathesis.sh 2>&1 | tee "$SLOG"
schema_status=${PIPESTATUS[0]}
set -e
schema_passed=$(sed -nE 's/^schemathesis: ([0-9]+) passed.*/\1/p' "$SLOG" | tail -n 1)
schema_failed=$(sed -nE 's/^schemathesis: [0-9]+ passed, ([0-9]+) failed$/\1/p' "$SLOG" | tail -n 1)
schema_passed=${schema_passed:-0}
schema_failed=${schema_failed:-0}
rm -f "$SLOG"

# --- deployment artifacts: Dockerfile (hadolint), compose schema, rendered k8s manifests ---
log "deployment artifacts (Dockerfile, docker-compose.yml, k8s/)"
DLOG=$(mktemp)
set +e
scripts/validate-deploy.sh 2>&1 | tee "$DLOG"
deploy_status=${PIPESTATUS[0]}
set -e
deploy_passed=$(sed -nE 's/^deploy: ([0-9]+) passed.*/\1/p' "$DLOG" | tail -n 1)
deploy_failed=$(sed -nE 's/^deploy: [0-9]+ passed, ([0-9]+) failed$/\1/p' "$DLOG" | tail -n 1)
deploy_passed=${deploy_passed:-0}
deploy_failed=${deploy_failed:-0}
rm -f "$DLOG"

# --- fuzzing: a short pass of each cargo-fuzz target on the kept corpus ----------------------
log "fuzz (scripts/fuzz-short.sh)"
FLOG=$(mktemp)
set +e
scripts/fuzz-short.sh 2>&1 | tee "$FLOG"
fuzz_status=${PIPESTATUS[0]}
set -e
fuzz_passed=$(sed -nE 's/^fuzz: ([0-9]+) passed, [0-9]+ failed$/\1/p' "$FLOG" | tail -n 1)
fuzz_failed=$(sed -nE 's/^fuzz: [0-9]+ passed, ([0-9]+) failed$/\1/p' "$FLOG" | tail -n 1)
fuzz_passed=${fuzz_passed:-0}
fuzz_failed=${fuzz_failed:-0}
rm -f "$FLOG"

total_passed=$((${rust_passed:-0} + client_passed + schema_passed + deploy_passed + fuzz_passed))
total_failed=$((${rust_failed:-0} + client_failed + schema_failed + deploy_failed + fuzz_failed))
if [[ $rust_status -ne 0 || $client_status -ne 0 || $schema_status -ne 0 || $deploy_status -ne 0 || $fuzz_status -ne 0 ]] && [[ $total_failed -eq 0 ]]; then
    total_failed=1
fi
echo
echo "rust: ${rust_passed:-0} passed, ${rust_failed:-0} failed; client: $client_passed passed, $client_failed failed; schemathesis: $schema_passed passed, $schema_failed failed; deploy: $deploy_passed passed, $deploy_failed failed; fuzz: $fuzz_passed passed, $fuzz_failed failed"
echo "total: $total_passed passed, $total_failed failed"
[[ $rust_status -eq 0 && $client_status -eq 0 && $schema_status -eq 0 && $deploy_status -eq 0 && $fuzz_status -eq 0 ]]
