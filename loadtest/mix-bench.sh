#!/usr/bin/env bash
# Plain versus mixed workload on PostgreSQL, interleaved in one sitting: for each round and
# each scenario it starts a fresh node on a fresh database, runs the plain workload, stops
# it, then does the same with the mixed workload (`--mix $MIX`), same node flags, so both
# see the same machine. Optionally (BEFORE_BIN) the plain workload also runs, in the same
# rounds, on an older node build. Prints one line per run, the medians, and mixed/plain.
#
#   eval "$(scripts/postgres-test-instance.sh start)"
#   loadtest/mix-bench.sh [ROUNDS]                          # ROUNDS defaults to 3
#   MIX=send=70,reply=10,edit=10,react=10 loadtest/mix-bench.sh 3
#   MIXES="send=100 send=70,edit=30 send=70,react=30" loadtest/mix-bench.sh 2  # several mixes
#   BEFORE_BIN=/tmp/chat-node-before loadtest/mix-bench.sh 3  # plain on the old build too
#   MB_SCENARIOS=burst loadtest/mix-bench.sh 5                # a subset
#
# Scenarios: burst = 50 rooms × 2 members, both send, closed loop (next operation when the
# last is acked), 10 s; fanout = 100 rooms × 10 members, 2 senders per room at 5 operations/s
# each (open loop), 15 s. Node flags --send-rate 0 --room-create-rate 0. Needs release
# binaries in target/release (cargo build --release -p chat-node -p chat-loadtest), jq,
# psql, and TEST_DATABASE_URL. Results (JSON per run) are kept under target/loadtest/.
set -euo pipefail
ROUNDS=${1:-3}
MIX=${MIX:-send=70,reply=10,edit=10,react=8,unreact=2}
MIXES=${MIXES:-$MIX} # each one is its own variant, run after plain in every round
cd "$(dirname "$0")/.."
NODE=${NODE_BIN:-target/release/chat-node}
LOAD=target/release/chat-loadtest
PORT=${MB_PORT:-18660}
: "${TEST_DATABASE_URL:?start PostgreSQL first: eval \"\$(scripts/postgres-test-instance.sh start)\"}"
OUT="target/loadtest/mix-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"

fresh_db() { # prints the URL of a new empty database
    local name="mb_$(date +%s%N)"
    psql "$TEST_DATABASE_URL" -qAtc "CREATE DATABASE $name" >/dev/null
    echo "${TEST_DATABASE_URL%/*}/$name"
}

run() { # bin json scenario-args... ; writes the result to json, the summary to json.txt
    local bin=$1 json=$2 data pid
    shift 2
    data=$(mktemp -d)
    "$bin" --bind 127.0.0.1:$PORT --send-rate 0 --room-create-rate 0 --data-dir "$data" \
        --static-dir /nonexistent --database-url "$(fresh_db)" >"$data/node.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -fs http://127.0.0.1:$PORT/api/ready >/dev/null && break; sleep 0.1; done
    "$LOAD" --url http://127.0.0.1:$PORT --server-pid $pid --quiet --out "$json" "$@" >"$json.txt" || true
    kill -INT $pid; wait $pid || true
    cp "$data/node.log" "$json.node.log"
    rm -rf "$data"
}

line() { # name variant round json -> one line of figures
    jq -r --arg n "$1" --arg v "$2" --arg r "$3" '
        .traffic as $t
        | "\($n) \($v) round=\($r) acks/s=\($t.acks_per_s | floor) ack_p50=\($t.ack_latency.p50_ms) ack_p99=\($t.ack_latency.p99_ms) recv_p99=\($t.latency.p99_ms) lost=\($t.loss.lost) violations=\(if $t.mix then $t.mix.violations else "-" end) errors=\(.error_total) cpu=\(.loadgen_cpu_percent // 0 | floor)/\(.server_cpu_percent // 0 | floor)/\(.machine_cpu_percent // 0 | floor)"' "$4"
}

