--
-- plugin_streaming: transactions sent while still in progress (option
-- stream-changes, compact mode only).  With logical_decoding_work_mem at
-- 64kB, a transaction of a few thousand rows goes out in several blocks
-- (STREAM_START ... STREAM_STOP) before its STREAM_COMMIT or STREAM_ABORT;
-- every change in a block names its (sub)transaction in subxact_id.
--
SET logical_decoding_work_mem = '64kB';

-- A new slot for each case: a decoding session reads the WAL again from
-- the slot's restart point, and may send again (and then abort) a
-- streamed transaction that it skips because an earlier session sent it.
CREATE FUNCTION new_slot() RETURNS text LANGUAGE sql AS $$
    SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
    WHERE slot_name = 'streaming';
    SELECT 'slot ' || slot_name FROM pg_create_logical_replication_slot('streaming', 'decoderbufs');
$$;

CREATE TABLE s_a (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = off);
CREATE TABLE s_b (id int, v text) WITH (autovacuum_enabled = off);

-- The slot's messages, consumed, numbered, with the transaction each
-- belongs to: its own transaction_id, else that of the block it is in.
CREATE FUNCTION streamed(VARIADIC options text[] DEFAULT '{}')
RETURNS TABLE (n bigint, m jsonb, xid bigint)
LANGUAGE sql AS $$
    WITH d AS (
        SELECT n, decoderbufs_to_json(data) AS m
        FROM pg_logical_slot_get_binary_changes('streaming', NULL, NULL,
                 VARIADIC '{compact,1,stream-changes,1}' || options)
             WITH ORDINALITY c(lsn, xid, data, n))
    SELECT d.n, d.m,
           (SELECT (p.m->>'transaction_id')::bigint FROM d p
            WHERE p.n <= d.n AND p.m ? 'transaction_id' ORDER BY p.n DESC LIMIT 1)
    FROM d
$$;

-- Transactions named by order of appearance (T1, T2, ...), subtransactions
-- by their transaction and order of appearance in it (T1.1, ...), so that
-- the output does not depend on the xids of the run.
CREATE FUNCTION labelled(msgs regclass) RETURNS TABLE (n bigint, m jsonb, label text, sub text)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        WITH x AS (SELECT * FROM %s),
        tops AS (SELECT xid, 'T' || row_number() OVER (ORDER BY min(x.n)) AS label
                 FROM x WHERE xid IS NOT NULL GROUP BY xid),
        subs AS (SELECT (x.m->>'subxact_id')::bigint AS sub, x.xid,
                        row_number() OVER (PARTITION BY x.xid ORDER BY min(x.n)) AS k
                 FROM x WHERE (x.m->>'subxact_id')::bigint <> x.xid
                 GROUP BY 1, 2)
        SELECT x.n, x.m, t.label,
               CASE WHEN x.m ? 'subxact_id' THEN
                   CASE WHEN (x.m->>'subxact_id')::bigint = x.xid THEN t.label
                        ELSE t.label || '.' || s.k END END
        FROM x LEFT JOIN tops t USING (xid)
        LEFT JOIN subs s ON s.xid = x.xid AND s.sub = (x.m->>'subxact_id')::bigint
        $q$, msgs);
END
$$;

