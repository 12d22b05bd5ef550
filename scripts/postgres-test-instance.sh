#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store tests and benchmarks.
#
#   eval "$(scripts/postgres-test-instance.sh start)"   # prints export TEST_DATABASE_URL=...
#   cargo test -p chat-node --test store
#   scripts/postgres-test-instance.sh stop               # stops it and deletes its data
#   scripts/postgres-test-instance.sh pause|resume       # an outage: crash it, start it again
#
#   PG_TEST_NETNS=ns PG_TEST_LISTEN=10.213.7.2 scripts/postgres-test-instance.sh start
#       # runs it inside network namespace `ns` (made by the caller), listening on that
#       # address of the namespace and accepting password logins from its subnet
#
#   PG_TEST_TLS=DIR scripts/postgres-test-instance.sh start
#       # TLS only: ssl=on with DIR/server.crt and DIR/server.key, and every TCP login
#       # `hostssl` (a client without TLS is refused)
#
# On a fresh Debian machine (as root) it installs PostgreSQL when no initdb is found,
# creates a cluster in a temporary directory owned by a non-root user (postgres refuses
# to run as root), and starts it on a free loopback port. fsync stays on, because the
# tests and benchmarks measure durable commits; shared_buffers is kept small.
#
# Only the export lines go to stdout; progress goes to stderr. `start` on a running
# instance prints its exports again. The state file (override with PG_TEST_STATE) records
# the directory, port, pid and user so that `stop` removes everything.
set -euo pipefail

STATE_FILE=${PG_TEST_STATE:-/tmp/chat-node-postgres-test.state}
DB_NAME=${PG_TEST_DB:-chat_test}
DB_USER=chat
# Where the server runs and listens; `stop`, `pause` and `resume` read them from the state
# file instead.
NETNS=${PG_TEST_NETNS:-}
LISTEN=${PG_TEST_LISTEN:-127.0.0.1}
TLS_DIR=${PG_TEST_TLS:-}

log() { echo "postgres-test-instance: $*" >&2; }

# Prints the directory holding initdb/pg_ctl/postgres, or nothing.
find_bin_dir() {
    local initdb
    initdb=$(command -v initdb 2>/dev/null || true)
    if [[ -n "$initdb" ]]; then
        dirname "$(readlink -f "$initdb")"
        return
    fi
    # Debian keeps the server binaries out of PATH, one directory per major version.
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        echo "$dir"
    fi
}

install_postgres() {
    if [[ $(id -u) -ne 0 ]]; then
        log "initdb not found and not root: install PostgreSQL first"
        exit 1
    fi
    log "installing PostgreSQL with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
}

# Runs a command inside the server's network namespace, if it has one.
in_netns() {
    if [[ -n "$NETNS" ]]; then
        ip netns exec "$NETNS" "$@"
    else
        "$@"
    fi
}

# Runs a command as the user that owns the cluster (in the server's namespace).
as_owner() {
    if [[ "$RUN_AS" == "$(id -un)" ]]; then
        in_netns "$@"
    else
        # From /, which every user can enter (postgres tools complain about a cwd they
        # cannot read, such as /root).
        (cd / && in_netns runuser -u "$RUN_AS" -- "$@")
    fi
}

# Whether something already listens on $LISTEN:$1.
port_in_use() {
    in_netns bash -c "exec 3<>/dev/tcp/$LISTEN/$1" 2>/dev/null
}

# Starts the server on $PORT (data, logs and socket in $DIR).
start_server() {
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start -o \
        "-c port=$PORT -c listen_addresses=$LISTEN -c unix_socket_directories=$DIR \
         -c fsync=on -c synchronous_commit=on -c full_page_writes=on \
         -c shared_buffers=32MB -c max_connections=200" >&2
}

print_exports() {
    echo "export TEST_DATABASE_URL=postgres://$DB_USER:$DB_PASSWORD@$LISTEN:$PORT/$DB_NAME"
    echo "export PG_TEST_DIR=$DIR"
}

is_running() {
    [[ -f "$STATE_FILE" ]] || return 1
    # shellcheck disable=SC1090
    source "$STATE_FILE"
    [[ -n "${PID:-}" ]] && kill -0 "$PID" 2>/dev/null
}

