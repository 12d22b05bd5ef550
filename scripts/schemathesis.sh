#!/usr/bin/env bash
# The REST API attacked by a tool nobody here wrote: schemathesis (PyPI) reads the node's own
# OpenAPI document (GET /api/openapi.json, generated from the handlers) and throws generated
# requests at a real node: every operation, valid and invalid data, undeclared methods, and
# the stateful phase that follows the document's links (create a room, then read it, page
# its history and post to it).
#
#   scripts/schemathesis.sh
#
# Every check is on (`--checks all`: no 5xx, response bodies, statuses, content types and
# headers as documented, invalid data rejected, valid data accepted, 405 with `Allow` for
# undeclared methods, ...). The run is bounded (SCHEMATHESIS_MAX_TIME seconds, default 75;
# SCHEMATHESIS_MAX_EXAMPLES per operation, default 50) and seeded (SCHEMATHESIS_SEED,
# default 1) so that it is repeatable.
#
# Needs python3 and target/debug/chat-node (built when missing; CHAT_NODE_BIN overrides).
# schemathesis comes from PyPI (pinned below) into a virtualenv under target/ (or, where
# python3 has no venv module, `pip install --target`). The node runs on a free loopback port
# with the embedded store in a temporary directory, and is stopped at the end.
# Ends with `schemathesis: N passed, M failed` (JUnit test cases: one per operation and
# check family) and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$(pwd)
TOOLS=${SCHEMATHESIS_TOOLS:-$ROOT/target/schemathesis-tools}
OUT=$ROOT/target/schemathesis
REQUIREMENT="schemathesis==4.32.5"
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-75}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-50}
SEED=${SCHEMATHESIS_SEED:-1}
NODE_BIN=${CHAT_NODE_BIN:-$ROOT/target/debug/chat-node}

passed=0
failed=0
node_pid=
data_dir=

log() { printf '\n== %s\n' "$*"; }
finish() {
    if [[ -n "$node_pid" ]]; then
        kill "$node_pid" 2>/dev/null
        wait "$node_pid" 2>/dev/null
    fi
    [[ -n "$data_dir" ]] && rm -rf "$data_dir"
    echo
    echo "schemathesis: $passed passed, $failed failed"
    if [[ $failed -eq 0 ]]; then exit 0; fi
    exit 1
}
fail() {
    echo "FAIL - $*" >&2
    failed=$((failed + 1))
    finish
}

# --- schemathesis from PyPI -------------------------------------------------------------------
# shellcheck source=scripts/lib/python-tools.sh
source "$ROOT/scripts/lib/python-tools.sh"

command -v python3 >/dev/null 2>&1 || fail "python3 is required"
log "installing $REQUIREMENT from PyPI into ${TOOLS#"$ROOT"/}"
install_python_tools "$TOOLS" "$REQUIREMENT" || fail "installing $REQUIREMENT"
use_python_tools "$TOOLS"
if [[ -d "$TOOLS/venv" ]]; then
    ST=("$TOOLS/venv/bin/schemathesis")
else
    ST=(python3 -m schemathesis.cli)
fi
"${ST[@]}" --version || fail "schemathesis does not run"

# --- a real node --------------------------------------------------------------------------------
if [[ ! -x "$NODE_BIN" ]]; then
    log "building chat-node"
    cargo build --bin chat-node || fail "cargo build"
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data_dir=$(mktemp -d)
rm -rf "$OUT"
mkdir -p "$OUT"
log "starting chat-node on 127.0.0.1:$port (embedded store in $data_dir)"
# With an API key, sent with every request: the operations that need one (posting,
# listings, metrics, and moderation, which a node without keys refuses to everyone) are tested
# past their 401. The 401s themselves are tested in tests/integration/keys.rs.
api_key="schemathesis-$(date +%s%N)"
RUST_LOG=${RUST_LOG:-warn} "$NODE_BIN" --bind "127.0.0.1:$port" --data-dir "$data_dir" \
    --node-id schemathesis --room-create-rate 0 --static-dir "$data_dir/no-client" \
    --api-keys "$api_key" >"$OUT/node.log" 2>&1 &
node_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do
    curl -fsS "$base/api/ready" >/dev/null 2>&1 && break
    kill -0 "$node_pid" 2>/dev/null || fail "the node exited at start (see ${OUT#"$ROOT"/}/node.log)"
    sleep 0.1
done
curl -fsS "$base/api/ready" >/dev/null 2>&1 || fail "the node did not become ready"

# --- the run ------------------------------------------------------------------------------------
# Every operation but drainNode: schemathesis learns the node's id from the overview and would
# drain the node it tests, whose readiness then answers 503 by design, which the server-error
# check counts as a failure. Drain is tested in tests/integration/operators.rs and the e2e.
log "schemathesis run $base/api/openapi.json (all checks, all phases, ${MAX_TIME}s)"
# From target/schemathesis, so that its cache (.schemathesis/) lands there, not in the tree.
cd "$OUT" || fail "cd $OUT"
"${ST[@]}" run "$base/api/openapi.json" \
    --header "Authorization: Bearer $api_key" \
    --exclude-operation-id drainNode \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$MAX_EXAMPLES" \
    --max-time "$MAX_TIME" \
    --seed "$SEED" \
    --request-timeout 10 \
    --generation-database none \
    --no-color \
    --report junit --report-junit-path "$OUT/junit.xml"
status=$?

kill -0 "$node_pid" 2>/dev/null || fail "the node crashed during the run (see ${OUT#"$ROOT"/}/node.log)"
if grep -q "panicked" "$OUT/node.log"; then
    fail "the node panicked (see ${OUT#"$ROOT"/}/node.log)"
fi

# Totals from the JUnit report: a test case fails when it holds a failure or an error.
if [[ -f "$OUT/junit.xml" ]]; then
    read -r total bad < <(python3 - "$OUT/junit.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
cases = list(ET.parse(sys.argv[1]).getroot().iter("testcase"))
bad = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
print(len(cases), bad)
PY
    )
    passed=$((total - bad))
    failed=$bad
fi
if [[ $status -ne 0 && $failed -eq 0 ]]; then
    echo "FAIL - schemathesis exited with $status" >&2
    failed=1
fi
finish