-- One line per message, runs of the same line collapsed ("x N"), the
-- boundaries between two blocks of one transaction left out (their number
-- depends on memory accounting; it is checked apart), and RELATION messages
-- too (a block after a catalog change describes the relation again).
CREATE FUNCTION summary(msgs regclass) RETURNS SETOF text
LANGUAGE sql AS $$
    WITH l AS (
        SELECT n, m, label, sub,
               CASE m->>'op'
                   WHEN 'STREAM_START' THEN 'STREAM_START ' || label ||
                       CASE WHEN (m->>'stream_first')::bool THEN ' first' ELSE '' END
                   WHEN 'STREAM_STOP' THEN 'STREAM_STOP ' || label
                   WHEN 'STREAM_COMMIT' THEN 'STREAM_COMMIT ' || label
                   WHEN 'STREAM_ABORT' THEN 'STREAM_ABORT ' || label || ' of ' || sub
                   WHEN 'BEGIN' THEN 'BEGIN ' || label
                   WHEN 'COMMIT' THEN 'COMMIT ' || label
                   WHEN 'TRUNCATE' THEN 'TRUNCATE ' || (m->'truncate'->>'tables') || ' in ' || sub
                   WHEN 'MESSAGE' THEN 'MESSAGE ' || (m->'message'->>'prefix') || ':' ||
                       (m->'message'->>'content') || ' in ' || sub
                   ELSE (m->>'op') || ' ' || (m->>'relation_oid')::oid::regclass::text ||
                       coalesce(' in ' || sub, '')
               END AS line,
               lead(m) OVER (ORDER BY n) AS next_m,
               lag(m) OVER (ORDER BY n) AS prev_m
        FROM labelled(msgs) WHERE m->>'op' <> 'RELATION'),
    kept AS (
        SELECT n, line FROM l
        WHERE NOT coalesce(m->>'op' = 'STREAM_STOP' AND next_m->>'op' = 'STREAM_START'
                           AND next_m->'transaction_id' = m->'transaction_id', false)
          AND NOT coalesce(m->>'op' = 'STREAM_START' AND prev_m->>'op' = 'STREAM_STOP'
                           AND prev_m->'transaction_id' = m->'transaction_id', false)),
    runs AS (
        SELECT n, line, n - row_number() OVER (PARTITION BY line ORDER BY n) AS run
        FROM (SELECT row_number() OVER (ORDER BY n) AS n, line FROM kept) k)
    SELECT line || CASE WHEN count(*) > 1 THEN ' x ' || count(*) ELSE '' END
    FROM runs GROUP BY line, run ORDER BY min(n)
$$;

-- Checks of the stream's structure that hold whatever the block sizes:
-- blocks per transaction, stream_first only on a transaction's first
-- block, every change inside a block of its transaction, every row's
-- relation described before it in the stream.
CREATE FUNCTION structure(msgs regclass) RETURNS TABLE (label text, blocks bigint,
    first_ok boolean, changes_in_blocks boolean, described boolean)
LANGUAGE sql AS $$
    WITH l AS (SELECT * FROM labelled(msgs)),
    blk AS (SELECT n, m, label,
                   (SELECT s.m->>'op' FROM l s
                    WHERE s.n < l.n AND s.m->>'op' IN ('STREAM_START', 'STREAM_STOP', 'BEGIN', 'COMMIT',
                                                       'STREAM_COMMIT', 'STREAM_ABORT')
                    ORDER BY s.n DESC LIMIT 1) AS opened_by
            FROM l)
    SELECT label,
           count(*) FILTER (WHERE m->>'op' = 'STREAM_START'),
           coalesce(bool_and(((m->>'stream_first')::bool) =
                             (n = (SELECT min(f.n) FROM l f WHERE f.label = blk.label
                                   AND f.m->>'op' = 'STREAM_START')))
                    FILTER (WHERE m->>'op' = 'STREAM_START'), true),
           coalesce(bool_and(opened_by IN ('STREAM_START', 'BEGIN'))
                    FILTER (WHERE m->>'op' IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'MESSAGE', 'RELATION')), true),
           coalesce(bool_and(EXISTS (SELECT FROM l r WHERE r.n < blk.n AND r.m->>'op' = 'RELATION'
                                     AND r.m->'relation_oid' = blk.m->'relation_oid'))
                    FILTER (WHERE m->>'op' IN ('INSERT', 'UPDATE', 'DELETE')), true)
    FROM blk WHERE label IS NOT NULL GROUP BY label ORDER BY label
$$;

-- Here the transactions are decoded after they ended: when a block reaches
-- a change whose (sub)transaction has aborted meanwhile, the decoder learns
-- it from the catalog lookup that the change needs, and stops sending that
-- transaction's changes.  A message needs no lookup: the aborted
-- (sub)transactions below start with one, so that they have sent something
-- when STREAM_ABORT comes.  (A consumer that streams live gets their rows.)

