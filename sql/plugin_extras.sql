--
-- plugin_extras: the fields our options add to Debezium's messages:
-- include-lsn, include-xid64, include-names, exact-values, and
-- include-type-info off.  LSNs and xids differ from run to run: they are
-- checked against the WAL (pg_walinspect) and the server's own values.
--
CREATE EXTENSION pg_walinspect;
SELECT 'init' FROM pg_create_logical_replication_slot('extras', 'decoderbufs');

CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."My Table" ("Id" int PRIMARY KEY, t timetz, v text);
CREATE TABLE x_log (xid xid8, wal_before pg_lsn);

-- Two transactions; each writes down its 64-bit xid and the WAL position
-- before it.
BEGIN;
INSERT INTO x_log VALUES (pg_current_xact_id(), pg_current_wal_insert_lsn());
INSERT INTO "My Schema"."My Table" VALUES (1, '10:00:00+02', 'one');
UPDATE "My Schema"."My Table" SET v = 'uno' WHERE "Id" = 1;
SELECT pg_logical_emit_message(true, 'p', 'in the transaction') IS NOT NULL AS emitted;
COMMIT;
BEGIN;
INSERT INTO x_log VALUES (pg_current_xact_id(), pg_current_wal_insert_lsn());
TRUNCATE "My Schema"."My Table";
COMMIT;
SELECT pg_logical_emit_message(false, 'p', 'outside') IS NOT NULL AS emitted;
-- (a transaction that writes flushes the WAL, the message included)
CREATE TABLE x_end ();
SELECT pg_current_wal_insert_lsn() AS wal_after \gset
-- the WAL records written meanwhile
CREATE TEMP TABLE wal AS
SELECT * FROM pg_get_wal_records_info((SELECT min(wal_before) FROM x_log), :'wal_after');

-- With skip-empty-xacts, BEGIN is written when the first change is sent
-- (and at its LSN), here after the x_log row, which is filtered out; its
-- lsn field still gives where the transaction began.
SELECT op, lsn_is_write_lsn, written_at_next_lsn
FROM (SELECT n, m->>'op' AS op,
             lsn = ('0/0'::pg_lsn + (m->>'lsn')::numeric) AS lsn_is_write_lsn,
             lsn = lead(lsn) OVER (ORDER BY n) AS written_at_next_lsn
      FROM pg_logical_slot_peek_binary_changes('extras', NULL, NULL,
              'include-lsn', '1', 'include-messages', '1', 'include-truncate', '1',
              'skip-empty-xacts', '1', 'exclude-tables', 'x_log')
          WITH ORDINALITY c(lsn, xid, data, n),
           LATERAL (SELECT decoderbufs_to_json(data) AS m) x) s
WHERE op = 'BEGIN' ORDER BY n;

-- Decoded with the options, keeping the messages of the two transactions
-- and the message between them (not the empty transactions of the DDL).
CREATE TEMP TABLE msgs AS
SELECT n, lsn, m
FROM pg_logical_slot_get_binary_changes('extras', NULL, NULL,
        'include-lsn', '1', 'include-xid64', '1', 'include-names', '1',
        'include-truncate', '1', 'include-messages', '1', 'exclude-tables', 'x_log')
    WITH ORDINALITY c(lsn, xid, data, n),
     LATERAL (SELECT decoderbufs_to_json(data) AS m) x
WHERE (m->>'xid64')::numeric IN (SELECT xid::text::numeric FROM x_log)
   OR m->>'op' = 'MESSAGE';
-- which messages carry which of the new fields
SELECT m->>'op' AS op, m->>'table' AS tab,
       m->>'schema_name' AS schema_name, m->>'table_name' AS table_name,
       (SELECT string_agg(k, ' ' ORDER BY k) FROM jsonb_object_keys(m) k
        WHERE k IN ('lsn', 'commit_lsn', 'end_lsn', 'xid64', 'relation_oid')) AS extras
FROM msgs ORDER BY n;

