--
-- plugin_compact: compact mode.  A RELATION message describes a relation
-- once per decoding session before its first row, and again after it
-- changes; rows then carry the relation OID and values only.  Batched
-- output (batch-size) packs many messages into one RowBatch.
--
SELECT 'init' FROM pg_create_logical_replication_slot('compact', 'decoderbufs');

-- (autovacuum off: an ANALYZE would re-send the RELATION messages)
CREATE TABLE c_a (id int PRIMARY KEY, name varchar(20) NOT NULL,
                  price numeric(10,2), at timestamp(3) with time zone, tags text[])
    WITH (autovacuum_enabled = off);
CREATE TABLE c_b (k text, n int NOT NULL, PRIMARY KEY (n, k))
    WITH (autovacuum_enabled = off);
ALTER TABLE c_b REPLICA IDENTITY FULL;

-- The compact messages of the slot, consumed.
CREATE FUNCTION compact(VARIADIC options text[] DEFAULT '{}') RETURNS SETOF jsonb
LANGUAGE sql AS $$
    SELECT decoderbufs_to_json(data)
    FROM pg_logical_slot_get_binary_changes('compact', NULL, NULL,
                                            VARIADIC '{compact,1}' || options)
$$;
-- A compact message in one line: rows name their relation by the OID.
CREATE FUNCTION show(m jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE m->>'op'
        WHEN 'RELATION' THEN
            'RELATION ' || (m->'relation'->>'schema_name') || '.' || (m->'relation'->>'table_name')
            || ' (' || (SELECT string_agg(c->>'name' || CASE WHEN (c->>'is_key')::bool THEN '*' ELSE '' END,
                                          ', ' ORDER BY o)
                        FROM jsonb_array_elements(m->'relation'->'columns') WITH ORDINALITY x(c, o))
            || ') identity ' || (m->'relation'->>'replica_identity')
        WHEN 'TRUNCATE' THEN
            'TRUNCATE ' || (m->'truncate'->>'tables')
        WHEN 'MESSAGE' THEN
            'MESSAGE ' || (m->'message'->>'prefix') || ':' || (m->'message'->>'content')
        ELSE
            message_text(m) || coalesce(' ' || (m->>'relation_oid')::oid::regclass::text, '')
    END
$$;
-- The RELATION message a relation should get, from the catalog.
CREATE FUNCTION expected_relation(tab regclass) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'relation_oid', c.oid::bigint,
        'schema_name', n.nspname,
        'table_name', c.relname,
        'replica_identity', c.relreplident,
        'columns', (SELECT jsonb_agg(jsonb_build_object(
                        'name', a.attname,
                        'type_oid', a.atttypid::bigint,
                        'typmod', a.atttypmod,
                        'type_name', format_type(a.atttypid, a.atttypmod),
                        'is_key', coalesce(a.attnum = ANY (i.indkey), false),
                        'not_null', a.attnotnull) ORDER BY a.attnum)
                    FROM pg_attribute a
                    LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = tab
$$;

-- Each relation is described before its first row; the row has only its
-- values.  Empty transactions (the CREATE TABLEs) are skipped by default.
INSERT INTO c_a VALUES (1, 'one', 1.5, '2020-01-01 00:00:00.123+00', '{a,b}');
INSERT INTO c_b VALUES ('x', 1);
INSERT INTO c_a VALUES (2, 'two', NULL, NULL, '{}');
CREATE TEMP TABLE msgs AS SELECT n, m FROM compact() WITH ORDINALITY c(m, n);
SELECT show(m) FROM msgs ORDER BY n;
-- RELATION messages against the catalog
SELECT m->'relation'->>'table_name' AS tab,
       m->'relation' = expected_relation((m->'relation'->>'relation_oid')::oid::regclass) AS relation_ok,
       (m->>'relation_oid')::oid = (m->'relation'->>'relation_oid')::oid AS oid_ok
FROM msgs WHERE m->>'op' = 'RELATION' ORDER BY n;
SELECT jsonb_pretty(m->'relation'->'columns'->3) AS one_column
FROM msgs WHERE m->>'op' = 'RELATION' ORDER BY n LIMIT 1;
-- The fields of each kind of message: transaction fields on BEGIN and
-- COMMIT only (with the LSNs and 64-bit xid compact mode always sends),
-- rows without names, types or type info.
SELECT op,
       (SELECT string_agg(DISTINCT k, ' ' ORDER BY k)
        FROM msgs x, jsonb_object_keys(x.m) k WHERE x.m->>'op' = o.op) AS fields,
       (SELECT string_agg(DISTINCT k, ' ' ORDER BY k)
        FROM msgs x, jsonb_array_elements(x.m->'new_tuple') d, jsonb_object_keys(d) k
        WHERE x.m->>'op' = o.op) AS datum_fields
FROM (SELECT m->>'op' AS op, min(n) AS first FROM msgs GROUP BY 1) o ORDER BY first;
-- and the row values are those of the table, in column order; numeric
-- goes in its binary send format (binary-values, on in compact mode)
SELECT a.id, m->'new_tuple'->0->>'datum_int32' = a.id::text
             AND m->'new_tuple'->1->>'datum_string' = a.name
             AND m->'new_tuple'->2->>'datum_binary'
                 IS NOT DISTINCT FROM '\x' || encode(numeric_send(a.price), 'hex')
             AND (m->'new_tuple'->3->>'datum_int64')::numeric
                 IS NOT DISTINCT FROM extract(epoch FROM a.at) * 1000000
             AND m->'new_tuple'->4->>'datum_bytes' = a.tags::text AS values_ok
FROM msgs JOIN c_a a ON a.id = (m->'new_tuple'->0->>'datum_int32')::int
WHERE m->>'op' = 'INSERT' ORDER BY n;

-- A new decoding session describes the relations again; a relation left
-- out by the table filters is not described.
INSERT INTO c_a VALUES (3, 'three', 3, NULL, NULL);
INSERT INTO c_b VALUES ('x', 3);
SELECT show(m) FROM compact('exclude-tables', 'c_b') m;

-- In one session, a relation is described again after it changes, even
-- in the middle of a transaction; a dropped column leaves it.
INSERT INTO c_a VALUES (4, 'four', 4, NULL, NULL);
ALTER TABLE c_a ADD COLUMN extra int DEFAULT 7;
INSERT INTO c_a VALUES (5, 'five', 5, NULL, NULL);
INSERT INTO c_b VALUES ('y', 2);
BEGIN;
INSERT INTO c_b VALUES ('z', 3);
ALTER TABLE c_b RENAME COLUMN k TO key;
UPDATE c_b SET n = 4 WHERE n = 3;
ALTER TABLE c_b DROP COLUMN key;
DELETE FROM c_b WHERE n = 4;
COMMIT;
CREATE TEMP TABLE msgs2 AS SELECT n, m FROM compact() WITH ORDINALITY c(m, n);
SELECT show(m) FROM msgs2 ORDER BY n;
-- every row has as many values as the relation described last has columns
SELECT m->>'op' AS op,
       jsonb_array_length(m->'new_tuple') AS new_values,
       jsonb_array_length(m->'old_tuple') AS old_values,
       (SELECT jsonb_array_length(r.m->'relation'->'columns') FROM msgs2 r
        WHERE r.m->>'op' = 'RELATION' AND r.m->'relation_oid' = x.m->'relation_oid'
          AND r.n < x.n ORDER BY r.n DESC LIMIT 1) AS described_columns
FROM msgs2 x WHERE m ? 'relation_oid' AND m->>'op' <> 'RELATION' ORDER BY n;

-- Compact defaults: TRUNCATE and messages are sent (the relation is
-- described first), empty transactions are not, unless asked.
TRUNCATE c_b;
SELECT pg_logical_emit_message(true, 'p', 'm') IS NOT NULL AS emitted;
CREATE TABLE c_empty (id int);
SELECT show(m) FROM compact() m;
TRUNCATE c_b;
SELECT pg_logical_emit_message(true, 'p', 'm') IS NOT NULL AS emitted;
DROP TABLE c_empty;
SELECT show(m) FROM compact('include-truncate', '0', 'include-messages', 'off',
                            'skip-empty-xacts', 'false') m;

-- Batches (batch-size): each output row is a RowBatch of several
-- messages, written when it reaches batch-size bytes and at COMMIT; a
-- non-transactional message is written at once.  The messages are the
-- same as without batches.  (flush_ok: the batch is full, or ends with a
-- COMMIT or a non-transactional message.)
INSERT INTO c_a SELECT i, 'row ' || i, i, NULL, NULL FROM generate_series(10, 29) i;
SELECT pg_logical_emit_message(false, 'p', 'non-transactional') IS NOT NULL AS emitted;
INSERT INTO c_a VALUES (30, 'thirty', 30, NULL, NULL);
CREATE TEMP TABLE unbatched AS
SELECT n, decoderbufs_to_json(data) AS m
FROM pg_logical_slot_peek_binary_changes('compact', NULL, NULL, 'compact', '1')
    WITH ORDINALITY c(lsn, xid, data, n);
CREATE TEMP TABLE batches AS
SELECT b, length(data) AS bytes, decoderbufs_batch_to_json(data) AS rows
FROM pg_logical_slot_get_binary_changes('compact', NULL, NULL, 'compact', '1',
                                        'batch-size', '256')
    WITH ORDINALITY c(lsn, xid, data, b);
SELECT b, jsonb_array_length(rows) AS messages,
       bytes >= 256 OR rows->-1->>'op' IN ('COMMIT', 'MESSAGE') AS flush_ok,
       (SELECT string_agg(CASE WHEN r->>'op' = 'INSERT'
                               THEN (r->'new_tuple'->0->>'datum_int32') ELSE r->>'op' END,
                          ' ' ORDER BY o)
        FROM jsonb_array_elements(rows) WITH ORDINALITY x(r, o)) AS contents
FROM batches ORDER BY b;
SELECT count(*) AS messages,
       bool_and(u.m = bm.m) AS same_as_unbatched
FROM (SELECT row_number() OVER (ORDER BY b, o) AS n, r AS m
      FROM batches, jsonb_array_elements(rows) WITH ORDINALITY x(r, o)) bm
FULL JOIN unbatched u USING (n);
-- the same with a batch large enough for a whole transaction
INSERT INTO c_a VALUES (31, 'a', 1, NULL, NULL), (32, 'b', 2, NULL, NULL);
SELECT pg_logical_emit_message(false, 'p', 'between') IS NOT NULL AS emitted;
INSERT INTO c_a VALUES (33, 'c', 3, NULL, NULL);
SELECT jsonb_array_length(decoderbufs_batch_to_json(data)) AS messages,
       (SELECT string_agg(r->>'op', ' ' ORDER BY o)
        FROM jsonb_array_elements(decoderbufs_batch_to_json(data)) WITH ORDINALITY x(r, o)) AS ops
FROM pg_logical_slot_get_binary_changes('compact', NULL, NULL, 'compact', '1',
                                        'batch-size', '1000000');
-- a batch (here of an INSERT and a BEGIN) does not parse as a RowMessage;
-- a RowMessage read as a batch has no rows (its fields are unknown there)
SELECT decoderbufs_batch_to_json('\x0a0220000a022003'::bytea);
SELECT decoderbufs_to_json('\x0a0220000a022003'::bytea);
SELECT decoderbufs_batch_to_json('\x2003'::bytea);

SELECT pg_drop_replication_slot('compact');
DROP TABLE c_a, c_b;
DROP FUNCTION compact(text[]), show(jsonb), expected_relation(regclass);
