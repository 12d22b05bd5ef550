#!/usr/bin/env bash
# Cross-node load through one Redis, then through a Redis Cluster of three masters and three
# replicas, in one sitting: loadtest/run-standard.sh's two-node scenarios (members of each
# room alternate between the nodes) against each, with what Redis did meanwhile: commands
# served and CPU seconds (summed over the cluster's masters), and, on the cluster, how the
# SPUBLISHes spread over the masters (those that own slots). BENCHMARKS.md ("Redis Cluster")
# quotes its output.
#
#   loadtest/redis-cluster-bench.sh --postgres URL [--duration SECS] [--scenarios "fanout burst"]
#
# Needs release binaries (cargo build --release -p chat-node -p chat-loadtest), redis-server
# and redis-cli; writes everything under target/redis-cluster-bench/<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."

POSTGRES=""
DURATION=15
SCENARIOS="fanout burst"
while [ $# -gt 0 ]; do
  case "$1" in
    --postgres) POSTGRES="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --scenarios) SCENARIOS="$2"; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 64 ;;
  esac
done
[ -n "$POSTGRES" ] || { echo "--postgres URL is required" >&2; exit 64; }

OUT="target/redis-cluster-bench/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
PIDFILES=()
cleanup() {
  for f in "${PIDFILES[@]}"; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# redis-server in the background on a free port (cluster mode with "cluster"); prints the port.
start_redis() {
  local mode=$1 port dir
  port=$(free_port)
  dir="$PWD/$OUT/redis-$port"
  mkdir -p "$dir"
  local args=(--port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes
              --pidfile "$dir/pid" --logfile "$dir/log" --dir "$dir")
  [ "$mode" = cluster ] && args+=(--cluster-enabled yes --cluster-config-file nodes.conf
                                  --cluster-port "$(free_port)" --cluster-node-timeout 5000
                                  --repl-diskless-sync-delay 0)
  redis-server "${args[@]}"
  PIDFILES+=("$dir/pid")
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "$port"
}

# "commands cpu_seconds" summed over the given ports (INFO stats and INFO cpu).
redis_totals() {
  local commands=0 cpu=0 port info
  for port in "$@"; do
    info=$(redis-cli -p "$port" info all | tr -d '\r')
    commands=$((commands + $(sed -n 's/^total_commands_processed://p' <<<"$info")))
    cpu=$(echo "$cpu + $(sed -n 's/^used_cpu_sys://p' <<<"$info") + $(sed -n 's/^used_cpu_user://p' <<<"$info")" | bc)
  done
  echo "$commands $cpu"
}

# Totals of the nodes' counters in the metrics files given: messages committed, batch
# commits, events published to Redis and received from it, pushes to sessions.
node_totals() {
  awk '
    /^chat_messages_committed_total / { m += $2 }
    /^chat_persist_batch_size_count/  { c += $2 }
    /^chat_broker_published_total /   { p += $2 }
    /^chat_broker_received_total /    { r += $2 }
    /^chat_pushes_total /             { s += $2 }
    END { printf "%d %d %d %d %d", m, c, p, r, s }' "$@"
}

# What Redis spends with no chat node attached, over one scenario's duration (a cluster's
# gossip and replication pings), to set beside the runs.
idle() {
  local name=$1 before after
  read -r -a before <<<"$(redis_totals $MEASURED)"
  sleep "$DURATION"
  read -r -a after <<<"$(redis_totals $MEASURED)"
  echo "$name idle ${DURATION}s: redis commands $((after[0] - before[0])), redis cpu seconds $(echo "${after[1]} - ${before[1]}" | bc)" \
      | tee -a "$OUT/summary.txt"
}

# One run per scenario through REDIS_URL $2 (fresh nodes each; extra run-standard.sh flags
# after it), with Redis's totals over the ports in $MEASURED before and after, and per
# committed message: Redis commands, Redis CPU microseconds, publishes, deliveries.
measure() {
  local name=$1 url=$2; shift 2
  local scenario before after results
  for scenario in $SCENARIOS; do
    read -r -a before <<<"$(redis_totals $MEASURED)"
    loadtest/run-standard.sh --skip-build --duration "$DURATION" \
        --scenarios "$scenario" --postgres "$POSTGRES" --redis "$url" --port "$(free_port)" "$@" \
        | tee "$OUT/$name-$scenario.txt"
    read -r -a after <<<"$(redis_totals $MEASURED)"
    results=$(sed -n 's/^results: \([^ ]*\) .*/\1/p' "$OUT/$name-$scenario.txt" | tail -1)
    for f in "$results"/*.metrics; do [ -f "$f" ] && cp "$f" "$OUT/$name-$(basename "$f")"; done
    read -r messages commits published received pushes <<<"$(node_totals "$results/$scenario".node*.metrics)"
    local commands=$((after[0] - before[0]))
    local cpu
    cpu=$(echo "${after[1]} - ${before[1]}" | bc)
    {
      echo "$name $scenario: messages $messages, batch commits $commits, published $published, received $received, pushes $pushes"
      echo "$name $scenario: redis commands $commands, redis cpu seconds $cpu"
      if [ "$messages" -gt 0 ]; then
        echo "$name $scenario: per message: $(echo "scale=2; $commands / $messages" | bc) redis commands," \
             "$(echo "scale=1; $cpu * 1000000 / $messages" | bc) redis cpu us," \
             "$(echo "scale=2; $published / $messages" | bc) publishes," \
             "$(echo "scale=2; $received / $messages" | bc) deliveries to nodes," \
             "$(echo "scale=1; $messages / $commits" | bc) messages per commit"
      fi
    } | tee -a "$OUT/summary.txt"
  done
}

# --- one Redis ------------------------------------------------------------------------------
single=$(start_redis single)
MEASURED="$single"
idle single
measure single "redis://127.0.0.1:$single"

# --- a Redis Cluster of 3 masters + 3 replicas ----------------------------------------------
ports=()
for _ in 1 2 3 4 5 6; do ports+=("$(start_redis cluster)"); done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 1 --cluster-yes \
    >"$OUT/cluster-create.txt"
for _ in $(seq 1 100); do
  redis-cli -p "${ports[0]}" cluster info | grep -q cluster_state:ok && break
  sleep 0.1
done
sleep 2
masters=$(redis-cli -p "${ports[0]}" cluster nodes | awk '$3 ~ /master/ && NF >= 9 {split($2, a, "[:@]"); print a[2]}')
MEASURED="$masters"
for port in $masters; do redis-cli -p "$port" config resetstat >/dev/null; done
idle cluster
seeds=$(printf 'redis://127.0.0.1:%s,' "${ports[@]}")
measure cluster "${seeds%,}" --redis-cluster
for port in $masters; do
  echo "cluster master $port: $(redis-cli -p "$port" info commandstats | tr -d '\r' | grep -E '^cmdstat_(spublish|publish):' | tr '\n' ' ')" \
      | tee -a "$OUT/summary.txt"
done
echo "results: $OUT"