-- (1) A big transaction: rows, a subtransaction rolled back after it went
-- out (STREAM_ABORT of the subtransaction), a released one (its changes
-- stay, with its own xid), a transactional message, a TRUNCATE, more rows,
-- an UPDATE and a DELETE, then COMMIT.
SELECT new_slot();
BEGIN;
INSERT INTO s_a SELECT g, repeat('a', 100) FROM generate_series(1, 1000) g;
SAVEPOINT s1;
SELECT pg_logical_emit_message(true, 'p', 'rolled back') IS NOT NULL AS emitted;
INSERT INTO s_b SELECT g, repeat('b', 100) FROM generate_series(1, 600) g;
ROLLBACK TO s1;
RELEASE s1;
SAVEPOINT s2;
INSERT INTO s_b SELECT g, 'kept' FROM generate_series(1, 3) g;
RELEASE s2;
SELECT pg_logical_emit_message(true, 'p', 'in stream') IS NOT NULL AS emitted;
TRUNCATE s_a;
INSERT INTO s_a SELECT g, repeat('c', 100) FROM generate_series(1, 700) g;
UPDATE s_a SET pad = 'updated' WHERE id = 1;
DELETE FROM s_a WHERE id = 2;
COMMIT;
CREATE TEMP TABLE m1 AS SELECT * FROM streamed();
SELECT summary('m1');
SELECT label, blocks > 1 AS several_blocks, first_ok, changes_in_blocks, described
FROM structure('m1');
-- STREAM_COMMIT has the fields of a COMMIT; STREAM_START/STOP/ABORT the
-- transaction's ids (and STREAM_ABORT the abort's LSN); changes their
-- subtransaction and no transaction fields
SELECT m->>'op' AS op, string_agg(DISTINCT k, ' ' ORDER BY k) AS fields
FROM m1, jsonb_object_keys(m) k
WHERE m->>'op' NOT IN ('RELATION') GROUP BY 1 ORDER BY 1;
SELECT (m->>'commit_lsn')::bigint < (m->>'end_lsn')::bigint AS lsns_ok,
       (m->>'xid64')::bigint % 4294967296 = (m->>'transaction_id')::bigint AS xid64_ok
FROM m1 WHERE m->>'op' = 'STREAM_COMMIT';

-- (2) A big transaction that aborts: its blocks, then STREAM_ABORT of the
-- whole transaction.
SELECT new_slot();
BEGIN;
SELECT pg_logical_emit_message(true, 'p', 'rolled back') IS NOT NULL AS emitted;
INSERT INTO s_b SELECT g, repeat('x', 100) FROM generate_series(1, 1500) g;
ROLLBACK;
-- (an abort record is not flushed at once; a checkpoint flushes it)
CHECKPOINT;
CREATE TEMP TABLE m2 AS SELECT * FROM streamed();
SELECT summary('m2');
SELECT label, blocks > 1 AS several_blocks, first_ok, changes_in_blocks, described
FROM structure('m2');

-- (3) A small transaction is sent whole at its commit, as without the
-- option; so is everything without stream-changes.
SELECT new_slot();
INSERT INTO s_b VALUES (1, 'small');
BEGIN;
INSERT INTO s_b SELECT g, repeat('y', 100) FROM generate_series(1, 1500) g;
COMMIT;
CREATE TEMP TABLE m3 AS
SELECT n, decoderbufs_to_json(data) AS m, NULL::bigint AS xid
FROM pg_logical_slot_get_binary_changes('streaming', NULL, NULL, 'compact', '1')
     WITH ORDINALITY c(lsn, xid, data, n);
UPDATE m3 SET xid = (SELECT (p.m->>'transaction_id')::bigint FROM m3 p
                     WHERE p.n <= m3.n AND p.m ? 'transaction_id' ORDER BY p.n DESC LIMIT 1);
SELECT summary('m3');

