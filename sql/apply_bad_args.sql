--
-- apply_bad_args: every argument of every function of the decoderbufs_apply
-- SQL API with bad values - NULL where it is not allowed, wrong values,
-- unknown subscriptions and tables, hostile text.  Table-driven: each row
-- is one call and what came of it, "ok" or the error with its SQLSTATE,
-- detail and hint; every call runs in a subtransaction that is rolled
-- back, so that each starts from the same catalog.  No source server is
-- needed: the subscriptions are created with create_slot => false and
-- enabled => false.  apply_api covers what the good calls write.
--
-- Taken on purpose: a connection string's values (a bad port or sslmode)
-- are libpq's to refuse when the worker connects; what a row filter may
-- call (no subqueries, immutable functions only) is checked by the
-- source's plugin against the table, when the worker starts streaming.
--
CREATE EXTENSION decoderbufs_apply;
SELECT decoderbufs_apply.create_subscription('ba', 'host=source.invalid dbname=app',
    create_slot => false, enabled => false, copy_data => true) IS NOT NULL AS created;
SELECT decoderbufs_apply.create_subscription('ba_nocopy', 'host=source.invalid dbname=app',
    create_slot => false, enabled => false) IS NOT NULL AS created;
INSERT INTO decoderbufs_apply.table_sync (sub_id, schema_name, table_name, state)
SELECT sub_id, 'public', 'copied', 'ready' FROM decoderbufs_apply.subscription WHERE sub_name = 'ba';

