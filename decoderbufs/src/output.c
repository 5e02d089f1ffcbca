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
 * Messages are packed straight into the output buffer, without an
 * intermediate copy.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

/* Tag of RowBatch.rows: field 1, wire type 2 (length-delimited). */
#define ROW_BATCH_ROWS_TAG	0x0A

static void
pack_into(StringInfo out, Decoderbufs__RowMessage *msg)
{
	size_t		size = decoderbufs__row_message__get_packed_size(msg);

	enlargeStringInfo(out, (int) size);
	decoderbufs__row_message__pack(msg, (uint8_t *) out->data + out->len);
	out->len += (int) size;
	out->data[out->len] = '\0';
}

static void
append_varint(StringInfo out, uint64 v)
{
	while (v >= 0x80)
	{
		appendStringInfoCharMacro(out, (char) ((v & 0x7F) | 0x80));
		v >>= 7;
	}
	appendStringInfoCharMacro(out, (char) v);
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
append_to_batch(LogicalDecodingContext *ctx, Decoderbufs__RowMessage *msg)
{
	DbufsState *state = ctx->output_plugin_private;
	size_t		size = decoderbufs__row_message__get_packed_size(msg);

	appendStringInfoCharMacro(&state->batch, ROW_BATCH_ROWS_TAG);
	append_varint(&state->batch, size);
	enlargeStringInfo(&state->batch, (int) size);
	decoderbufs__row_message__pack(msg, (uint8_t *) state->batch.data + state->batch.len);
	state->batch.len += (int) size;

	if (state->batch.len >= state->opts.batch_size)
		dbufs_output_flush(ctx, false);
}

/*
 * Emit one message in the session's framing.  last_write tells the writer
 * whether this is the callback's last write (for batches: whether a flush
 * triggered by size is the last one).
 */
void
dbufs_output_message(LogicalDecodingContext *ctx, Decoderbufs__RowMessage *msg,
					 bool last_write)
{
	DbufsState *state = ctx->output_plugin_private;

	if (state->opts.batch_size > 0)
	{
		append_to_batch(ctx, msg);
		return;
	}

	OutputPluginPrepareWrite(ctx, last_write);
	if (state->opts.debug_mode)
		dbufs_json_append_message(ctx->out, &msg->base);
	else
		pack_into(ctx->out, msg);
	OutputPluginWrite(ctx, last_write);
}