start() {
    if is_running; then
        log "already running on port $PORT (pid $PID)"
        print_exports
        return
    fi

    BIN=$(find_bin_dir)
    if [[ -z "$BIN" ]]; then
        install_postgres
        BIN=$(find_bin_dir)
        [[ -n "$BIN" ]] || { log "PostgreSQL installed but initdb not found"; exit 1; }
    fi
    log "using $BIN"

    if [[ $(id -u) -eq 0 ]]; then
        RUN_AS=postgres
        if ! id -u "$RUN_AS" >/dev/null 2>&1; then
            useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_AS"
        fi
    else
        RUN_AS=$(id -un)
    fi

    DIR=$(mktemp -d /tmp/chat-node-pg.XXXXXX)
    chmod 700 "$DIR"
    chown "$RUN_AS" "$DIR"
    DB_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s\n' "$DB_PASSWORD" >"$DIR/pwfile"
    chown "$RUN_AS" "$DIR/pwfile"

    as_owner "$BIN/initdb" -D "$DIR/data" -U "$DB_USER" --pwfile="$DIR/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --no-locale >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    rm -f "$DIR/pwfile"
    if [[ "$LISTEN" != 127.0.0.1 ]]; then
        # Clients come from other hosts of the listen address's subnet (initdb admits only
        # loopback ones).
        echo "host all all samenet scram-sha-256" >>"$DIR/data/pg_hba.conf"
    fi
    if [[ -n "$TLS_DIR" ]]; then
        # The server reads its key only if no one else can.
        install -m 600 -o "$RUN_AS" "$TLS_DIR/server.crt" "$DIR/data/server.crt"
        install -m 600 -o "$RUN_AS" "$TLS_DIR/server.key" "$DIR/data/server.key"
        printf '%s\n' "ssl = on" "ssl_cert_file = 'server.crt'" "ssl_key_file = 'server.key'" \
            >>"$DIR/data/postgresql.conf"
        sed -i -E 's/^host(\s)/hostssl\1/' "$DIR/data/pg_hba.conf"
    fi

    local attempt
    for attempt in $(seq 1 20); do
        PORT=$((20000 + RANDOM % 20000))
        port_in_use "$PORT" && continue
        if start_server; then
            break
        fi
        log "start on port $PORT failed (attempt $attempt), trying another port"
        tail -n 5 "$DIR/server.log" >&2 || true
        PORT=
    done
    [[ -n "${PORT:-}" ]] || { log "could not start PostgreSQL"; exit 1; }

    PID=$(head -n 1 "$DIR/data/postmaster.pid")
    as_owner "$BIN/psql" -h "$DIR" -p "$PORT" -U "$DB_USER" -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE DATABASE $DB_NAME" >&2

    cat >"$STATE_FILE" <<EOF
DIR=$DIR
PORT=$PORT
PID=$PID
BIN=$BIN
RUN_AS=$RUN_AS
DB_PASSWORD=$DB_PASSWORD
NETNS=$NETNS
LISTEN=$LISTEN
EOF
    chmod 600 "$STATE_FILE"
    log "running on $LISTEN:$PORT${NETNS:+ in namespace $NETNS} (pid $PID, data in $DIR)"
    print_exports
}

stop() {
    if [[ ! -f "$STATE_FILE" ]]; then
        log "no instance recorded in $STATE_FILE"
        return
    fi
    # shellcheck disable=SC1090
    source "$STATE_FILE"
    if [[ -n "${PID:-}" ]] && kill -0 "$PID" 2>/dev/null; then
        as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || kill "$PID" 2>/dev/null || true
    fi
    case "$DIR" in
        /tmp/chat-node-pg.*) rm -rf "$DIR" ;;
        *) log "not removing unexpected directory $DIR" ;;
    esac
    rm -f "$STATE_FILE"
    log "stopped"
}

# An outage, for the fault tests: the server dies at once (as in a crash), its data stays.
pause() {
    # shellcheck disable=SC1090
    source "$STATE_FILE"
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >&2
    log "paused (data kept in $DIR)"
}

# The end of the outage: the same data, the same port.
resume() {
    # shellcheck disable=SC1090
    source "$STATE_FILE"
    start_server
    PID=$(head -n 1 "$DIR/data/postmaster.pid")
    sed -i "s/^PID=.*/PID=$PID/" "$STATE_FILE"
    log "resumed on $LISTEN:$PORT (pid $PID)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    pause) pause ;;
    resume) resume ;;
    *)
        echo "usage: $0 start|stop|pause|resume" >&2
        exit 2
        ;;
esac
