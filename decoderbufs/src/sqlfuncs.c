/*-------------------------------------------------------------------------
 *
 * sqlfuncs.c
 *		SQL functions of CREATE EXTENSION decoderbufs, for inspection.
 *
 * decoderbufs_to_json(bytea) renders one RowMessage (the output of
 * pg_logical_slot_get_binary_changes() with the decoderbufs plugin) as
 * jsonb; decoderbufs_batch_to_json(bytea) renders a RowBatch (batch-size
 * output) as a jsonb array of messages.  Malformed input is an ERROR, never
 * a crash.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "dbufs_pb_alloc.h"

PG_FUNCTION_INFO_V1(dbufs_sql_to_json);
PG_FUNCTION_INFO_V1(dbufs_sql_batch_to_json);
PG_FUNCTION_INFO_V1(dbufs_sql_proto_version);

static ProtobufCMessage *
unpack_or_error(const ProtobufCMessageDescriptor *desc, bytea *data)
{
	ProtobufCMessage *msg;

	msg = protobuf_c_message_unpack(desc, &dbufs_pb_allocator,
									VARSIZE_ANY_EXHDR(data),
									(const uint8_t *) VARDATA_ANY(data));
	if (msg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid decoderbufs %s", desc->short_name),
				 errdetail("The %d bytes given do not parse as a decoderbufs.%s message.",
						   (int) VARSIZE_ANY_EXHDR(data), desc->short_name),
				 errhint("Batched output (option batch-size) is read with decoderbufs_batch_to_json().")));
	return msg;
}

static Datum
json_text_to_jsonb(StringInfo json)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json->data));
}

/* decoderbufs_to_json(bytea) RETURNS jsonb */
Datum
dbufs_sql_to_json(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	ProtobufCMessage *msg;
	StringInfoData json;

	msg = unpack_or_error(&decoderbufs__row_message__descriptor, data);
	initStringInfo(&json);
	dbufs_json_append_message(&json, msg);
	PG_RETURN_DATUM(json_text_to_jsonb(&json));
}

/* decoderbufs_batch_to_json(bytea) RETURNS jsonb: an array of messages */
Datum
dbufs_sql_batch_to_json(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	Decoderbufs__RowBatch *batch;
	StringInfoData json;

	batch = (Decoderbufs__RowBatch *)
		unpack_or_error(&decoderbufs__row_batch__descriptor, data);
	initStringInfo(&json);
	appendStringInfoChar(&json, '[');
	for (size_t i = 0; i < batch->n_rows; i++)
	{
		if (i > 0)
			appendStringInfoChar(&json, ',');
		dbufs_json_append_message(&json, &batch->rows[i]->base);
	}
	appendStringInfoChar(&json, ']');
	PG_RETURN_DATUM(json_text_to_jsonb(&json));
}

/* decoderbufs_proto_version() RETURNS int: the wire format version spoken */
Datum
dbufs_sql_proto_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(DBUFS_PROTO_VERSION);
}
