/* decoderbufs--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION decoderbufs" to load this file. \quit

CREATE FUNCTION decoderbufs_to_json(data bytea)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'dbufs_sql_to_json'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION decoderbufs_to_json(bytea) IS
'Render one decoderbufs RowMessage (binary plugin output) as jsonb';

CREATE FUNCTION decoderbufs_batch_to_json(data bytea)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'dbufs_sql_batch_to_json'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION decoderbufs_batch_to_json(bytea) IS
'Render one decoderbufs RowBatch (output with batch-size) as a jsonb array of messages';

CREATE FUNCTION decoderbufs_proto_version()
RETURNS integer
AS 'MODULE_PATHNAME', 'dbufs_sql_proto_version'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION decoderbufs_proto_version() IS
'Version of the decoderbufs wire format this plugin speaks (plugin option proto-version)';
