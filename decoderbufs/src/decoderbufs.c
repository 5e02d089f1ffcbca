/*-------------------------------------------------------------------------
 *
 * decoderbufs.c
 *		Logical decoding output plugin producing Debezium-compatible
 *		protobuf RowMessages: the plugin entry point and its callbacks.
 *
 * The callbacks stay thin: they decide what to send and call message.c to
 * build it and output.c to write it.  Every callback works in a per-change
 * memory context that is reset when it returns, so decoding any number of
 * changes keeps the backend's memory flat.
 *
 * Compared with Debezium's plugin (whose default output we reproduce byte
 * for byte), this one also decodes TRUNCATE and logical messages, filters by
 * replication origin and by table, filters rows, columns and operations per
 * table at the source, can skip empty transactions, always sends the new
 * row of an UPDATE, and has a compact and a batched mode for our own
 * consumer, which can also receive big transactions while they are still in
 * progress (stream.c: the same callbacks below send their changes, each
 * with the subtransaction it belongs to).  See README.md for the options.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include "utils/guc.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

extern void _PG_init(void);
extern void _PG_output_plugin_init(OutputPluginCallbacks *cb);

/*
 * Session settings that change the text output of values.  They are pinned
 * for the decoding session so that text round-trips exactly on any target,
 * whatever the connection asked for, and restored at shutdown.  Both are
 * SET LOCAL: with the SQL functions, decoding runs in the caller's
 * transaction, whose end then undoes them as it undoes the caller's own
 * SET LOCAL (a plain SET would make that one outlive the transaction); a
 * walsender decodes outside any transaction, where both act as SET.
 */
static const struct
{
	const char *name;
	const char *value;
}			pinned_settings[] = {
	{"DateStyle", "ISO, MDY"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
};

typedef struct DbufsSavedSettings
{
	char	   *values[lengthof(pinned_settings)];
	MemoryContextCallback forget;	/* clears saved_settings */
} DbufsSavedSettings;

static DbufsSavedSettings *saved_settings = NULL;

/*
 * The saved values live in the decoding context.  When an error ends the
 * session, the shutdown callback does not run but the context goes away:
 * forget the values then, so that no later session restores them from
 * freed memory.
 */
static void
forget_saved_settings(void *arg)
{
	saved_settings = NULL;
}

static void
pin_text_settings(void)
{
	saved_settings = palloc0(sizeof(DbufsSavedSettings));
	saved_settings->forget.func = forget_saved_settings;
	MemoryContextRegisterResetCallback(CurrentMemoryContext,
									   &saved_settings->forget);
	for (int i = 0; i < lengthof(pinned_settings); i++)
	{
		saved_settings->values[i] =
			GetConfigOptionByName(pinned_settings[i].name, NULL, false);
		(void) set_config_option(pinned_settings[i].name,
								 pinned_settings[i].value,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
								 true, 0, false);
	}
}

static void
restore_text_settings(void)
{
	if (saved_settings == NULL)
		return;
	for (int i = 0; i < lengthof(pinned_settings); i++)
		(void) set_config_option(pinned_settings[i].name,
								 saved_settings->values[i],
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
								 true, 0, false);
	saved_settings = NULL;
}

void
_PG_init(void)
{
	/* nothing to do: the plugin is loaded per decoding session */
}

static void
dbufs_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
			  bool is_init)
{
	DbufsState *state = palloc0(sizeof(DbufsState));

	state->change_cxt = AllocSetContextCreate(ctx->context,
											  "decoderbufs change",
											  ALLOCSET_DEFAULT_SIZES);
	state->cache_cxt = AllocSetContextCreate(ctx->context,
											 "decoderbufs cache",
											 ALLOCSET_DEFAULT_SIZES);
	ctx->output_plugin_private = state;

	dbufs_options_parse(&state->opts, ctx->output_plugin_options);
	opt->output_type = state->opts.debug_mode ?
		OUTPUT_PLUGIN_TEXTUAL_OUTPUT : OUTPUT_PLUGIN_BINARY_OUTPUT;
	opt->receive_rewrites = false;
	/* without stream-changes, big transactions spill to disk as before */
	if (!state->opts.stream_changes)
		ctx->streaming = false;
	initStringInfo(&state->batch);
	dbufs_relcache_init(state);

	if (!is_init)
		pin_text_settings();

	/* Debezium's connector and its tests expect this exact line */
	if (!state->opts.compact)
		elog(INFO, "Exiting startup callback");
}

