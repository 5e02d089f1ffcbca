--
-- plugin_toast: TOASTed values.  An UPDATE that leaves a TOASTed column
-- alone sends it as datum_missing in the new tuple (the WAL does not have
-- it), a changed one has its value; REPLICA IDENTITY FULL old tuples hold
-- full values; compressed values, inline or external, decode to the
-- original; so do TOASTed values of a transaction spilled to disk.
--
SELECT 'init' FROM pg_create_logical_replication_slot('toast', 'decoderbufs');

-- t1 is stored out of line uncompressed (EXTERNAL), t2 has the default
-- storage (EXTENDED: compressed if that helps, out of line when large),
-- a and b are a text[] and a bytea stored out of line.
CREATE TABLE toasted (id int PRIMARY KEY, t1 text, t2 text, a text[], b bytea, n int);
ALTER TABLE toasted ALTER COLUMN t1 SET STORAGE EXTERNAL,
                    ALTER COLUMN a SET STORAGE EXTERNAL,
                    ALTER COLUMN b SET STORAGE EXTERNAL;
-- a value that does not compress much, so that it stays large
CREATE FUNCTION noise(n int) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(md5(i::text), '') FROM generate_series(1, n) i
$$;
-- The datum of a column: missing, NULL, or the field and length of its
-- value and whether it equals the original.
CREATE FUNCTION datum_summary(d jsonb, original text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE
        WHEN d IS NULL THEN NULL
        WHEN d ? 'datum_missing' THEN 'missing'
        WHEN d ? 'datum_string' THEN
            'string(' || length(d->>'datum_string') || ')'
            || CASE WHEN md5(d->>'datum_string') = md5(original) THEN ' ok' ELSE ' WRONG' END
        WHEN d ? 'datum_bytes' THEN
            'bytes(' || length(d->>'datum_bytes') || ')'
            || CASE WHEN md5(d->>'datum_bytes') = md5(original) THEN ' ok' ELSE ' WRONG' END
        ELSE 'NULL'
    END
$$;

-- The row versions are remembered, to compare the messages with.
CREATE TABLE versions (v serial, id int, t1 text, t2 text, a text[], b bytea, n int);
CREATE FUNCTION remember() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO versions (id, t1, t2, a, b, n)
    VALUES (NEW.id, NEW.t1, NEW.t2, NEW.a, NEW.b, NEW.n);
    RETURN NEW;
END
$$;
CREATE TRIGGER remember AFTER INSERT OR UPDATE ON toasted
    FOR EACH ROW EXECUTE FUNCTION remember();

INSERT INTO toasted VALUES (1, noise(300), noise(300), ARRAY[noise(200), 'x'],
                            decode(noise(200), 'hex'), 0);
-- nothing TOASTed changes: all four are missing
UPDATE toasted SET n = 1;
-- one changes: it has its new value, the others are missing
UPDATE toasted SET t2 = noise(310);
UPDATE toasted SET a = ARRAY['small'], b = '\x00';
-- a TOASTed value becomes small, and a small one large
UPDATE toasted SET t1 = 'short', b = decode(noise(250), 'hex');
-- the key changes: the old key is sent, TOASTed values are still missing
UPDATE toasted SET id = 2;
DELETE FROM toasted;

CREATE TEMP TABLE msgs AS
SELECT n, m FROM changes('toast', 'skip-empty-xacts', '1') WITH ORDINALITY c(m, n)
WHERE m->>'table' = 'public.toasted';
-- Each message against the row version it carries (the k-th INSERT or
-- UPDATE is version k).
SELECT m->>'op' AS op,
       m->'new_tuple'->0->'datum_int32' AS id,
       datum_summary(m->'new_tuple'->1, v.t1) AS t1,
       datum_summary(m->'new_tuple'->2, v.t2) AS t2,
       datum_summary(m->'new_tuple'->3, v.a::text) AS a,
       datum_summary(m->'new_tuple'->4, v.b::text) AS b,
       m->'new_tuple'->5->'datum_int32' AS n,
       message_text(m - 'new_tuple') AS old
FROM (SELECT n, m, count(*) FILTER (WHERE m ? 'new_tuple') OVER (ORDER BY n) AS k
      FROM msgs) x
LEFT JOIN versions v ON v.v = x.k AND m ? 'new_tuple'
ORDER BY x.n;

-- The same under REPLICA IDENTITY FULL: the old tuple has the full values
-- of the version before (PostgreSQL logs them in full), never missing.
ALTER TABLE toasted REPLICA IDENTITY FULL;
TRUNCATE versions;
ALTER SEQUENCE versions_v_seq RESTART;
INSERT INTO toasted VALUES (1, noise(300), noise(300), ARRAY[noise(200), 'x'],
                            decode(noise(200), 'hex'), 0);
UPDATE toasted SET n = 1;
UPDATE toasted SET t2 = noise(310);
DELETE FROM toasted;
CREATE TEMP TABLE msgs_full AS
SELECT n, m FROM changes('toast', 'skip-empty-xacts', '1') WITH ORDINALITY c(m, n)
WHERE m->>'table' = 'public.toasted';
SELECT m->>'op' AS op,
       datum_summary(m->'new_tuple'->1, v.t1) AS new_t1,
       datum_summary(m->'new_tuple'->2, v.t2) AS new_t2,
       datum_summary(m->'old_tuple'->1, o.t1) AS old_t1,
       datum_summary(m->'old_tuple'->2, o.t2) AS old_t2,
       datum_summary(m->'old_tuple'->3, o.a::text) AS old_a,
       datum_summary(m->'old_tuple'->4, o.b::text) AS old_b
FROM (SELECT n, m, count(*) FILTER (WHERE m ? 'new_tuple') OVER (ORDER BY n) AS k
      FROM msgs_full) x
LEFT JOIN versions v ON v.v = x.k AND m ? 'new_tuple'
LEFT JOIN versions o ON o.v = x.k - CASE WHEN m ? 'new_tuple' THEN 1 ELSE 0 END
                    AND m ? 'old_tuple'
ORDER BY x.n;
ALTER TABLE toasted REPLICA IDENTITY DEFAULT;

-- Compressed values: inline (compressed below the TOAST threshold) and
-- external, with pglz and lz4; all decode to the original text.
CREATE TABLE compressed (id int PRIMARY KEY, p text COMPRESSION pglz, l text COMPRESSION lz4);
INSERT INTO compressed VALUES
    (1, repeat('inline ', 500), repeat('inline ', 500)),
    (2, repeat(noise(20), 50), repeat(noise(20), 50)),
    (3, repeat('z', 20000) || noise(1000), repeat('z', 20000) || noise(1000));
-- how PostgreSQL stored them: compressed, inline or external
SELECT id, length(p) AS len,
       pg_column_compression(p) AS p_compression, pg_column_compression(l) AS l_compression,
       pg_column_size(p) < 2000 AS p_inline, pg_column_size(l) < 2000 AS l_inline
FROM compressed ORDER BY id;
SELECT c.id, datum_summary(m->'new_tuple'->1, c.p) AS p, datum_summary(m->'new_tuple'->2, c.l) AS l
FROM changes('toast', 'skip-empty-xacts', '1') m
JOIN compressed c ON c.id = (m->'new_tuple'->0->>'datum_int32')::int
WHERE m->>'table' = 'public.compressed'
ORDER BY c.id;

-- A transaction larger than logical_decoding_work_mem (64kB here) spills
-- to disk while it is decoded, TOAST chunks included.
SELECT current_setting('logical_decoding_work_mem') AS work_mem;
SELECT spill_txns AS spilled_before FROM pg_stat_replication_slots
WHERE slot_name = 'toast' \gset
BEGIN;
INSERT INTO compressed SELECT i, noise(200) || i, repeat(noise(10), 30) || i
FROM generate_series(10, 59) i;
UPDATE compressed SET l = l || '!' WHERE id >= 10 AND id % 2 = 0;
COMMIT;
SELECT m->>'op' AS op, count(*) AS messages,
       count(*) FILTER (WHERE datum_summary(m->'new_tuple'->1, c.p) LIKE '% ok') AS p_ok,
       count(*) FILTER (WHERE m->'new_tuple'->1 ? 'datum_missing') AS p_missing,
       count(*) FILTER (WHERE datum_summary(m->'new_tuple'->2,
                                            CASE m->>'op' WHEN 'INSERT' THEN rtrim(c.l, '!')
                                                          ELSE c.l END) LIKE '% ok') AS l_ok
FROM changes('toast', 'skip-empty-xacts', '1') m
JOIN compressed c ON c.id = (m->'new_tuple'->0->>'datum_int32')::int
WHERE m->>'table' = 'public.compressed'
GROUP BY m->>'op' ORDER BY 1;
SELECT spill_txns > :spilled_before AS spilled
FROM pg_stat_replication_slots WHERE slot_name = 'toast';

SELECT pg_drop_replication_slot('toast');
DROP TABLE toasted, versions, compressed;
DROP FUNCTION noise(int), datum_summary(jsonb, text), remember();
