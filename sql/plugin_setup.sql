--
-- plugin_setup: the extension and helpers the other plugin_* suites use.
--
CREATE EXTENSION decoderbufs;
SELECT decoderbufs_proto_version();

-- The decoded messages of a slot (consumed), without the fields that differ
-- from run to run (commit time, transaction id).
CREATE FUNCTION changes(slot name, VARIADIC options text[] DEFAULT '{}')
RETURNS SETOF jsonb LANGUAGE sql AS $$
    SELECT decoderbufs_to_json(data) - 'commit_time' - 'transaction_id'
    FROM pg_logical_slot_get_binary_changes(slot, NULL, NULL, VARIADIC options)
$$;

-- One column value as "name=field:value"; "*" marks a key column, and an
-- exact text representation follows as "exact:...".
CREATE FUNCTION datum_text(d jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(d->>'column_name', '')
        || CASE WHEN d ? 'is_key' THEN '*' ELSE '' END
        || '='
        || coalesce((SELECT substr(k, 7) || ':' || (d->k)::text
                     FROM jsonb_object_keys(d) k
                     WHERE k LIKE 'datum\_%' AND k <> 'datum_exact'), 'NULL')
        || coalesce(' exact:' || (d->'datum_exact')::text, '')
$$;

-- A message in one line: op, table, new and old tuple.
CREATE FUNCTION message_text(m jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT (m->>'op')
        || coalesce(' ' || (m->>'table'), '')
        || coalesce(' new(' || (SELECT string_agg(datum_text(d), ', ' ORDER BY n)
                                FROM jsonb_array_elements(m->'new_tuple') WITH ORDINALITY x(d, n)) || ')', '')
        || coalesce(' old(' || (SELECT string_agg(datum_text(d), ', ' ORDER BY n)
                                FROM jsonb_array_elements(m->'old_tuple') WITH ORDINALITY x(d, n)) || ')', '')
$$;
