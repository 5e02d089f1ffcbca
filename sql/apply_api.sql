--
-- apply_api: the SQL API of decoderbufs_apply.  Every function is called
-- with bad arguments, and each ERROR must name the argument and say what is
-- allowed; the catalog rows the good calls write, the status view, and who
-- may call what are checked too.  No source server is needed: subscriptions
-- are created with create_slot => false and enabled => false, so no worker
-- ever connects anywhere.  The errors are shown without their CONTEXT lines,
-- which only name the PL/pgSQL functions they pass through.
--
CREATE EXTENSION decoderbufs_apply;
\set SHOW_CONTEXT never

-- The API: its functions, their results, and their arguments with defaults
-- (one line each).
-- (a set-returning function's result shows as TABLE(n columns))
SELECT p.proname AS function,
       regexp_replace(pg_get_function_result(p.oid), '^TABLE\(.*\)$',
                      'TABLE(' || (cardinality(p.proargnames) - p.pronargs) || ' columns)') AS result,
       a.argument
FROM pg_proc p,
     regexp_split_to_table(pg_get_function_arguments(p.oid), ', ') WITH ORDINALITY a(argument, n)
WHERE p.pronamespace = 'decoderbufs_apply'::regnamespace AND p.proname !~ '^_'
ORDER BY p.proname COLLATE "C", a.n;

-- The catalog as the API leaves it, without what varies between runs
-- (sub_id, sub_created); the owner is shown as '(superuser)' for the
-- superuser running the tests.
CREATE VIEW api_subs AS
SELECT s.sub_name AS name,
       CASE WHEN r.rolsuper THEN '(superuser)' ELSE r.rolname::text END AS owner,
       s.sub_enabled AS enabled, s.sub_conninfo AS conninfo,
       s.sub_slot_name AS slot_name,
       s.sub_origin_name = 'decoderbufs_apply_' || d.oid || '_' || s.sub_id AS origin_ok,
       s.sub_conflict_policy AS policy, s.sub_only_local AS only_local,
       s.sub_replica_role AS replica_role, s.sub_include_tables AS tables,
       s.sub_exclude_tables AS exclude_tables, s.sub_skip_lsn AS skip_lsn
FROM decoderbufs_apply.subscription s
JOIN pg_roles r ON r.oid = s.sub_owner
JOIN pg_database d ON d.datname = current_database()
ORDER BY s.sub_name COLLATE "C";
CREATE VIEW api_policies AS
SELECT s.sub_name AS name, p.schema_name, p.table_name, p.conflict_policy
FROM decoderbufs_apply.table_policy p
JOIN decoderbufs_apply.subscription s USING (sub_id)
ORDER BY s.sub_name COLLATE "C", p.schema_name COLLATE "C", p.table_name COLLATE "C";

------------------------------------------------------------------------
-- create_subscription
------------------------------------------------------------------------

-- With the defaults, and with every argument given.
SELECT decoderbufs_apply.create_subscription('api_sub', 'host=source.invalid dbname=app',
    create_slot => false, enabled => false) IS NOT NULL AS created;
SELECT decoderbufs_apply.create_subscription('api_full', 'postgresql://repl@source.invalid:5433/app',
    slot_name => 'full_slot', create_slot => false, conflict_policy => 'overwrite',
    only_local => false, tables => ARRAY['public.orders', '"Sales".*', 'item_?', '"Odd ""quoted"" name"'],
    exclude_tables => ARRAY['public.tmp_*'], replica_role => false,
    enabled => false) IS NOT NULL AS created;
SELECT * FROM api_subs;
-- ids are distinct, and so are origin names
SELECT count(DISTINCT sub_id) AS ids, count(DISTINCT sub_origin_name) AS origins
FROM decoderbufs_apply.subscription;

-- name: 1 to 63 lower case letters, digits and underscores
SELECT decoderbufs_apply.create_subscription(NULL, 'dbname=app', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('', 'dbname=app', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('Bad-Name', 'dbname=app', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('Upper', 'dbname=app', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('with space', 'dbname=app', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('"quoted"', 'dbname=app', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription(repeat('n', 64), 'dbname=app', create_slot => false, enabled => false);
-- the default slot name dbufs_<name> must fit in 63 characters too
SELECT decoderbufs_apply.create_subscription(repeat('n', 58), 'dbname=app', create_slot => false, enabled => false);
BEGIN;
SELECT decoderbufs_apply.create_subscription(repeat('n', 57), 'dbname=app', create_slot => false, enabled => false) IS NOT NULL AS created;
SELECT decoderbufs_apply.create_subscription(repeat('m', 63), 'dbname=app', slot_name => 'short_slot', create_slot => false, enabled => false) IS NOT NULL AS created;
SELECT length(sub_name) AS name_length, length(sub_slot_name) AS slot_length, sub_slot_name = 'dbufs_' || sub_name AS default_slot
FROM decoderbufs_apply.subscription WHERE length(sub_name) > 50 ORDER BY 1;
ROLLBACK;

-- slot_name: the same rule as replication slot names
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', slot_name => '', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', slot_name => 'Slot', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', slot_name => 'my-slot', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', slot_name => repeat('s', 64), create_slot => false, enabled => false);

-- a name in use
SELECT decoderbufs_apply.create_subscription('api_sub', 'dbname=other', create_slot => false, enabled => false);

-- conninfo: a libpq connection string that does not set replication
SELECT decoderbufs_apply.create_subscription('s1', NULL, create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'not a conninfo', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'host=h port', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'host=''unterminated', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'hots=h dbname=app', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'postgresql://h/app?nosuch=1', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app replication=database', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app replication=0', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'postgresql://h/app?replication=true', create_slot => false, enabled => false);

-- conflict_policy: fail, ignore, overwrite or last_update_wins
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', conflict_policy => NULL, create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', conflict_policy => '', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', conflict_policy => 'FAIL', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', conflict_policy => 'last_writer_wins', create_slot => false, enabled => false);
-- last_update_wins is accepted (this server has track_commit_timestamp on)
SELECT decoderbufs_apply.create_subscription('s_lww', 'dbname=app', conflict_policy => 'last_update_wins', create_slot => false, enabled => false) IS NOT NULL AS created;
SELECT conflict_policy FROM decoderbufs_apply.subscription_status WHERE subscription = 's_lww';
SELECT decoderbufs_apply.drop_subscription('s_lww', drop_slot => false);

-- tables and exclude_tables: one [schema.]table per element
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', tables => ARRAY['a.b.c'], create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', tables => ARRAY['a, b'], create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', tables => ARRAY['ok', 'a b'], create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', tables => ARRAY[''], create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', tables => ARRAY['ok', NULL], create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', tables => ARRAY['sch.'], create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', tables => ARRAY['.t'], create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', tables => ARRAY['"unterminated'], create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', tables => ARRAY['""'], create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', exclude_tables => ARRAY['public.t', 'x.y.z'], create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', exclude_tables => ARRAY[NULL], create_slot => false, enabled => false);

-- Booleans: true or false, never NULL
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', create_slot => NULL, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', only_local => NULL, create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', replica_role => NULL, create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', create_slot => false, enabled => NULL);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', disable_on_error => NULL, create_slot => false, enabled => false);

-- Retry timeouts: seconds, -1 for ever, NULL for the setting
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', retry_connection_timeout => -2, create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', retry_apply_timeout => -100, create_slot => false, enabled => false);

-- none of the failed calls left anything behind
SELECT name FROM api_subs;

-- The retry policy's settings as the API leaves them
CREATE VIEW api_retry AS
SELECT s.sub_name AS name, s.sub_disable_on_error AS disable_on_error,
       s.sub_retry_connection_timeout AS retry_connection_timeout,
       s.sub_retry_apply_timeout AS retry_apply_timeout,
       s.sub_failed_at IS NOT NULL AS failed, s.sub_error_class AS error_class,
       s.sub_last_error AS last_error
FROM decoderbufs_apply.subscription s
ORDER BY s.sub_name COLLATE "C";
SELECT decoderbufs_apply.create_subscription('api_retry', 'host=source.invalid dbname=app',
    create_slot => false, enabled => false, disable_on_error => true,
    retry_connection_timeout => -1, retry_apply_timeout => 0) IS NOT NULL AS created;
SELECT * FROM api_retry;

------------------------------------------------------------------------
-- alter_subscription: NULL leaves a setting as it is
------------------------------------------------------------------------

SELECT decoderbufs_apply.alter_subscription(NULL, conflict_policy => 'ignore');
SELECT decoderbufs_apply.alter_subscription('no_such', conflict_policy => 'ignore');
SELECT decoderbufs_apply.alter_subscription('Api_Sub', conflict_policy => 'ignore');
SELECT decoderbufs_apply.alter_subscription('api_sub', conninfo => 'not a conninfo');
SELECT decoderbufs_apply.alter_subscription('api_sub', conninfo => 'dbname=app replication=true');
SELECT decoderbufs_apply.alter_subscription('api_sub', conflict_policy => 'ignored');
SELECT decoderbufs_apply.alter_subscription('api_sub', tables => '{a.b.c}');
SELECT decoderbufs_apply.alter_subscription('api_sub', exclude_tables => '{NULL}');
SELECT decoderbufs_apply.alter_subscription('api_sub', retry_connection_timeout => -2);
SELECT decoderbufs_apply.alter_subscription('api_sub', retry_apply_timeout => -2);
-- nothing changed
SELECT * FROM api_subs WHERE name = 'api_sub';
-- each setting on its own
SELECT decoderbufs_apply.alter_subscription('api_sub', conninfo => 'host=other.invalid dbname=app');
SELECT decoderbufs_apply.alter_subscription('api_sub', conflict_policy => 'last_update_wins');
SELECT sub_conflict_policy FROM decoderbufs_apply.subscription WHERE sub_name = 'api_sub';
SELECT decoderbufs_apply.alter_subscription('api_sub', conflict_policy => 'ignore');
SELECT decoderbufs_apply.alter_subscription('api_sub', only_local => false);
SELECT decoderbufs_apply.alter_subscription('api_sub', replica_role => false);
SELECT decoderbufs_apply.alter_subscription('api_sub', tables => ARRAY['"Sales".orders', 'audit_*'], exclude_tables => ARRAY['public.x']);
SELECT * FROM api_subs WHERE name = 'api_sub';
-- all NULL: nothing changes; an empty list means all tables / none excluded
SELECT decoderbufs_apply.alter_subscription('api_sub');
SELECT * FROM api_subs WHERE name = 'api_sub';
SELECT decoderbufs_apply.alter_subscription('api_sub', tables => '{}', exclude_tables => '{}',
    only_local => true, replica_role => true);
SELECT * FROM api_subs WHERE name = 'api_sub';
-- the retry policy's settings; NULL leaves them as they are
SELECT decoderbufs_apply.alter_subscription('api_retry', disable_on_error => false,
    retry_connection_timeout => 3600, retry_apply_timeout => -1);
SELECT decoderbufs_apply.alter_subscription('api_retry', conflict_policy => 'ignore');
SELECT * FROM api_retry;

-- A failed subscription (as the worker records it: enabled, with when and
-- the error) shows as failed with its error; a change to its configuration
-- resumes it, and so does enable_subscription(), which also clears the
-- error of a subscription disable_on_error disabled.  (In transactions that
-- roll back: no worker starts.)
BEGIN;
UPDATE decoderbufs_apply.subscription SET sub_enabled = true, sub_failed_at = now(),
    sub_error_class = 'apply', sub_last_error = 'target relation "public.t" does not exist',
    sub_last_error_hint = 'Create the table.'
WHERE sub_name = 'api_retry';
SELECT subscription, enabled, state, last_error, last_error_hint, last_error_class,
       failed_at IS NOT NULL AS failed, last_error_time = failed_at AS error_time
FROM decoderbufs_apply.subscription_status WHERE subscription = 'api_retry';
SELECT decoderbufs_apply.alter_subscription('api_retry', retry_apply_timeout => 600);
SELECT subscription, enabled, state, last_error, failed_at FROM decoderbufs_apply.subscription_status
WHERE subscription = 'api_retry';
SELECT * FROM api_retry;
ROLLBACK;
BEGIN;
UPDATE decoderbufs_apply.subscription SET sub_failed_at = now(),
    sub_error_class = 'apply', sub_last_error = 'duplicate key value violates unique constraint "t_pkey"'
WHERE sub_name = 'api_retry';
SELECT subscription, enabled, state, last_error, last_error_class
FROM decoderbufs_apply.subscription_status WHERE subscription = 'api_retry';
-- a disabled subscription keeps the error through other changes
SELECT decoderbufs_apply.set_table_policy('api_retry', 'public.t', 'ignore');
SELECT * FROM api_retry;
SELECT decoderbufs_apply.enable_subscription('api_retry', precheck => false);
SELECT subscription, enabled, state, last_error FROM decoderbufs_apply.subscription_status
WHERE subscription = 'api_retry';
SELECT * FROM api_retry;
ROLLBACK;
SELECT decoderbufs_apply.drop_subscription('api_retry', drop_slot => false);
DROP VIEW api_retry;
-- streaming: on unless turned off; NULL is refused at creation, means
-- "unchanged" to alter_subscription
SELECT sub_name, sub_streaming FROM decoderbufs_apply.subscription ORDER BY sub_name COLLATE "C";
SELECT decoderbufs_apply.create_subscription('api_nostream', 'dbname=app',
    create_slot => false, enabled => false, streaming => NULL);
SELECT decoderbufs_apply.alter_subscription('api_sub', streaming => false);
SELECT decoderbufs_apply.alter_subscription('api_sub');
SELECT streaming FROM decoderbufs_apply.subscription_status WHERE subscription = 'api_sub';
SELECT decoderbufs_apply.alter_subscription('api_sub', streaming => true);
SELECT streaming FROM decoderbufs_apply.subscription_status WHERE subscription = 'api_sub';

------------------------------------------------------------------------
-- set_table_policy: a schema-qualified table; NULL policy removes it
------------------------------------------------------------------------

SELECT decoderbufs_apply.set_table_policy(NULL, 'public.orders', 'ignore');
SELECT decoderbufs_apply.set_table_policy('no_such', 'public.orders', 'ignore');
SELECT decoderbufs_apply.set_table_policy('api_sub', NULL, 'ignore');
SELECT decoderbufs_apply.set_table_policy('api_sub', '', 'ignore');
SELECT decoderbufs_apply.set_table_policy('api_sub', 'orders', 'ignore');
SELECT decoderbufs_apply.set_table_policy('api_sub', 'a.b.c', 'ignore');
SELECT decoderbufs_apply.set_table_policy('api_sub', 'public.*', 'ignore');
SELECT decoderbufs_apply.set_table_policy('api_sub', 'public."unterminated', 'ignore');
SELECT decoderbufs_apply.set_table_policy('api_sub', 'public.orders', 'skip');
SELECT decoderbufs_apply.set_table_policy('api_sub', 'public.orders', '');
SELECT * FROM api_policies;
-- unquoted names fold to lower case, quoted ones keep it; setting again replaces
SELECT decoderbufs_apply.set_table_policy('api_sub', 'public.orders', 'ignore');
SELECT decoderbufs_apply.set_table_policy('api_sub', '"Sales"."Big Orders"', 'overwrite');
SELECT decoderbufs_apply.set_table_policy('api_sub', 'Sales.Items', 'fail');
SELECT decoderbufs_apply.set_table_policy('api_full', 'public.orders', 'fail');
SELECT * FROM api_policies;
SELECT decoderbufs_apply.set_table_policy('api_sub', 'PUBLIC.ORDERS', 'overwrite');
SELECT decoderbufs_apply.set_table_policy('api_sub', 'sales.items', NULL);
-- removing what is not there is no error
SELECT decoderbufs_apply.set_table_policy('api_sub', 'sales.items', NULL);
SELECT * FROM api_policies;
SELECT decoderbufs_apply.set_table_policy('api_sub', 'public.lww', 'last_update_wins');
SELECT * FROM api_policies WHERE table_name = 'lww';
SELECT decoderbufs_apply.set_table_policy('api_sub', 'public.lww', NULL);

------------------------------------------------------------------------
-- enable_subscription, disable_subscription
------------------------------------------------------------------------

SELECT decoderbufs_apply.enable_subscription(NULL);
SELECT decoderbufs_apply.enable_subscription('no_such');
SELECT decoderbufs_apply.disable_subscription(NULL);
SELECT decoderbufs_apply.disable_subscription('no_such');
-- (enabled only inside a transaction that rolls back: no worker starts;
-- without the precheck, which would try to reach the source)
SELECT decoderbufs_apply.enable_subscription('api_sub', precheck => NULL);
BEGIN;
SELECT decoderbufs_apply.enable_subscription('api_sub', precheck => false);
SELECT name, enabled FROM api_subs;
ROLLBACK;
SELECT decoderbufs_apply.disable_subscription('api_sub');
SELECT name, enabled FROM api_subs;

------------------------------------------------------------------------
-- precheck: its arguments (what it finds needs servers: 021_precheck.pl)
------------------------------------------------------------------------

SELECT * FROM decoderbufs_apply.precheck();
SELECT * FROM decoderbufs_apply.precheck(NULL, tables => ARRAY['public.t']);
SELECT * FROM decoderbufs_apply.precheck('not a conninfo');
SELECT * FROM decoderbufs_apply.precheck('dbname=app replication=database');
SELECT * FROM decoderbufs_apply.precheck('dbname=app', tables => ARRAY['a.b.c']);
SELECT * FROM decoderbufs_apply.precheck('dbname=app', schemas => ARRAY['']);
SELECT * FROM decoderbufs_apply.precheck('dbname=app', exclude_tables => ARRAY[NULL]);
SELECT * FROM decoderbufs_apply.precheck('dbname=app', existing_data => 'replace');
SELECT * FROM decoderbufs_apply.precheck(subscription => 'no_such');
SELECT decoderbufs_apply.create_subscription('s1', 'dbname=app', precheck => NULL, create_slot => false);

------------------------------------------------------------------------
-- skip_transaction: the commit LSN of the failing remote transaction
------------------------------------------------------------------------

SELECT decoderbufs_apply.skip_transaction(NULL, '0/16B3748');
SELECT decoderbufs_apply.skip_transaction('no_such', '0/16B3748');
SELECT decoderbufs_apply.skip_transaction('api_sub', NULL);
SELECT decoderbufs_apply.skip_transaction('api_sub', '0/0');
SELECT decoderbufs_apply.skip_transaction('api_sub', '0/16B3748');
SELECT name, skip_lsn FROM api_subs;

------------------------------------------------------------------------
-- verify, verify_all: their arguments (comparing needs servers:
-- 031_verify.pl)
------------------------------------------------------------------------

SELECT * FROM decoderbufs_apply.verify(NULL, 'public.t');
SELECT * FROM decoderbufs_apply.verify('no_such', 'public.t');
SELECT * FROM decoderbufs_apply.verify('api_sub', NULL);
SELECT * FROM decoderbufs_apply.verify('api_sub', 't');
SELECT * FROM decoderbufs_apply.verify('api_sub', 'public.t', max_keys => -1);
SELECT * FROM decoderbufs_apply.verify('api_sub', 'public.t', max_keys => NULL);
SELECT * FROM decoderbufs_apply.verify_all(NULL);
SELECT * FROM decoderbufs_apply.verify_all('api_sub', max_keys => -1);
BEGIN;
SELECT * FROM decoderbufs_apply.verify('api_sub', 'public.t');
ROLLBACK;

------------------------------------------------------------------------
-- The status view lists every subscription, disabled ones too
------------------------------------------------------------------------

SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = 'decoderbufs_apply.subscription_status'::regclass AND a.attnum > 0
ORDER BY a.attnum;
SELECT subscription, enabled, state, pid, received_lsn, applied_lsn, flushed_lsn,
       lag_bytes, lag_seconds, inserted, last_error, retry_count, slot_name,
       conflict_policy, only_local
FROM decoderbufs_apply.subscription_status ORDER BY subscription COLLATE "C";

------------------------------------------------------------------------
-- The conflict log, tombstones, resolve_conflict
------------------------------------------------------------------------

SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = 'decoderbufs_apply.conflict_log'::regclass AND a.attnum > 0
ORDER BY a.attnum;
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = 'decoderbufs_apply.tombstone'::regclass AND a.attnum > 0
ORDER BY a.attnum;
SELECT decoderbufs_apply.resolve_conflict(NULL, 'discard');
SELECT decoderbufs_apply.resolve_conflict(1, NULL);
SELECT decoderbufs_apply.resolve_conflict(1, 'apply');
SELECT decoderbufs_apply.resolve_conflict(1, 'DISCARD');
SELECT decoderbufs_apply.resolve_conflict(123456, 'discard');
-- a logged conflict of a table that is gone, of a subscription that is gone
INSERT INTO decoderbufs_apply.conflict_log (id, sub_name, schema_name, table_name,
    conflict_type, resolution, remote_tuple, decision)
VALUES (1001, 'api_sub', 'public', 'gone', 'insert_exists', 'ignore', '{"k": "1"}', 'skipped'),
       (1002, 'no_such_sub', 'public', 'gone', 'insert_exists', 'ignore', '{"k": "1"}', 'skipped'),
       (1003, 'api_sub', 'public', 'gone', 'delete_missing', 'ignore', NULL, 'skipped');
SELECT decoderbufs_apply.resolve_conflict(1001, 'apply_remote');
SELECT decoderbufs_apply.resolve_conflict(1002, 'apply_remote');
SELECT decoderbufs_apply.resolve_conflict(1002, 'discard');
-- (the detail says when and by whom)
\set VERBOSITY terse
SELECT decoderbufs_apply.resolve_conflict(1002, 'discard');
\set VERBOSITY default
SELECT id, resolved_action, resolved_by = current_user AS by_me, resolved_at IS NOT NULL AS resolved
FROM decoderbufs_apply.conflict_log WHERE id > 1000 ORDER BY id;
-- a table with a key: apply_remote writes the remote row, discard leaves it
CREATE TABLE public.resolved (k int PRIMARY KEY, v text, g int GENERATED ALWAYS AS (k * 2) STORED,
                              i int GENERATED ALWAYS AS IDENTITY);
INSERT INTO public.resolved VALUES (1, 'local'), (2, 'local'), (3, 'local');
INSERT INTO decoderbufs_apply.conflict_log (id, sub_name, schema_name, table_name,
    conflict_type, resolution, remote_tuple, key_tuple, decision)
VALUES (1011, 'api_sub', 'public', 'resolved', 'insert_exists', 'ignore',
        '{"k": "1", "v": "remote", "g": "99", "i": "7"}', NULL, 'skipped'),
       (1012, 'api_sub', 'public', 'resolved', 'update_missing', 'ignore',
        '{"k": "4", "v": "remote four", "g": null, "i": "8"}', '{"k": "4"}', 'skipped'),
       (1013, 'api_sub', 'public', 'resolved', 'update_origin_differs', 'ignore',
        '{"k": "20", "v": "moved", "g": null, "i": "9"}', '{"k": "2"}', 'skipped'),
       (1014, 'api_sub', 'public', 'resolved', 'delete_origin_differs', 'ignore',
        NULL, '{"k": "3", "v": null, "g": null, "i": null}', 'skipped'),
       (1015, 'api_sub', 'public', 'resolved', 'insert_exists', 'ignore',
        '{"k": "1", "v": "never", "g": null, "i": "1"}', NULL, 'skipped'),
       (1016, 'api_sub', 'public', 'resolved', 'insert_exists', 'ignore',
        '{"k": "1", "nosuch": "x"}', NULL, 'skipped'),
       (1017, 'api_sub', 'public', 'resolved', 'update_missing', 'ignore',
        '{"v": "no key"}', NULL, 'skipped');
SELECT decoderbufs_apply.resolve_conflict(1011, 'apply_remote');
SELECT decoderbufs_apply.resolve_conflict(1012, 'apply_remote');
SELECT decoderbufs_apply.resolve_conflict(1013, 'apply_remote');
SELECT decoderbufs_apply.resolve_conflict(1014, 'apply_remote');
SELECT decoderbufs_apply.resolve_conflict(1015, 'discard');
SELECT decoderbufs_apply.resolve_conflict(1016, 'apply_remote');
SELECT decoderbufs_apply.resolve_conflict(1017, 'apply_remote');
SELECT * FROM public.resolved ORDER BY k;
SELECT id, resolved_action FROM decoderbufs_apply.conflict_log WHERE id > 1010 ORDER BY id;
DROP TABLE public.resolved;
DELETE FROM decoderbufs_apply.conflict_log WHERE id > 1000;

------------------------------------------------------------------------
-- drop_subscription (drop_slot => false: there is no source)
------------------------------------------------------------------------

SELECT decoderbufs_apply.drop_subscription(NULL, drop_slot => false);
SELECT decoderbufs_apply.drop_subscription('no_such', drop_slot => false);
SELECT decoderbufs_apply.drop_subscription('api_full', drop_slot => NULL);
SELECT decoderbufs_apply.drop_subscription('api_full', drop_slot => false);
-- its table policies went with it
SELECT name FROM api_subs;
SELECT count(*) AS policies FROM decoderbufs_apply.table_policy;

------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------

-- A role with no grants: the schema is closed to it, so every function,
-- the catalog and the status view are out of reach.
CREATE ROLE regress_apply_nobody NOLOGIN;
SET ROLE regress_apply_nobody;
SELECT decoderbufs_apply.create_subscription('n1', 'dbname=app', create_slot => false, enabled => false);
SELECT decoderbufs_apply.alter_subscription('api_sub', conflict_policy => 'fail');
SELECT decoderbufs_apply.set_table_policy('api_sub', 'public.t', 'fail');
SELECT decoderbufs_apply.enable_subscription('api_sub');
SELECT decoderbufs_apply.disable_subscription('api_sub');
SELECT decoderbufs_apply.drop_subscription('api_sub', drop_slot => false);
SELECT decoderbufs_apply.skip_transaction('api_sub', '0/1');
SELECT decoderbufs_apply.resolve_conflict(1, 'discard');
SELECT sub_conninfo FROM decoderbufs_apply.subscription;
SELECT * FROM decoderbufs_apply.subscription_status;
SELECT * FROM decoderbufs_apply.conflict_log;
RESET ROLE;

-- Even with USAGE on the schema, each object refuses it.
GRANT USAGE ON SCHEMA decoderbufs_apply TO regress_apply_nobody;
SET ROLE regress_apply_nobody;
SELECT decoderbufs_apply.create_subscription('n1', 'dbname=app', create_slot => false, enabled => false);
SELECT decoderbufs_apply.alter_subscription('api_sub', conflict_policy => 'fail');
SELECT decoderbufs_apply.set_table_policy('api_sub', 'public.t', 'fail');
SELECT decoderbufs_apply.enable_subscription('api_sub');
SELECT decoderbufs_apply.disable_subscription('api_sub');
SELECT decoderbufs_apply.drop_subscription('api_sub', drop_slot => false);
SELECT decoderbufs_apply.skip_transaction('api_sub', '0/1');
SELECT * FROM decoderbufs_apply.verify('api_sub', 'public.t');
SELECT * FROM decoderbufs_apply.verify_all('api_sub');
SELECT * FROM decoderbufs_apply.precheck('dbname=app password=x');
SELECT * FROM decoderbufs_apply._precheck('dbname=app password=x', NULL, NULL, NULL, NULL, false, 'error', NULL, true);
SELECT sub_conninfo FROM decoderbufs_apply.subscription;
SELECT * FROM decoderbufs_apply.table_policy;
SELECT * FROM decoderbufs_apply.subscription_status;
SELECT * FROM decoderbufs_apply.conflict_log;
RESET ROLE;
REVOKE USAGE ON SCHEMA decoderbufs_apply FROM regress_apply_nobody;

-- pg_monitor sees the status view, but not the connection strings.
CREATE ROLE regress_apply_monitor NOLOGIN IN ROLE pg_monitor;
SET ROLE regress_apply_monitor;
SELECT subscription, state FROM decoderbufs_apply.subscription_status ORDER BY 1;
SELECT sub_conninfo FROM decoderbufs_apply.subscription;
SELECT decoderbufs_apply.disable_subscription('api_sub');
RESET ROLE;

-- A member of decoderbufs_apply_admin manages subscriptions.
CREATE ROLE regress_apply_admin NOLOGIN IN ROLE decoderbufs_apply_admin;
SET ROLE regress_apply_admin;
-- a non-superuser's connection string must carry a password: without one
-- the server's own OS user would authenticate it
SELECT decoderbufs_apply.create_subscription('by_admin', 'host=source.invalid dbname=app',
    create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('by_admin', 'host=source.invalid dbname=app password=secret',
    create_slot => false, enabled => false) IS NOT NULL AS created;
SELECT decoderbufs_apply.alter_subscription('by_admin', conflict_policy => 'ignore', tables => '{public.*}');
SELECT decoderbufs_apply.set_table_policy('by_admin', 'public.t', 'overwrite');
BEGIN;
SELECT decoderbufs_apply.enable_subscription('by_admin', precheck => false);
ROLLBACK;
SELECT decoderbufs_apply.disable_subscription('by_admin');
SELECT decoderbufs_apply.skip_transaction('by_admin', '0/1');
SELECT subscription, state FROM decoderbufs_apply.subscription_status ORDER BY 1;
SELECT sub_name, sub_conninfo FROM decoderbufs_apply.subscription ORDER BY 1;
SELECT count(*) FROM decoderbufs_apply.conflict_log;
RESET ROLE;
-- (the helper views are the superuser's)
SELECT * FROM api_subs WHERE name = 'by_admin';
SELECT * FROM api_policies;
INSERT INTO decoderbufs_apply.conflict_log (id, sub_name, schema_name, table_name,
    conflict_type, resolution, decision)
VALUES (2001, 'api_sub', 'public', 't', 'delete_missing', 'ignore', 'skipped'),
       (2002, 'by_admin', 'public', 't', 'delete_missing', 'ignore', 'skipped');
SET ROLE regress_apply_admin;
-- an admin resolves the conflicts of its own subscriptions only
SELECT decoderbufs_apply.resolve_conflict(2001, 'discard');
SELECT decoderbufs_apply.resolve_conflict(2002, 'discard');
SELECT id, resolved_action, resolved_by FROM decoderbufs_apply.conflict_log WHERE id > 2000 ORDER BY id;
DELETE FROM decoderbufs_apply.conflict_log WHERE id > 2000;
-- the argument checks apply to it as to a superuser
SELECT decoderbufs_apply.create_subscription('by_admin', 'dbname=app password=x', create_slot => false, enabled => false);
SELECT decoderbufs_apply.create_subscription('Bad', 'dbname=app', create_slot => false, enabled => false);
SELECT decoderbufs_apply.drop_subscription('by_admin', drop_slot => false);
-- a subscription applies as its owner: an admin cannot change one owned by
-- a role it is not a member of, nor give its own to another owner
SELECT decoderbufs_apply.drop_subscription('api_sub', drop_slot => false);
SELECT decoderbufs_apply.alter_subscription('api_sub', conflict_policy => 'overwrite');
SELECT decoderbufs_apply.set_table_policy('api_sub', 'public.t', 'ignore');
SELECT decoderbufs_apply.create_subscription('by_admin2', 'host=source.invalid dbname=app password=secret',
    create_slot => false, enabled => false) IS NOT NULL AS created;
UPDATE decoderbufs_apply.subscription SET sub_owner = 10::oid::regrole WHERE sub_name = 'by_admin2';
SELECT sub_name FROM decoderbufs_apply.subscription ORDER BY 1;
SELECT decoderbufs_apply.drop_subscription('by_admin2', drop_slot => false);
RESET ROLE;

\set SHOW_CONTEXT errors
DROP VIEW api_policies;
DROP VIEW api_subs;
DROP EXTENSION decoderbufs_apply;
DROP ROLE regress_apply_nobody;
DROP ROLE regress_apply_monitor;
DROP ROLE regress_apply_admin;