-- include-lsn: each message is written at the LSN in its lsn field (the
-- lsn column), COMMIT at its end_lsn.  BEGIN's lsn is the transaction's
-- first WAL record, a change's its own record, a message's the end of its
-- record (PostgreSQL gives that); commit_lsn is the commit record on
-- BEGIN and COMMIT, and end_lsn its end, where decoding restarts.
SELECT m->>'op' AS op,
       lsn = ('0/0'::pg_lsn + coalesce(m->>'lsn', m->>'end_lsn')::numeric) AS written_at,
       (SELECT resource_manager || ' ' || record_type FROM wal
        WHERE start_lsn = '0/0'::pg_lsn + (m->>'lsn')::numeric AND m->>'op' <> 'MESSAGE') AS record_at_lsn,
       (SELECT resource_manager || ' ' || record_type FROM wal
        WHERE end_lsn = '0/0'::pg_lsn + (m->>'lsn')::numeric AND m->>'op' = 'MESSAGE') AS record_ending_at_lsn,
       (SELECT resource_manager || ' ' || record_type FROM wal
        WHERE start_lsn = '0/0'::pg_lsn + (m->>'commit_lsn')::numeric) AS record_at_commit_lsn,
       (SELECT end_lsn FROM wal
        WHERE start_lsn = '0/0'::pg_lsn + (m->>'commit_lsn')::numeric)
           = '0/0'::pg_lsn + (m->>'end_lsn')::numeric AS end_lsn_ends_it
FROM msgs ORDER BY n;
-- per transaction: BEGIN's lsn is the first record of the transaction's
-- xid, BEGIN and COMMIT name the same commit record, and the LSNs grow
SELECT b.m->'xid64' = c.m->'xid64' AS same_txn,
       b.m->'commit_lsn' = c.m->'commit_lsn' AS same_commit_lsn,
       '0/0'::pg_lsn + (b.m->>'lsn')::numeric
           = (SELECT min(start_lsn) FROM wal
              WHERE xid::text = ((b.m->>'xid64')::numeric % 4294967296)::text) AS begin_is_first_record,
       (SELECT bool_and((r.m->>'lsn')::numeric >= (b.m->>'lsn')::numeric
                        AND (r.m->>'lsn')::numeric <= (c.m->>'commit_lsn')::numeric)
               AND count(*) = count(DISTINCT r.m->'lsn')
        FROM msgs r WHERE r.n > b.n AND r.n < c.n) AS changes_within,
       (c.m->>'commit_lsn')::numeric < (c.m->>'end_lsn')::numeric AS commit_before_end
FROM msgs b
JOIN msgs c ON c.m->>'op' = 'COMMIT'
           AND c.n = (SELECT min(n) FROM msgs WHERE n > b.n AND m->>'op' = 'COMMIT')
WHERE b.m->>'op' = 'BEGIN'
ORDER BY b.n;

-- include-xid64: the xid with its epoch, as pg_current_xact_id() gave it
-- in the transaction, on all its messages; transaction_id is its low 32
-- bits.  The non-transactional message has neither.
SELECT m->>'op' AS op,
       (m->>'xid64')::numeric = (SELECT xid::text::numeric FROM x_log
                                 ORDER BY xid LIMIT 1 OFFSET x.t - 1) AS xid64_ok,
       (m->>'transaction_id')::numeric = (m->>'xid64')::numeric % 4294967296 AS xid_is_low_bits
FROM (SELECT n, m, count(*) FILTER (WHERE m->>'op' = 'BEGIN') OVER (ORDER BY n) AS t
      FROM msgs) x
ORDER BY n;

-- include-names: schema and table unquoted, and the relation's OID, next
-- to Debezium's quoted "table"
SELECT m->>'table' AS tab, m->>'schema_name' AS schema_name, m->>'table_name' AS table_name,
       (m->>'relation_oid')::oid = '"My Schema"."My Table"'::regclass AS oid_ok,
       quote_ident(m->>'schema_name') || '.' || quote_ident(m->>'table_name') = m->>'table'
           AS names_make_table
