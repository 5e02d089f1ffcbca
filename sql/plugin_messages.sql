--
-- plugin_messages: pg_logical_emit_message() with include-messages
-- (transactional ones inside their transaction, non-transactional ones on
-- their own, outside any BEGIN/COMMIT), and without it (not sent).
--
SELECT 'init' FROM pg_create_logical_replication_slot('msgs', 'decoderbufs');

CREATE TABLE msg_t (id int PRIMARY KEY);

-- A MESSAGE in one line; the content is shown as text when it is text,
-- else in hex (as decoderbufs_to_json renders bytes).
CREATE FUNCTION show(m jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN m->>'op' = 'MESSAGE' THEN
        'MESSAGE ' || CASE WHEN (m->'message'->>'transactional')::bool
                           THEN 'transactional' ELSE 'non-transactional' END
        || ' prefix=' || (m->'message'->'prefix')::text
        || ' content=' || CASE WHEN length(m->'message'->>'content') > 60
                               THEN 'length ' || length(m->'message'->>'content')
                               ELSE (m->'message'->'content')::text END
        || CASE WHEN m ? 'transaction_id' THEN ' (with xid)' ELSE '' END
    ELSE message_text(m) END
$$;
-- The bytes of a message's content, back from its JSON rendering.
CREATE FUNCTION content(m jsonb) RETURNS bytea LANGUAGE sql AS $$
    SELECT CASE WHEN m->'message'->>'content' LIKE '\\x%'
                THEN decode(substr(m->'message'->>'content', 3), 'hex')
                ELSE convert_to(m->'message'->>'content', 'UTF8') END
$$;
-- Decoded messages with their transaction fields (changes() drops them).
CREATE FUNCTION changes_xid(slot name, VARIADIC options text[])
RETURNS SETOF jsonb LANGUAGE sql AS $$
    SELECT decoderbufs_to_json(data) - 'commit_time'
    FROM pg_logical_slot_get_binary_changes(slot, NULL, NULL, VARIADIC options)
$$;

-- Every message emitted is remembered here, to compare with (the slot is
-- read with exclude-tables emitted).
CREATE TABLE emitted (n serial, transactional bool, prefix text, content bytea);
CREATE FUNCTION emit(transactional bool, prefix text, content bytea) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO emitted (transactional, prefix, content) VALUES ($1, $2, $3);
    SELECT NULL FROM pg_logical_emit_message($1, $2, $3);
$$;

-- a transactional message between rows, one alone in its transaction
BEGIN;
INSERT INTO msg_t VALUES (1);
SELECT emit(true, 'app', 'hello');
INSERT INTO msg_t VALUES (2);
COMMIT;
SELECT emit(true, 'app', convert_to('ünïcödé "q" \ ', 'UTF8'));
-- binary and empty content
SELECT emit(true, 'bin', '\x00ff01');
SELECT emit(true, 'empty', '');
-- non-transactional: sent when decoded, outside any BEGIN/COMMIT, even
-- inside a transaction that is rolled back, and before the BEGIN of a
-- transaction that emits it and commits later
SELECT emit(false, 'nontx', 'alone');
BEGIN;
INSERT INTO msg_t VALUES (3);
SELECT emit(false, 'nontx', 'in a transaction');
INSERT INTO msg_t VALUES (4);
COMMIT;
BEGIN;
SELECT emit(false, 'nontx', 'in a rolled back transaction');
SELECT emit(true, 'lost', 'transactional, rolled back');
ROLLBACK;
-- (the rollback took the record of the non-transactional one: put it back)
INSERT INTO emitted (transactional, prefix, content)
VALUES (false, 'nontx', 'in a rolled back transaction');
-- a transactional message in a rolled back subtransaction is not sent
BEGIN;
SAVEPOINT s;
SELECT emit(true, 'lost', 'in a rolled back subtransaction');
ROLLBACK TO SAVEPOINT s;
SELECT emit(true, 'app', 'after the savepoint');
COMMIT;
-- a large message, in a transaction spilled to disk
SELECT emit(true, 'big', convert_to(string_agg(md5(i::text), ''), 'UTF8'))
FROM generate_series(1, 5000) i;

CREATE TEMP TABLE msgs AS
SELECT n, m FROM changes_xid('msgs', 'include-messages', '1', 'skip-empty-xacts', '1',
                             'exclude-tables', 'emitted')
    WITH ORDINALITY c(m, n);
SELECT show(m) FROM msgs ORDER BY n;
-- (the big one did spill)
SELECT spill_txns > 0 AS spilled FROM pg_stat_replication_slots WHERE slot_name = 'msgs';

-- Each MESSAGE against what was emitted and not rolled back, in order:
-- prefix, content and flag.  The transactional ones carry their
-- transaction's id, like its other messages; the non-transactional ones
-- none.
SELECT k, e.prefix, e.transactional,
       m->'message'->>'prefix' = e.prefix AS prefix_ok,
       content(m) = e.content AS content_ok,
       (m->'message'->>'transactional')::bool = e.transactional AS flag_ok,
       CASE WHEN e.transactional
            THEN (SELECT count(DISTINCT b.m->'transaction_id') = 1
                  FROM msgs b
                  WHERE b.n BETWEEN (SELECT max(n) FROM msgs WHERE m->>'op' = 'BEGIN' AND n < x.n)
                                AND (SELECT min(n) FROM msgs WHERE m->>'op' = 'COMMIT' AND n > x.n))
            ELSE NOT m ? 'transaction_id' END AS xid_ok
FROM (SELECT n, m, row_number() OVER (ORDER BY n) AS k FROM msgs WHERE m->>'op' = 'MESSAGE') x
FULL JOIN (SELECT transactional, prefix, content, row_number() OVER (ORDER BY n) AS k
           FROM emitted) e USING (k)
ORDER BY k;

-- Without include-messages (or with it off) nothing of them is sent: a
-- transaction with only a message is empty, as with Debezium's plugin.
-- (The other empty transactions here: the CREATE TEMP TABLE above, and
-- the row in emitted, filtered out, of the non-transactional message.)
SELECT emit(true, 'app', 'not sent');
SELECT emit(false, 'nontx', 'not sent');
INSERT INTO msg_t VALUES (5);
SELECT show(m) FROM changes('msgs', 'exclude-tables', 'emitted') m;
SELECT emit(true, 'app', 'not sent');
SELECT emit(false, 'nontx', 'not sent');
SELECT show(m) FROM changes('msgs', 'include-messages', 'false', 'skip-empty-xacts', 'true',
                            'exclude-tables', 'emitted') m;

SELECT pg_drop_replication_slot('msgs');
DROP TABLE msg_t, emitted;
DROP FUNCTION show(jsonb), content(jsonb), changes_xid(name, text[]),
    emit(bool, text, bytea);
