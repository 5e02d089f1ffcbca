--
-- plugin_origin: changes made under a replication origin (as an apply
-- worker makes them) are dropped with only-local, and kept without it,
-- with the origin's name and LSN when include-origin asks for them.
--
SELECT 'init' FROM pg_create_logical_replication_slot('origin', 'decoderbufs');

CREATE TABLE orig_t (id int PRIMARY KEY, v text);
SELECT pg_replication_origin_create('remote_node') > 0 AS created;
SELECT pg_replication_origin_create('gone_node') > 0 AS created;

-- A message in one line, with its origin fields.
CREATE FUNCTION show(m jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN m->>'op' = 'MESSAGE'
                THEN 'MESSAGE ' || (m->'message'->>'prefix') || ':' || (m->'message'->>'content')
                ELSE message_text(m) END
        || coalesce(' origin=' || (m->>'origin'), '')
        || coalesce(' origin_lsn=' || ('0/0'::pg_lsn + (m->>'origin_lsn')::numeric), '')
$$;

INSERT INTO orig_t VALUES (1, 'local');
-- as an apply worker does: the session's origin, and per transaction the
-- remote commit LSN and time
SELECT pg_replication_origin_session_setup('remote_node');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/ABCDEF', '2020-01-01 00:00:00+00');
INSERT INTO orig_t VALUES (2, 'remote');
UPDATE orig_t SET v = 'remote update' WHERE id = 1;
COMMIT;
-- the origin LSN stays for the session's next transactions until reset
INSERT INTO orig_t VALUES (3, 'remote, same origin lsn');
SELECT pg_replication_origin_xact_reset();
SELECT pg_logical_emit_message(true, 'remote', 'transactional') IS NOT NULL AS emitted;
SELECT pg_logical_emit_message(false, 'remote', 'non-transactional') IS NOT NULL AS emitted;
SELECT pg_replication_origin_session_reset();
INSERT INTO orig_t VALUES (4, 'local again');
-- an origin dropped before its changes are decoded keeps its name: the
-- plugin reads the catalog as it was when the change was made
SELECT pg_replication_origin_session_setup('gone_node');
INSERT INTO orig_t VALUES (5, 'from an origin since dropped');
SELECT pg_replication_origin_session_reset();
SELECT pg_replication_origin_drop('gone_node');

-- Without options: every change, no origin fields (Debezium's format).
SELECT show(m) FROM pg_logical_slot_peek_binary_changes('origin', NULL, NULL,
                                                         'include-messages', '1',
                                                         'skip-empty-xacts', '1') p,
     LATERAL (SELECT decoderbufs_to_json(p.data) - 'commit_time' - 'transaction_id' AS m) x;

-- include-origin: every message of a transaction made under an origin
-- carries its name and origin LSN; local transactions none.
SELECT show(m) FROM pg_logical_slot_peek_binary_changes('origin', NULL, NULL,
                                                         'include-messages', '1',
                                                         'skip-empty-xacts', '1',
                                                         'include-origin', '1') p,
     LATERAL (SELECT decoderbufs_to_json(p.data) - 'commit_time' - 'transaction_id' AS m) x;
-- checked against the origin names given and the catalog, and the LSNs
-- given (0/0 after pg_replication_origin_xact_reset)
SELECT m->>'op' AS op, m->'new_tuple'->0->'datum_int32' AS id,
       m->>'origin' AS origin,
       m->>'origin' = CASE WHEN m->'new_tuple'->0->>'datum_int32' = '5' THEN 'gone_node'
                           ELSE (SELECT roname FROM pg_replication_origin
                                 WHERE roident = pg_replication_origin_oid('remote_node'))
                      END AS origin_ok,
       (m->>'origin_lsn')::numeric
           = CASE WHEN m->'new_tuple'->0->>'datum_int32' = '5' THEN 0
                  ELSE '0/ABCDEF'::pg_lsn - '0/0' END AS origin_lsn_ok
FROM pg_logical_slot_peek_binary_changes('origin', NULL, NULL, 'include-origin', '1') p,
     LATERAL (SELECT decoderbufs_to_json(p.data) AS m) x
WHERE m ? 'origin' AND m ? 'new_tuple';

-- only-local: transactions and messages made under an origin are not
-- sent at all, not even as empty transactions.
SELECT show(m) FROM changes('origin', 'include-messages', '1', 'include-origin', '1',
                            'only-local', '1', 'skip-empty-xacts', '1') m;

-- only-local off keeps everything
SELECT pg_replication_origin_session_setup('remote_node');
INSERT INTO orig_t VALUES (6, 'remote');
SELECT pg_replication_origin_session_reset();
SELECT show(m) FROM changes('origin', 'only-local', 'off', 'include-origin', 'on') m;

SELECT pg_drop_replication_slot('origin');
SELECT pg_replication_origin_drop('remote_node');
DROP TABLE orig_t;
DROP FUNCTION show(jsonb);