static void
dbufs_shutdown(LogicalDecodingContext *ctx)
{
	restore_text_settings();
	dbufs_relcache_shutdown();
}

static bool
dbufs_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	DbufsState *state = ctx->output_plugin_private;

	return state->opts.only_local && origin_id != InvalidRepOriginId;
}

/* Write BEGIN for txn; called in the per-change context. */
static void
write_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, bool last_write)
{
	DbufsState *state = ctx->output_plugin_private;
	Decoderbufs__RowMessage msg;

	dbufs_message_init(&msg, txn, DECODERBUFS__OP__BEGIN, &state->opts);
	if (state->opts.include_lsn)
	{
		msg.lsn = txn->first_lsn;
		msg.has_lsn = true;
		msg.commit_lsn = txn->final_lsn;
		msg.has_commit_lsn = true;
	}
	dbufs_output_message(ctx, &msg, NULL, last_write);
	state->txn_begun = true;
}

/*
 * With skip-empty-xacts, BEGIN (in a stream block: STREAM_START) is written
 * before the first real change.
 */
static void
ensure_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	DbufsState *state = ctx->output_plugin_private;

	if (state->txn_begun)
		return;
	if (state->in_stream)
		dbufs_stream_write_start(ctx, txn);
	else
		write_begin(ctx, txn, false);
}

/*
 * In a stream block, a change names the (sub)transaction it belongs to, so
 * that the consumer can forget it if that subtransaction aborts.
 */
static void
set_stream_xid(DbufsState *state, Decoderbufs__RowMessage *msg,
			   TransactionId xid)
{
	if (!state->in_stream)
		return;
	msg->subxact_id = xid;
	msg->has_subxact_id = true;
}

static void
dbufs_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	DbufsState *state = ctx->output_plugin_private;
	MemoryContext oldcxt;

	state->txn_begun = false;
	if (state->opts.skip_empty_xacts)
		return;
	oldcxt = MemoryContextSwitchTo(state->change_cxt);
	write_begin(ctx, txn, true);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->change_cxt);
}

static void
dbufs_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			 XLogRecPtr commit_lsn)
{
	DbufsState *state = ctx->output_plugin_private;
	MemoryContext oldcxt;
	Decoderbufs__RowMessage msg;

	if (!state->txn_begun)
	{
		/* nothing was sent: let the walsender know we are still alive */
		OutputPluginUpdateProgress(ctx, true);
		return;
	}
	oldcxt = MemoryContextSwitchTo(state->change_cxt);
	dbufs_message_init(&msg, txn, DECODERBUFS__OP__COMMIT, &state->opts);
	if (state->opts.include_lsn)
	{
		msg.commit_lsn = commit_lsn;
		msg.has_commit_lsn = true;
		msg.end_lsn = txn->end_lsn;
		msg.has_end_lsn = true;
	}
	dbufs_output_message(ctx, &msg, NULL, true);
	dbufs_output_flush(ctx, true);
	state->txn_begun = false;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->change_cxt);
}

/* Compact mode: describe the relation before its first row. */
static void
ensure_relation_sent(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					 DbufsRelation *rel)
{
	DbufsState *state = ctx->output_plugin_private;
	Decoderbufs__RowMessage msg;

	if (!state->opts.compact || rel->relation_sent)
		return;
	dbufs_message_init(&msg, txn, DECODERBUFS__OP__RELATION, &state->opts);
	dbufs_message_build_relation(&msg, rel);
	dbufs_output_message(ctx, &msg, NULL, false);
	rel->relation_sent = true;
}

/* The bit of an operation in DbufsRelation.operations. */
static inline int
operation_bit(Decoderbufs__Op op)
{
	switch (op)
	{
		case DECODERBUFS__OP__INSERT:
			return DBUFS_OP_INSERT;
		case DECODERBUFS__OP__UPDATE:
			return DBUFS_OP_UPDATE;
		case DECODERBUFS__OP__DELETE:
			return DBUFS_OP_DELETE;
		default:
			return 0;
	}
}

