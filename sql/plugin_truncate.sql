--
-- plugin_truncate: TRUNCATE with include-truncate (one table, several,
-- CASCADE, RESTART IDENTITY, partitions, table filters), and without it
-- (an empty transaction as Debezium's plugin sends it, or nothing with
-- skip-empty-xacts).
--
SELECT 'init' FROM pg_create_logical_replication_slot('trunc', 'decoderbufs');

CREATE TABLE tr_a (id serial PRIMARY KEY, v text);
CREATE TABLE tr_b (id int PRIMARY KEY);
CREATE TABLE "Tr Mixed" (id int PRIMARY KEY);
CREATE TABLE tr_parent (id int PRIMARY KEY);
CREATE TABLE tr_child (id int PRIMARY KEY, parent int REFERENCES tr_parent);
CREATE TABLE tr_part (id int, k int) PARTITION BY RANGE (k);
CREATE TABLE tr_part_1 PARTITION OF tr_part FOR VALUES FROM (0) TO (10);
CREATE TABLE tr_part_2 PARTITION OF tr_part FOR VALUES FROM (10) TO (20);

-- A TRUNCATE message in one line: the tables, the relation OIDs checked
-- against the catalog, and the flags.
CREATE FUNCTION truncate_text(m jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT 'TRUNCATE ' || (SELECT string_agg(t, ', ' ORDER BY n)
                           FROM jsonb_array_elements_text(m->'truncate'->'tables')
                                WITH ORDINALITY x(t, n))
        || CASE WHEN (SELECT bool_and(o::oid = t::regclass)
                      FROM jsonb_array_elements_text(m->'truncate'->'tables') WITH ORDINALITY x(t, n)
                      JOIN jsonb_array_elements_text(m->'truncate'->'relation_oids') WITH ORDINALITY y(o, n)
                      USING (n))
                 AND jsonb_array_length(m->'truncate'->'tables')
                     = jsonb_array_length(m->'truncate'->'relation_oids')
                THEN '' ELSE ' (WRONG OIDS)' END
        || CASE WHEN (m->'truncate'->>'cascade')::bool THEN ' CASCADE' ELSE '' END
        || CASE WHEN (m->'truncate'->>'restart_identity')::bool THEN ' RESTART IDENTITY' ELSE '' END
$$;
CREATE FUNCTION show(m jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN m->>'op' = 'TRUNCATE' THEN truncate_text(m) ELSE message_text(m) END
$$;

INSERT INTO tr_a (v) VALUES ('a1');
TRUNCATE tr_a;
TRUNCATE tr_a, tr_b, "Tr Mixed";
INSERT INTO tr_parent VALUES (1);
INSERT INTO tr_child VALUES (1, 1);
TRUNCATE tr_parent CASCADE;
TRUNCATE tr_a RESTART IDENTITY;
-- a partitioned table: PostgreSQL logs it with its partitions
TRUNCATE tr_part;
-- in a transaction, between other changes, in order
BEGIN;
INSERT INTO tr_a (v) VALUES ('before');
TRUNCATE tr_a, tr_b;
INSERT INTO tr_a (v) VALUES ('after');
COMMIT;
SELECT show(m) FROM changes('trunc', 'include-truncate', '1', 'skip-empty-xacts', '1') m;
-- the whole message, but for the relation OIDs, which truncate_text checks
TRUNCATE tr_b CASCADE;
SELECT truncate_text(m), jsonb_pretty(m #- '{truncate,relation_oids}') AS message
FROM changes('trunc', 'include-truncate', '1', 'skip-empty-xacts', '1') m
WHERE m->>'op' = 'TRUNCATE';

-- Table filters apply: excluded tables leave the list, and a TRUNCATE of
-- excluded tables only is not sent (its transaction is then empty).
TRUNCATE tr_a, tr_b, "Tr Mixed";
TRUNCATE tr_b;
SELECT show(m) FROM changes('trunc', 'include-truncate', '1', 'exclude-tables', 'tr_b') m;
TRUNCATE tr_a, tr_b, "Tr Mixed";
TRUNCATE tr_b;
SELECT show(m) FROM changes('trunc', 'include-truncate', '1', 'skip-empty-xacts', '1',
                            'include-tables', 'tr_b, "Tr Mixed"') m;

-- Without include-truncate a TRUNCATE sends nothing: its transaction is
-- empty, as with Debezium's plugin, or skipped with skip-empty-xacts; the
-- other changes of a transaction still come.
TRUNCATE tr_a;
BEGIN;
INSERT INTO tr_a (v) VALUES ('kept');
TRUNCATE tr_b;
COMMIT;
SELECT show(m) FROM pg_logical_slot_peek_binary_changes('trunc', NULL, NULL) p,
     LATERAL (SELECT decoderbufs_to_json(p.data) - 'commit_time' - 'transaction_id' AS m) x;
SELECT show(m) FROM changes('trunc', 'skip-empty-xacts', '1') m;
-- include-truncate off is the same as not given
TRUNCATE tr_a;
SELECT show(m) FROM changes('trunc', 'include-truncate', 'off') m;

SELECT pg_drop_replication_slot('trunc');
DROP TABLE tr_a, tr_b, "Tr Mixed", tr_child, tr_parent, tr_part;
DROP FUNCTION truncate_text(jsonb), show(jsonb);