FROM msgs WHERE m ? 'table' ORDER BY n;

-- exact-values: timetz goes as Debezium's UTC microseconds, which lose the
-- zone, plus its exact text; no other type needs it.
INSERT INTO "My Schema"."My Table" VALUES (2, '23:59:59.999999-15:59', 'two'),
                                          (3, NULL, 'three');
SELECT m->'new_tuple'->0->'datum_int32' AS id,
       datum_text(m->'new_tuple'->1) AS t,
       (m->'new_tuple'->1->>'datum_exact')::timetz = r.t AS exact_ok,
       (m->'new_tuple'->1->>'datum_double')::numeric = extract(epoch FROM r.t) * 1000000 AS utc_ok,
       (SELECT count(*) FROM jsonb_array_elements(m->'new_tuple') d WHERE d ? 'datum_exact') AS exact_count
FROM pg_logical_slot_peek_binary_changes('extras', NULL, NULL, 'exact-values', '1') p,
     LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x
JOIN "My Schema"."My Table" r ON r."Id" = (m->'new_tuple'->0->>'datum_int32')::int
ORDER BY 1;
-- without it, no datum_exact
SELECT count(*) FILTER (WHERE m::text LIKE '%datum_exact%') AS with_exact
FROM pg_logical_slot_peek_binary_changes('extras', NULL, NULL) p,
     LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x;
-- compact mode sends timetz exactly, as its binary send format
-- (binary-values), or with binary-values off as text in datum_exact
SELECT m->'new_tuple'->0->'datum_int32' AS id,
       m->'new_tuple'->1->>'datum_binary' = '\x' || encode(timetz_send(r.t), 'hex') AS binary_ok,
       m->'new_tuple'->1 ? 'datum_exact' AS with_exact
FROM pg_logical_slot_peek_binary_changes('extras', NULL, NULL, 'compact', '1') p,
     LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x
JOIN "My Schema"."My Table" r ON r."Id" = (m->'new_tuple'->0->>'datum_int32')::int
WHERE m->>'op' = 'INSERT' ORDER BY 1;
SELECT m->'new_tuple'->0->'datum_int32' AS id,
       (m->'new_tuple'->1->>'datum_exact')::timetz = r.t AS exact_ok,
       m->'new_tuple'->1 ? 'datum_binary' AS with_binary
FROM pg_logical_slot_peek_binary_changes('extras', NULL, NULL, 'compact', '1',
                                         'binary-values', '0') p,
     LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x
JOIN "My Schema"."My Table" r ON r."Id" = (m->'new_tuple'->0->>'datum_int32')::int
WHERE m->>'op' = 'INSERT' ORDER BY 1;

-- include-type-info: on by default (Debezium's new_typeinfo), off on
-- request; nothing else changes.
SELECT m->>'op' AS op, jsonb_array_length(m->'new_typeinfo') AS typeinfo_entries,
       m->'new_typeinfo'->1 AS t_typeinfo
FROM changes('extras', 'skip-empty-xacts', '1', 'exclude-tables', 'x_log') m
WHERE m ? 'new_tuple';
INSERT INTO "My Schema"."My Table" VALUES (4, NULL, 'four');
SELECT bool_and(NOT a.m ? 'new_typeinfo') AS no_typeinfo,
       bool_and(a.m = b.m - 'new_typeinfo') AS same_otherwise
FROM (SELECT row_number() OVER () AS n, m
      FROM pg_logical_slot_peek_binary_changes('extras', NULL, NULL, 'include-type-info', '0') p,
           LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x) a
JOIN (SELECT row_number() OVER () AS n, m
      FROM pg_logical_slot_peek_binary_changes('extras', NULL, NULL, 'include-type-info', '1') p,
           LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x) b USING (n);

SELECT pg_drop_replication_slot('extras');
DROP SCHEMA "My Schema" CASCADE;
DROP TABLE x_log, x_end;
DROP EXTENSION pg_walinspect;
