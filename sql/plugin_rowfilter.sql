--
-- plugin_rowfilter: option row-filter, "<table pattern>: <SQL boolean
-- expression>", with PostgreSQL 15 pgoutput's semantics.  A NULL result is
-- false.  INSERT is sent if the new row matches, DELETE if the old row
-- does; an UPDATE whose old and new rows both match is an UPDATE, one
-- moving into the filter an INSERT of the new row, one moving out of it a
-- DELETE of the old row, and one matching neither is not sent.  The old row
-- is the old tuple of the replica identity; without one (the key did not
-- change) the new row decides.  The option may be repeated; the first
-- occurrence whose pattern matches a table applies.
--
SELECT 'init' FROM pg_create_logical_replication_slot('rowfilter', 'decoderbufs');

-- The messages of the slot, peeked with these options, one line each
-- (empty transactions skipped).
CREATE FUNCTION rf(VARIADIC options text[]) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT message_text(decoderbufs_to_json(data))
    FROM pg_logical_slot_peek_binary_changes('rowfilter', NULL, NULL,
                                             VARIADIC '{skip-empty-xacts,1}' || options)
$$;
-- Consume what the slot holds.
CREATE FUNCTION rf_done() RETURNS boolean LANGUAGE sql AS $$
    SELECT count(*) > 0 FROM pg_logical_slot_get_binary_changes('rowfilter', NULL, NULL)
$$;

--
-- REPLICA IDENTITY DEFAULT, a filter on the key.  An UPDATE that keeps the
-- key logs no old tuple: the new row decides.  One that changes it logs
-- the old key, and moves the row into or out of the filter.
--
CREATE TABLE rf_def (id int PRIMARY KEY, v text);
INSERT INTO rf_def VALUES (1, 'a'), (2, 'b'), (11, 'k'), (12, 'l');
UPDATE rf_def SET v = 'a2' WHERE id = 1;    -- key kept, no match: nothing
UPDATE rf_def SET v = 'k2' WHERE id = 11;   -- key kept, match: UPDATE
UPDATE rf_def SET id = 21 WHERE id = 1;     -- moves in: INSERT of the new row
UPDATE rf_def SET id = 3 WHERE id = 12;     -- moves out: DELETE of the old key
UPDATE rf_def SET id = 13 WHERE id = 11;    -- stays in: UPDATE with the old key
UPDATE rf_def SET id = 4 WHERE id = 2;      -- stays out: nothing
DELETE FROM rf_def WHERE id = 13;           -- match: DELETE
DELETE FROM rf_def WHERE id = 3;            -- no match: nothing
SELECT rf(VARIADIC '{}') AS unfiltered;
SELECT rf('row-filter', 'rf_def: id > 10') AS filtered;
-- the same decisions through debug-mode's JSON text
SELECT data::jsonb->>'op' AS op,
       data::jsonb->'new_tuple'->0->'datum_int32' AS new_id,
       data::jsonb->'old_tuple'->0->'datum_int32' AS old_id
FROM pg_logical_slot_peek_changes('rowfilter', NULL, NULL, 'debug-mode', '1',
                                  'skip-empty-xacts', '1', 'row-filter', 'rf_def: id > 10');
-- compact mode: the DELETE made of an UPDATE has the old key only, and the
-- relation is described before its first row that is sent
SELECT m->>'op' AS op, m->'new_tuple' AS new_tuple, m->'old_tuple' AS old_tuple
FROM pg_logical_slot_peek_binary_changes('rowfilter', NULL, NULL, 'compact', '1',
                                         'row-filter', 'rf_def: id > 10') p,
     LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x
WHERE m->>'op' NOT IN ('BEGIN', 'COMMIT');
SELECT rf_done();

--
-- REPLICA IDENTITY FULL: the filter may use every column, and the old row
-- of an UPDATE or DELETE is the whole row.  NULL counts as no match.
--
CREATE TABLE rf_full (id int PRIMARY KEY, total numeric, region text);
ALTER TABLE rf_full REPLICA IDENTITY FULL;
INSERT INTO rf_full VALUES (1, 50, 'eu'), (2, 150, 'eu'), (3, 200, 'us'),
                           (4, NULL, 'eu'), (5, 300, 'eu');
