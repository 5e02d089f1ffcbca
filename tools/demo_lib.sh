#!/usr/bin/env bash
# tools/demo_lib.sh - throwaway local servers for `make demo` and tools.
# Servers run as the OS user postgres (when started as root) under a temp
# directory, on 127.0.0.1 only, and are removed on exit.
set -u
PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
DEMO_DIR=${DEMO_DIR:-$(mktemp -d /tmp/dbufs-demo.XXXXXX)}
DEMO_SERVERS=()

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# demo_server <name> <port> [postgresql.conf lines...]
demo_server() {
    local name=$1 port=$2; shift 2
    local dd=$DEMO_DIR/$name
    [ "$(id -u)" = 0 ] && chown postgres "$DEMO_DIR"
    as_pg "$PGBIN/initdb" -D "$dd" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$DEMO_DIR'"
        echo "wal_level = logical"
        echo "max_replication_slots = 10"
        echo "max_wal_senders = 10"
        echo "track_commit_timestamp = on"
        if "$PGBIN/postgres" --describe-config 2>/dev/null | grep -q '^output_plugin_libraries'; then
            echo "output_plugin_libraries = 'pgoutput, test_decoding, decoderbufs'"
        fi
        for l in "$@"; do echo "$l"; done
    } >> "$dd/postgresql.conf"
    as_pg "$PGBIN/pg_ctl" -D "$dd" -l "$dd/server.log" -w start >/dev/null
    DEMO_SERVERS+=("$dd")
}

demo_cleanup() {
    for dd in "${DEMO_SERVERS[@]}"; do
        as_pg "$PGBIN/pg_ctl" -D "$dd" -m immediate -w stop >/dev/null 2>&1 || true
    done
    rm -rf "$DEMO_DIR"
}
trap demo_cleanup EXIT

# sql <port> <statements>: run SQL, print results aligned
sql() {
    local port=$1; shift
    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$*"
}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
