#!/usr/bin/env bash
# tools/demo.sh - `make demo`: a throwaway server, a few changes of several
# types, and the messages the decoderbufs plugin produces for them, as JSON.
set -eu
. "$(dirname "$0")/demo_lib.sh"

PORT=${DEMO_PORT:-54701}
say "starting a throwaway server on 127.0.0.1:$PORT"
demo_server demo "$PORT"

sql $PORT "CREATE EXTENSION decoderbufs;
CREATE TABLE customer (id int PRIMARY KEY, name text, balance numeric(12,2),
                       joined date, tags text[], last_seen timestamptz);"
sql $PORT "SELECT 'slot created' FROM pg_create_logical_replication_slot('demo', 'decoderbufs');"

say "changes"
sql $PORT "INSERT INTO customer VALUES
    (1, 'Ada', 10.50, '2024-01-15', '{vip,early}', '2024-06-01 12:00+00'),
    (2, 'Grace', NULL, 'infinity', '{}', 'infinity');
UPDATE customer SET balance = balance + 1 WHERE id = 1;
DELETE FROM customer WHERE id = 2;
TRUNCATE customer;
SELECT pg_logical_emit_message(true, 'demo', 'hello');"

say "Debezium-compatible messages (default mode), one per change"
sql $PORT "SELECT lsn, jsonb_pretty(decoderbufs_to_json(data)) AS message
FROM pg_logical_slot_peek_binary_changes('demo', NULL, NULL)" 2>&1 | grep -v '^INFO'

say "the same changes in compact mode, with TRUNCATE and the logical message"
sql $PORT "SELECT decoderbufs_to_json(data) AS message
FROM pg_logical_slot_get_binary_changes('demo', NULL, NULL, 'compact', '1')"
say "done (the server is removed)"
