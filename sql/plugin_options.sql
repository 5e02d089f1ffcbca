--
-- plugin_options: option parsing.  Every bad value, unknown or repeated
-- option is an ERROR that names the option (shown without the CONTEXT
-- lines, which only repeat the slot and the plugin).
--
SELECT 'init' FROM pg_create_logical_replication_slot('opts', 'decoderbufs');
CREATE TABLE opt_t (id int PRIMARY KEY);
INSERT INTO opt_t VALUES (1);

-- Peek the slot with the options given; 'ok' when they are accepted.
CREATE FUNCTION try(VARIADIC options text[]) RETURNS text LANGUAGE sql AS $$
    SELECT 'ok, ' || count(*) || ' messages'
    FROM pg_logical_slot_peek_binary_changes('opts', NULL, NULL, VARIADIC options)
$$;
\set SHOW_CONTEXT never

-- Boolean options take the usual spellings, in any case.
SELECT try('skip-empty-xacts', 'on', 'include-lsn', 'OFF', 'include-xid64', 'true',
           'include-origin', 'False', 'include-names', 'yes', 'include-key-flags', 'no',
           'include-type-info', '1', 'exact-values', '0', 'include-truncate', 't',
           'include-messages', 'f', 'only-local', 'y', 'compact', 'n');
-- and mean what they say: which spellings turn include-xid64 on
SELECT string_agg(v, ' ' ORDER BY o) FILTER (WHERE has_xid64) AS on_spellings,
       string_agg(v, ' ' ORDER BY o) FILTER (WHERE NOT has_xid64) AS off_spellings
FROM unnest('{on,ON,true,True,yes,y,1,t,off,OFF,false,No,n,0,f}'::text[]) WITH ORDINALITY u(v, o),
     LATERAL (SELECT bool_or(decoderbufs_to_json(data) ? 'xid64') AS has_xid64
              FROM pg_logical_slot_peek_binary_changes('opts', NULL, NULL,
                                                       'include-xid64', v)) x;
-- and nothing else; each error names its option
SELECT try('debug-mode', 'maybe');
SELECT try('compact', '2');
SELECT try('only-local', '');
SELECT try('include-lsn', 'yes please');
SELECT try('include-xid64', 'x');
SELECT try('include-origin', 'x');
SELECT try('include-names', 'x');
SELECT try('include-key-flags', 'x');
SELECT try('include-type-info', 'x');
SELECT try('exact-values', 'x');
SELECT try('include-truncate', 'x');
SELECT try('include-messages', 'x');
SELECT try('skip-empty-xacts', 'x');

-- Integer options: proto-version from 1 (only 1 is spoken), batch-size 0
-- (no batching) or from 256 bytes up to half of MaxAllocSize.
SELECT try('proto-version', '1');
SELECT try('proto-version', '2');
SELECT try('proto-version', '0');
SELECT try('proto-version', '-1');
SELECT try('proto-version', 'one');
SELECT try('proto-version', '1.0');
SELECT try('proto-version', '1 ');
SELECT try('proto-version', '');
SELECT try('proto-version', '99999999999999999999');
SELECT try('batch-size', '0');
SELECT try('batch-size', '256');
SELECT try('batch-size', '536870911');
SELECT try('batch-size', '536870912');
SELECT try('batch-size', '255');
SELECT try('batch-size', '1');
SELECT try('batch-size', '-1');
SELECT try('batch-size', '4k');
-- batch-size and debug-mode do not go together
SELECT try('batch-size', '1000', 'debug-mode', '1');
SELECT try('batch-size', '0', 'debug-mode', '1');

-- Unknown options are named, with the valid ones; names are case-sensitive.
SELECT try('include-unchanged-toast', '0');
SELECT try('Compact', '1');
SELECT try('include_lsn', '1');
-- An option given twice is an error, even with the same value.
SELECT try('compact', '1', 'compact', '0');
SELECT try('include-tables', 'a', 'include-tables', 'a');

-- Table lists: errors give the position.
SELECT try('include-tables', 'a, b, sch.c, "Q"."T", *');
SELECT try('include-tables', '');
SELECT try('include-tables', '   ');
SELECT try('include-tables', 'a,');
SELECT try('include-tables', ',a');
SELECT try('include-tables', 'a,,b');
SELECT try('exclude-tables', 'a b');
SELECT try('exclude-tables', 'sch.');
SELECT try('exclude-tables', '.t');
SELECT try('exclude-tables', 'a.b.c');
SELECT try('exclude-tables', '"unterminated');

-- Debezium's own option keeps its meaning: debug-mode makes the output
-- text, which the text functions read; they refuse the binary output.
SELECT try('debug-mode', '1');
SELECT count(*) FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'debug-mode', '1');
SELECT count(*) FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'debug-mode', '0');

-- An error after the plugin started (the last one above) leaves nothing
-- behind: the session's settings are its own again, a slot creation in
-- this backend leaves them alone (it once restored the settings saved by
-- the failed session, from freed memory), and cache invalidations work
-- (they once searched a freed hash table).
SHOW DateStyle;
SHOW IntervalStyle;
SET DateStyle = 'SQL, DMY';
SELECT count(*) FROM (SELECT repeat(md5(i::text), 100) FROM generate_series(1, 20000) i) s;
SELECT 'init' FROM pg_create_logical_replication_slot('opts2', 'decoderbufs');
SHOW DateStyle;
CREATE TABLE opt_t2 (id int);
DROP TABLE opt_t2;
SELECT pg_drop_replication_slot('opts2');
-- the same after an error in the options
SELECT count(*) FROM pg_logical_slot_peek_changes('opts', NULL, NULL, 'compact', 'x');
SELECT 'init' FROM pg_create_logical_replication_slot('opts2', 'decoderbufs');
SHOW DateStyle;
RESET DateStyle;
SELECT pg_drop_replication_slot('opts2');
ALTER TABLE opt_t ADD COLUMN v text;
SELECT try('skip-empty-xacts', '1');

\set SHOW_CONTEXT errors
SELECT pg_drop_replication_slot('opts');
DROP TABLE opt_t;
DROP FUNCTION try(text[]);
