#!/usr/bin/env bash
# A local three-node cluster to try: PostgreSQL, Redis, three chat nodes and nginx as the
# WebSocket-aware load balancer, all on loopback.
#
#   scripts/cluster.sh up      # prints the URL to open (default http://127.0.0.1:8080)
#   scripts/cluster.sh down    # stops everything and removes its files
#
#   REDIS_CLUSTER=1 scripts/cluster.sh up   # the same on a Redis Cluster of three masters
#                                            # and three replicas instead of one Redis
#
# Environment: PORT (balancer port, 8080), NODES (3), CLUSTER_DIR (target/cluster),
# CHAT_NODE_BIN (default: a release build of chat-node), DATABASE_URL (default: a
# throwaway PostgreSQL started for the cluster), REDIS_CLUSTER (unset: one Redis).
# Installs redis-server and nginx when missing (as root). The node URLs are written to
# $CLUSTER_DIR/nodes, one per line; the Redis URL the nodes use to $CLUSTER_DIR/redis-url.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
PORT=${PORT:-8080}
NODES=${NODES:-3}
DIR=${CLUSTER_DIR:-$ROOT/target/cluster}
export PG_TEST_STATE="$DIR/postgres.state"

log() { echo "cluster: $*" >&2; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {
    local url=$1
    for _ in $(seq 1 200); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "no answer from $url"
    return 1
}

install_missing() {
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Six redis-servers in cluster mode joined by `redis-cli --cluster create` (three masters,
# one replica each); prints the seed list for REDIS_URL once every slot is served.
start_redis_cluster() {
    local addresses=() seeds=() port bus
    for i in 1 2 3 4 5 6; do
        port=$(free_port)
        bus=$(free_port)
        mkdir -p "$DIR/redis-$i"
        redis-server --port "$port" --cluster-port "$bus" --bind 127.0.0.1 \
            --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
            --save "" --appendonly no --repl-diskless-sync-delay 0 \
            --daemonize yes --pidfile "$DIR/redis-$i.pid" --logfile "$DIR/redis-$i.log" \
            --dir "$DIR/redis-$i"
        addresses+=("127.0.0.1:$port")
        seeds+=("redis://127.0.0.1:$port")
    done
    for address in "${addresses[@]}"; do
        for _ in $(seq 1 100); do
            redis-cli -h 127.0.0.1 -p "${address#*:}" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
    done
    redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/redis-create.log"
    for _ in $(seq 1 100); do
        redis-cli -p "${addresses[0]#*:}" cluster info | grep -q cluster_state:ok && break
        sleep 0.1
    done
    (IFS=,; echo "${seeds[*]}")
}

up() {
    install_missing
    mkdir -p "$DIR"
    local bin=${CHAT_NODE_BIN:-}
    if [[ -z "$bin" ]]; then
        log "building chat-node (release)"
        cargo build --release --bin chat-node >&2
        bin="$ROOT/target/release/chat-node"
    fi
    local database_url=${DATABASE_URL:-}
    if [[ -z "$database_url" ]]; then
        eval "$(scripts/postgres-test-instance.sh start)"
        database_url=$TEST_DATABASE_URL
    fi
    local redis_url
    if [[ -n "${REDIS_CLUSTER:-}" ]]; then
        redis_url=$(start_redis_cluster)
        export CHAT_REDIS_CLUSTER=1
    else
        local redis_port
        redis_port=$(free_port)
        redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" --dir "$DIR"
        redis_url="redis://127.0.0.1:$redis_port"
    fi
    echo "$redis_url" >"$DIR/redis-url"
    : >"$DIR/nodes"
    local upstream=""
    for i in $(seq 1 "$NODES"); do
        local port
        port=$(free_port)
        DATABASE_URL=$database_url REDIS_URL="$redis_url" \
            nohup "$bin" --bind "127.0.0.1:$port" --node-id "node-$i" \
            --static-dir "${CHAT_STATIC_DIR:-$ROOT/static/dist}" \
            >"$DIR/node-$i.log" 2>&1 &
        echo $! >"$DIR/node-$i.pid"
        echo "http://127.0.0.1:$port" >>"$DIR/nodes"
        upstream+="        server 127.0.0.1:$port;"$'\n'
    done
    while read -r url; do wait_http "$url/api/ready"; done <"$DIR/nodes"
    mkdir -p "$DIR/nginx"
    cat >"$DIR/nginx.conf" <<CONF
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $DIR/nginx;
    proxy_temp_path $DIR/nginx;
    fastcgi_temp_path $DIR/nginx;
    uwsgi_temp_path $DIR/nginx;
    scgi_temp_path $DIR/nginx;
    upstream chat {
$upstream        least_conn;
    }
    map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
    server {
        listen 127.0.0.1:$PORT;
        location / {
            proxy_pass http://chat;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_next_upstream error timeout http_503;
        }
    }
}
CONF
    local nginx=nginx
    command -v nginx >/dev/null 2>&1 || nginx=/usr/sbin/nginx
    "$nginx" -c "$DIR/nginx.conf" -p "$DIR" -e "$DIR/nginx-error.log"
    wait_http "http://127.0.0.1:$PORT/api/health"
    echo "Chat cluster ($NODES nodes behind nginx): http://127.0.0.1:$PORT"
}

down() {
    if [[ -f "$DIR/nginx.pid" ]]; then kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true; fi
    for pidfile in "$DIR"/node-*.pid; do
        [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    sleep 0.5
    for pidfile in "$DIR"/node-*.pid; do
        [[ -f "$pidfile" ]] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    done
    for pidfile in "$DIR"/redis*.pid; do
        [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    if [[ -f "$PG_TEST_STATE" ]]; then scripts/postgres-test-instance.sh stop >/dev/null 2>&1 || true; fi
    rm -rf "$DIR"
    log "stopped"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
