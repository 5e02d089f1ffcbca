--
-- plugin_columns: options columns and operations, both per table
-- ("<table pattern>: <setting>", repeatable, the first occurrence whose
-- pattern matches a table applies).
--   columns "<pattern>: col, ..." sends only those columns (in the table's
--   order), in every mode: Debezium's, compact (whose RELATION messages
--   describe only them) and debug-mode.  The replica identity key columns
--   must be listed unless the table's operations leave out both UPDATE and
--   DELETE.
--   operations "<pattern>: insert, update, delete, truncate" (any subset)
--   sends only those; an UPDATE that a row filter turns into an INSERT or
--   a DELETE counts as that.  TRUNCATE lists only the tables whose
--   operations include it, and is not sent when none is left.
--
SELECT 'init' FROM pg_create_logical_replication_slot('columns', 'decoderbufs');

-- The messages of the slot, peeked with these options, one line each
-- (empty transactions skipped); TRUNCATE with its tables.
CREATE FUNCTION cl(VARIADIC options text[]) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT CASE WHEN m->>'op' = 'TRUNCATE' THEN 'TRUNCATE ' || (m->'truncate'->>'tables')
                ELSE message_text(m) END
    FROM pg_logical_slot_peek_binary_changes('columns', NULL, NULL,
                                             VARIADIC '{skip-empty-xacts,1}' || options) p,
         LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x
$$;
CREATE FUNCTION cl_done() RETURNS boolean LANGUAGE sql AS $$
    SELECT count(*) > 0 FROM pg_logical_slot_get_binary_changes('columns', NULL, NULL)
$$;

--
-- columns
--
CREATE TABLE cl_t (id int PRIMARY KEY, a text, "B" int, "Mixed Col" text, c numeric);
INSERT INTO cl_t VALUES (1, 'a1', 10, 'm1', 1.5);
UPDATE cl_t SET a = 'a2', c = 2.5 WHERE id = 1;
UPDATE cl_t SET id = 2 WHERE id = 1;
DELETE FROM cl_t WHERE id = 2;
SELECT cl(VARIADIC '{}') AS all_columns;
-- in the table's order, whatever the list's; unquoted names fold to lower
-- case, quoted ones keep it
SELECT cl('columns', 'cl_t: "Mixed Col", ID, "B"') AS three_columns;
-- with their type information and key flags
SELECT m->>'op' AS op, m->'new_typeinfo' AS typeinfo,
       (SELECT string_agg(datum_text(d), ', ') FROM jsonb_array_elements(m->'old_tuple') d) AS old
FROM pg_logical_slot_peek_binary_changes('columns', NULL, NULL, 'columns', 'cl_t: c, id',
                                         'include-key-flags', '1') p,
     LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x
WHERE m ? 'table';
-- debug-mode's JSON
SELECT data::jsonb - 'transaction_id' - 'commit_time' AS debug_mode
FROM pg_logical_slot_peek_changes('columns', NULL, NULL, 'debug-mode', '1',
                                  'include-type-info', '0', 'columns', 'cl_t: id, a')
WHERE data::jsonb ? 'table';
-- listing every column changes nothing, byte for byte (without the empty
-- transactions an autovacuum may commit between the two calls)
CREATE FUNCTION cl_bytes(VARIADIC options text[]) RETURNS bytea[] LANGUAGE sql AS $$
    SELECT array_agg(data ORDER BY n)
    FROM pg_logical_slot_peek_binary_changes('columns', NULL, NULL,
                                             VARIADIC '{skip-empty-xacts,1}' || options)
        WITH ORDINALITY c(lsn, xid, data, n)
$$;
SELECT cl_bytes('include-key-flags', '1')
           = cl_bytes('include-key-flags', '1', 'columns', 'cl_t: c, "Mixed Col", "B", a, id')
           AS same_default,
       cl_bytes('compact', '1')
           = cl_bytes('compact', '1', 'columns', 'cl_t: c, "Mixed Col", "B", a, id',
                      'operations', '*: insert, update, delete, truncate')
           AS same_compact;
