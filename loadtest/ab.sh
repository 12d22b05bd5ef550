#!/usr/bin/env bash
# A/B comparison of two builds of the node, interleaved in one sitting: for each round and
# each scenario it starts build A, runs the scenario, stops it, then does the same with
# build B, so both see the same machine. Prints one line per run and the medians.
#
#   loadtest/ab.sh A_BIN B_BIN [ROUNDS]        # ROUNDS defaults to 3
#   AB_SCENARIOS="burst fanout10" loadtest/ab.sh A_BIN B_BIN 5   # a subset
#
# Scenarios (the ones of BENCHMARKS.md): burst 50×2 on PostgreSQL (closed loop, acked/s),
# fan-out 100×100 at 2 senders × 12/s on SQLite (pushes/s), fan-out 100×10 at 2 × 5/s on
# PostgreSQL and on SQLite (p99 send→receive; the SQLite row is free of PostgreSQL's
# noise). Needs a release chat-loadtest in target/release and TEST_DATABASE_URL (scripts/postgres-test-instance.sh start) for the PostgreSQL rows; each
# PostgreSQL run gets a fresh database.
set -euo pipefail
A=$1 B=$2 ROUNDS=${3:-3}
cd "$(dirname "$0")/.."
LOAD=target/release/chat-loadtest
PORT=18650
: "${TEST_DATABASE_URL:?start PostgreSQL first: eval \"\$(scripts/postgres-test-instance.sh start)\"}"
OUT=$(mktemp -d)

fresh_db() { # prints the URL of a new empty database
    local name="ab_$(date +%s%N)"
    psql "$TEST_DATABASE_URL" -qAtc "CREATE DATABASE $name" >/dev/null
    echo "${TEST_DATABASE_URL%/*}/$name"
}

run() { # bin store scenario-args... ; prints the summary
    local bin=$1 store=$2 data db_args=() pid
    shift 2
    data=$(mktemp -d)
    [[ $store == pg ]] && db_args=(--database-url "$(fresh_db)")
    "$bin" --bind 127.0.0.1:$PORT --send-rate 0 --room-create-rate 0 --data-dir "$data" \
        --static-dir /nonexistent "${db_args[@]}" >"$data/node.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -fs http://127.0.0.1:$PORT/api/ready >/dev/null && break; sleep 0.1; done
    "$LOAD" --url http://127.0.0.1:$PORT --server-pid $pid "$@" || true
    kill -INT $pid; wait $pid || true
    rm -rf "$data"
}

scenarios=(
    "burst pg burst --rooms 50 --members 2 --senders 2 --duration 10"
    "fanout100 sqlite fanout --rooms 100 --members 100 --senders 2 --rate 12 --duration 12"
    "fanout10 pg fanout --rooms 100 --members 10 --senders 2 --rate 5 --duration 15"
    "fanout10s sqlite fanout --rooms 100 --members 10 --senders 2 --rate 5 --duration 15"
)
if [[ -n ${AB_SCENARIOS:-} ]]; then
    chosen=()
    for line in "${scenarios[@]}"; do
        [[ " $AB_SCENARIOS " == *" ${line%% *} "* ]] && chosen+=("$line")
    done
    scenarios=("${chosen[@]}")
fi
for round in $(seq "$ROUNDS"); do
    for line in "${scenarios[@]}"; do
        read -r name store args <<<"$line"
        for side in A B; do
            bin=$A; [[ $side == B ]] && bin=$B
            summary=$(run "$bin" "$store" $args)
            acks=$(grep -oE 'acks [0-9]+ \(([0-9]+)/s\)' <<<"$summary" | grep -oE '\([0-9]+' | tr -d '(')
            pushes=$(grep -oE 'pushes [0-9]+ \(([0-9]+)/s\)' <<<"$summary" | grep -oE '\([0-9]+' | tr -d '(')
            p99=$(grep -m1 'send→receive' <<<"$summary" | grep -oE 'p99 [0-9.]+' | awk '{print $2}')
            cpu=$(grep -oE 'server [0-9]+%, whole machine [0-9]+%' <<<"$summary")
            lost=$(grep -oE 'LOST [0-9]+' <<<"$summary" | awk '{print $2}')
            echo "$name $side round=$round acks/s=$acks pushes/s=$pushes p99_ms=$p99 lost=$lost ($cpu)" | tee -a "$OUT/runs"
        done
    done
done

echo
echo "medians of $ROUNDS rounds (A = $A, B = $B):"
for line in "${scenarios[@]}"; do
    read -r name _ <<<"$line"
    for side in A B; do
        grep "^$name $side " "$OUT/runs" | awk -v n="$name" -v s="$side" '
            { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "acks/s") a[NR] = kv[2]; if (kv[1] == "pushes/s") p[NR] = kv[2]; if (kv[1] == "p99_ms") q[NR] = kv[2] } }
            function median(arr, n,   i, j, t, m) { for (i = 1; i <= n; i++) m[i] = arr[i]; for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (m[j] + 0 < m[i] + 0) { t = m[i]; m[i] = m[j]; m[j] = t }; return m[int((n + 1) / 2)] }
            END { printf "%s %s: acks/s %s, pushes/s %s, p99 %s ms\n", n, s, median(a, NR), median(p, NR), median(q, NR) }'
    done
done