-- Run one call; 'ok' (with its result) or the error in full.  The call's
-- effects are undone.
CREATE FUNCTION ba_try(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
    detail text;
    hint text;
    result text;
BEGIN
    BEGIN
        EXECUTE 'SELECT (' || call || ')::text' INTO result;
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'rollback';
    EXCEPTION WHEN SQLSTATE 'P0001' THEN
        IF SQLERRM = 'rollback' THEN
            RETURN 'ok';
        END IF;
        RAISE;
    END;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
        detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RETURN state || ': ' || msg || coalesce(E'\nDETAIL: ' || nullif(detail, ''), '')
        || coalesce(E'\nHINT: ' || nullif(hint, ''), '');
END
$$;

CREATE TABLE ba_call (n serial, call text);

-- create_subscription: each argument in turn, the others good.
INSERT INTO ba_call (call)
SELECT format('decoderbufs_apply.create_subscription(%s, create_slot => false, enabled => false%s)',
              coalesce(a.first, '''ba_new'', ''dbname=app'''), coalesce(', ' || a.arg, ''))
FROM (VALUES
    ('NULL, ''dbname=app''', NULL), ('''ba'', ''dbname=app''', NULL),
    ('''Ba2'', ''dbname=app''', NULL), ('''ba-2'', ''dbname=app''', NULL),
    ('''ba; DROP TABLE x'', ''dbname=app''', NULL), (E'''b\u00e4'', ''dbname=app''', NULL),
    ('repeat(''b'', 1000), ''dbname=app''', NULL), ('''ba_new'', NULL', NULL),
    ('''ba_new'', ''''', NULL), ('''ba_new'', ''dbname=app'''' OR 1=1''', NULL),
    ('''ba_new'', ''host=a port=99999999999''', NULL), ('''ba_new'', ''sslmode=nosuch''', NULL),
    ('''ba_new'', ''dbname=app replication=database''', NULL),
    (NULL, 'slot_name => NULL'), (NULL, 'slot_name => '''''), (NULL, 'slot_name => ''pg_x-1'''),
    (NULL, 'slot_name => ''a b'''), (NULL, 'conflict_policy => NULL'),
    (NULL, 'conflict_policy => ''fail '''), (NULL, 'conflict_policy => ''ignore;drop'''),
    (NULL, 'only_local => NULL'), (NULL, 'replica_role => NULL'),
    (NULL, 'tables => ARRAY[''a.b.c'']'), (NULL, 'tables => ARRAY[NULL]::text[]'),
    (NULL, 'tables => ARRAY['''']'), (NULL, 'tables => ARRAY[''x; DROP TABLE y'']'),
    (NULL, 'tables => ARRAY[''"a"."b"."c"'']'), (NULL, 'tables => ''{{a},{b}}''::text[]'),
    (NULL, 'exclude_tables => ARRAY[''a,b'']'), (NULL, 'exclude_tables => ARRAY[NULL]::text[]'),
    (NULL, 'schemas => ARRAY[NULL]::text[]'), (NULL, 'schemas => ARRAY['''']'),
    (NULL, 'schemas => ARRAY[''"quoted"'']'), (NULL, 'copy_data => NULL'),
    (NULL, 'existing_data => NULL'), (NULL, 'existing_data => ''replace'''),
    (NULL, 'existing_data => ''KEEP'''), (NULL, 'copy_parallelism => 0'),
    (NULL, 'copy_parallelism => 9'), (NULL, 'copy_parallelism => -1'),
    (NULL, 'sequences => ARRAY[''a.b.c'']'), (NULL, 'sequences => ARRAY[NULL]::text[]'),
    (NULL, 'precheck => NULL'), (NULL, 'streaming => NULL'),
    (NULL, 'disable_on_error => NULL'), (NULL, 'retry_connection_timeout => -2'),
    (NULL, 'retry_apply_timeout => -100')) a(first, arg);

INSERT INTO ba_call (call)
VALUES ('decoderbufs_apply.create_subscription(''ba_new'', ''dbname=app'', create_slot => NULL, enabled => false)'),
       ('decoderbufs_apply.create_subscription(''ba_new'', ''dbname=app'', create_slot => false, enabled => NULL)');

-- alter_subscription: NULL keeps a setting; bad values of each.
INSERT INTO ba_call (call)
SELECT 'decoderbufs_apply.alter_subscription(' || a || ')'
FROM unnest(ARRAY[
    'NULL', '''no_such''', '''BA''', '''ba '', only_local => true', '''ba'', conninfo => ''''',
    '''ba'', conninfo => ''nosuch=1''', '''ba'', conninfo => ''dbname=app replication=true''',
    '''ba'', conflict_policy => ''''', '''ba'', conflict_policy => ''overwrite,ignore''',
    '''ba'', tables => ARRAY[''a.b.c'']', '''ba'', tables => ARRAY[NULL]::text[]',
    '''ba'', exclude_tables => ARRAY[''"'']', '''ba'', schemas => ARRAY['''']',
    '''ba'', schemas => ARRAY[NULL]::text[]', '''ba'', existing_data => ''none''',
    '''ba'', copy_parallelism => 0', '''ba'', copy_parallelism => 100',
    '''ba'', sequences => ARRAY[''.s'']', '''ba'', retry_connection_timeout => -2',
    '''ba'', retry_apply_timeout => -2']) a;

-- set_table_policy, set_schema_mapping, resync_table
INSERT INTO ba_call (call)
SELECT 'decoderbufs_apply.set_table_policy(' || a || ')'
FROM unnest(ARRAY[
    'NULL, ''public.t'', ''ignore''', '''no_such'', ''public.t'', ''ignore''',
    '''ba'', NULL, ''ignore''', '''ba'', ''t'', ''ignore''', '''ba'', ''public.*'', ''ignore''',
    '''ba'', ''public.t; DROP TABLE x'', ''ignore''', '''ba'', ''public."t"x'', ''ignore''',
    '''ba'', ''public.'' || repeat(''t'', 100), ''ignore''', '''ba'', ''public.t'', ''''',
    '''ba'', ''public.t'', ''IGNORE''', '''ba'', ''public.t'', NULL']) a;
INSERT INTO ba_call (call)
SELECT 'decoderbufs_apply.set_schema_mapping(' || a || ')'
FROM unnest(ARRAY[
    'NULL, ''a'', ''b''', '''no_such'', ''a'', ''b''', '''ba'', NULL, ''b''', '''ba'', '''', ''b''',
    '''ba'', ''a'', ''''', '''ba'', ''a'', NULL', '''ba'', repeat(''a'', 100), ''b''',
    '''ba'', ''a'', repeat(''b'', 100)', '''ba'', ''"a"'', ''b''', '''ba'', ''a'', ''b; DROP TABLE x''']) a;
INSERT INTO ba_call (call)
SELECT 'decoderbufs_apply.resync_table(' || a || ')'
FROM unnest(ARRAY[
    'NULL, ''public.copied''', '''no_such'', ''public.copied''', '''ba'', NULL', '''ba'', ''copied''',
    '''ba'', ''public.nosuch''', '''ba'', ''public.*''', '''ba_nocopy'', ''public.copied''',
    '''ba'', ''public.copied''']) a;

-- set_table_options: each setting, bad
INSERT INTO ba_call (call)
SELECT 'decoderbufs_apply.set_table_options(' || a || ')'
FROM unnest(ARRAY[
    'NULL, ''public.t''', '''no_such'', ''public.t''', '''ba'', NULL', '''ba'', ''t''',
    '''ba'', ''public.t'', target_table => ''''', '''ba'', ''public.t'', target_table => ''a.b.c''',
    '''ba'', ''public.t'', target_table => ''a.*''', '''ba'', ''public.t'', target_table => ''public.'' || repeat(''t'', 100)',
    '''ba'', ''public.t'', columns => ''{}''', '''ba'', ''public.t'', columns => ARRAY[NULL]::text[]',
    '''ba'', ''public.t'', columns => ARRAY['''']', '''ba'', ''public.t'', columns => ARRAY[''a'', ''a'']',
    '''ba'', ''public.t'', columns => ARRAY[''a'', ''A'']', '''ba'', ''public.t'', columns => ARRAY[repeat(''c'', 100)]',
    '''ba'', ''public.t'', columns => ''{{a},{b}}''::text[]',
    '''ba'', ''public.t'', column_map => ''[]''', '''ba'', ''public.t'', column_map => ''"a"''',
    '''ba'', ''public.t'', column_map => ''{"a": 1}''', '''ba'', ''public.t'', column_map => ''{"a": ""}''',
    '''ba'', ''public.t'', column_map => ''{"": "b"}''', '''ba'', ''public.t'', column_map => ''{"a": null}''',
    '''ba'', ''public.t'', column_map => ''{"a": "x", "b": "x"}''',
    '''ba'', ''public.t'', column_map => ''{"a": "b", "b": "a"}''',
    '''ba'', ''public.t'', column_map => format(''{"a": "%s"}'', repeat(''x'', 100))::jsonb',
    '''ba'', ''public.t'', operations => ''{}''', '''ba'', ''public.t'', operations => ARRAY[NULL]::text[]',
    '''ba'', ''public.t'', operations => ARRAY[''upsert'']', '''ba'', ''public.t'', operations => ARRAY[''INSERT'']',
    '''ba'', ''public.t'', operations => ARRAY[''insert'', ''insert'']',
    '''ba'', ''public.t'', row_filter => ''''', '''ba'', ''public.t'', row_filter => ''id >''',
    '''ba'', ''public.t'', row_filter => ''true; DROP TABLE x''', '''ba'', ''public.t'', row_filter => ''(SELECT true)''',
    '''ba'', ''public.t'', row_filter => ''random() > 0.5''', '''ba'', ''public.t'', row_filter => ''true) OR (true''',
    '''ba'', ''public.t'', row_filter => ''true) --''', '''ba'', ''public.t'', row_filter => ''true --''',
    '''ba'', ''public.t'', row_filter => ''id > 1 /* comment */''']) a;

-- enable, disable, drop, skip_transaction, sync_sequences
INSERT INTO ba_call (call)
VALUES ('decoderbufs_apply.enable_subscription(NULL)'),
       ('decoderbufs_apply.enable_subscription(''no_such'')'),
       ('decoderbufs_apply.enable_subscription(''ba'', precheck => NULL)'),
       ('decoderbufs_apply.disable_subscription(NULL)'),
       ('decoderbufs_apply.disable_subscription(''no_such'')'),
       ('decoderbufs_apply.disable_subscription(''ba''''; DROP TABLE x; --'')'),
       ('decoderbufs_apply.drop_subscription(NULL)'),
       ('decoderbufs_apply.drop_subscription(''no_such'', drop_slot => false)'),
       ('decoderbufs_apply.drop_subscription(''ba'', drop_slot => NULL)'),
       ('decoderbufs_apply.skip_transaction(NULL, ''0/1'')'),
       ('decoderbufs_apply.skip_transaction(''no_such'', ''0/1'')'),
       ('decoderbufs_apply.skip_transaction(''ba'', NULL)'),
       ('decoderbufs_apply.skip_transaction(''ba'', ''0/0'')'),
       ('decoderbufs_apply.skip_transaction(''ba'', ''0/x'')'),
       ('decoderbufs_apply.sync_sequences(NULL)'),
       ('decoderbufs_apply.sync_sequences(''no_such'')');

-- precheck (the checks themselves need servers: 021_precheck.pl)
INSERT INTO ba_call (call)
SELECT '(SELECT count(*) FROM decoderbufs_apply.precheck(' || a || '))'
FROM unnest(ARRAY[
    '', 'NULL', 'subscription => ''no_such''', 'conninfo => ''''', 'conninfo => ''nosuch=1''',
    'conninfo => ''dbname=app replication=database''', 'conninfo => ''dbname=app'', tables => ARRAY[''a.b.c'']',
    'conninfo => ''dbname=app'', tables => ARRAY[NULL]::text[]', 'conninfo => ''dbname=app'', schemas => ARRAY['''']',
    'conninfo => ''dbname=app'', exclude_tables => ARRAY['',,'']',
    'conninfo => ''dbname=app'', existing_data => ''nope''']) a;

-- resolve_conflict, verify, verify_all
INSERT INTO ba_call (call)
VALUES ('decoderbufs_apply.resolve_conflict(NULL, ''discard'')'),
       ('decoderbufs_apply.resolve_conflict(-1, ''discard'')'),
       ('decoderbufs_apply.resolve_conflict(9223372036854775807, ''discard'')'),
       ('decoderbufs_apply.resolve_conflict(1, NULL)'),
       ('decoderbufs_apply.resolve_conflict(1, ''DISCARD'')'),
       ('decoderbufs_apply.resolve_conflict(1, ''apply_remote; DROP TABLE x'')'),
       ('(SELECT count(*) FROM decoderbufs_apply.verify(NULL, ''public.t''))'),
       ('(SELECT count(*) FROM decoderbufs_apply.verify(''no_such'', ''public.t''))'),
       ('(SELECT count(*) FROM decoderbufs_apply.verify(''ba'', NULL))'),
       ('(SELECT count(*) FROM decoderbufs_apply.verify(''ba'', ''t''))'),
       ('(SELECT count(*) FROM decoderbufs_apply.verify(''ba'', ''public.*''))'),
       ('(SELECT count(*) FROM decoderbufs_apply.verify(''ba'', ''public.t'', max_keys => NULL))'),
       ('(SELECT count(*) FROM decoderbufs_apply.verify(''ba'', ''public.t'', max_keys => -1))'),
       ('(SELECT count(*) FROM decoderbufs_apply.verify_all(NULL))'),
       ('(SELECT count(*) FROM decoderbufs_apply.verify_all(''no_such''))'),
       ('(SELECT count(*) FROM decoderbufs_apply.verify_all(''ba'', max_keys => NULL))'),
       ('(SELECT count(*) FROM decoderbufs_apply.verify_all(''ba'', max_keys => -5))');

-- Every public function is called above.
SELECT p.proname AS not_called
FROM pg_proc p
WHERE p.pronamespace = 'decoderbufs_apply'::regnamespace AND p.proname !~ '^_'
  AND NOT EXISTS (SELECT FROM ba_call c WHERE c.call LIKE '%decoderbufs_apply.' || p.proname || '(%')
ORDER BY 1;

\set SHOW_CONTEXT never
\pset format unaligned
\pset fieldsep ' | '
SELECT n, call, ba_try(call) AS result FROM ba_call ORDER BY n;
\pset format aligned
\pset fieldsep '|'
\set SHOW_CONTEXT errors

-- Nothing changed: the two subscriptions, as created.
SELECT sub_name, sub_enabled, sub_conflict_policy, sub_skip_lsn
FROM decoderbufs_apply.subscription ORDER BY 1;
SELECT count(*) AS policies FROM decoderbufs_apply.table_policy;
SELECT count(*) AS configs FROM decoderbufs_apply.table_config;
SELECT count(*) AS maps FROM decoderbufs_apply.schema_map;

DROP FUNCTION ba_try(text);
DROP TABLE ba_call;
SELECT decoderbufs_apply.drop_subscription('ba', drop_slot => false);
SELECT decoderbufs_apply.drop_subscription('ba_nocopy', drop_slot => false);
DROP EXTENSION decoderbufs_apply;