kinds() { # name round json -> one line per kind
    jq -r --arg n "$1" --arg r "$2" '
        .traffic.mix.kinds[]? | "\($n) kind=\(.kind) round=\($r) acked=\(.acked) acked/s=\(.acked_per_s | floor) ack_p50=\(.ack_latency.p50_ms) ack_p99=\(.ack_latency.p99_ms) deliv_p50=\(.delivery_latency.p50_ms) deliv_p99=\(.delivery_latency.p99_ms)"' "$3"
}

scenarios=(
    "burst burst --rooms 50 --members 2 --senders 2 --duration 10"
    "fanout fanout --rooms 100 --members 10 --senders 2 --rate 5 --duration 15"
)
if [[ -n ${MB_SCENARIOS:-} ]]; then
    chosen=()
    for s in "${scenarios[@]}"; do
        [[ " $MB_SCENARIOS " == *" ${s%% *} "* ]] && chosen+=("$s")
    done
    scenarios=("${chosen[@]}")
fi
variants=(plain)
[[ -n ${BEFORE_BIN:-} ]] && variants=(before plain)
for m in $MIXES; do variants+=("mix:$m"); done

echo "node $NODE (before: ${BEFORE_BIN:-none}); mixes $MIXES; $ROUNDS rounds; results in $OUT"
for round in $(seq "$ROUNDS"); do
    for s in "${scenarios[@]}"; do
        read -r name args <<<"$s"
        for v in "${variants[@]}"; do
            json="$OUT/$name-${v//[:,=]/_}-$round.json"
            load1=$(cut -d' ' -f1 /proc/loadavg) # before the run: what else the machine had to do
            case $v in
                before) run "$BEFORE_BIN" "$json" $args ;;
                plain) run "$NODE" "$json" $args ;;
                mix:*) run "$NODE" "$json" $args --mix "${v#mix:}" ;;
            esac
            if [[ -s $json ]]; then
                echo "$(line "$name" "$v" "$round" "$json") load1=$load1" | tee -a "$OUT/runs"
                [[ $v == mix:* ]] && kinds "$name $v" "$round" "$json" >>"$OUT/kinds"
            else
                echo "$name $v round=$round FAILED (see $json.txt)" | tee -a "$OUT/runs"
            fi
        done
    done
done

median() { # field name-variant-prefix file
    grep "^$2 " "$3" | tr ' ' '\n' | sed -n "s|^$1=||p" | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'
}

echo
echo "medians of $ROUNDS rounds:"
for s in "${scenarios[@]}"; do
    name=${s%% *}
    for v in "${variants[@]}"; do
        echo "$name $v: acks/s $(median acks/s "$name $v" "$OUT/runs"), ack p50 $(median ack_p50 "$name $v" "$OUT/runs") ms, ack p99 $(median ack_p99 "$name $v" "$OUT/runs") ms, send→receive p99 $(median recv_p99 "$name $v" "$OUT/runs") ms"
    done
    for v in "${variants[@]}"; do
        [[ $v == mix:* ]] || continue
        p=$(median acks/s "$name plain" "$OUT/runs") m=$(median acks/s "$name $v" "$OUT/runs")
        a=$(median ack_p50 "$name plain" "$OUT/runs") b=$(median ack_p50 "$name $v" "$OUT/runs")
        c=$(median ack_p99 "$name plain" "$OUT/runs") d=$(median ack_p99 "$name $v" "$OUT/runs")
        awk -v n="$name ${v#mix:}" -v p="$p" -v m="$m" -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN {
            if (p > 0 && a > 0 && c > 0) printf "%s / plain: acks/s %.2f, ack p50 %.2f, ack p99 %.2f\n", n, m / p, b / a, d / c }'
        for k in send reply edit react unreact; do
            grep -q "^$name $v kind=$k " "$OUT/kinds" 2>/dev/null || continue
            echo "  $name ${v#mix:}, $k: acked/s $(median acked/s "$name $v kind=$k" "$OUT/kinds"), ack p50 $(median ack_p50 "$name $v kind=$k" "$OUT/kinds") ms, ack p99 $(median ack_p99 "$name $v kind=$k" "$OUT/kinds") ms, delivery p50 $(median deliv_p50 "$name $v kind=$k" "$OUT/kinds") ms, p99 $(median deliv_p99 "$name $v kind=$k" "$OUT/kinds") ms"
        done
    done
done
