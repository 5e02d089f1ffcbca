--
-- plugin_replica_identity: the old tuple of UPDATE and DELETE under each
-- REPLICA IDENTITY, the new row of every UPDATE, and the key flags
-- (include-key-flags, and compact mode's old key).
--
SELECT 'init' FROM pg_create_logical_replication_slot('ident', 'decoderbufs');

-- The replica identity key of a table from the catalog, in key order: the
-- primary key for DEFAULT (and, as the plugin's key flags, for FULL), the
-- chosen index for USING INDEX, none for NOTHING.
CREATE FUNCTION ident_key(tab regclass) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(a.attname::text ORDER BY k.ord), '{}')
    FROM pg_class c
    JOIN pg_index i ON i.indrelid = c.oid
    CROSS JOIN unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
    WHERE c.oid = tab
      AND CASE c.relreplident WHEN 'i' THEN i.indisreplident
                              WHEN 'n' THEN false
                              ELSE i.indisprimary END
$$;
-- The names of the columns of a tuple that carry a datum, in tuple order.
CREATE FUNCTION set_columns(tuple jsonb) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(d->>'column_name' ORDER BY n), '{}')
    FROM jsonb_array_elements(tuple) WITH ORDINALITY x(d, n)
    WHERE EXISTS (SELECT FROM jsonb_object_keys(d) k WHERE k LIKE 'datum\_%')
$$;
-- The names of the columns flagged is_key, in tuple order.
CREATE FUNCTION key_columns(tuple jsonb) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(d->>'column_name' ORDER BY n), '{}')
    FROM jsonb_array_elements(tuple) WITH ORDINALITY x(d, n)
    WHERE (d->>'is_key')::bool
$$;
CREATE FUNCTION sorted(a text[]) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM unnest(a) x
$$;
-- Do the values set in an old tuple equal those of the tuple before (the
-- new tuple of the previous change), column by column?  An unchanged TOAST
-- marker there stands for any value.
CREATE FUNCTION values_match(old jsonb, prev jsonb) RETURNS bool LANGUAGE sql AS $$
    SELECT bool_and(p ? 'datum_missing' OR o = p)
    FROM jsonb_array_elements(old) WITH ORDINALITY x(o, n)
    JOIN jsonb_array_elements(prev) WITH ORDINALITY y(p, n) USING (n)
    WHERE EXISTS (SELECT FROM jsonb_object_keys(o) k WHERE k LIKE 'datum\_%')
