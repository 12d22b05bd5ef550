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
# servers and nginx; the network fault tests build network namespaces with `ip`, which
# needs root), and removes them afterwards. .ci/run calls exactly this script.
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
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v bc >/dev/null 2>&1 || missing+=(bc)
command -v pkill >/dev/null 2>&1 || missing+=(procps)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
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
export CHAT_REQUIRE_NETNS=1
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

# Each later step is a script that ends with `NAME: N passed, M failed`; its counts and exit
# status are added to the totals here.
total_passed=${rust_passed:-0}
total_failed=${rust_failed:-0}
status=$rust_status
summary="rust: ${rust_passed:-0} passed, ${rust_failed:-0} failed"
step() {
    local name=$1 title=$2 out step_status passed failed
    shift 2
    log "$title"
    out=$(mktemp)
    set +e
    "$@" 2>&1 | tee "$out"
    step_status=${PIPESTATUS[0]}
    set -e
    passed=$(sed -nE "s/^$name: ([0-9]+) passed, [0-9]+ failed\$/\\1/p" "$out" | tail -n 1)
    failed=$(sed -nE "s/^$name: [0-9]+ passed, ([0-9]+) failed\$/\\1/p" "$out" | tail -n 1)
    rm -f "$out"
    total_passed=$((total_passed + ${passed:-0}))
    total_failed=$((total_failed + ${failed:-0}))
    summary+="; $name: ${passed:-0} passed, ${failed:-0} failed"
    [[ $step_status -eq 0 ]] || status=$step_status
}

export CHAT_NODE_BIN="$ROOT/target/debug/chat-node"
if [[ -z "${SKIP_CLIENT:-}" ]]; then
    step client "browser client: unit tests, build, end-to-end in Chromium" scripts/test-client.sh
fi
step schemathesis "schemathesis (REST API vs /api/openapi.json)" scripts/schemathesis.sh
step deploy "deployment artifacts (Dockerfile, docker-compose.yml, k8s/)" scripts/validate-deploy.sh
step fuzz "fuzz (scripts/fuzz-short.sh)" scripts/fuzz-short.sh

if [[ $status -ne 0 && $total_failed -eq 0 ]]; then
    total_failed=1
fi
echo
echo "$summary"
echo "total: $total_passed passed, $total_failed failed"
[[ $status -eq 0 ]]
