#!/usr/bin/env bash
# tools/demo.sh - `make demo`: two throwaway servers, A and B, synced both
# ways by decoderbufs_apply.  Both take writes; a network partition makes
# them write the same rows; conflicts are resolved by policy (overwrite on
# A, ignore on B: "B wins"; fail for one table on B, stepped over with
# skip_transaction); the conflict log and status view show what happened;
# both sides end with equal table checksums.
set -eu
. "$(dirname "$0")/demo_lib.sh"

PA=${DEMO_PORT_A:-54711}
PB=${DEMO_PORT_B:-54712}
CONF=("shared_preload_libraries = 'decoderbufs_apply'"
      "decoderbufs_apply.restart_delay_min = 200"
      "decoderbufs_apply.restart_delay_max = 2000")

say "starting server A on 127.0.0.1:$PA and server B on 127.0.0.1:$PB"
demo_server a "$PA" "${CONF[@]}"
demo_server b "$PB" "${CONF[@]}"

SCHEMA="CREATE TABLE items (id int PRIMARY KEY, name text, qty int);
CREATE TABLE ledger (id int PRIMARY KEY, amount numeric(12,2), memo text);
CREATE EXTENSION decoderbufs_apply;"
sql $PA "$SCHEMA"
sql $PB "$SCHEMA"

# wait_until <port> <sql returning true>
wait_until() {
    for _ in $(seq 1 300); do
        [ "$("$PGBIN/psql" -X -At -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2")" = t ] && return 0
        sleep 0.1
    done
    echo "timed out waiting for: $2" >&2; return 1
}
# synced: both subscriptions have applied everything the other side wrote
synced() {
    local la lb
    la=$("$PGBIN/psql" -X -At -h 127.0.0.1 -p "$PA" -U postgres -d postgres -c "SELECT pg_current_wal_lsn()")
    lb=$("$PGBIN/psql" -X -At -h 127.0.0.1 -p "$PB" -U postgres -d postgres -c "SELECT pg_current_wal_lsn()")
    wait_until "$PA" "SELECT confirmed_flush_lsn >= '$la' FROM pg_replication_slots WHERE slot_name = 'dbufs_from_a'"
    wait_until "$PB" "SELECT confirmed_flush_lsn >= '$lb' FROM pg_replication_slots WHERE slot_name = 'dbufs_from_b'"
}

say "A subscribes to B with policy overwrite, B to A with policy ignore: on conflict B wins"
sql $PA "SELECT decoderbufs_apply.create_subscription('from_b',
    'host=127.0.0.1 port=$PB dbname=postgres user=postgres', conflict_policy => 'overwrite')"
sql $PB "SELECT decoderbufs_apply.create_subscription('from_a',
    'host=127.0.0.1 port=$PA dbname=postgres user=postgres', conflict_policy => 'ignore')"
say "on B, table ledger uses policy fail: a conflict there stops the subscription"
sql $PB "SELECT decoderbufs_apply.set_table_policy('from_a', 'public.ledger', 'fail')"

say "both servers take writes"
sql $PA "INSERT INTO items SELECT g, 'item ' || g, 10 FROM generate_series(1, 50) g;
INSERT INTO ledger SELECT g, g * 1.25, 'from A' FROM generate_series(1, 10) g;"
sql $PB "INSERT INTO items SELECT g, 'item ' || g, 20 FROM generate_series(51, 100) g;
UPDATE items SET qty = qty + 1 WHERE id % 10 = 0;"
synced
sql $PA "SELECT 'A' AS node, count(*) AS items, sum(qty) AS total_qty FROM items"
sql $PB "SELECT 'B' AS node, count(*) AS items, sum(qty) AS total_qty FROM items"

say "network partition: both subscriptions paused, both sides write the same rows"
sql $PA "SELECT decoderbufs_apply.disable_subscription('from_b')"
sql $PB "SELECT decoderbufs_apply.disable_subscription('from_a')"
sql $PA "INSERT INTO items VALUES (500, 'written on A', 1)"
sql $PA "UPDATE items SET name = 'renamed on A' WHERE id = 7"
sql $PA "UPDATE ledger SET memo = 'corrected on A' WHERE id = 7"
sql $PB "INSERT INTO items VALUES (500, 'written on B', 2)"
sql $PB "DELETE FROM items WHERE id = 8"
sql $PB "DELETE FROM ledger WHERE id = 7"

say "partition healed"
sql $PA "SELECT decoderbufs_apply.enable_subscription('from_b')"
sql $PB "SELECT decoderbufs_apply.enable_subscription('from_a')"
wait_until "$PB" "SELECT last_error LIKE '%update_missing%' FROM decoderbufs_apply.subscription_status"

say "B stopped at A's update of a ledger row B deleted (policy fail): status views"
sql $PA "SELECT subscription, state, inserted, updated, deleted, insert_exists, update_missing, last_error FROM decoderbufs_apply.subscription_status"
sql $PB "SELECT subscription, state, retry_count, update_missing, last_error FROM decoderbufs_apply.subscription_status"

say "B steps over that transaction with skip_transaction(); the delete stays"
sql $PB "SELECT decoderbufs_apply.skip_transaction('from_a',
    (SELECT remote_commit_lsn FROM decoderbufs_apply.conflict_log
     WHERE conflict_type = 'update_missing' AND resolution = 'fail' LIMIT 1))"
synced

say "conflict log on A"
sql $PA "SELECT table_name, conflict_type, resolution, remote_tuple, local_tuple FROM decoderbufs_apply.conflict_log ORDER BY id"
say "conflict log on B"
sql $PB "SELECT table_name, conflict_type, resolution, remote_tuple, local_tuple FROM decoderbufs_apply.conflict_log ORDER BY id"

say "status after recovery"
sql $PA "SELECT subscription, state, lag_bytes, transactions, inserted, updated, deleted FROM decoderbufs_apply.subscription_status"
sql $PB "SELECT subscription, state, lag_bytes, transactions, inserted, updated, deleted FROM decoderbufs_apply.subscription_status"

say "table checksums: A and B must be equal"
CHECK="SELECT 'items' AS tbl, count(*), md5(string_agg(i::text, ',' ORDER BY id)) FROM items i
UNION ALL SELECT 'ledger', count(*), md5(string_agg(l::text, ',' ORDER BY id)) FROM ledger l"
sql $PA "$CHECK"
sql $PB "$CHECK"
a=$("$PGBIN/psql" -X -At -h 127.0.0.1 -p "$PA" -U postgres -d postgres -c "$CHECK")
b=$("$PGBIN/psql" -X -At -h 127.0.0.1 -p "$PB" -U postgres -d postgres -c "$CHECK")
if [ "$a" = "$b" ]; then
    say "A and B have converged"
else
    say "A and B DIFFER"; exit 1
fi