UPDATE rf_full SET total = 500 WHERE id = 1;    -- moves in: INSERT
UPDATE rf_full SET region = 'us' WHERE id = 2;  -- moves out: DELETE of the old row
UPDATE rf_full SET total = 400 WHERE id = 5;    -- stays in: UPDATE
UPDATE rf_full SET id = 6 WHERE id = 5;         -- key change, stays in: UPDATE
UPDATE rf_full SET total = total + 1 WHERE id = 3;  -- stays out: nothing
UPDATE rf_full SET total = NULL WHERE id = 6;   -- NULL result: moves out, DELETE
UPDATE rf_full SET total = 101 WHERE id = 4;    -- from NULL: moves in, INSERT
DELETE FROM rf_full WHERE id IN (1, 3, 6);      -- 1 matches; 3 and 6 (NULL) do not
SELECT rf('row-filter', 'rf_full: total > 100 AND region = ''eu''') AS filtered;
-- a NULL result is false, IS NULL can select it
SELECT rf('row-filter', 'rf_full: total IS NULL') AS total_is_null;
-- a filter without columns: all or nothing
SELECT count(*) AS all_rows FROM rf('row-filter', 'rf_full: 1 < 2');
SELECT count(*) AS no_rows FROM rf('row-filter', 'rf_full: NULL::boolean');
-- built-in immutable functions and operators, CASE, IN, BETWEEN, LIKE,
-- COALESCE, casts of constants
SELECT rf('row-filter', 'rf_full: CASE WHEN region LIKE ''e%'' THEN coalesce(total, 0) BETWEEN 100 AND 450
                                       ELSE id IN (3, 7) END
                                  AND upper(region) <> ''XX''::text AND id::numeric < 10.5') AS expression;
SELECT rf_done();

--
-- Unchanged TOAST values: the new row of an UPDATE does not have them.
-- Under FULL the old row has them: the filter uses them, and an UPDATE
-- moving into the filter is sent as an INSERT with them.  Otherwise such
-- an INSERT sends them as missing, as an UPDATE does.
--
CREATE FUNCTION noise(n int) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(md5(i::text), '') FROM generate_series(1, n) i
$$;
-- A message with long values shortened: missing, or length and md5 prefix.
CREATE FUNCTION rf_short(VARIADIC options text[]) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT (m->>'op') || ' ' || (m->>'table')
        || coalesce(' new(' || (SELECT string_agg(CASE
                WHEN d ? 'datum_missing' THEN d->>'column_name' || '=missing'
                WHEN length(d->>'datum_string') > 100
                    THEN d->>'column_name' || '=' || length(d->>'datum_string') || ':' || left(md5(d->>'datum_string'), 8)
                ELSE datum_text(d) END, ', ' ORDER BY n)
            FROM jsonb_array_elements(m->'new_tuple') WITH ORDINALITY x(d, n)) || ')', '')
        || coalesce(' old(' || (SELECT string_agg(CASE
                WHEN length(d->>'datum_string') > 100
                    THEN d->>'column_name' || '=' || length(d->>'datum_string') || ':' || left(md5(d->>'datum_string'), 8)
                ELSE datum_text(d) END, ', ' ORDER BY n)
            FROM jsonb_array_elements(m->'old_tuple') WITH ORDINALITY x(d, n)) || ')', '')
    FROM pg_logical_slot_peek_binary_changes('rowfilter', NULL, NULL,
                                             VARIADIC '{skip-empty-xacts,1}' || options) p,
         LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x
    WHERE m->>'op' NOT IN ('BEGIN', 'COMMIT')
$$;
CREATE TABLE rf_toast_full (id int PRIMARY KEY, n int, big text);
ALTER TABLE rf_toast_full REPLICA IDENTITY FULL, ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE rf_toast_def (id int PRIMARY KEY, n int, big text);
ALTER TABLE rf_toast_def ALTER COLUMN big SET STORAGE EXTERNAL;
-- a key stored out of line is logged in the old tuple even when unchanged
CREATE TABLE rf_toast_key (k text PRIMARY KEY, n int);
ALTER TABLE rf_toast_key ALTER COLUMN k SET STORAGE EXTERNAL;
SELECT left(md5(noise(100)), 8) AS big_md5, left(md5(noise(75)), 8) AS key_md5;
INSERT INTO rf_toast_full VALUES (1, 0, noise(100));
INSERT INTO rf_toast_def VALUES (1, 0, noise(100));
INSERT INTO rf_toast_key VALUES (noise(75), 0);
SELECT rf_done();
UPDATE rf_toast_full SET n = 1;             -- moves in: INSERT, big from the old row
UPDATE rf_toast_full SET n = 2;             -- stays in: UPDATE, big missing as logged
UPDATE rf_toast_full SET n = 0;             -- moves out: DELETE of the whole old row
UPDATE rf_toast_def SET id = 2;             -- moves in: INSERT, big missing
UPDATE rf_toast_key SET n = 1;              -- unchanged key: from the old key
UPDATE rf_toast_key SET k = 'short';        -- moves out: DELETE of the old key
SELECT rf_short('row-filter', 'rf_toast_full: n > 0 AND length(big) > 1000',
                'row-filter', 'rf_toast_def: id > 1',
                'row-filter', 'rf_toast_key: length(k) > 1000') AS toast;
-- a filter that lets every row through changes nothing, byte for byte
CREATE FUNCTION rf_bytes(VARIADIC options text[]) RETURNS bytea[] LANGUAGE sql AS $$
    SELECT array_agg(data ORDER BY n)
    FROM pg_logical_slot_peek_binary_changes('rowfilter', NULL, NULL, VARIADIC options)
        WITH ORDINALITY c(lsn, xid, data, n)
$$;
SELECT rf_bytes('include-lsn', '1') = rf_bytes('include-lsn', '1', 'row-filter', '*: true')
           AS same_default,
       rf_bytes('compact', '1') = rf_bytes('compact', '1', 'row-filter', '*: true')
           AS same_compact;
SELECT rf_done();

--
-- Patterns: the first occurrence whose pattern matches a table applies;
-- tables no pattern matches are not filtered.  Quoted names keep their
-- case and may hold a colon; unquoted ones fold to lower case.
--
CREATE SCHEMA rf_s;
CREATE TABLE rf_a (id int PRIMARY KEY);
CREATE TABLE rf_b (id int PRIMARY KEY);
CREATE TABLE rf_s.rf_a (id int PRIMARY KEY);
CREATE TABLE "RF Mixed" ("Id" int PRIMARY KEY, "Val" text);
CREATE TABLE "rf:colon" (id int PRIMARY KEY);
CREATE TABLE rf_other (id int PRIMARY KEY);
INSERT INTO rf_a SELECT generate_series(1, 4);
INSERT INTO rf_b SELECT generate_series(1, 4);
INSERT INTO rf_s.rf_a SELECT generate_series(1, 4);
INSERT INTO "RF Mixed" VALUES (1, 'x'), (2, 'Y'), (3, 'y');
INSERT INTO "rf:colon" SELECT generate_series(1, 4);
INSERT INTO rf_other SELECT generate_series(1, 2);
-- The ids of each table's rows that are sent.
CREATE FUNCTION rf_ids(VARIADIC options text[]) RETURNS TABLE (tab text, ids text) LANGUAGE sql AS $$
    SELECT m->>'table', string_agg(coalesce(m->'new_tuple'->0->>'datum_int32', '?'), ' ' ORDER BY n)
    FROM pg_logical_slot_peek_binary_changes('rowfilter', NULL, NULL, VARIADIC options)
             WITH ORDINALITY c(lsn, xid, data, n),
         LATERAL (SELECT decoderbufs_to_json(c.data) AS m) x
    WHERE m->>'op' = 'INSERT'
    GROUP BY 1 ORDER BY 1
$$;
SELECT * FROM rf_ids('row-filter', 'public.rf_a: id > 1',
                     'row-filter', 'rf_?: id > 2',
                     'row-filter', '*.rf_*: id > 3');
-- order matters: the catch-all first wins everywhere
SELECT * FROM rf_ids('row-filter', '*.rf_?: id = 1',
                     'row-filter', 'rf_a: id > 1');
SELECT * FROM rf_ids('row-filter', '  RF_S.RF_A  :   id = 2   ',
                     'row-filter', '"RF Mixed": "Id" > 1 AND lower("Val") = ''y''',
                     'row-filter', '"rf:colon": id IN (1, 4)',
                     'row-filter', 'rf_b: rf_b.id = 3',
                     'row-filter', 'rf_other: public.rf_other.id = 2');
-- a pattern in the wrong case matches nothing: no filter
SELECT * FROM rf_ids('row-filter', '"rf_A": id = 0') WHERE tab = 'public.rf_a';
SELECT rf_done();

--
-- Errors.  Those in the expression itself are found when the options are
-- read; those that need the table, when the table is first decoded; a
-- filter on a column outside the replica identity (not FULL), at its
-- first UPDATE or DELETE.  Each error names the option and its value.
-- (The CONTEXT lines, which hold an LSN, are not shown.)
--
\set SHOW_CONTEXT never
CREATE TABLE rf_err (id int PRIMARY KEY, v text, n int);
CREATE TYPE rf_mood AS ENUM ('sad', 'happy');
CREATE TABLE rf_err_udt (id int PRIMARY KEY, mood rf_mood);
CREATE FUNCTION rf_plus_one(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';
INSERT INTO rf_err VALUES (1, 'a', 1);
INSERT INTO rf_err_udt VALUES (1, 'happy');
SELECT rf_done();
INSERT INTO rf_err VALUES (2, 'b', 2);
INSERT INTO rf_err_udt VALUES (2, 'sad');
-- the value
SELECT rf('row-filter', 'rf_err id > 1');
SELECT rf('row-filter', 'rf_err');
SELECT rf('row-filter', ': id > 1');
SELECT rf('row-filter', 'rf_err.: id > 1');
SELECT rf('row-filter', '"rf_err: id > 1');
SELECT rf('row-filter', 'rf_err:');
SELECT rf('row-filter', 'rf_err:   ');
-- the expression's syntax
SELECT rf('row-filter', 'rf_err: id >');
SELECT rf('row-filter', 'rf_err: id > 1 AND AND n < 2');
SELECT rf('row-filter', 'rf_err: (id > 1');
SELECT rf('row-filter', 'rf_err: ''unterminated');
-- exactly one expression
SELECT rf('row-filter', 'rf_err: true; SELECT 1');
SELECT rf('row-filter', 'rf_err: id > 1 ORDER BY 1');
SELECT rf('row-filter', 'rf_err: true GROUP BY 1');
SELECT rf('row-filter', 'rf_err: true UNION SELECT WHERE false');
SELECT rf('row-filter', 'rf_err: true LIMIT 1');
SELECT rf('row-filter', 'rf_err: true FOR UPDATE');
-- subqueries, even harmless ones
SELECT rf('row-filter', 'rf_err: id IN (SELECT 1)');
SELECT rf('row-filter', 'rf_err: EXISTS (SELECT FROM rf_err)');
SELECT rf('row-filter', 'rf_err: id = (SELECT max(id) FROM rf_err)');
-- against the table
SELECT rf('row-filter', 'rf_err: nope > 1');
SELECT rf('row-filter', 'rf_err: other.id > 1');
SELECT rf('row-filter', 'rf_err: id');
SELECT rf('row-filter', 'rf_err: v > 1');
SELECT rf('row-filter', 'rf_err: count(*) > 1');
SELECT rf('row-filter', 'rf_err: row_number() OVER () > 1');
SELECT rf('row-filter', 'rf_err: generate_series(1, id) > 1');
SELECT rf('row-filter', 'rf_err: $1 > 1');
-- functions: volatile, stable, user-defined, even immutable
SELECT rf('row-filter', 'rf_err: random() > 0.5');
SELECT rf('row-filter', 'rf_err: now() > ''2000-01-01''');
SELECT rf('row-filter', 'rf_err: n::text = ''1''');
SELECT rf('row-filter', 'rf_err: rf_plus_one(id) > 1');
-- system columns, whole rows, user-defined types
SELECT rf('row-filter', 'rf_err: xmin <> ''0''::xid');
SELECT rf('row-filter', 'rf_err: ctid > ''(0,1)''');
SELECT rf('row-filter', 'rf_err: rf_err IS NOT NULL');
SELECT rf('row-filter', 'rf_err_udt: mood = ''happy''');
-- an error in an expression that is otherwise fine stops the decoding
SELECT rf('row-filter', 'rf_err: 1 / (id - 2) > 0');
-- a table the pattern does not match does not look at the expression
SELECT count(*) AS rf_err_untouched FROM rf('row-filter', 'nosuchtable: nope > 1');
-- errors in the expressions themselves come first, whatever the order
SELECT rf('row-filter', 'rf_err: random() > 1', 'row-filter', 'rf_err: id >');

-- A column outside the replica identity (DEFAULT: the primary key): fine
-- for INSERTs, an error at the first UPDATE or DELETE.
SELECT rf('row-filter', 'rf_err: n > 1 AND v = ''b''') AS inserts_only;
SELECT rf_done();
UPDATE rf_err SET n = 5 WHERE id = 2;
SELECT rf('row-filter', 'rf_err: n > 1');
SELECT rf_done();
DELETE FROM rf_err WHERE id = 2;
SELECT rf('row-filter', 'rf_err: id > 0 AND v IS NOT NULL');
-- REPLICA IDENTITY USING INDEX: its columns are allowed, the others not
SELECT rf_done();
CREATE UNIQUE INDEX rf_err_v ON rf_err (v);
ALTER TABLE rf_err ALTER COLUMN v SET NOT NULL, REPLICA IDENTITY USING INDEX rf_err_v;
UPDATE rf_err SET n = 6 WHERE id = 1;
SELECT rf('row-filter', 'rf_err: v <> ''x''');
SELECT rf('row-filter', 'rf_err: id > 0');
-- NOTHING: no column at all; a DELETE has no old row, and only a filter
-- without columns can decide it
SELECT rf_done();
ALTER TABLE rf_err REPLICA IDENTITY NOTHING;
INSERT INTO rf_err VALUES (3, 'c', 3);
DELETE FROM rf_err WHERE id = 3;
SELECT rf('row-filter', 'rf_err: id > 0');
SELECT rf('row-filter', 'rf_err: true');
-- DEFAULT without a primary key logs no old row either
CREATE TABLE rf_nokey (id int, v text);
INSERT INTO rf_nokey VALUES (1, 'a');
UPDATE rf_nokey SET v = 'b';
SELECT rf('row-filter', 'rf_nokey: id = 1');
-- and FULL allows every column
SELECT rf_done();
ALTER TABLE rf_err REPLICA IDENTITY FULL;
INSERT INTO rf_err VALUES (4, 'd', 4);
DELETE FROM rf_err WHERE id = 4;
SELECT rf('row-filter', 'rf_err: n = 4 AND v = ''d''');
\set SHOW_CONTEXT errors

SELECT pg_drop_replication_slot('rowfilter');
DROP SCHEMA rf_s CASCADE;
DROP TABLE rf_def, rf_full, rf_toast_full, rf_toast_def, rf_toast_key, rf_a, rf_b,
    "RF Mixed", "rf:colon", rf_other, rf_err, rf_err_udt, rf_nokey;
DROP TYPE rf_mood;
DROP FUNCTION rf(text[]), rf_done(), noise(int), rf_short(text[]), rf_ids(text[]),
    rf_bytes(text[]), rf_plus_one(int);
