--
-- plugin_bad_values: every plugin option with bad values - NULL (an
-- option given without a value), empty, of the wrong type, out of range,
-- unknown words, malformed patterns and settings, hostile text - and
-- every option given twice.  Table-driven: each row shows what the plugin
-- made of one value, "ok" or the error with its SQLSTATE, detail and hint.
-- The slot has one change to decode, so that errors found only when a
-- table is decoded (row filters, column lists) show too.
--
-- (The INFO lines are the plugin's, for Debezium's connector, at every
-- start but in compact mode.)
SELECT 'init' FROM pg_create_logical_replication_slot('bad_values', 'decoderbufs');
CREATE TABLE bv_t (id int PRIMARY KEY, v text);
INSERT INTO bv_t VALUES (1, 'one');

-- Decode the slot with the options given; 'ok' or the error in full.
CREATE FUNCTION bv_try(VARIADIC options text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
    detail text;
    hint text;
BEGIN
    PERFORM count(*) FROM pg_logical_slot_peek_binary_changes('bad_values', NULL, NULL, VARIADIC options);
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
        detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RETURN state || ': ' || msg || coalesce(E'\nDETAIL: ' || nullif(detail, ''), '')
        || coalesce(E'\nHINT: ' || nullif(hint, ''), '');
END
$$;

CREATE TABLE bv_case (n serial, option text, value text);

-- Boolean options: nothing but a Boolean word (or a unique prefix of one,
-- as PostgreSQL's own settings) is taken.  A NULL value (an option without
-- a value, which START_REPLICATION allows: true, false for Debezium's
-- debug-mode) cannot come through the SQL functions, which refuse it.
INSERT INTO bv_case (option, value)
SELECT o, v
FROM unnest(ARRAY['debug-mode', 'compact', 'only-local', 'include-lsn', 'include-xid64',
                  'include-origin', 'include-names', 'include-key-flags', 'include-type-info',
                  'exact-values', 'binary-values', 'include-truncate', 'include-messages',
                  'skip-empty-xacts', 'stream-changes']) WITH ORDINALITY o(o, i),
     unnest(ARRAY[NULL, '', 'maybe', '2', ' on', 'on ', 'tru', E'\x01']) WITH ORDINALITY v(v, j)
ORDER BY i, j;

-- Integer options: proto-version 1 and up (only 1 is spoken), batch-size
-- 0 or 256 up to half of MaxAllocSize.
INSERT INTO bv_case (option, value)
SELECT o, v
FROM unnest(ARRAY['proto-version', 'batch-size']) WITH ORDINALITY o(o, i),
     unnest(ARRAY[NULL, '', ' ', '1 ', ' 1', '+1', '0x10', '1e3', '1.0', '-0', '-1', '0', '2',
                  '255', '256', '536870911', '536870912', '2147483647', '2147483648',
                  '-2147483649', '99999999999999999999', 'one']) WITH ORDINALITY v(v, j)
ORDER BY i, j;

-- Table lists: comma-separated [schema.]table patterns.
INSERT INTO bv_case (option, value)
SELECT o, v
FROM unnest(ARRAY['include-tables', 'exclude-tables']) WITH ORDINALITY o(o, i),
     unnest(ARRAY[NULL, '', ' ', ',', 'a,', ',a', 'a,,b', 'a b', 'a.', '.a', 'a.b.c', '..',
                  '"', '"a', 'a"', '""', '"a"b', 'a."', '*', '*.*', '?.?', 'a*b.c?d',
                  '"a*"', 'public.' || repeat('x', 100), E'a\tb', 'a;b', 'a:b',
                  'bv_t; DROP TABLE bv_t', E'\u00e9t\u00e9.t']) WITH ORDINALITY v(v, j)
ORDER BY i, j;

-- Per-table options: "<pattern>: <setting>".
INSERT INTO bv_case (option, value)
SELECT 'row-filter', v
FROM unnest(ARRAY[NULL, '', ':', 'bv_t', 'bv_t:', 'bv_t:   ', ': id > 1', 'a.b.c: true',
                  '"bv_t: true', 'bv_t: id >', 'bv_t: (', 'bv_t: id > 1)', 'bv_t: id > 1; DROP TABLE bv_t',
                  'bv_t: true) OR (true', 'bv_t: id > 1 ORDER BY 1', 'bv_t: id > 1 LIMIT 1',
                  'bv_t: (SELECT true)', 'bv_t: EXISTS (SELECT 1 FROM pg_class)',
                  'bv_t: id IN (SELECT 1)', 'bv_t: nosuch > 1', 'bv_t: id', 'bv_t: v',
                  'bv_t: 1', 'bv_t: NULL', 'bv_t: count(*) > 0', 'bv_t: random() > 0.5',
                  'bv_t: pg_sleep(1) IS NULL', 'bv_t: nosuchfunc(id)', 'bv_t: id > $1',
                  'bv_t: row_number() OVER () > 1', 'bv_t: id::regclass IS NULL',
                  'bv_t: txid_current() > 0', 'bv_t: now() > ''2000-01-01''',
                  'nosuch: nosuch > 1']) WITH ORDINALITY v(v, j)
ORDER BY j;
INSERT INTO bv_case (option, value)
SELECT 'columns', v
FROM unnest(ARRAY[NULL, '', 'bv_t', 'bv_t:', 'bv_t: ,', 'bv_t: id,', 'bv_t: ,id', 'bv_t: id,,v',
                  'bv_t: id, id', 'bv_t: id, ID', 'bv_t: "id", id', 'bv_t: "ID"', 'bv_t: nosuch',
                  'bv_t: v', 'bv_t: "unterminated', 'bv_t: id v', 'bv_t: id; v',
                  'bv_t: ' || repeat('x', 100), 'nosuch: nosuch']) WITH ORDINALITY v(v, j)
ORDER BY j;
INSERT INTO bv_case (option, value)
SELECT 'operations', v
FROM unnest(ARRAY[NULL, '', 'bv_t', 'bv_t:', 'bv_t: ,', 'bv_t: insert,', 'bv_t: insert,,delete',
                  'bv_t: upsert', 'bv_t: INSERT', 'bv_t: "INSERT"', 'bv_t: insert, insert',
                  'bv_t: insert update', 'bv_t: select', 'bv_t: *']) WITH ORDINALITY v(v, j)
ORDER BY j;

-- Unknown options, and names that are nearly right.
INSERT INTO bv_case (option, value)
VALUES ('', '1'), (' compact', '1'), ('compact ', '1'), ('COMPACT', '1'),
       ('include_lsn', '1'), ('include-lsns', '1'), ('row_filter', 'bv_t: true'),
       (repeat('o', 200), '1'), (E'compact\n', '1');

\pset format unaligned
\pset fieldsep ' | '
SELECT n, option, coalesce(value, '(null)') AS value, bv_try(option, value) AS result
FROM bv_case ORDER BY n;
\pset format aligned
\pset fieldsep '|'

-- Every option given twice: an error, except for the per-table options,
-- each occurrence of which sets up the tables of its own pattern.
SELECT o AS option,
       bv_try(o, v, o, replace(v, 'bv_t:', 'other:')) AS result
FROM (VALUES ('debug-mode', 'on'), ('proto-version', '1'), ('compact', 'on'),
             ('batch-size', '0'), ('only-local', 'on'), ('include-tables', 'bv_t'),
             ('exclude-tables', 'bv_t'), ('row-filter', 'bv_t: id > 0'), ('columns', 'bv_t: id'),
             ('operations', 'bv_t: insert'), ('include-lsn', 'on'), ('include-xid64', 'on'),
             ('include-origin', 'on'), ('include-names', 'on'), ('include-key-flags', 'on'),
             ('include-type-info', 'on'), ('exact-values', 'on'), ('binary-values', 'on'),
             ('include-truncate', 'on'), ('include-messages', 'on'),
             ('skip-empty-xacts', 'on'), ('stream-changes', 'on')) x(o, v);

-- A NULL option name is refused before the plugin sees it; an odd number
-- of arguments too.
SELECT bv_try(NULL, '1');
SELECT bv_try('compact');

-- Nothing above consumed the slot or changed the table.
SELECT count(*) AS changes
FROM pg_logical_slot_peek_binary_changes('bad_values', NULL, NULL, 'include-tables', 'bv_t');
SELECT * FROM bv_t;

SELECT pg_drop_replication_slot('bad_values');
DROP FUNCTION bv_try(text[]);
DROP TABLE bv_case;
DROP TABLE bv_t;
