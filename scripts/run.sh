#!/usr/bin/env bash
# The run command: one chat node on the embedded store, with the browser client, at
# http://127.0.0.1:8080. Extra arguments go to chat-node (see `chat-node --help`).
#
#   scripts/run.sh
#   scripts/run.sh --bind 0.0.0.0:8080 --data-dir /var/lib/chat
#
# It builds the browser client when static/dist is missing or older than its sources
# (installing Node.js from Debian when npm is missing and we are root), then builds and
# runs the node in release mode.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

client_is_stale() {
    [[ ! -f static/dist/index.html ]] && return 0
    [[ -n $(find static/src static/index.html static/package.json -newer static/dist/index.html 2>/dev/null | head -n 1) ]]
}

if client_is_stale; then
    if ! command -v npm >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
        echo "run: installing Node.js and npm to build the browser client" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    fi
    if command -v npm >/dev/null 2>&1; then
        echo "run: building the browser client (static/dist)" >&2
        (cd static && npm ci --no-audit --no-fund && npm run build) ||
            echo "run: the client build failed; the node serves a placeholder page" >&2
    else
        echo "run: npm not found; the node serves a placeholder page at /" >&2
    fi
fi

exec cargo run --release --bin chat-node -- "$@"
