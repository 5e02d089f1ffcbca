--
-- plugin_basic: BEGIN, INSERT, UPDATE, DELETE, COMMIT in Debezium's format,
-- binary and text (debug-mode) output, empty transactions.
--
SELECT 'init' FROM pg_create_logical_replication_slot('basic', 'decoderbufs');

CREATE TABLE basic (id int PRIMARY KEY, name text NOT NULL, qty int);

BEGIN;
INSERT INTO basic VALUES (1, 'one', 10), (2, 'two', NULL);
UPDATE basic SET qty = 11 WHERE id = 1;
DELETE FROM basic WHERE id = 2;
COMMIT;
-- a rolled back transaction is not decoded
BEGIN;
INSERT INTO basic VALUES (3, 'three', 30);
ROLLBACK;
-- a rolled back subtransaction leaves out its rows only
BEGIN;
INSERT INTO basic VALUES (4, 'four', 40);
SAVEPOINT sp;
INSERT INTO basic VALUES (5, 'five', 50);
ROLLBACK TO SAVEPOINT sp;
COMMIT;

-- The CREATE TABLE is an empty transaction: BEGIN and COMMIT only, as
-- Debezium's plugin sends it.
SELECT message_text(m) FROM changes('basic') m;

-- The whole message, with Debezium's type information.
INSERT INTO basic VALUES (6, 'six', 60);
SELECT jsonb_pretty(m) FROM changes('basic') m;

-- Every message carries the transaction id and the commit time in
-- microseconds since 1970, the same on all of a transaction's messages.
INSERT INTO basic VALUES (7, 'seven', 70);
SELECT count(DISTINCT j->'transaction_id') AS xids,
       count(DISTINCT j->'commit_time') AS times,
       bool_and((j->>'transaction_id')::bigint > 0) AS xid_set,
       bool_and(to_timestamp((j->>'commit_time')::numeric / 1000000)
                BETWEEN now() - interval '1 hour' AND now() + interval '1 hour') AS time_is_now
FROM (SELECT decoderbufs_to_json(data) j
      FROM pg_logical_slot_get_binary_changes('basic', NULL, NULL)) s;

-- skip-empty-xacts drops transactions that send nothing
CREATE TABLE basic2 (id int PRIMARY KEY);
INSERT INTO basic VALUES (8, 'eight', 80);
SELECT message_text(m) FROM changes('basic', 'skip-empty-xacts', 'on') m;

-- debug-mode: the same messages as JSON text
INSERT INTO basic VALUES (9, 'nine', 90);
SELECT (data::jsonb - 'commit_time' - 'transaction_id')->>'op' AS op,
       (data::jsonb)->'new_tuple'->0 AS first_column
FROM pg_logical_slot_get_changes('basic', NULL, NULL, 'debug-mode', '1');
-- binary output cannot be read as text unless debug-mode is on
SELECT count(*) FROM pg_logical_slot_peek_changes('basic', NULL, NULL);

SELECT pg_drop_replication_slot('basic');
DROP TABLE basic, basic2;
