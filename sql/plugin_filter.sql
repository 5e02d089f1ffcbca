--
-- plugin_filter: include-tables and exclude-tables.  Entries are
-- [schema.]table with SQL identifier rules: unquoted parts fold to lower
-- case and may use the wildcards * and ?, quoted parts match literally;
-- an entry without a schema matches every schema; exclude wins over
-- include; the filter applies to TRUNCATE too.
--
SELECT 'init' FROM pg_create_logical_replication_slot('filter', 'decoderbufs');

CREATE SCHEMA sch;
CREATE SCHEMA "Sch Q";
CREATE TABLE f_plain (id int);
CREATE TABLE sch.f_plain (id int);
CREATE TABLE sch.other (id int);
CREATE TABLE "F_Mixed" (id int);
CREATE TABLE f_mixed (id int);
CREATE TABLE f_a1 (id int);
CREATE TABLE f_a2 (id int);
CREATE TABLE f_ab (id int);
CREATE TABLE f_a10 (id int);
CREATE TABLE "f*x" (id int);
CREATE TABLE f_yx (id int);
CREATE TABLE "Sch Q"."t.dot" (id int);
CREATE TABLE "q""uote" (id int);
CREATE TABLE "b\s" (id int);

-- one row in every table, in one transaction
CREATE FUNCTION workload() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS tab
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND n.nspname IN ('public', 'sch', 'Sch Q')
             ORDER BY n.nspname, c.relname
    LOOP
        EXECUTE format('INSERT INTO %s VALUES (1)', r.tab);
    END LOOP;
END
$$;
SELECT workload();

-- The tables whose rows a decoding with these options sends (the slot is
-- only peeked).
CREATE FUNCTION selected(VARIADIC options text[]) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(DISTINCT m->>'table', ' ' ORDER BY m->>'table'), '(none)')
    FROM pg_logical_slot_peek_binary_changes('filter', NULL, NULL, VARIADIC options) p,
         LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x
$$;

SELECT selected('skip-empty-xacts', '1') AS no_filter;
-- plain names match in every schema, qualified ones in theirs
SELECT selected('include-tables', 'f_plain') AS unqualified;
SELECT selected('include-tables', 'public.f_plain') AS qualified;
SELECT selected('include-tables', 'sch.f_plain,f_ab') AS list;
SELECT selected('include-tables', '  f_ab ,  sch.other  ') AS spaces;
-- unquoted names fold to lower case, quoted ones keep their case
SELECT selected('include-tables', 'F_MIXED') AS folded;
SELECT selected('include-tables', '"F_Mixed"') AS quoted;
SELECT selected('include-tables', 'PUBLIC."F_Mixed"') AS quoted_table;
SELECT selected('include-tables', '"Sch Q"."t.dot"') AS quoted_schema;
SELECT selected('include-tables', '"q""uote", "b\s"') AS quote_and_backslash;
-- wildcards: * any run of characters, ? one character
SELECT selected('include-tables', 'f_a*') AS star;
SELECT selected('include-tables', 'f_a?') AS question_mark;
SELECT selected('include-tables', 'f_?1*') AS both;
SELECT selected('include-tables', 'sch.*') AS schema_star;
SELECT selected('include-tables', '*.f_plain') AS star_schema;
SELECT selected('include-tables', '*') AS everything;
-- in quotes * and ? are plain characters
SELECT selected('include-tables', 'f*x') AS star_unquoted;
SELECT selected('include-tables', '"f*x"') AS star_quoted;
SELECT selected('include-tables', '"f?x"') AS question_mark_quoted;
-- exclude-tables alone, and exclude winning over include
SELECT selected('exclude-tables', 'f_*, sch.*') AS excluded;
SELECT selected('include-tables', 'f_a*', 'exclude-tables', 'f_a1') AS exclude_wins;
SELECT selected('include-tables', 'f_plain', 'exclude-tables', 'public.f_plain') AS exclude_qualified;
SELECT selected('include-tables', 'f_ab', 'exclude-tables', 'f_ab') AS excluded_all;
SELECT selected('include-tables', 'no_such_table') AS nothing;

-- A transaction whose rows are all filtered out is empty: BEGIN/COMMIT,
-- or nothing with skip-empty-xacts.
SELECT string_agg(DISTINCT m->>'op', ', ') AS ops
FROM pg_logical_slot_peek_binary_changes('filter', NULL, NULL, 'include-tables', 'nope') p,
     LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x;
SELECT count(*) AS messages
FROM pg_logical_slot_peek_binary_changes('filter', NULL, NULL, 'include-tables', 'nope',
                                         'skip-empty-xacts', '1');

SELECT count(*) > 0 AS consumed FROM pg_logical_slot_get_binary_changes('filter', NULL, NULL);

-- The decision follows a table's name as it was at each change: a rename
-- in the middle of a decoding session changes it.
CREATE TABLE f_old (id int);
INSERT INTO f_old VALUES (1);
ALTER TABLE f_old RENAME TO f_new;
INSERT INTO f_new VALUES (2);
SELECT message_text(m) FROM pg_logical_slot_peek_binary_changes('filter', NULL, NULL,
        'include-tables', 'f_new', 'skip-empty-xacts', '1') p,
     LATERAL (SELECT decoderbufs_to_json(p.data) - 'commit_time' - 'transaction_id' AS m) x;
SELECT message_text(m) FROM changes('filter', 'include-tables', 'f_old',
                                    'skip-empty-xacts', '1') m;

-- The filter applies to TRUNCATE: its list keeps the selected tables.
TRUNCATE f_plain, sch.f_plain, f_ab, "F_Mixed";
SELECT m->'truncate'->'tables' AS tables
FROM changes('filter', 'include-truncate', '1', 'skip-empty-xacts', '1',
             'include-tables', 'f_plain, "F_Mixed"', 'exclude-tables', 'sch.*') m
WHERE m->>'op' = 'TRUNCATE';

SELECT pg_drop_replication_slot('filter');
DROP SCHEMA sch, "Sch Q" CASCADE;
DROP TABLE f_plain, "F_Mixed", f_mixed, f_a1, f_a2, f_ab, f_a10, "f*x", f_yx,
    "q""uote", "b\s", f_new;
DROP FUNCTION workload(), selected(text[]);