$$;
-- A message without the key flags.
CREATE FUNCTION without_flags(m jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT m || jsonb_strip_nulls(jsonb_build_object(
        'new_tuple', (SELECT jsonb_agg(d - 'is_key' ORDER BY n)
                      FROM jsonb_array_elements(m->'new_tuple') WITH ORDINALITY x(d, n)),
        'old_tuple', (SELECT jsonb_agg(d - 'is_key' ORDER BY n)
                      FROM jsonb_array_elements(m->'old_tuple') WITH ORDINALITY x(d, n))))
$$;

CREATE TABLE ri_pk (id int PRIMARY KEY, name text, qty int);
CREATE TABLE ri_nopk (a int, b text);
CREATE TABLE ri_idx (a int NOT NULL, b text NOT NULL, c int);
CREATE UNIQUE INDEX ri_idx_ba ON ri_idx (b, a);
ALTER TABLE ri_idx REPLICA IDENTITY USING INDEX ri_idx_ba;
CREATE TABLE ri_full (id int PRIMARY KEY, t text, n int);
ALTER TABLE ri_full REPLICA IDENTITY FULL;
ALTER TABLE ri_full ALTER COLUMN t SET STORAGE EXTERNAL;
CREATE TABLE ri_full_nopk (a int, b text);
ALTER TABLE ri_full_nopk REPLICA IDENTITY FULL;
CREATE TABLE ri_nothing (id int PRIMARY KEY, v text);
ALTER TABLE ri_nothing REPLICA IDENTITY NOTHING;
SELECT c.relname, c.relreplident, ident_key(c.oid) AS key
FROM pg_class c WHERE relname LIKE 'ri\_%' AND relkind = 'r' ORDER BY relname;

-- The same workload runs on each table, decoded in Debezium's format,
-- then with include-key-flags, then in compact mode.
CREATE FUNCTION workload() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- DEFAULT with a primary key
    INSERT INTO ri_pk VALUES (1, 'one', 10);
    UPDATE ri_pk SET qty = 11 WHERE id = 1;         -- key unchanged
    UPDATE ri_pk SET id = 2, qty = 12 WHERE id = 1; -- key changed
    DELETE FROM ri_pk WHERE id = 2;
    -- DEFAULT without a primary key
    INSERT INTO ri_nopk VALUES (1, 'x');
    UPDATE ri_nopk SET b = 'y';
    DELETE FROM ri_nopk;
    -- USING INDEX on (b, a), which is not the column order
    INSERT INTO ri_idx VALUES (1, 'k', 10);
    UPDATE ri_idx SET c = 11;                       -- key unchanged
    UPDATE ri_idx SET a = 2;                        -- key changed
    DELETE FROM ri_idx;
    -- FULL, with a TOASTed column
    INSERT INTO ri_full VALUES (1, repeat('toast', 2000), 10);
    UPDATE ri_full SET n = 11;                      -- t unchanged
    UPDATE ri_full SET id = 2, t = 'short';
    DELETE FROM ri_full;
    INSERT INTO ri_full_nopk VALUES (1, 'x');
    UPDATE ri_full_nopk SET b = 'y';
    DELETE FROM ri_full_nopk;
    -- NOTHING
    INSERT INTO ri_nothing VALUES (1, 'x');
    UPDATE ri_nothing SET v = 'y';
    UPDATE ri_nothing SET id = 2;
    DELETE FROM ri_nothing;
END
$$;

SELECT workload();
CREATE TEMP TABLE msgs AS
SELECT n, m FROM changes('ident', 'skip-empty-xacts', '1') WITH ORDINALITY c(m, n);

-- Debezium's format (values over 60 characters cut short).
SELECT regexp_replace(message_text(m), '"([^"]{60})[^"]*"', '"\1..."', 'g') AS message
FROM msgs ORDER BY n;

-- DEFAULT and USING INDEX: an UPDATE has an old tuple only when the key
-- changed, and it holds the key columns, the others as NULL (no datum);
-- so does a DELETE.  FULL: the whole old row.  NOTHING, and DEFAULT
-- without a key: no old tuple.  Every UPDATE carries the whole new row.
-- Checked: the old tuple's columns with a value are the identity's key from
-- the catalog (FULL: all columns), and its values are those of the row
-- before the change.
SELECT m->>'table' AS tab, m->>'op' AS op,
       jsonb_array_length(m->'new_tuple') AS new_columns,
       jsonb_array_length(m->'old_tuple') AS old_columns,
       set_columns(m->'old_tuple') AS old_set,
       CASE WHEN m ? 'old_tuple' THEN
           CASE c.relreplident
               WHEN 'f' THEN jsonb_array_length(m->'old_tuple') = c.relnatts
                         AND cardinality(set_columns(m->'old_tuple')) = c.relnatts
               ELSE sorted(set_columns(m->'old_tuple')) = sorted(ident_key(c.oid))
           END
       END AS old_is_identity,
       values_match(m->'old_tuple', prev) AS old_values_ok
FROM (SELECT n, m, lag(m->'new_tuple') OVER (PARTITION BY m->'table' ORDER BY n) AS prev
      FROM msgs) x
JOIN pg_class c ON c.oid = (m->>'table')::regclass
WHERE m->>'op' IN ('UPDATE', 'DELETE')
ORDER BY n;

-- FULL: the old tuple has the whole TOASTed value (PostgreSQL logs it in
-- full), where the new tuple of the same UPDATE marks it unchanged.
SELECT m->>'op' AS op,
       length(m->'old_tuple'->1->>'datum_string') AS old_t_length,
       m->'old_tuple'->1->>'datum_string' = repeat('toast', 2000) AS old_t_ok,
       (m->'new_tuple'->1) - 'column_name' - 'column_type' AS new_t
FROM msgs
WHERE m->>'table' = 'public.ri_full' AND m->>'op' = 'UPDATE'
ORDER BY n;

-- include-key-flags: the key columns carry is_key in old and new tuples;
-- FULL flags its primary key, NOTHING and DEFAULT without a key none.
SELECT workload();
CREATE TEMP TABLE msgs_keys AS
SELECT n, m FROM changes('ident', 'skip-empty-xacts', '1', 'include-key-flags', '1')
    WITH ORDINALITY c(m, n);
SELECT regexp_replace(message_text(m), '"([^"]{60})[^"]*"', '"\1..."', 'g') AS message
FROM msgs_keys WHERE m ? 'table' ORDER BY n;
-- flags against the catalog; apart from them the messages are the same
SELECT m->>'table' AS tab,
       bool_and(sorted(key_columns(m->'new_tuple')) = sorted(ident_key(c.oid))
                OR NOT m ? 'new_tuple') AS new_flags_ok,
       bool_and(sorted(key_columns(m->'old_tuple')) = sorted(ident_key(c.oid))
                OR NOT m ? 'old_tuple') AS old_flags_ok,
       bool_and(without_flags(m) = (SELECT o.m FROM msgs o WHERE o.n = k.n)) AS same_otherwise
FROM msgs_keys k JOIN pg_class c ON c.oid = (m->>'table')::regclass
GROUP BY m->>'table' ORDER BY min(n);

-- Compact mode: the RELATION message has the key flags and the replica
-- identity; the old key of DEFAULT and USING INDEX holds the key columns
-- only, in the order the RELATION message lists them (a, b, not the
-- index's b, a); FULL still sends the whole old row.
SELECT workload();
CREATE TEMP TABLE msgs_compact AS
SELECT n, decoderbufs_to_json(data) AS m
FROM pg_logical_slot_get_binary_changes('ident', NULL, NULL, 'compact', '1',
                                        'include-key-flags', '1')
    WITH ORDINALITY c(lsn, xid, data, n);
SELECT m->'relation'->>'table_name' AS tab,
       m->'relation'->>'replica_identity' AS ident,
       (SELECT string_agg((c->>'name') || CASE WHEN (c->>'is_key')::bool THEN '*' ELSE '' END,
                          ', ' ORDER BY o)
        FROM jsonb_array_elements(m->'relation'->'columns') WITH ORDINALITY x(c, o)) AS columns,
       (m->>'relation_oid')::oid = (m->'relation'->>'table_name')::regclass
       AND (m->'relation'->>'relation_oid')::oid = (m->'relation'->>'table_name')::regclass AS oid_ok
FROM msgs_compact WHERE m->>'op' = 'RELATION' ORDER BY n;
-- The old tuple checked against the tuple before: for a key-only old
-- tuple, the values of the RELATION's key columns in their order.
SELECT rel->>'table_name' AS tab,
       regexp_replace(message_text(m), '"([^"]{60})[^"]*"', '"\1..."', 'g') AS message,
       CASE WHEN m ? 'old_tuple' AND rel->>'replica_identity' IN ('d', 'i') THEN
           m->'old_tuple' = (SELECT jsonb_agg(prev->(o::int - 1) ORDER BY o)
                             FROM jsonb_array_elements(rel->'columns') WITH ORDINALITY c(col, o)
                             WHERE (col->>'is_key')::bool)
       WHEN m ? 'old_tuple' THEN values_match(m->'old_tuple', prev)
       END AS old_ok
FROM (SELECT n, m, lag(m->'new_tuple') OVER (PARTITION BY m->'relation_oid' ORDER BY n) AS prev,
             (SELECT r.m->'relation' FROM msgs_compact r
              WHERE r.m->>'op' = 'RELATION' AND r.m->'relation_oid' = x.m->'relation_oid') AS rel
      FROM msgs_compact x WHERE m->>'op' IN ('INSERT', 'UPDATE', 'DELETE')) s
WHERE m->>'op' IN ('UPDATE', 'DELETE')
ORDER BY n;

SELECT pg_drop_replication_slot('ident');
DROP TABLE ri_pk, ri_nopk, ri_idx, ri_full, ri_full_nopk, ri_nothing;
DROP FUNCTION workload(), ident_key(regclass), set_columns(jsonb),
    key_columns(jsonb), sorted(text[]), values_match(jsonb, jsonb),
    without_flags(jsonb);
