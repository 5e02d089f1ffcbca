/*-------------------------------------------------------------------------
 *
 * output.c
 *		Writing RowMessages to the decoding output.
 *
 * Three framings:
 *	- default: one packed RowMessage per write (one CopyData message per
 *	  change when streaming), exactly as Debezium's plugin;
 *	- batched (batch-size > 0): RowMessages are appended to a pending
 *	  RowBatch (each one tag 1, length, bytes) and written as one message
 *	  when the batch reaches batch-size bytes, at COMMIT, and after a
 *	  non-transactional message; this saves the per-message network cost;
 *	- debug-mode: each message rendered as one line of JSON text.
 *
 * Messages are encoded (wire.c) straight into the output buffer or the
 * batch, without an intermediate copy.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include "dbufs_pb_alloc.h"

/* Field number of RowBatch.rows. */
#define ROW_BATCH_ROWS	1

/*
 * Debug mode renders the message as JSON.  The message's tuples only exist
 * in wire format, so it is packed and read back first: slow, but debug mode
 * is for looking at a few messages.
 */
static void
append_json(StringInfo out, Decoderbufs__RowMessage *msg,
			const DbufsTuples *tuples)
{
	StringInfoData packed;
	ProtobufCMessage *full;

	initStringInfo(&packed);
	dbufs_wire_row_message(&packed, msg, tuples);
	full = protobuf_c_message_unpack(&decoderbufs__row_message__descriptor,
									 &dbufs_pb_allocator, packed.len,
									 (const uint8_t *) packed.data);
	if (full == NULL)
		elog(ERROR, "decoderbufs could not read back the message it wrote");
	dbufs_json_append_message(out, full);
}

/*
 * Write out the pending batch, if any.
 */
void
dbufs_output_flush(LogicalDecodingContext *ctx, bool last_write)
{
	DbufsState *state = ctx->output_plugin_private;

	if (state->batch.len == 0)
		return;
	OutputPluginPrepareWrite(ctx, last_write);
	appendBinaryStringInfo(ctx->out, state->batch.data, state->batch.len);
	OutputPluginWrite(ctx, last_write);
	resetStringInfo(&state->batch);
}

static void
append_to_batch(LogicalDecodingContext *ctx, Decoderbufs__RowMessage *msg,
				const DbufsTuples *tuples)
{
	DbufsState *state = ctx->output_plugin_private;
	int			start;

	start = dbufs_wire_begin_nested(&state->batch, ROW_BATCH_ROWS);
	dbufs_wire_row_message(&state->batch, msg, tuples);
	dbufs_wire_end_nested(&state->batch, start);

	if (state->batch.len >= state->opts.batch_size)
		dbufs_output_flush(ctx, false);
}

/*
 * Emit one message in the session's framing.  tuples holds the encoded
 * tuples of a row (NULL for other messages).  last_write tells the writer
 * whether this is the callback's last write (for batches: whether a flush
 * triggered by size is the last one).
 */
void
dbufs_output_message(LogicalDecodingContext *ctx, Decoderbufs__RowMessage *msg,
					 const DbufsTuples *tuples, bool last_write)
{
	DbufsState *state = ctx->output_plugin_private;

	if (state->opts.batch_size > 0)
	{
		append_to_batch(ctx, msg, tuples);
		return;
	}

	OutputPluginPrepareWrite(ctx, last_write);
	if (state->opts.debug_mode)
		append_json(ctx->out, msg, tuples);
	else
		dbufs_wire_row_message(ctx->out, msg, tuples);
	OutputPluginWrite(ctx, last_write);
}