static void
dbufs_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			 Relation relation, ReorderBufferChange *change)
{
	DbufsState *state = ctx->output_plugin_private;
	const DbufsOptions *opts = &state->opts;
	DbufsRelation *rel;
	MemoryContext oldcxt;
	Decoderbufs__RowMessage msg;
	TupleDesc	desc = RelationGetDescr(relation);
	HeapTuple	oldtuple = DBUFS_CHANGE_TUPLE(change->data.tp.oldtuple);
	HeapTuple	newtuple = DBUFS_CHANGE_TUPLE(change->data.tp.newtuple);
	Decoderbufs__Op op;
	bool		old_key_only;
	DbufsTuples tuples;
	DbufsRowValues oldv;
	DbufsRowValues newv;

	rel = dbufs_relcache_get(state, relation);
	if (rel->filtered_out)
		return;

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			op = DECODERBUFS__OP__INSERT;
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			op = DECODERBUFS__OP__UPDATE;
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			op = DECODERBUFS__OP__DELETE;
			break;
		default:
			elog(ERROR, "unexpected change action %d", (int) change->action);
			return;
	}

	/*
	 * The options operations and row-filter: leave at once if the table's
	 * operations exclude whatever this change could be sent as (a row filter
	 * can turn an UPDATE into an INSERT or a DELETE).
	 */
	if (rel->operations != DBUFS_OP_ALL)
	{
		int			could_be = operation_bit(op);

		if (op == DECODERBUFS__OP__UPDATE && rel->row_filter != NULL)
			could_be |= DBUFS_OP_INSERT | DBUFS_OP_DELETE;
		if ((rel->operations & could_be) == 0)
			return;
	}

	oldcxt = MemoryContextSwitchTo(state->change_cxt);
	if (rel->row_filter != NULL)
	{
		op = dbufs_row_filter_apply(rel, desc, op, oldtuple, newtuple,
									&oldv, &newv);
		if (op == DECODERBUFS__OP__UNKNOWN ||
			(rel->operations & operation_bit(op)) == 0)
		{
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(state->change_cxt);
			return;
		}
	}

	ensure_begin(ctx, txn);
	ensure_relation_sent(ctx, txn, rel);

	dbufs_message_init(&msg, txn, op, opts);
	dbufs_message_set_relation(&msg, rel, opts);
	set_stream_xid(state, &msg, change->txn->xid);
	if (opts->include_lsn && !opts->compact)
	{
		msg.lsn = change->lsn;
		msg.has_lsn = true;
	}

	/* compact mode sends only the key of a DEFAULT/INDEX old tuple */
	old_key_only = opts->compact && rel->replident != REPLICA_IDENTITY_FULL &&
		rel->nkeys > 0;
	initStringInfo(&tuples.new_tuple);
	initStringInfo(&tuples.old_tuple);
	tuples.typeinfo = NULL;
	tuples.typeinfo_len = 0;
	tuples.old_values = NULL;
	/* the old tuple first: the new one may reuse its encoded values */
	if (rel->row_filter != NULL)
	{
		/* the filter has deformed the tuples it lets through */
		if (oldv.values != NULL)
			dbufs_message_encode_values(state, &tuples, rel, &oldv, true,
										old_key_only);
		if (newv.values != NULL)
			dbufs_message_encode_values(state, &tuples, rel, &newv, false,
										false);
	}
	else
	{
		if (oldtuple != NULL)
			dbufs_message_encode_tuple(state, &tuples, rel, desc, oldtuple,
									   true, old_key_only);
		if (newtuple != NULL)
			dbufs_message_encode_tuple(state, &tuples, rel, desc, newtuple,
									   false, false);
	}

	dbufs_output_message(ctx, &msg, &tuples, true);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->change_cxt);
}