-- (4) Filters apply to streamed changes: a transaction none of whose
-- changes pass sends nothing (skip-empty-xacts, on in compact mode), or
-- empty blocks and its STREAM_COMMIT without it.
SELECT new_slot();
BEGIN;
INSERT INTO s_b SELECT g, repeat('z', 100) FROM generate_series(1, 1500) g;
COMMIT;
SELECT count(*) AS messages FROM pg_logical_slot_peek_binary_changes('streaming', NULL, NULL,
    'compact', '1', 'stream-changes', '1', 'exclude-tables', 's_b');
CREATE TEMP TABLE m4 AS SELECT * FROM streamed('exclude-tables', 's_b', 'skip-empty-xacts', 'off');
SELECT summary('m4');

-- (5) Batches (batch-size) are written at the end of every block, so a
-- batch holds messages of one block (or one whole transaction) only, and
-- the messages are the same as without batches.
SELECT new_slot();
BEGIN;
INSERT INTO s_a SELECT g, repeat('d', 100) FROM generate_series(1001, 2500) g;
SAVEPOINT s3;
DELETE FROM s_a WHERE id > 2000;
ROLLBACK TO s3;
COMMIT;
CREATE TEMP TABLE unbatched AS
SELECT n, decoderbufs_to_json(data) AS m
FROM pg_logical_slot_peek_binary_changes('streaming', NULL, NULL, 'compact', '1',
                                         'stream-changes', '1')
    WITH ORDINALITY c(lsn, xid, data, n);
CREATE TEMP TABLE batches AS
SELECT b, length(data) AS bytes, decoderbufs_batch_to_json(data) AS rows
FROM pg_logical_slot_get_binary_changes('streaming', NULL, NULL, 'compact', '1',
                                        'stream-changes', '1', 'batch-size', '4096')
    WITH ORDINALITY c(lsn, xid, data, b);
SELECT count(*) > 2 AS several_batches,
       bool_and(bytes >= 4096 OR rows->-1->>'op' IN ('STREAM_STOP', 'STREAM_COMMIT', 'STREAM_ABORT', 'COMMIT'))
           AS flush_ok,
       bool_and(NOT EXISTS (SELECT FROM jsonb_array_elements(rows) WITH ORDINALITY x(r, o)
                            WHERE r->>'op' IN ('STREAM_STOP', 'STREAM_COMMIT', 'STREAM_ABORT')
                              AND o < jsonb_array_length(rows))) AS block_ends_batch
FROM batches;
SELECT count(*) AS messages, bool_and(u.m = bm.m) AS same_as_unbatched
FROM (SELECT row_number() OVER (ORDER BY b, o) AS n, r AS m
      FROM batches, jsonb_array_elements(rows) WITH ORDINALITY x(r, o)) bm
FULL JOIN unbatched u USING (n);

-- (6) Text output in debug mode works too.
SELECT new_slot();
BEGIN;
INSERT INTO s_b SELECT g, repeat('t', 100) FROM generate_series(1, 1500) g;
COMMIT;
SELECT count(*) FILTER (WHERE data::jsonb->>'op' = 'STREAM_START') > 1 AS blocks,
       count(*) FILTER (WHERE data::jsonb->>'op' = 'INSERT') AS inserts,
       count(*) FILTER (WHERE data::jsonb->>'op' = 'STREAM_COMMIT') AS commits
FROM pg_logical_slot_get_changes('streaming', NULL, NULL, 'compact', '1',
                                 'stream-changes', '1', 'debug-mode', '1');

-- Option errors: streaming needs compact mode; a bad value.
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('streaming', NULL, NULL,
    'stream-changes', '1');
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('streaming', NULL, NULL,
    'compact', '1', 'stream-changes', 'maybe');
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('streaming', NULL, NULL,
    'compact', '1', 'stream-changes', '0', 'stream-changes', '1');

SELECT pg_drop_replication_slot('streaming');
DROP TABLE s_a, s_b;
DROP FUNCTION new_slot(), streamed(text[]), labelled(regclass), summary(regclass),
    structure(regclass);
RESET logical_decoding_work_mem;