-- the first occurrence whose pattern matches applies
SELECT cl('columns', 'cl_?: id, c', 'columns', 'cl_t: id, a') AS first_match;
SELECT cl('columns', 'other: a', 'columns', '*.cl_*: id, "B"') AS second_match;

-- Compact mode: the RELATION message describes the columns sent, the rows
-- carry their values in that order, an old key its key columns.
CREATE FUNCTION show(m jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE m->>'op'
        WHEN 'RELATION' THEN
            'RELATION ' || (m->'relation'->>'schema_name') || '.' || (m->'relation'->>'table_name')
            || ' (' || (SELECT string_agg(c->>'name' || CASE WHEN (c->>'is_key')::bool THEN '*' ELSE '' END
                                          || ' ' || (c->>'type_name'), ', ' ORDER BY o)
                        FROM jsonb_array_elements(m->'relation'->'columns') WITH ORDINALITY x(c, o))
            || ') identity ' || (m->'relation'->>'replica_identity')
        WHEN 'TRUNCATE' THEN 'TRUNCATE ' || (m->'truncate'->>'tables')
        ELSE message_text(m)
    END
$$;
SELECT show(decoderbufs_to_json(data)) AS compact
FROM pg_logical_slot_peek_binary_changes('columns', NULL, NULL, 'compact', '1',
                                         'columns', 'cl_t: c, "Mixed Col", id');
SELECT cl_done();

-- REPLICA IDENTITY FULL: the old row has the columns sent.  The key
-- columns that must be listed are those of the primary key, if any.
CREATE TABLE cl_full (id int PRIMARY KEY, a text, b text);
ALTER TABLE cl_full REPLICA IDENTITY FULL;
CREATE TABLE cl_full_nopk (a int, b text);
ALTER TABLE cl_full_nopk REPLICA IDENTITY FULL;
INSERT INTO cl_full VALUES (1, 'a', 'b');
UPDATE cl_full SET a = 'a2', b = 'b2';
DELETE FROM cl_full;
INSERT INTO cl_full_nopk VALUES (1, 'b');
UPDATE cl_full_nopk SET b = 'b2';
DELETE FROM cl_full_nopk;
SELECT cl('columns', 'cl_full: id, b', 'columns', 'cl_full_nopk: b') AS full_identity;
SELECT show(decoderbufs_to_json(data)) AS compact
FROM pg_logical_slot_peek_binary_changes('columns', NULL, NULL, 'compact', '1',
                                         'columns', 'cl_full: b, id', 'columns', 'cl_full_nopk: b');
SELECT cl_done();

--
-- operations
--
CREATE TABLE op_a (id int PRIMARY KEY, v text);
CREATE TABLE op_b (id int PRIMARY KEY);
CREATE TABLE op_c (id int PRIMARY KEY);
CREATE TABLE "Op Mixed" (id int PRIMARY KEY);
INSERT INTO op_a VALUES (1, 'x'), (2, 'y');
UPDATE op_a SET v = 'x2' WHERE id = 1;
DELETE FROM op_a WHERE id = 2;
INSERT INTO op_b VALUES (1);
INSERT INTO "Op Mixed" VALUES (1);
TRUNCATE op_a, op_b, op_c, "Op Mixed";
SELECT cl('include-truncate', '1') AS all_operations;
SELECT cl('include-truncate', '1', 'operations', 'op_a: insert') AS op_a_inserts;
SELECT cl('include-truncate', '1', 'operations', ' op_a :  UPDATE ,Delete ') AS op_a_updates_deletes;
-- an empty list sends nothing of the table
SELECT cl('include-truncate', '1', 'operations', 'op_a:') AS op_a_nothing;
-- TRUNCATE lists the tables whose operations include it
SELECT cl('include-truncate', '1', 'operations', 'op_a: insert, delete',
          'operations', 'op_*: truncate', 'operations', '"Op Mixed": insert') AS first_match;
-- and is not sent if none is left
SELECT cl('include-truncate', '1', 'operations', '*: insert, update, delete') AS no_truncate;
-- compact mode: no RELATION message for a table none of whose rows are sent
SELECT show(decoderbufs_to_json(data)) AS compact
FROM pg_logical_slot_peek_binary_changes('columns', NULL, NULL, 'compact', '1',
                                         'operations', 'op_b: delete', 'operations', '*: insert');
SELECT cl_done();

-- With a row filter, an UPDATE moving into the filter is an INSERT and one
-- moving out of it a DELETE, for operations too.
CREATE TABLE op_rf (id int PRIMARY KEY, v text);
INSERT INTO op_rf VALUES (1, 'a'), (11, 'b');
UPDATE op_rf SET id = 21 WHERE id = 1;      -- moves in: INSERT
UPDATE op_rf SET id = 2 WHERE id = 11;      -- moves out: DELETE
UPDATE op_rf SET id = 22 WHERE id = 21;     -- stays in: UPDATE
SELECT cl('row-filter', 'op_rf: id > 10') AS all_operations;
SELECT cl('row-filter', 'op_rf: id > 10', 'operations', 'op_rf: insert') AS inserts;
SELECT cl('row-filter', 'op_rf: id > 10', 'operations', 'op_rf: update') AS updates;
SELECT cl('row-filter', 'op_rf: id > 10', 'operations', 'op_rf: delete') AS deletes;
-- without a filter an UPDATE stays an UPDATE
SELECT cl('operations', 'op_rf: insert, delete') AS no_filter;
SELECT cl_done();

-- Without UPDATE and DELETE, the key columns need not be sent.
INSERT INTO cl_t VALUES (3, 'a3', 30, 'm3', 3.5);
UPDATE cl_t SET a = 'a4';
TRUNCATE cl_t;
SELECT cl('include-truncate', '1', 'columns', 'cl_t: a', 'operations', 'cl_t: insert, truncate')
    AS no_key_needed;
SELECT cl_done();

--
-- Errors name the option and its value.  The column names are checked
-- when the table is first decoded.  (The CONTEXT lines, which hold an LSN,
-- are not shown.)
--
\set SHOW_CONTEXT never
INSERT INTO cl_t VALUES (4, 'a4', 40, 'm4', 4.5);
-- a key column left out, while UPDATE or DELETE may be sent
SELECT cl('columns', 'cl_t: a, c');
SELECT cl('columns', 'cl_t: a, c', 'operations', 'cl_t: insert, delete');
SELECT cl('columns', 'cl_t: a, c', 'operations', 'cl_t: update');
-- columns the table does not have
SELECT cl('columns', 'cl_t: id, nope');
SELECT cl('columns', 'cl_t: id, b');
SELECT cl('columns', 'cl_t: id, "mixed col"');
-- a column listed twice
SELECT cl('columns', 'cl_t: id, ID');
-- the list's syntax
SELECT cl('columns', 'cl_t:');
SELECT cl('columns', 'cl_t: id,,a');
SELECT cl('columns', 'cl_t: id a');
SELECT cl('columns', 'cl_t: "id');
SELECT cl('columns', 'cl_t: id, Mixed Col');
SELECT cl('columns', 'cl_t id, a');
-- operations' names
SELECT cl('operations', 'cl_t: insert, upsert');
SELECT cl('operations', 'cl_t: "INSERT"');
SELECT cl('operations', 'cl_t: insert update');
SELECT cl('operations', 'cl_t insert');
-- a dropped column is no column: rows before the DROP are decoded as the
-- table was then, the first one after it fails
ALTER TABLE cl_t DROP COLUMN c;
INSERT INTO cl_t VALUES (5, 'a5', 50, 'm5');
SELECT cl('columns', 'cl_t: id, c');
-- repeating these options is fine, repeating the others is not
SELECT count(*) AS repeated FROM cl('columns', 'a: x', 'columns', 'b: y', 'operations', 'a: insert',
                                    'operations', 'b: insert', 'row-filter', 'a: true',
                                    'row-filter', 'b: true');
SELECT cl('include-tables', 'cl_t', 'include-tables', 'cl_t');
\set SHOW_CONTEXT errors

SELECT pg_drop_replication_slot('columns');
DROP TABLE cl_t, cl_full, cl_full_nopk, op_a, op_b, op_c, "Op Mixed", op_rf;
DROP FUNCTION cl(text[]), cl_done(), show(jsonb), cl_bytes(text[]);