static void
dbufs_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			   int nrelations, Relation relations[],
			   ReorderBufferChange *change)
{
	DbufsState *state = ctx->output_plugin_private;
	const DbufsOptions *opts = &state->opts;
	MemoryContext oldcxt;
	Decoderbufs__RowMessage msg;
	Decoderbufs__TruncateInfo *info;
	DbufsRelation **rels;
	int			nselected = 0;

	if (!opts->include_truncate)
		return;

	rels = MemoryContextAlloc(state->change_cxt, sizeof(DbufsRelation *) * nrelations);
	for (int i = 0; i < nrelations; i++)
	{
		DbufsRelation *rel = dbufs_relcache_get(state, relations[i]);

		if (!rel->filtered_out && (rel->operations & DBUFS_OP_TRUNCATE))
			rels[nselected++] = rel;
	}
	if (nselected == 0)
	{
		MemoryContextReset(state->change_cxt);
		return;
	}

	oldcxt = MemoryContextSwitchTo(state->change_cxt);
	ensure_begin(ctx, txn);
	for (int i = 0; i < nselected; i++)
		ensure_relation_sent(ctx, txn, rels[i]);

	dbufs_message_init(&msg, txn, DECODERBUFS__OP__TRUNCATE, opts);
	set_stream_xid(state, &msg, change->txn->xid);
	if (opts->include_lsn && !opts->compact)
	{
		msg.lsn = change->lsn;
		msg.has_lsn = true;
	}
	info = palloc(sizeof(Decoderbufs__TruncateInfo));
	decoderbufs__truncate_info__init(info);
	info->n_tables = info->n_relation_oids = nselected;
	info->tables = palloc(sizeof(char *) * nselected);
	info->relation_oids = palloc(sizeof(uint32_t) * nselected);
	for (int i = 0; i < nselected; i++)
	{
		info->tables[i] = rels[i]->qualified_name;
		info->relation_oids[i] = rels[i]->relid;
	}
	info->cascade = change->data.truncate.cascade;
	info->restart_identity = change->data.truncate.restart_seqs;
	msg.truncate = info;

	dbufs_output_message(ctx, &msg, NULL, true);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->change_cxt);
}

static void
dbufs_logical_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					  XLogRecPtr message_lsn, bool transactional,
					  const char *prefix, Size message_size,
					  const char *message)
{
	DbufsState *state = ctx->output_plugin_private;
	const DbufsOptions *opts = &state->opts;
	MemoryContext oldcxt;
	Decoderbufs__RowMessage msg;
	Decoderbufs__LogicalMessage *lm;

	if (!opts->include_messages)
		return;

	oldcxt = MemoryContextSwitchTo(state->change_cxt);
	if (transactional)
		ensure_begin(ctx, txn);

	dbufs_message_init(&msg, transactional ? txn : NULL,
					   DECODERBUFS__OP__MESSAGE, opts);
	/* the callback is not told the subtransaction: the top-level's xid */
	if (transactional)
		set_stream_xid(state, &msg, txn->xid);
	if (opts->include_lsn)
	{
		msg.lsn = message_lsn;
		msg.has_lsn = true;
	}
	lm = palloc(sizeof(Decoderbufs__LogicalMessage));
	decoderbufs__logical_message__init(lm);
	lm->prefix = (char *) prefix;
	lm->content.data = (uint8_t *) message;
	lm->content.len = message_size;
	lm->transactional = transactional;
	msg.message = lm;

	dbufs_output_message(ctx, &msg, NULL, true);
	if (!transactional)
		dbufs_output_flush(ctx, true);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->change_cxt);
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	AssertVariableIsOfType(&_PG_output_plugin_init, LogicalOutputPluginInit);

	cb->startup_cb = dbufs_startup;
	cb->begin_cb = dbufs_begin;
	cb->change_cb = dbufs_change;
	cb->truncate_cb = dbufs_truncate;
	cb->message_cb = dbufs_logical_message;
	cb->commit_cb = dbufs_commit;
	cb->filter_by_origin_cb = dbufs_filter_by_origin;
	cb->shutdown_cb = dbufs_shutdown;

	/* transactions in progress: the same callbacks send their changes */
	cb->stream_change_cb = dbufs_change;
	cb->stream_truncate_cb = dbufs_truncate;
	cb->stream_message_cb = dbufs_logical_message;
	dbufs_stream_register(cb);
}
