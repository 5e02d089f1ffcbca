/* decoderbufs_apply--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION decoderbufs_apply" to load this file. \quit

-- The role that may manage subscriptions besides superusers.  Roles are
-- cluster-wide: another database may have created it already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'decoderbufs_apply_admin') THEN
        CREATE ROLE decoderbufs_apply_admin NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON SCHEMA @extschema@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO decoderbufs_apply_admin, pg_monitor;

------------------------------------------------------------------------
-- Catalog
------------------------------------------------------------------------

CREATE TABLE @extschema@.subscription (
    sub_id              integer PRIMARY KEY,
    sub_name            text NOT NULL UNIQUE,
    sub_owner           regrole NOT NULL,
    sub_enabled         boolean NOT NULL,
    sub_conninfo        text NOT NULL,
    sub_slot_name       text NOT NULL,
    sub_origin_name     text NOT NULL UNIQUE,
    sub_conflict_policy text NOT NULL
        CHECK (sub_conflict_policy IN ('fail', 'ignore', 'overwrite', 'last_update_wins')),
    sub_only_local      boolean NOT NULL,
    sub_replica_role    boolean NOT NULL,
    sub_include_tables  text,
    sub_include_schemas text,
    sub_exclude_tables  text,
    sub_copy_data       boolean NOT NULL DEFAULT false,
    sub_existing_data   text NOT NULL DEFAULT 'error'
        CHECK (sub_existing_data IN ('error', 'truncate', 'keep')),
    sub_copy_parallelism integer CHECK (sub_copy_parallelism BETWEEN 1 AND 8),
    sub_sequences       text,
    sub_skip_lsn        pg_lsn,
    sub_created         timestamptz NOT NULL DEFAULT now(),
    -- the source's system identifier, recorded by the worker: the node that
    -- the rows of this subscription's origin come from (last_update_wins)
    sub_source_system_id text,
    -- the retry policy (retry.c): an apply error disables the subscription;
    -- how long errors of each class are retried, in seconds (-1: forever,
    -- NULL: the setting decoderbufs_apply.retry_*_timeout)
    sub_disable_on_error boolean NOT NULL DEFAULT false,
    sub_retry_connection_timeout integer CHECK (sub_retry_connection_timeout >= -1),
    sub_retry_apply_timeout integer CHECK (sub_retry_apply_timeout >= -1),
    -- when an error stopped the subscription: it is failed (no worker runs
    -- until the API resumes it) if still enabled, else disable_on_error
    -- disabled it; with the class and the error
    sub_failed_at       timestamptz,
    sub_error_class     text CHECK (sub_error_class IN ('connection', 'apply')),
    sub_last_error      text,
    sub_last_error_hint text,
    sub_last_error_context text,
    -- receive big transactions while they are in progress (spooled until
    -- their commit) instead of after it
    sub_streaming       boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE @extschema@.subscription IS
'decoderbufs_apply subscriptions; holds connection strings, so only superusers and decoderbufs_apply_admin may read it';

CREATE SEQUENCE @extschema@.subscription_id_seq AS integer;

CREATE TABLE @extschema@.table_policy (
    sub_id          integer NOT NULL REFERENCES @extschema@.subscription ON DELETE CASCADE,
    schema_name     text NOT NULL,
    table_name      text NOT NULL,
    conflict_policy text NOT NULL
        CHECK (conflict_policy IN ('fail', 'ignore', 'overwrite', 'last_update_wins')),
    PRIMARY KEY (sub_id, schema_name, table_name)
);
COMMENT ON TABLE @extschema@.table_policy IS
'per-table conflict policies overriding the subscription''s';

-- Per-table shaping, keyed by the source's schema and table names.
CREATE TABLE @extschema@.table_config (
    sub_id          integer NOT NULL REFERENCES @extschema@.subscription ON DELETE CASCADE,
    schema_name     text NOT NULL,
    table_name      text NOT NULL,
    target_schema   text,           -- NULL: the schema mapping's, else the same
    target_table    text,           -- NULL: the same name
    columns         text[],         -- source columns to replicate; NULL: all
    column_map      jsonb,          -- {"source column": "target column"}
    operations      text[]          -- subset of insert, update, delete, truncate; NULL: all
        CHECK (operations <@ ARRAY['insert', 'update', 'delete', 'truncate']),
    row_filter      text,           -- SQL boolean expression over the source columns
    PRIMARY KEY (sub_id, schema_name, table_name)
);
COMMENT ON TABLE @extschema@.table_config IS
'per-table target name, column selection and renames, operations and row filter';

CREATE TABLE @extschema@.schema_map (
    sub_id          integer NOT NULL REFERENCES @extschema@.subscription ON DELETE CASCADE,
    source_schema   text NOT NULL,
    target_schema   text NOT NULL,
    PRIMARY KEY (sub_id, source_schema)
);
COMMENT ON TABLE @extschema@.schema_map IS
'source schemas whose tables go to another schema on the target';

-- The initial copy's per-table state.  A table is copied in a snapshot
-- whose consistent point is sync_lsn: the rows of transactions committed
-- before it are in the copy, so the stream applies the table's changes
-- only from transactions committed at or after it.
CREATE TABLE @extschema@.table_sync (
    sub_id          integer NOT NULL REFERENCES @extschema@.subscription ON DELETE CASCADE,
    schema_name     text NOT NULL,
    table_name      text NOT NULL,
    state           text NOT NULL CHECK (state IN ('waiting', 'copying', 'ready')),
    sync_lsn        pg_lsn,
    rows_copied     bigint,
    bytes_copied    bigint,
    started_at      timestamptz,
    finished_at     timestamptz,
    PRIMARY KEY (sub_id, schema_name, table_name)
);
COMMENT ON TABLE @extschema@.table_sync IS
'initial copy state of every table of a subscription that copies data';

CREATE TABLE @extschema@.conflict_log (
    id                  bigserial PRIMARY KEY,
    logged_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    sub_name            text NOT NULL,
    schema_name         text NOT NULL,
    table_name          text NOT NULL,
    conflict_type       text NOT NULL,
    resolution          text NOT NULL,
    remote_tuple        jsonb,
    local_tuple         jsonb,
    key_tuple           jsonb,
    remote_commit_lsn   pg_lsn,
    remote_commit_time  timestamptz,
    remote_origin       text,
    -- what the policy did: applied (the remote change took effect), skipped
    -- (the local state stays) or error (the transaction stopped)
    decision            text CHECK (decision IN ('applied', 'skipped', 'error')),
    remote_node         text,           -- the source's system identifier
    local_origin        text,           -- origin that last wrote the local row; NULL: this server
    local_node          text,           -- system identifier of the node that wrote it
    local_commit_time   timestamptz,    -- its commit time (track_commit_timestamp)
    -- resolve_conflict()
    resolved_at         timestamptz,
    resolved_by         text,
    resolved_action     text CHECK (resolved_action IN ('apply_remote', 'discard'))
);
COMMENT ON TABLE @extschema@.conflict_log IS
'every conflict met while applying: its type, the policy applied and its decision, both tuples, who wrote each and when';

-- What last_update_wins remembers of deleted rows (tombstone.c): the table,
-- the row's key (binary, key_tuple for reading), when and on which node it
-- was deleted.  The delete's exact commit time and origin are those of the
-- tombstone row's own xmin.  Purged after decoderbufs_apply.tombstone_retention.
CREATE TABLE @extschema@.tombstone (
    relid       oid NOT NULL,           -- the local table
    key         bytea NOT NULL,
    key_tuple   jsonb NOT NULL,
    deleted_at  timestamptz NOT NULL,
    node        text,                   -- system identifier of the deleting node
    sub_name    text,                   -- the subscription that applied it; NULL: a local delete
    PRIMARY KEY (relid, key)
);
CREATE INDEX tombstone_deleted_at ON @extschema@.tombstone (deleted_at);
COMMENT ON TABLE @extschema@.tombstone IS
'deleted rows of last_update_wins tables, so that older changes arriving later do not bring them back';

-- A subscription applies as its owner.  Members of decoderbufs_apply_admin
-- write these tables, but only for subscriptions owned by a role they have
-- the privileges of: otherwise giving a subscription another owner, or
-- pointing someone else's at another source, would write as that role.
CREATE FUNCTION @extschema@._check_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_owner oid;
    new_owner oid;
    name text;
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'subscription' THEN
        IF TG_OP <> 'INSERT' THEN
            old_owner := OLD.sub_owner;
            name := OLD.sub_name;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            new_owner := NEW.sub_owner;
            name := NEW.sub_name;
        END IF;
    ELSE
        SELECT s.sub_owner, s.sub_name INTO old_owner, name
        FROM @extschema@.subscription s
        WHERE s.sub_id = CASE WHEN TG_OP = 'DELETE' THEN OLD.sub_id ELSE NEW.sub_id END;
    END IF;
    IF (old_owner IS NOT NULL AND NOT pg_catalog.pg_has_role(current_user, old_owner, 'USAGE')) OR
       (new_owner IS NOT NULL AND NOT pg_catalog.pg_has_role(current_user, new_owner, 'USAGE')) THEN
        RAISE EXCEPTION 'permission denied for decoderbufs_apply subscription "%"', name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A subscription applies as its owner; only its owner (or a member of that role) and superusers may change it, and only to an owner they are a member of.';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER check_owner AFTER INSERT OR UPDATE OR DELETE ON @extschema@.subscription
    FOR EACH ROW EXECUTE FUNCTION @extschema@._check_owner();
CREATE TRIGGER check_owner AFTER INSERT OR UPDATE OR DELETE ON @extschema@.table_policy
    FOR EACH ROW EXECUTE FUNCTION @extschema@._check_owner();
CREATE TRIGGER check_owner AFTER INSERT OR UPDATE OR DELETE ON @extschema@.table_config
    FOR EACH ROW EXECUTE FUNCTION @extschema@._check_owner();
CREATE TRIGGER check_owner AFTER INSERT OR UPDATE OR DELETE ON @extschema@.schema_map
    FOR EACH ROW EXECUTE FUNCTION @extschema@._check_owner();
CREATE TRIGGER check_owner AFTER INSERT OR UPDATE OR DELETE ON @extschema@.table_sync
    FOR EACH ROW EXECUTE FUNCTION @extschema@._check_owner();

-- dump the user-filled tables with pg_dump
SELECT pg_catalog.pg_extension_config_dump('@extschema@.subscription', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.table_policy', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.table_config', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.schema_map', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.table_sync', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.conflict_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.subscription_id_seq', '');

REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA @extschema@ FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.subscription,
    @extschema@.table_policy, @extschema@.table_config, @extschema@.schema_map,
    @extschema@.table_sync TO decoderbufs_apply_admin;
GRANT SELECT, DELETE ON @extschema@.conflict_log TO decoderbufs_apply_admin;
GRANT UPDATE (resolved_at, resolved_by, resolved_action) ON @extschema@.conflict_log
    TO decoderbufs_apply_admin;
GRANT SELECT, DELETE ON @extschema@.tombstone TO decoderbufs_apply_admin;
GRANT USAGE ON @extschema@.subscription_id_seq TO decoderbufs_apply_admin;

------------------------------------------------------------------------
-- C helpers (sqlapi.c); each checks the library is preloaded and the
-- caller may manage subscriptions.
------------------------------------------------------------------------

CREATE FUNCTION @extschema@._check() RETURNS void
AS 'MODULE_PATHNAME', 'apply_sql_check' LANGUAGE C;
CREATE FUNCTION @extschema@._check_conninfo(conninfo text) RETURNS void
AS 'MODULE_PATHNAME', 'apply_sql_check_conninfo' LANGUAGE C STRICT;
CREATE FUNCTION @extschema@._create_slot(conninfo text, slot_name text) RETURNS pg_lsn
AS 'MODULE_PATHNAME', 'apply_sql_create_slot' LANGUAGE C STRICT;
CREATE FUNCTION @extschema@._drop_slot(conninfo text, slot_name text, missing_ok boolean) RETURNS void
AS 'MODULE_PATHNAME', 'apply_sql_drop_slot' LANGUAGE C STRICT;
CREATE FUNCTION @extschema@._wakeup(sub_id integer, restart boolean) RETURNS void
AS 'MODULE_PATHNAME', 'apply_sql_wakeup' LANGUAGE C;
CREATE FUNCTION @extschema@._stop_worker(sub_id integer) RETURNS void
AS 'MODULE_PATHNAME', 'apply_sql_stop_worker' LANGUAGE C STRICT;
CREATE FUNCTION @extschema@._drop_origin(name text) RETURNS void
AS 'MODULE_PATHNAME', 'apply_sql_drop_origin' LANGUAGE C STRICT;
CREATE FUNCTION @extschema@._check_row_filter(expr text) RETURNS void
AS 'MODULE_PATHNAME', 'apply_sql_check_row_filter' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION @extschema@._check_row_filter(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._check_row_filter(text) TO decoderbufs_apply_admin;
-- One row per check of what a subscription needs (precheck.c); works
-- without shared_preload_libraries, so that it can say it is missing.
CREATE FUNCTION @extschema@._precheck(
    conninfo text, sub_id integer, include_tables text, include_schemas text,
    exclude_tables text, copy_data boolean, existing_data text,
    slot_name text, create_slot boolean)
RETURNS TABLE (check_name text, status text, object text, message text, hint text)
AS 'MODULE_PATHNAME', 'apply_sql_precheck' LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._precheck(text, integer, text, text, text, boolean, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._precheck(text, integer, text, text, text, boolean, text, text, boolean) TO decoderbufs_apply_admin;
CREATE FUNCTION @extschema@._worker_status(
    OUT sub_id integer, OUT state text, OUT pid integer,
    OUT received_lsn pg_lsn, OUT applied_lsn pg_lsn, OUT flushed_lsn pg_lsn,
    OUT last_receive_time timestamptz, OUT last_applied_commit_time timestamptz,
    OUT last_applied_time timestamptz,
    OUT inserted bigint, OUT updated bigint, OUT deleted bigint,
    OUT truncated bigint, OUT transactions bigint,
    OUT insert_exists bigint, OUT update_missing bigint,
    OUT update_exists bigint, OUT delete_missing bigint,
    OUT update_origin_differs bigint, OUT delete_origin_differs bigint,
    OUT retry_count integer, OUT next_retry timestamptz,
    OUT last_error text, OUT last_error_hint text, OUT last_error_context text,
    OUT last_error_time timestamptz, OUT source_system_id text,
    OUT copy_rows_running bigint, OUT copy_bytes_running bigint,
    OUT copy_current_table text, OUT copy_rate float8,
    OUT heartbeat_source_time timestamptz, OUT heartbeat_receive_time timestamptz,
    OUT heartbeat_expected_time timestamptz, OUT heartbeat_error text,
    OUT last_error_class text, OUT retry_until timestamptz,
    OUT streamed_transactions bigint, OUT streamed_aborts bigint,
    OUT spooled_bytes bigint, OUT spool_transactions integer,
    OUT spool_bytes bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'apply_sql_worker_status' LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._worker_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._worker_status() TO decoderbufs_apply_admin, pg_monitor;

REVOKE ALL ON FUNCTION @extschema@._check(), @extschema@._check_conninfo(text),
    @extschema@._create_slot(text, text), @extschema@._drop_slot(text, text, boolean),
    @extschema@._wakeup(integer, boolean), @extschema@._stop_worker(integer),
    @extschema@._drop_origin(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._check(), @extschema@._check_conninfo(text),
    @extschema@._create_slot(text, text), @extschema@._drop_slot(text, text, boolean),
    @extschema@._wakeup(integer, boolean), @extschema@._stop_worker(integer),
    @extschema@._drop_origin(text) TO decoderbufs_apply_admin;

------------------------------------------------------------------------
-- Argument checks shared by the API functions
------------------------------------------------------------------------

-- Raise the error for a bad argument: it names the argument and the value
-- given (or says it is NULL), and the hint says what is allowed.
CREATE FUNCTION @extschema@._bad_argument(arg text, value text, hint text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION 'argument "%" must not be NULL', arg
            USING ERRCODE = 'null_value_not_allowed', HINT = hint;
    END IF;
    RAISE EXCEPTION 'invalid value for argument "%": "%"', arg, value
        USING ERRCODE = 'invalid_parameter_value', HINT = hint;
END
$$;

CREATE FUNCTION @extschema@._check_policy(arg text, policy text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF policy IS NULL OR policy NOT IN ('fail', 'ignore', 'overwrite', 'last_update_wins') THEN
        PERFORM @extschema@._bad_argument(arg, policy,
            'Valid conflict policies are fail, ignore, overwrite and last_update_wins.');
    END IF;
    IF policy = 'last_update_wins' AND NOT current_setting('track_commit_timestamp')::boolean THEN
        RAISE EXCEPTION 'conflict policy last_update_wins needs track_commit_timestamp'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'It compares the commit times of the local and the remote row versions.',
                  HINT = 'Set track_commit_timestamp = on in the target''s postgresql.conf and restart it.';
    END IF;
END
$$;

CREATE FUNCTION @extschema@._check_name(arg text, value text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF value IS NULL OR value !~ '^[a-z0-9_]{1,63}$' THEN
        PERFORM @extschema@._bad_argument(arg, value,
            'Use 1 to 63 lower case letters, digits and underscores.');
    END IF;
END
$$;

CREATE FUNCTION @extschema@._check_bool(arg text, value boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF value IS NULL THEN
        PERFORM @extschema@._bad_argument(arg, NULL, 'Use true or false.');
    END IF;
END
$$;

-- Names as spelled in the catalog are at most NAMEDATALEN - 1 bytes: a
-- longer one would match nothing, silently.
CREATE FUNCTION @extschema@._check_name_length(arg text, names text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n text;
BEGIN
    FOREACH n IN ARRAY coalesce(names, '{}') LOOP
        IF octet_length(n) > 63 THEN
            PERFORM @extschema@._bad_argument(arg, n,
                'Names are at most 63 bytes long; a longer one matches no table, schema or column.');
        END IF;
    END LOOP;
END
$$;

-- A list of table patterns as the plugin option wants it: entries joined by
-- commas.  Each entry is [schema.]table; unquoted parts may use * and ?.
-- NULL or an empty array gives NULL (no list).
CREATE FUNCTION @extschema@._table_list(arg text, tables text[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    t text;
    hint text := 'Give one table per array element, as [schema.]table; unquoted names may use the wildcards * and ?.';
BEGIN
    IF tables IS NULL OR cardinality(tables) = 0 THEN
        RETURN NULL;
    END IF;
    FOREACH t IN ARRAY tables LOOP
        IF t IS NULL THEN
            RAISE EXCEPTION 'invalid value for argument "%": an element is NULL', arg
                USING ERRCODE = 'null_value_not_allowed', HINT = hint;
        END IF;
        IF t !~ '^\s*("([^"]|"")+"|[^",.\s]+)(\.("([^"]|"")+"|[^",.\s]+))?\s*$' THEN
            PERFORM @extschema@._bad_argument(arg, t, hint);
        END IF;
    END LOOP;
    RETURN array_to_string(tables, ', ');
END
$$;

-- Schemas as include-tables entries: every table of each schema.
CREATE FUNCTION @extschema@._schema_list(arg text, schemas text[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n text;
    result text[] := '{}';
BEGIN
    IF schemas IS NULL OR cardinality(schemas) = 0 THEN
        RETURN NULL;
    END IF;
    FOREACH n IN ARRAY schemas LOOP
        IF n IS NULL OR n = '' THEN
            PERFORM @extschema@._bad_argument(arg, coalesce(n, 'NULL'),
                'Give one schema name per array element, as it is spelled in the catalog (no quotes, no wildcards).');
        END IF;
        result := result || (pg_catalog.quote_ident(n) || '.*');
    END LOOP;
    RETURN array_to_string(result, ', ');
END
$$;

CREATE FUNCTION @extschema@._check_existing_data(arg text, value text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF value IS NULL OR value NOT IN ('error', 'truncate', 'keep') THEN
        PERFORM @extschema@._bad_argument(arg, value,
            'Use error (refuse to copy into non-empty tables), truncate (empty them first) or keep (keep their rows; conflicts follow the conflict policy).');
    END IF;
END
$$;

CREATE FUNCTION @extschema@._check_retry_timeout(arg text, value integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF value IS NOT NULL AND value < -1 THEN
        PERFORM @extschema@._bad_argument(arg, value::text,
            'Give the seconds to retry for: 0 or more (0 fails at the first error), -1 to retry forever, or NULL for the setting decoderbufs_apply.' || arg || '.');
    END IF;
END
$$;

-- The subscription's configuration changed: a failed one is resumed (its
-- failure forgotten), and at commit its worker restarts to read it.
CREATE FUNCTION @extschema@._resume(sub_id integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE @extschema@.subscription s
    SET sub_failed_at = NULL, sub_error_class = NULL, sub_last_error = NULL,
        sub_last_error_hint = NULL, sub_last_error_context = NULL
    WHERE s.sub_id = _resume.sub_id AND s.sub_enabled AND s.sub_failed_at IS NOT NULL;
    PERFORM @extschema@._wakeup(sub_id, true);
END
$$;

CREATE FUNCTION @extschema@._check_parallelism(arg text, value integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF value IS NOT NULL AND value NOT BETWEEN 1 AND 8 THEN
        PERFORM @extschema@._bad_argument(arg, value::text,
            'Use 1 to 8 parallel table copies, or NULL for decoderbufs_apply.copy_parallelism.');
    END IF;
END
$$;

-- A schema-qualified table name, exactly (no wildcards), as its two parts.
CREATE FUNCTION @extschema@._qualified_name(arg text, value text) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    parts text[];
BEGIN
    BEGIN
        parts := parse_ident(value);
    EXCEPTION WHEN OTHERS THEN
        parts := NULL;
    END;
    IF parts IS NULL OR cardinality(parts) <> 2 THEN
        PERFORM @extschema@._bad_argument(arg, value,
            'Give a schema-qualified table name such as public.orders or "Sales"."Orders"; wildcards are not allowed.');
    END IF;
    PERFORM @extschema@._check_name_length(arg, parts);
    RETURN parts;
END
$$;

CREATE FUNCTION @extschema@._get(sub_name text) RETURNS @extschema@.subscription
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
BEGIN
    IF sub_name IS NULL THEN
        PERFORM @extschema@._bad_argument('name', NULL,
            'Give the name of a subscription of this database.');
    END IF;
    SELECT * INTO s FROM @extschema@.subscription WHERE subscription.sub_name = _get.sub_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'decoderbufs_apply subscription "%" does not exist', sub_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Argument "name" must name a subscription of this database; decoderbufs_apply.subscription_status lists them.';
    END IF;
    RETURN s;
END
$$;

------------------------------------------------------------------------
-- Precheck
------------------------------------------------------------------------

-- Check what a subscription needs on the source and on this server, one
-- row per check (see the README).  With subscription, its configuration is
-- checked (its connection, tables, table settings, schema mapping, slot
-- and copy state); the other arguments, when given, replace its settings.
CREATE FUNCTION @extschema@.precheck(
    conninfo text DEFAULT NULL,
    tables text[] DEFAULT NULL,
    schemas text[] DEFAULT NULL,
    exclude_tables text[] DEFAULT NULL,
    copy_data boolean DEFAULT NULL,
    existing_data text DEFAULT NULL,
    subscription text DEFAULT NULL)
RETURNS TABLE (check_name text, status text, object text, message text, hint text)
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
    include_list text;
    schema_list text;
    exclude_list text;
BEGIN
    IF subscription IS NOT NULL THEN
        SELECT * INTO s FROM @extschema@.subscription x
        WHERE x.sub_name = precheck.subscription;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'decoderbufs_apply subscription "%" does not exist', subscription
                USING ERRCODE = 'undefined_object',
                      HINT = 'Argument "subscription" must name a subscription of this database; decoderbufs_apply.subscription_status lists them.';
        END IF;
    END IF;
    conninfo := coalesce(conninfo, s.sub_conninfo);
    IF conninfo IS NULL THEN
        PERFORM @extschema@._bad_argument('conninfo', NULL,
            'Give a libpq connection string such as ''host=source.example port=5432 dbname=app user=repl'', or the name of a subscription to check.');
    END IF;
    PERFORM @extschema@._check_conninfo(conninfo);
    include_list := CASE WHEN tables IS NULL THEN s.sub_include_tables
                         ELSE @extschema@._table_list('tables', tables) END;
    schema_list := CASE WHEN schemas IS NULL THEN s.sub_include_schemas
                        ELSE @extschema@._schema_list('schemas', schemas) END;
    exclude_list := CASE WHEN exclude_tables IS NULL THEN s.sub_exclude_tables
                         ELSE @extschema@._table_list('exclude_tables', exclude_tables) END;
    copy_data := coalesce(copy_data, s.sub_copy_data, true);
    existing_data := coalesce(existing_data, s.sub_existing_data, 'error');
    PERFORM @extschema@._check_existing_data('existing_data', existing_data);
    RETURN QUERY
        SELECT * FROM @extschema@._precheck(conninfo, s.sub_id, include_list, schema_list,
            exclude_list, copy_data, existing_data, s.sub_slot_name, s.sub_id IS NULL);
END
$$;

-- Run the precheck for create_subscription or enable_subscription ("action"):
-- an ERROR listing the failing checks if any check fails, a WARNING listing
-- the warnings otherwise.
CREATE FUNCTION @extschema@._require_precheck(
    name text, action text, conninfo text, sub_id integer, include_tables text,
    include_schemas text, exclude_tables text, copy_data boolean,
    existing_data text, slot_name text, create_slot boolean)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    errors text;
    warnings text;
BEGIN
    SELECT string_agg(p.check_name || ': ' || coalesce(p.object || ': ', '') || p.message, E'\n' ORDER BY p.n)
               FILTER (WHERE p.status = 'error'),
           string_agg(p.check_name || ': ' || coalesce(p.object || ': ', '') || p.message, E'\n' ORDER BY p.n)
               FILTER (WHERE p.status = 'warning')
    INTO errors, warnings
    FROM @extschema@._precheck(conninfo, sub_id, include_tables, include_schemas,
             exclude_tables, copy_data, existing_data, slot_name, create_slot)
         WITH ORDINALITY AS p(check_name, status, object, message, hint, n);
    IF errors IS NOT NULL THEN
        RAISE EXCEPTION 'precheck failed for decoderbufs_apply subscription "%"', name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = errors,
                  HINT = format('Fix the problems, or pass precheck => false to %s the subscription anyway; decoderbufs_apply.precheck(...) lists every check.', action);
    END IF;
    IF warnings IS NOT NULL THEN
        RAISE WARNING 'precheck of decoderbufs_apply subscription "%" found possible problems', name
            USING DETAIL = warnings,
                  HINT = 'decoderbufs_apply.precheck(...) lists every check with a hint.';
    END IF;
END
$$;

------------------------------------------------------------------------
-- The API
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.create_subscription(
    name text,
    conninfo text,
    slot_name text DEFAULT NULL,
    create_slot boolean DEFAULT true,
    conflict_policy text DEFAULT 'fail',
    only_local boolean DEFAULT true,
    tables text[] DEFAULT NULL,
    exclude_tables text[] DEFAULT NULL,
    replica_role boolean DEFAULT true,
    enabled boolean DEFAULT true,
    schemas text[] DEFAULT NULL,
    copy_data boolean DEFAULT false,
    existing_data text DEFAULT 'error',
    copy_parallelism integer DEFAULT NULL,
    sequences text[] DEFAULT NULL,
    precheck boolean DEFAULT true,
    disable_on_error boolean DEFAULT false,
    retry_connection_timeout integer DEFAULT NULL,
    retry_apply_timeout integer DEFAULT NULL,
    streaming boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    id integer;
    slot text := coalesce(slot_name, 'dbufs_' || name);
    include_list text;
    schema_list text;
    exclude_list text;
    sequence_list text;
BEGIN
    PERFORM @extschema@._check();
    PERFORM @extschema@._check_name('name', name);
    IF slot_name IS NULL AND length(slot) > 63 THEN
        RAISE EXCEPTION 'invalid value for argument "name": "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The default slot name, "dbufs_" followed by the name, would be longer than 63 characters.',
                  HINT = 'Use a name of at most 57 characters, or give a slot_name.';
    END IF;
    PERFORM @extschema@._check_name('slot_name', slot);
    IF conninfo IS NULL THEN
        PERFORM @extschema@._bad_argument('conninfo', NULL,
            'Give a libpq connection string such as ''host=source.example port=5432 dbname=app user=repl''.');
    END IF;
    PERFORM @extschema@._check_conninfo(conninfo);
    PERFORM @extschema@._check_bool('create_slot', create_slot);
    PERFORM @extschema@._check_policy('conflict_policy', conflict_policy);
    PERFORM @extschema@._check_bool('only_local', only_local);
    include_list := @extschema@._table_list('tables', tables);
    exclude_list := @extschema@._table_list('exclude_tables', exclude_tables);
    PERFORM @extschema@._check_bool('replica_role', replica_role);
    PERFORM @extschema@._check_bool('enabled', enabled);
    schema_list := @extschema@._schema_list('schemas', schemas);
    PERFORM @extschema@._check_bool('copy_data', copy_data);
    PERFORM @extschema@._check_existing_data('existing_data', existing_data);
    PERFORM @extschema@._check_parallelism('copy_parallelism', copy_parallelism);
    sequence_list := @extschema@._table_list('sequences', sequences);
    PERFORM @extschema@._check_bool('precheck', precheck);
    PERFORM @extschema@._check_bool('disable_on_error', disable_on_error);
    PERFORM @extschema@._check_retry_timeout('retry_connection_timeout', retry_connection_timeout);
    PERFORM @extschema@._check_retry_timeout('retry_apply_timeout', retry_apply_timeout);
    PERFORM @extschema@._check_bool('streaming', streaming);
    IF EXISTS (SELECT FROM @extschema@.subscription s WHERE s.sub_name = name) THEN
        RAISE EXCEPTION 'decoderbufs_apply subscription "%" already exists', name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Give argument "name" another value, or drop the existing subscription with decoderbufs_apply.drop_subscription().';
    END IF;

    -- What the subscription needs, before anything is created.
    IF precheck AND enabled THEN
        PERFORM @extschema@._require_precheck(name, 'create', conninfo, NULL,
            include_list, schema_list, exclude_list, copy_data, existing_data,
            slot, create_slot);
    END IF;

    -- The slot first, before this transaction writes anything: creating a
    -- slot waits for every transaction that has written, this one included
    -- when the source is this very server.
    IF create_slot THEN
        PERFORM @extschema@._create_slot(conninfo, slot);
    END IF;

    id := nextval('@extschema@.subscription_id_seq');
    INSERT INTO @extschema@.subscription
        (sub_id, sub_name, sub_owner, sub_enabled, sub_conninfo, sub_slot_name,
         sub_origin_name, sub_conflict_policy, sub_only_local, sub_replica_role,
         sub_include_tables, sub_include_schemas, sub_exclude_tables,
         sub_copy_data, sub_existing_data, sub_copy_parallelism, sub_sequences,
         sub_disable_on_error, sub_retry_connection_timeout, sub_retry_apply_timeout,
         sub_streaming)
    VALUES (id, name, current_user::regrole, enabled, conninfo, slot,
            -- origins are cluster-wide and ids per database: both name it
            'decoderbufs_apply_' || (SELECT d.oid FROM pg_catalog.pg_database d
                                     WHERE d.datname = pg_catalog.current_database()) || '_' || id,
            conflict_policy, only_local, replica_role,
            include_list, schema_list, exclude_list,
            copy_data, existing_data, copy_parallelism, sequence_list,
            disable_on_error, retry_connection_timeout, retry_apply_timeout,
            streaming);
    PERFORM @extschema@._wakeup(id, false);
    RETURN id;
END
$$;

CREATE FUNCTION @extschema@.alter_subscription(
    name text,
    conninfo text DEFAULT NULL,
    conflict_policy text DEFAULT NULL,
    only_local boolean DEFAULT NULL,
    tables text[] DEFAULT NULL,
    exclude_tables text[] DEFAULT NULL,
    replica_role boolean DEFAULT NULL,
    schemas text[] DEFAULT NULL,
    existing_data text DEFAULT NULL,
    copy_parallelism integer DEFAULT NULL,
    sequences text[] DEFAULT NULL,
    disable_on_error boolean DEFAULT NULL,
    retry_connection_timeout integer DEFAULT NULL,
    retry_apply_timeout integer DEFAULT NULL,
    streaming boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
BEGIN
    PERFORM @extschema@._check();
    s := @extschema@._get(name);
    IF conninfo IS NOT NULL THEN
        PERFORM @extschema@._check_conninfo(conninfo);
        s.sub_conninfo := conninfo;
    END IF;
    IF conflict_policy IS NOT NULL THEN
        PERFORM @extschema@._check_policy('conflict_policy', conflict_policy);
        s.sub_conflict_policy := conflict_policy;
    END IF;
    s.sub_only_local := coalesce(only_local, s.sub_only_local);
    s.sub_replica_role := coalesce(replica_role, s.sub_replica_role);
    IF tables IS NOT NULL THEN
        s.sub_include_tables := @extschema@._table_list('tables', tables);
    END IF;
    IF exclude_tables IS NOT NULL THEN
        s.sub_exclude_tables := @extschema@._table_list('exclude_tables', exclude_tables);
    END IF;
    IF schemas IS NOT NULL THEN
        s.sub_include_schemas := @extschema@._schema_list('schemas', schemas);
    END IF;
    IF existing_data IS NOT NULL THEN
        PERFORM @extschema@._check_existing_data('existing_data', existing_data);
        s.sub_existing_data := existing_data;
    END IF;
    IF copy_parallelism IS NOT NULL THEN
        PERFORM @extschema@._check_parallelism('copy_parallelism', copy_parallelism);
        s.sub_copy_parallelism := copy_parallelism;
    END IF;
    IF sequences IS NOT NULL THEN
        s.sub_sequences := @extschema@._table_list('sequences', sequences);
    END IF;
    s.sub_disable_on_error := coalesce(disable_on_error, s.sub_disable_on_error);
    IF retry_connection_timeout IS NOT NULL THEN
        PERFORM @extschema@._check_retry_timeout('retry_connection_timeout', retry_connection_timeout);
        s.sub_retry_connection_timeout := retry_connection_timeout;
    END IF;
    IF retry_apply_timeout IS NOT NULL THEN
        PERFORM @extschema@._check_retry_timeout('retry_apply_timeout', retry_apply_timeout);
        s.sub_retry_apply_timeout := retry_apply_timeout;
    END IF;
    s.sub_streaming := coalesce(streaming, s.sub_streaming);
    UPDATE @extschema@.subscription SET
        sub_conninfo = s.sub_conninfo,
        sub_conflict_policy = s.sub_conflict_policy,
        sub_only_local = s.sub_only_local,
        sub_replica_role = s.sub_replica_role,
        sub_include_tables = s.sub_include_tables,
        sub_exclude_tables = s.sub_exclude_tables,
        sub_include_schemas = s.sub_include_schemas,
        sub_existing_data = s.sub_existing_data,
        sub_copy_parallelism = s.sub_copy_parallelism,
        sub_sequences = s.sub_sequences,
        sub_disable_on_error = s.sub_disable_on_error,
        sub_retry_connection_timeout = s.sub_retry_connection_timeout,
        sub_retry_apply_timeout = s.sub_retry_apply_timeout,
        sub_streaming = s.sub_streaming
    WHERE sub_id = s.sub_id;
    PERFORM @extschema@._resume(s.sub_id);
END
$$;

CREATE FUNCTION @extschema@.set_table_policy(
    name text, table_name text, conflict_policy text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
    parts text[];
BEGIN
    PERFORM @extschema@._check();
    s := @extschema@._get(name);
    BEGIN
        parts := parse_ident(table_name);
    EXCEPTION WHEN OTHERS THEN
        parts := NULL;
    END;
    IF parts IS NULL OR cardinality(parts) <> 2 THEN
        PERFORM @extschema@._bad_argument('table_name', table_name,
            'Give a schema-qualified table name such as public.orders or "Sales"."Orders"; wildcards are not allowed.');
    END IF;
    PERFORM @extschema@._check_name_length('table_name', parts);
    IF conflict_policy IS NULL THEN
        DELETE FROM @extschema@.table_policy p
        WHERE p.sub_id = s.sub_id AND p.schema_name = parts[1] AND p.table_name = parts[2];
    ELSIF conflict_policy NOT IN ('fail', 'ignore', 'overwrite', 'last_update_wins') THEN
        PERFORM @extschema@._bad_argument('conflict_policy', conflict_policy,
            'Valid conflict policies are fail, ignore, overwrite and last_update_wins; NULL removes the table''s own policy.');
    ELSE
        PERFORM @extschema@._check_policy('conflict_policy', conflict_policy);
        INSERT INTO @extschema@.table_policy AS p (sub_id, schema_name, table_name, conflict_policy)
        VALUES (s.sub_id, parts[1], parts[2], set_table_policy.conflict_policy)
        ON CONFLICT ON CONSTRAINT table_policy_pkey
        DO UPDATE SET conflict_policy = excluded.conflict_policy;
    END IF;
    PERFORM @extschema@._resume(s.sub_id);
END
$$;

-- Shape one source table: where it goes, which columns (and under which
-- names), which operations, which rows.  Every call replaces the table's
-- whole configuration; a call with no settings removes it.
CREATE FUNCTION @extschema@.set_table_options(
    name text,
    table_name text,
    target_table text DEFAULT NULL,
    columns text[] DEFAULT NULL,
    column_map jsonb DEFAULT NULL,
    operations text[] DEFAULT NULL,
    row_filter text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
    parts text[];
    target text[];
    k text;
    v jsonb;
BEGIN
    PERFORM @extschema@._check();
    s := @extschema@._get(name);
    parts := @extschema@._qualified_name('table_name', table_name);
    IF target_table IS NOT NULL THEN
        BEGIN
            target := parse_ident(target_table);
        EXCEPTION WHEN OTHERS THEN
            target := NULL;
        END;
        IF target IS NULL OR cardinality(target) NOT IN (1, 2) THEN
            PERFORM @extschema@._bad_argument('target_table', target_table,
                'Give the target table as table or schema.table, for example archive.orders or "Sales"."Orders".');
        END IF;
        PERFORM @extschema@._check_name_length('target_table', target);
        IF cardinality(target) = 1 THEN
            target := ARRAY[NULL, target[1]];
        END IF;
    END IF;
    IF columns IS NOT NULL AND (cardinality(columns) = 0 OR array_position(columns, NULL) IS NOT NULL
                                OR array_position(columns, '') IS NOT NULL) THEN
        PERFORM @extschema@._bad_argument('columns', columns::text,
            'Give at least one column name, as spelled in the catalog (no quotes); NULL replicates every column.');
    END IF;
    IF columns IS NOT NULL AND cardinality(columns) <> (SELECT count(DISTINCT c) FROM unnest(columns) c) THEN
        PERFORM @extschema@._bad_argument('columns', columns::text,
            'Name each column once.');
    END IF;
    PERFORM @extschema@._check_name_length('columns', columns);
    IF column_map IS NOT NULL THEN
        IF jsonb_typeof(column_map) <> 'object' THEN
            PERFORM @extschema@._bad_argument('column_map', column_map::text,
                'Give a JSON object from source column names to target column names, for example ''{"cust_id": "customer_id"}''.');
        END IF;
        FOR k, v IN SELECT * FROM jsonb_each(column_map) LOOP
            IF jsonb_typeof(v) <> 'string' OR v #>> '{}' = '' OR k = '' THEN
                PERFORM @extschema@._bad_argument('column_map', column_map::text,
                    'Every key and value must be a non-empty column name string.');
            END IF;
            PERFORM @extschema@._check_name_length('column_map', ARRAY[k, v #>> '{}']);
        END LOOP;
        IF (SELECT count(*) <> count(DISTINCT value) FROM jsonb_each_text(column_map)) THEN
            PERFORM @extschema@._bad_argument('column_map', column_map::text,
                'Map each source column to a different target column.');
        END IF;
    END IF;
    IF operations IS NOT NULL AND (cardinality(operations) = 0 OR array_position(operations, NULL) IS NOT NULL
            OR NOT operations <@ ARRAY['insert', 'update', 'delete', 'truncate']) THEN
        PERFORM @extschema@._bad_argument('operations', operations::text,
            'Give a non-empty subset of insert, update, delete and truncate; NULL applies them all.');
    END IF;
    IF row_filter IS NOT NULL THEN
        PERFORM @extschema@._check_row_filter(row_filter);
    END IF;
    DELETE FROM @extschema@.table_config c
    WHERE c.sub_id = s.sub_id AND c.schema_name = parts[1] AND c.table_name = parts[2];
    IF target IS NOT NULL OR columns IS NOT NULL OR column_map IS NOT NULL
       OR operations IS NOT NULL OR row_filter IS NOT NULL THEN
        INSERT INTO @extschema@.table_config
            (sub_id, schema_name, table_name, target_schema, target_table,
             columns, column_map, operations, row_filter)
        VALUES (s.sub_id, parts[1], parts[2], target[1], target[2],
                columns, column_map, operations, row_filter);
    END IF;
    PERFORM @extschema@._resume(s.sub_id);
END
$$;

-- Send the tables of a source schema to another target schema (NULL
-- removes the mapping).  A table's own target_table takes precedence.
CREATE FUNCTION @extschema@.set_schema_mapping(
    name text, source_schema text, target_schema text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
BEGIN
    PERFORM @extschema@._check();
    s := @extschema@._get(name);
    IF source_schema IS NULL OR source_schema = '' THEN
        PERFORM @extschema@._bad_argument('source_schema', source_schema,
            'Give the source schema''s name as spelled in the catalog (no quotes).');
    END IF;
    IF target_schema = '' THEN
        PERFORM @extschema@._bad_argument('target_schema', target_schema,
            'Give the target schema''s name as spelled in the catalog (no quotes), or NULL to remove the mapping.');
    END IF;
    PERFORM @extschema@._check_name_length('source_schema', ARRAY[source_schema]);
    PERFORM @extschema@._check_name_length('target_schema', ARRAY[target_schema]);
    DELETE FROM @extschema@.schema_map m
    WHERE m.sub_id = s.sub_id AND m.source_schema = set_schema_mapping.source_schema;
    IF target_schema IS NOT NULL THEN
        INSERT INTO @extschema@.schema_map (sub_id, source_schema, target_schema)
        VALUES (s.sub_id, source_schema, target_schema);
    END IF;
    PERFORM @extschema@._resume(s.sub_id);
END
$$;

-- Copy a table again (after changing its filter or columns, or to repair
-- it): its state goes back to waiting and the worker copies it in a new
-- snapshot, as the subscription's existing_data setting says.
CREATE FUNCTION @extschema@.resync_table(name text, table_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
    parts text[];
BEGIN
    PERFORM @extschema@._check();
    s := @extschema@._get(name);
    parts := @extschema@._qualified_name('table_name', table_name);
    IF NOT s.sub_copy_data THEN
        RAISE EXCEPTION 'decoderbufs_apply subscription "%" does not copy data', name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Only subscriptions created with copy_data => true copy tables.';
    END IF;
    UPDATE @extschema@.table_sync t SET state = 'waiting', sync_lsn = NULL
    WHERE t.sub_id = s.sub_id AND t.schema_name = parts[1] AND t.table_name = parts[2];
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table "%"."%" is not part of decoderbufs_apply subscription "%"',
            parts[1], parts[2], name
            USING ERRCODE = 'undefined_table',
                  HINT = 'decoderbufs_apply.table_sync lists the tables the subscription copies.';
    END IF;
    PERFORM @extschema@._resume(s.sub_id);
END
$$;

CREATE FUNCTION @extschema@.enable_subscription(name text, precheck boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
BEGIN
    PERFORM @extschema@._check();
    s := @extschema@._get(name);
    PERFORM @extschema@._check_bool('precheck', precheck);
    IF precheck THEN
        PERFORM @extschema@._require_precheck(name, 'enable', s.sub_conninfo, s.sub_id,
            s.sub_include_tables, s.sub_include_schemas, s.sub_exclude_tables,
            s.sub_copy_data, s.sub_existing_data, s.sub_slot_name, false);
    END IF;
    -- a failed subscription, or one an error disabled, starts afresh
    UPDATE @extschema@.subscription
    SET sub_enabled = true, sub_failed_at = NULL, sub_error_class = NULL,
        sub_last_error = NULL, sub_last_error_hint = NULL, sub_last_error_context = NULL
    WHERE sub_id = s.sub_id;
    PERFORM @extschema@._resume(s.sub_id);
END
$$;

CREATE FUNCTION @extschema@.disable_subscription(name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
BEGIN
    PERFORM @extschema@._check();
    s := @extschema@._get(name);
    UPDATE @extschema@.subscription SET sub_enabled = false WHERE sub_id = s.sub_id;
    PERFORM @extschema@._wakeup(s.sub_id, false);
END
$$;

CREATE FUNCTION @extschema@.drop_subscription(name text, drop_slot boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
BEGIN
    PERFORM @extschema@._check();
    s := @extschema@._get(name);
    IF drop_slot IS NULL THEN
        PERFORM @extschema@._bad_argument('drop_slot', NULL,
            'Use true to drop the replication slot on the source too, or false to keep it.');
    END IF;
    PERFORM @extschema@._stop_worker(s.sub_id);
    DELETE FROM @extschema@.subscription WHERE sub_id = s.sub_id;
    PERFORM @extschema@._drop_origin(s.sub_origin_name);
    -- the bookkeeping origins of copy helpers that a crash kept from dropping theirs
    PERFORM @extschema@._drop_origin(s.sub_origin_name || '_copy_' || h)
    FROM generate_series(0, 7) h;
    IF drop_slot THEN
        PERFORM @extschema@._drop_slot(s.sub_conninfo, s.sub_slot_name, true);
    END IF;
    PERFORM @extschema@._wakeup(s.sub_id, false);
END
$$;

CREATE FUNCTION @extschema@.skip_transaction(name text, lsn pg_lsn) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
BEGIN
    PERFORM @extschema@._check();
    s := @extschema@._get(name);
    IF lsn IS NULL OR lsn = '0/0' THEN
        PERFORM @extschema@._bad_argument('lsn', lsn::text,
            'Give the commit LSN of the failing remote transaction, as the error context reports it ("committed at ...").');
    END IF;
    UPDATE @extschema@.subscription SET sub_skip_lsn = lsn WHERE sub_id = s.sub_id;
    PERFORM @extschema@._resume(s.sub_id);
END
$$;

-- Set the target's sequences that the subscription selects (sequences =>)
-- to the source's values now, never backwards; the worker also does it
-- every decoderbufs_apply.sequence_sync_interval (sequences.c).  Runs in the
-- caller's transaction and connects to the source itself; the values are
-- set as the subscription's owner.
CREATE FUNCTION @extschema@._sync_sequences(sub_id integer,
    OUT sequence_name text, OUT target_sequence text, OUT source_value bigint,
    OUT target_value_before bigint, OUT target_value_after bigint, OUT action text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'apply_sql_sync_sequences' LANGUAGE C STRICT;

CREATE FUNCTION @extschema@.sync_sequences(name text)
RETURNS TABLE (sequence_name text, target_sequence text, source_value bigint,
               target_value_before bigint, target_value_after bigint, action text)
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
BEGIN
    PERFORM @extschema@._check();
    s := @extschema@._get(name);
    RETURN QUERY SELECT * FROM @extschema@._sync_sequences(s.sub_id);
END
$$;

COMMENT ON FUNCTION @extschema@.sync_sequences(text) IS
'Set the target''s selected sequences to the source''s values now (never backwards)';
REVOKE ALL ON FUNCTION @extschema@._sync_sequences(integer), @extschema@.sync_sequences(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._sync_sequences(integer), @extschema@.sync_sequences(text)
    TO decoderbufs_apply_admin;

-- Act on a logged conflict: apply_remote writes its remote change now (as
-- the subscription's owner), discard leaves the table as it is; both mark
-- it resolved (conflict.c).
CREATE FUNCTION @extschema@._resolve_conflict(id bigint, action text) RETURNS void
AS 'MODULE_PATHNAME', 'apply_sql_resolve_conflict' LANGUAGE C STRICT;

CREATE FUNCTION @extschema@.resolve_conflict(id bigint, action text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM @extschema@._check();
    IF id IS NULL THEN
        PERFORM @extschema@._bad_argument('id', NULL,
            'Give the id of a row of decoderbufs_apply.conflict_log.');
    END IF;
    IF action IS NULL OR action NOT IN ('apply_remote', 'discard') THEN
        PERFORM @extschema@._bad_argument('action', action,
            'Use apply_remote (write the remote change now) or discard (keep the table as it is).');
    END IF;
    PERFORM @extschema@._resolve_conflict(id, action);
END
$$;
COMMENT ON FUNCTION @extschema@.resolve_conflict(bigint, text) IS
'Write the remote change of a logged conflict now (apply_remote), or mark it discarded';
REVOKE ALL ON FUNCTION @extschema@._resolve_conflict(bigint, text),
    @extschema@.resolve_conflict(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._resolve_conflict(bigint, text),
    @extschema@.resolve_conflict(bigint, text) TO decoderbufs_apply_admin;

-- The trigger that remembers the local deletes of last_update_wins tables
-- (tombstone.c); the apply workers create it on those tables.  It runs in
-- the deleting session, writing the tombstone as the extension's owner.
CREATE FUNCTION @extschema@._tombstone() RETURNS trigger
AS 'MODULE_PATHNAME', 'apply_sql_tombstone_trigger' LANGUAGE C;
-- Compare tables on the source and on the target at one consistent point,
-- by key ranges with hashes (verify.c).  Runs in the calling backend,
-- outside a transaction block; reads the source with the subscription's
-- connection and the target as the caller.
CREATE FUNCTION @extschema@._verify(sub_id integer, schemas text[], tables text[], max_keys integer,
    OUT source_table text, OUT kind text, OUT status text,
    OUT source_rows bigint, OUT target_rows bigint,
    OUT range_start jsonb, OUT range_end jsonb,
    OUT key jsonb, OUT source_row jsonb, OUT target_row jsonb,
    OUT source_lsn pg_lsn, OUT consistent boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'apply_sql_verify' LANGUAGE C;

-- The subscription, for verify() and verify_all().
CREATE FUNCTION @extschema@._verify_subscription(subscription text, max_keys integer)
RETURNS @extschema@.subscription
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
BEGIN
    PERFORM @extschema@._check();
    IF subscription IS NULL THEN
        PERFORM @extschema@._bad_argument('subscription', NULL,
            'Give the name of a subscription of this database.');
    END IF;
    SELECT * INTO s FROM @extschema@.subscription x WHERE x.sub_name = subscription;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'decoderbufs_apply subscription "%" does not exist', subscription
            USING ERRCODE = 'undefined_object',
                  HINT = 'Argument "subscription" must name a subscription of this database; decoderbufs_apply.subscription_status lists them.';
    END IF;
    IF max_keys IS NULL OR max_keys < 0 THEN
        PERFORM @extschema@._bad_argument('max_keys', max_keys::text,
            'Give how many differing keys to list with their rows, 0 or more (0: ranges only).');
    END IF;
    RETURN s;
END
$$;

CREATE FUNCTION @extschema@.verify(subscription text, table_name text, max_keys integer DEFAULT 100)
RETURNS TABLE (source_table text, kind text, status text,
               source_rows bigint, target_rows bigint,
               range_start jsonb, range_end jsonb,
               key jsonb, source_row jsonb, target_row jsonb,
               source_lsn pg_lsn, consistent boolean)
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
    parts text[];
BEGIN
    s := @extschema@._verify_subscription(subscription, max_keys);
    parts := @extschema@._qualified_name('table_name', table_name);
    RETURN QUERY SELECT * FROM @extschema@._verify(s.sub_id, ARRAY[parts[1]], ARRAY[parts[2]], max_keys);
END
$$;

CREATE FUNCTION @extschema@.verify_all(subscription text, max_keys integer DEFAULT 100)
RETURNS TABLE (source_table text, kind text, status text,
               source_rows bigint, target_rows bigint,
               range_start jsonb, range_end jsonb,
               key jsonb, source_row jsonb, target_row jsonb,
               source_lsn pg_lsn, consistent boolean)
LANGUAGE plpgsql AS $$
DECLARE
    s @extschema@.subscription;
BEGIN
    s := @extschema@._verify_subscription(subscription, max_keys);
    RETURN QUERY SELECT * FROM @extschema@._verify(s.sub_id, NULL, NULL, max_keys);
END
$$;

COMMENT ON FUNCTION @extschema@.verify(text, text, integer) IS
'Compare a table on the source and on the target at one consistent point: row counts, differing key ranges and keys';
COMMENT ON FUNCTION @extschema@.verify_all(text, integer) IS
'Compare every table of a subscription on the source and on the target at one consistent point';
REVOKE ALL ON FUNCTION @extschema@._verify(integer, text[], text[], integer),
    @extschema@._verify_subscription(text, integer),
    @extschema@.verify(text, text, integer), @extschema@.verify_all(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@._verify(integer, text[], text[], integer),
    @extschema@._verify_subscription(text, integer),
    @extschema@.verify(text, text, integer), @extschema@.verify_all(text, integer)
    TO decoderbufs_apply_admin;

COMMENT ON FUNCTION @extschema@.create_subscription(text, text, text, boolean, text, boolean, text[], text[], boolean, boolean, text[], boolean, text, integer, text[], boolean, boolean, integer, integer, boolean) IS
'Create a subscription to a source server''s decoderbufs slot';
COMMENT ON FUNCTION @extschema@.skip_transaction(text, pg_lsn) IS
'Step over one failing remote transaction, named by its commit LSN';
COMMENT ON FUNCTION @extschema@.precheck(text, text[], text[], text[], boolean, text, text) IS
'Check what a subscription needs on the source and the target: one row per check, with a hint for each problem';

REVOKE ALL ON FUNCTION @extschema@.create_subscription(text, text, text, boolean, text, boolean, text[], text[], boolean, boolean, text[], boolean, text, integer, text[], boolean, boolean, integer, integer, boolean),
    @extschema@.alter_subscription(text, text, text, boolean, text[], text[], boolean, text[], text, integer, text[], boolean, integer, integer, boolean),
    @extschema@.set_table_policy(text, text, text),
    @extschema@.set_table_options(text, text, text, text[], jsonb, text[], text),
    @extschema@.set_schema_mapping(text, text, text), @extschema@.resync_table(text, text),
    @extschema@.enable_subscription(text, boolean), @extschema@.disable_subscription(text),
    @extschema@.drop_subscription(text, boolean), @extschema@.skip_transaction(text, pg_lsn),
    @extschema@.precheck(text, text[], text[], text[], boolean, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.create_subscription(text, text, text, boolean, text, boolean, text[], text[], boolean, boolean, text[], boolean, text, integer, text[], boolean, boolean, integer, integer, boolean),
    @extschema@.alter_subscription(text, text, text, boolean, text[], text[], boolean, text[], text, integer, text[], boolean, integer, integer, boolean),
    @extschema@.set_table_policy(text, text, text),
    @extschema@.set_table_options(text, text, text, text[], jsonb, text[], text),
    @extschema@.set_schema_mapping(text, text, text), @extschema@.resync_table(text, text),
    @extschema@.enable_subscription(text, boolean), @extschema@.disable_subscription(text),
    @extschema@.drop_subscription(text, boolean), @extschema@.skip_transaction(text, pg_lsn),
    @extschema@.precheck(text, text[], text[], text[], boolean, text, text)
    TO decoderbufs_apply_admin;

------------------------------------------------------------------------
-- Monitoring
------------------------------------------------------------------------

CREATE VIEW @extschema@.subscription_status AS
SELECT s.sub_name AS subscription,
       s.sub_enabled AS enabled,
       -- failed as the catalog says: a failed subscription disabled since
       -- shows as disabled, one resumed as starting
       CASE WHEN s.sub_enabled AND s.sub_failed_at IS NOT NULL THEN 'failed'
            WHEN w.state IS NULL OR w.state = 'failed'
            THEN CASE WHEN s.sub_enabled THEN 'starting' ELSE 'disabled' END
            ELSE w.state
       END AS state,
       w.pid,
       w.received_lsn,
       w.applied_lsn,
       w.flushed_lsn,
       greatest(pg_catalog.pg_wal_lsn_diff(w.received_lsn,
                    greatest(w.applied_lsn, w.flushed_lsn)), 0)::bigint AS lag_bytes,
       -- the greatest of: while received WAL is not applied and flushed, the
       -- time since the newest source time known applied (a commit, a
       -- heartbeat); with heartbeats working, the last one's lag and how
       -- long the next is overdue (see the README)
       greatest(0,
           CASE WHEN w.received_lsn > greatest(w.applied_lsn, w.flushed_lsn)
                THEN extract(epoch FROM clock_timestamp() -
                         coalesce(greatest(w.last_applied_commit_time, w.heartbeat_source_time),
                                  w.last_receive_time)) END,
           CASE WHEN w.heartbeat_source_time IS NOT NULL AND w.heartbeat_error IS NULL
                THEN greatest(extract(epoch FROM w.heartbeat_receive_time - w.heartbeat_source_time),
                              extract(epoch FROM clock_timestamp() - w.heartbeat_expected_time)) END
       )::float8 AS lag_seconds,
       w.heartbeat_source_time AS last_heartbeat,
       extract(epoch FROM w.heartbeat_receive_time - w.heartbeat_source_time)::float8 AS heartbeat_lag_seconds,
       w.heartbeat_error,
       w.inserted, w.updated, w.deleted, w.truncated, w.transactions,
       w.insert_exists, w.update_missing, w.update_exists, w.delete_missing,
       w.update_origin_differs, w.delete_origin_differs,
       -- the worker's last error, else (after a server restart) the one
       -- that stopped the subscription, from the catalog
       CASE WHEN w.last_error IS NULL THEN s.sub_last_error ELSE w.last_error END AS last_error,
       CASE WHEN w.last_error IS NULL THEN s.sub_last_error_hint ELSE w.last_error_hint END AS last_error_hint,
       CASE WHEN w.last_error IS NULL THEN s.sub_last_error_context ELSE w.last_error_context END AS last_error_context,
       CASE WHEN w.last_error IS NULL THEN s.sub_failed_at ELSE w.last_error_time END AS last_error_time,
       CASE WHEN w.last_error IS NULL THEN s.sub_error_class ELSE w.last_error_class END AS last_error_class,
       w.retry_count, w.next_retry,
       w.retry_until,
       s.sub_failed_at AS failed_at,
       w.last_receive_time, w.last_applied_time,
       w.source_system_id,
       c.tables_done AS copy_tables_done,
       c.tables_total AS copy_tables_total,
       c.rows_done + coalesce(w.copy_rows_running, 0) AS copy_rows,
       c.bytes_done + coalesce(w.copy_bytes_running, 0) AS copy_bytes,
       w.copy_current_table,
       w.copy_rate,
       s.sub_slot_name AS slot_name,
       s.sub_conflict_policy AS conflict_policy,
       s.sub_only_local AS only_local,
       s.sub_disable_on_error AS disable_on_error,
       s.sub_streaming AS streaming,
       w.streamed_transactions,
       w.streamed_aborts,
       w.spooled_bytes,
       w.spool_transactions,
       w.spool_bytes
FROM @extschema@.subscription s
LEFT JOIN @extschema@._worker_status() w ON w.sub_id = s.sub_id
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE t.state = 'ready')::integer AS tables_done,
           count(*)::integer AS tables_total,
           coalesce(sum(t.rows_copied) FILTER (WHERE t.state = 'ready'), 0)::bigint AS rows_done,
           coalesce(sum(t.bytes_copied) FILTER (WHERE t.state = 'ready'), 0)::bigint AS bytes_done
    FROM @extschema@.table_sync t
    WHERE t.sub_id = s.sub_id
    HAVING s.sub_copy_data) c ON true;

COMMENT ON VIEW @extschema@.subscription_status IS
'state, progress, lag, counters and last error of every subscription in this database';
REVOKE ALL ON @extschema@.subscription_status FROM PUBLIC;
GRANT SELECT ON @extschema@.subscription_status TO decoderbufs_apply_admin, pg_monitor;

-- Start this database's manager once the extension is committed.
DO $$
BEGIN
    PERFORM @extschema@._wakeup(NULL, false);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RAISE WARNING 'decoderbufs_apply is not in shared_preload_libraries: no subscription will run'
        USING HINT = 'Add decoderbufs_apply to shared_preload_libraries in postgresql.conf and restart the server.';
END
$$;
