/*-------------------------------------------------------------------------
 *
 * stream.c
 *		Transactions sent while still in progress (option stream-changes).
 *
 * When the reorder buffer holds more than logical_decoding_work_mem, it
 * sends the largest transaction's changes so far as a block (stream_start,
 * the changes, stream_stop) instead of spilling them to disk; at the end of
 * the transaction it calls stream_commit (after a last block) or
 * stream_abort, and a subtransaction that aborts after some of its changes
 * went out gets a stream_abort of its own.  Each of these is one message
 * here: STREAM_START, STREAM_STOP, STREAM_COMMIT, STREAM_ABORT.  The changes
 * of a block go through the same callbacks as those of a transaction sent
 * at commit (decoderbufs.c), which add the subxact_id of the
 * (sub)transaction each belongs to.
 *
 * Only compact mode, our own consumer's, may ask for it: the consumer must
 * keep the blocks until the commit and drop what aborts.  Without the option
 * the plugin turns streaming off and big transactions spill to disk.
 *
 * Nothing here grows with a transaction: per streamed transaction the plugin
 * remembers only whether it sent anything for it (with skip-empty-xacts, a
 * transaction none of whose changes pass the filters is not sent at all),
 * and batches are written out at the end of every block.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include "utils/memutils.h"

/* What the plugin keeps of a streamed transaction, in its top-level txn. */
typedef struct DbufsStreamTxn
{
	bool		sent;			/* a STREAM_START was written for it */
} DbufsStreamTxn;

/* The top-level transaction of txn. */
static ReorderBufferTXN *
top_txn(ReorderBufferTXN *txn)
{
	return txn->toptxn != NULL ? txn->toptxn : txn;
}

/* The plugin's state of a top-level transaction, created on first use. */
static DbufsStreamTxn *
stream_txn(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	if (txn->output_plugin_private == NULL)
		txn->output_plugin_private =
			MemoryContextAllocZero(ctx->context, sizeof(DbufsStreamTxn));
	return txn->output_plugin_private;
}

/* The transaction is over: forget it. */
static void
stream_txn_forget(ReorderBufferTXN *txn)
{
	if (txn->output_plugin_private != NULL)
		pfree(txn->output_plugin_private);
	txn->output_plugin_private = NULL;
}

/* A message about a streamed transaction; xid64 as compact mode wants it. */
static void
stream_message_init(Decoderbufs__RowMessage *msg, ReorderBufferTXN *txn,
					Decoderbufs__Op op, const DbufsOptions *opts)
{
	/* with no transaction given, no transaction fields are filled in */
	dbufs_message_init(msg, NULL, op, opts);
	msg->transaction_id = txn->xid;
	msg->has_transaction_id = true;
	if (opts->include_xid64)
	{
		msg->xid64 = dbufs_message_full_xid(txn->xid);
		msg->has_xid64 = true;
	}
}

/*
 * Write STREAM_START for the block of txn now being sent: at once, or with
 * skip-empty-xacts before its first change (decoderbufs.c).
 */
void
dbufs_stream_write_start(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	DbufsState *state = ctx->output_plugin_private;
	DbufsStreamTxn *st = stream_txn(ctx, txn);
	Decoderbufs__RowMessage msg;

	stream_message_init(&msg, txn, DECODERBUFS__OP__STREAM_START,
						&state->opts);
	msg.stream_first = !st->sent;
	msg.has_stream_first = true;
	dbufs_output_message(ctx, &msg, NULL, false);
	st->sent = true;
	state->txn_begun = true;
}

static void
dbufs_stream_start(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	DbufsState *state = ctx->output_plugin_private;
	MemoryContext oldcxt;

	state->in_stream = true;
	state->txn_begun = false;
	if (state->opts.skip_empty_xacts)
		return;
	oldcxt = MemoryContextSwitchTo(state->change_cxt);
	dbufs_stream_write_start(ctx, txn);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->change_cxt);
}

static void
dbufs_stream_stop(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	DbufsState *state = ctx->output_plugin_private;
	MemoryContext oldcxt;
	Decoderbufs__RowMessage msg;

	oldcxt = MemoryContextSwitchTo(state->change_cxt);
	if (state->txn_begun)
	{
		stream_message_init(&msg, txn, DECODERBUFS__OP__STREAM_STOP,
							&state->opts);
		dbufs_output_message(ctx, &msg, NULL, true);
	}
	/* a batch never spans blocks: the next may be another transaction's */
	dbufs_output_flush(ctx, true);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->change_cxt);
	state->in_stream = false;
	state->txn_begun = false;
}

/*
 * A streamed transaction, or one of its subtransactions, aborted.  Nothing
 * is sent if nothing was sent for the transaction.
 */
static void
dbufs_stream_abort(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				   XLogRecPtr abort_lsn)
{
	DbufsState *state = ctx->output_plugin_private;
	ReorderBufferTXN *top = top_txn(txn);
	DbufsStreamTxn *st = top->output_plugin_private;
	MemoryContext oldcxt;
	Decoderbufs__RowMessage msg;

	if (st != NULL && st->sent)
	{
		oldcxt = MemoryContextSwitchTo(state->change_cxt);
		stream_message_init(&msg, top, DECODERBUFS__OP__STREAM_ABORT,
							&state->opts);
		msg.subxact_id = txn->xid;
		msg.has_subxact_id = true;
		if (state->opts.include_lsn)
		{
			msg.lsn = abort_lsn;
			msg.has_lsn = true;
		}
		dbufs_output_message(ctx, &msg, NULL, true);
		dbufs_output_flush(ctx, true);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(state->change_cxt);
	}
	else
		OutputPluginUpdateProgress(ctx, true);
	if (txn == top)
		stream_txn_forget(top);
}

/*
 * A streamed transaction committed; its last changes came in a block just
 * before.  STREAM_COMMIT has the fields of a COMMIT.
 */
static void
dbufs_stream_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					XLogRecPtr commit_lsn)
{
	DbufsState *state = ctx->output_plugin_private;
	DbufsStreamTxn *st = txn->output_plugin_private;
	MemoryContext oldcxt;
	Decoderbufs__RowMessage msg;

	if (st == NULL || !st->sent)
	{
		/* nothing was sent: let the walsender know we are still alive */
		OutputPluginUpdateProgress(ctx, true);
		stream_txn_forget(txn);
		return;
	}
	oldcxt = MemoryContextSwitchTo(state->change_cxt);
	dbufs_message_init(&msg, txn, DECODERBUFS__OP__STREAM_COMMIT,
					   &state->opts);
	if (state->opts.include_lsn)
	{
		msg.commit_lsn = commit_lsn;
		msg.has_commit_lsn = true;
		msg.end_lsn = txn->end_lsn;
		msg.has_end_lsn = true;
	}
	dbufs_output_message(ctx, &msg, NULL, true);
	dbufs_output_flush(ctx, true);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->change_cxt);
	stream_txn_forget(txn);
}

/* The stream callbacks of the transactions' boundaries. */
void
dbufs_stream_register(OutputPluginCallbacks *cb)
{
	cb->stream_start_cb = dbufs_stream_start;
	cb->stream_stop_cb = dbufs_stream_stop;
	cb->stream_abort_cb = dbufs_stream_abort;
	cb->stream_commit_cb = dbufs_stream_commit;
}
