/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The apply worker: streams a subscription's slot and applies each
 *		remote transaction in one local transaction.
 *
 * Progress is exactly-once.  The worker applies under a replication origin
 * of its own; before committing a remote transaction's local transaction it
 * sets the origin's remote LSN to the remote commit's end, so the progress
 * is written in the same commit record as the rows.  After any crash the
 * worker restarts streaming from the origin's progress: committed
 * transactions are not applied twice, uncommitted ones are applied again.
 * Feedback tells the source a position is flushed only once the local
 * commit that applied it is flushed, so the source keeps the WAL until then.
 *
 * Because every write carries the origin, a source that asks its plugin for
 * local changes only (only-local, the default) never gets our writes back:
 * two servers can subscribe to each other without loops.
 *
 * With the subscription option streaming, a big transaction also arrives
 * in blocks while it is still in progress on the source; the worker keeps
 * them in a spool file (spool.c) and applies them at STREAM_COMMIT, through
 * the same code and in one local transaction, as if they had come between
 * BEGIN and COMMIT.  Nothing about such a transaction moves the origin's
 * progress, or the flush position reported to the source, before its
 * commit is applied; see "streamed transactions" below for why a restart,
 * which loses the spool files, loses nothing else.
 *
 * On any error the session's origin state is reset before the transaction
 * aborts (an abort record would otherwise advance the origin past the
 * failed transaction), the error is recorded for the status view, and the
 * worker exits; its manager restarts it with backoff, unless the retry
 * policy (retry.c) stops the subscription.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "catalog/pg_authid.h"
#include "lib/ilist.h"
#include "libpq/pqsignal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "replication/origin.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "dbufs_pb_alloc.h"

ApplyContext *MyApplyContext = NULL;

static ApplyWorkerSlot *MySlot = NULL;
static MemoryContext ApplyMessageContext = NULL;
static MemoryContext ApplyRowContext = NULL;
static MemoryContext RemoteTxnContext = NULL;
static MemoryContext SpoolReplayContext = NULL;

/* A remote commit applied locally, not yet known to be flushed. */
typedef struct FlushPosition
{
	dlist_node	node;
	XLogRecPtr	remote_end;
	XLogRecPtr	local_end;
} FlushPosition;

static dlist_head pending_flushes = DLIST_STATIC_INIT(pending_flushes);
static bool in_remote_txn = false;
static XLogRecPtr last_received = InvalidXLogRecPtr;
static XLogRecPtr last_flushed = InvalidXLogRecPtr;
static XLogRecPtr last_applied = InvalidXLogRecPtr;

/* The stream block being received (STREAM_START .. STREAM_STOP), if any. */
static ApplySpool *stream_spool = NULL;
static TransactionId stream_xid = InvalidTransactionId;
static uint64 published_spooled_bytes = 0;

/* Messages come from the fuzz harness (fuzz.c), not from a source. */
static bool harness_mode = false;

/* connecting to the source or starting the stream: for the retry policy */
static bool talking_to_source = false;

/* Forget the origin's pending progress: nothing may mark a failed txn done. */
static void
reset_origin_progress(void)
{
	replorigin_session_origin_lsn = InvalidXLogRecPtr;
	replorigin_session_origin_timestamp = 0;
}

/*
 * Stop the copy helpers of a subscription: they copy in a snapshot only
 * its worker's connection keeps alive.  Caller holds ApplyShared->lock.
 */
void
apply_worker_stop_copy_helpers(ApplyWorkerSlot *slot)
{
	for (int h = 0; h < APPLY_MAX_COPY_WORKERS; h++)
	{
		if (slot->copy_helpers[h].pid != 0)
			kill(slot->copy_helpers[h].pid, SIGTERM);
	}
}

static void
worker_on_exit(int code, Datum arg)
{
	reset_origin_progress();
	if (MySlot != NULL)
	{
		LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
		if (MySlot->pid == MyProcPid)
			apply_worker_stop_copy_helpers(MySlot);
		if (MySlot->pid == MyProcPid)
		{
			MySlot->pid = 0;
			MySlot->spool_txns = 0;
			MySlot->spool_bytes = 0;
			/* failed or disabled by the retry policy: it stays so */
			if (MySlot->state != APPLY_STATE_FAILED &&
				MySlot->state != APPLY_STATE_DISABLED)
			{
				if (code != 0)
					MySlot->state = APPLY_STATE_WAITING_RETRY;
				else if (MySlot->state != APPLY_STATE_WAITING_RETRY)
					MySlot->state = APPLY_STATE_STOPPED;
			}
		}
		LWLockRelease(ApplyShared->lock);
	}
}

static void
set_state(ApplyWorkerState state)
{
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	MySlot->state = state;
	LWLockRelease(ApplyShared->lock);
}

/* Error context: which subscription, operation, relation, column, LSN. */
static void
apply_error_callback(void *arg)
{
	ApplyContext *actx = (ApplyContext *) arg;

	if (actx->current_op == NULL)
		errcontext("processing remote data for decoderbufs_apply subscription \"%s\"",
				   actx->sub->name);
	else if (actx->current_rel == NULL)
		errcontext("processing remote data for decoderbufs_apply subscription \"%s\" during \"%s\" in transaction %u committed at %X/%X",
				   actx->sub->name, actx->current_op, actx->remote_xid,
				   LSN_FORMAT_ARGS(actx->remote_commit_lsn));
	else if (actx->current_column == NULL)
		errcontext("processing remote data for decoderbufs_apply subscription \"%s\" during \"%s\" for relation \"%s.%s\" in transaction %u committed at %X/%X",
				   actx->sub->name, actx->current_op,
				   actx->current_rel->schema_name, actx->current_rel->table_name,
				   actx->remote_xid, LSN_FORMAT_ARGS(actx->remote_commit_lsn));
	else
		errcontext("processing remote data for decoderbufs_apply subscription \"%s\" during \"%s\" for relation \"%s.%s\" column \"%s\" in transaction %u committed at %X/%X",
				   actx->sub->name, actx->current_op,
				   actx->current_rel->schema_name, actx->current_rel->table_name,
				   actx->current_column, actx->remote_xid,
				   LSN_FORMAT_ARGS(actx->remote_commit_lsn));
}

/* ---- feedback ---- */

/* The highest remote commit end whose local commit is flushed. */
static XLogRecPtr
flushed_position(bool *have_pending)
{
	XLogRecPtr	local_flush = GetFlushRecPtr(NULL);
	dlist_mutable_iter iter;
	XLogRecPtr	result = last_flushed;

	dlist_foreach_modify(iter, &pending_flushes)
	{
		FlushPosition *pos = dlist_container(FlushPosition, node, iter.cur);

		if (pos->local_end > local_flush)
			break;
		result = Max(result, pos->remote_end);
		dlist_delete(iter.cur);
		pfree(pos);
	}
	*have_pending = !dlist_is_empty(&pending_flushes);
	return result;
}

static void
send_feedback(PGconn *conn, bool force, bool request_reply)
{
	static TimestampTz last_sent = 0;
	static XLogRecPtr last_sent_flush = InvalidXLogRecPtr;
	TimestampTz now = GetCurrentTimestamp();
	bool		have_pending;
	XLogRecPtr	flush;

	if (harness_mode)
		return;					/* no source to report to */
	flush = flushed_position(&have_pending);

	/*
	 * With nothing pending and no transaction open, everything received is
	 * done with: report it, so an idle or filtered stream does not hold WAL
	 * on the source.  A streamed transaction still open counts as open: its
	 * spool is lost if the worker restarts, and the source must then send
	 * it again (see "streamed transactions" below).
	 */
	if (!have_pending && !in_remote_txn && !apply_spool_any_open())
		flush = Max(flush, last_received);
	last_flushed = flush;

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	MySlot->flushed_lsn = flush;
	MySlot->received_lsn = last_received;
	LWLockRelease(ApplyShared->lock);

	if (!force && flush == last_sent_flush &&
		!TimestampDifferenceExceeds(last_sent, now, apply_feedback_interval))
		return;

	apply_stream_send_feedback(conn, last_received, flush,
							   Max(last_applied, flush), request_reply);
	last_sent = now;
	last_sent_flush = flush;
}

/* Feedback while verify() holds the idle worker (verify.c). */
static void
verify_feedback(PGconn *conn, bool request_reply)
{
	send_feedback(conn, true, request_reply);
}

/*
 * The same while it holds the worker before a transaction whose batch has
 * arrived: what was received is not all applied, so report as during a
 * transaction, never past what is applied.
 */
static void
verify_feedback_before_txn(PGconn *conn, bool request_reply)
{
	in_remote_txn = true;
	send_feedback(conn, true, request_reply);
	in_remote_txn = false;
}

/* ---- transactions ---- */

static void
begin_remote_txn(ApplyContext *actx, Decoderbufs__RowMessage *msg)
{
	MemoryContextReset(RemoteTxnContext);
	actx->remote_xid = msg->transaction_id;
	actx->remote_commit_lsn = msg->commit_lsn;
	actx->remote_commit_time = msg->has_commit_time ?
		(TimestampTz) (msg->commit_time - APPLY_UNIX_EPOCH_OFFSET_USECS) : 0;
	actx->remote_origin = msg->origin ?
		MemoryContextStrdup(RemoteTxnContext, msg->origin) : NULL;
	actx->skipping = (actx->sub->skip_lsn != InvalidXLogRecPtr &&
					  actx->sub->skip_lsn == msg->commit_lsn);
	if (actx->skipping)
		ereport(LOG,
				(errmsg("decoderbufs_apply subscription \"%s\" skips the remote transaction committed at %X/%X, as asked by skip_transaction()",
						actx->sub->name, LSN_FORMAT_ARGS(msg->commit_lsn))));
	memset(actx->n_conflicts, 0, sizeof(actx->n_conflicts));
	actx->n_inserted = actx->n_updated = actx->n_deleted = actx->n_truncated = 0;
	in_remote_txn = true;
}

/* Make sure a local transaction runs, as the subscription's owner. */
static void
ensure_local_txn(ApplyContext *actx)
{
	if (IsTransactionState())
		return;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SetUserIdAndSecContext(actx->apply_user, SECURITY_LOCAL_USERID_CHANGE);
	/* per-row allocations belong to the message, not the transaction */
	MemoryContextSwitchTo(ApplyMessageContext);
}

static void
publish_txn_stats(ApplyContext *actx, XLogRecPtr end_lsn)
{
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	MySlot->n_inserted += actx->n_inserted;
	MySlot->n_updated += actx->n_updated;
	MySlot->n_deleted += actx->n_deleted;
	MySlot->n_truncated += actx->n_truncated;
	for (int i = 0; i < APPLY_NUM_CONFLICT_TYPES; i++)
		MySlot->n_conflicts[i] += actx->n_conflicts[i];
	MySlot->n_transactions++;
	MySlot->applied_lsn = end_lsn;
	MySlot->last_applied_commit_time = actx->remote_commit_time;
	MySlot->last_applied_time = GetCurrentTimestamp();
	MySlot->retry_count = 0;
	apply_retry_progress_locked(MySlot, true);
	LWLockRelease(ApplyShared->lock);
}

static void
commit_remote_txn(ApplyContext *actx, Decoderbufs__RowMessage *msg)
{
	XLogRecPtr	end_lsn = msg->end_lsn;

	/* buffered rows go out, executor states close, as the owner */
	if (IsTransactionState())
		apply_exec_end(actx);

	if (actx->skipping)
	{
		/* the skip is done: clear it in the commit that moves past it */
		ensure_local_txn(actx);
		SetUserIdAndSecContext(actx->worker_user, SECURITY_LOCAL_USERID_CHANGE);
		apply_catalog_clear_skip_lsn(actx->sub->id);
		actx->sub->skip_lsn = InvalidXLogRecPtr;
	}

	if (harness_mode)
	{
		/* the harness's caller owns the transaction, and undoes it */
		CommandCounterIncrement();
		SetUserIdAndSecContext(actx->apply_user, SECURITY_LOCAL_USERID_CHANGE);
		in_remote_txn = false;
		actx->skipping = false;
		return;
	}
	if (IsTransactionState())
	{
		SetUserIdAndSecContext(actx->worker_user, 0);
		replorigin_session_origin_lsn = end_lsn;
		replorigin_session_origin_timestamp = actx->remote_commit_time;
		CommitTransactionCommand();
		reset_origin_progress();
		MemoryContextSwitchTo(ApplyMessageContext);

		if (XactLastCommitEnd != InvalidXLogRecPtr)
		{
			FlushPosition *pos = MemoryContextAlloc(TopMemoryContext,
													sizeof(FlushPosition));

			pos->remote_end = end_lsn;
			pos->local_end = XactLastCommitEnd;
			dlist_push_tail(&pending_flushes, &pos->node);
		}
	}
	last_applied = end_lsn;
	in_remote_txn = false;
	actx->skipping = false;
	publish_txn_stats(actx, end_lsn);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Apply one row change inside the local transaction. */
static void
apply_change(ApplyContext *actx, Decoderbufs__RowMessage *msg,
			 const char *opname)
{
	ApplyRelation *rel;

	actx->current_op = opname;
	if (!in_remote_txn)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the source sent a change (%s) outside a transaction", opname)));
	if (actx->skipping)
		return;

	ensure_local_txn(actx);
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(ApplyRowContext);

	if (msg->op == DECODERBUFS__OP__TRUNCATE)
		apply_exec_truncate(actx, msg);
	else
	{
		rel = apply_relmap_get(msg->relation_oid);
		actx->current_rel = rel;
		apply_relmap_open_local(rel, actx->sub);
		if (!rel->ignored && apply_rel_synced(rel, actx->remote_commit_lsn))
		{
			switch (msg->op)
			{
				case DECODERBUFS__OP__INSERT:
					apply_exec_insert(actx, rel, msg);
					break;
				case DECODERBUFS__OP__UPDATE:
					apply_exec_update(actx, rel, msg);
					break;
				default:
					apply_exec_delete(actx, rel, msg);
					break;
			}
		}
	}

	PopActiveSnapshot();
	CommandCounterIncrement();
	actx->current_rel = NULL;
	MemoryContextSwitchTo(ApplyMessageContext);
	MemoryContextReset(ApplyRowContext);
}

static void
handle_row(ApplyContext *actx, Decoderbufs__RowMessage *msg)
{
	switch (msg->op)
	{
		case DECODERBUFS__OP__BEGIN:
			actx->current_op = "BEGIN";
			if (in_remote_txn)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("the source sent a BEGIN inside a transaction")));
			begin_remote_txn(actx, msg);
			break;
		case DECODERBUFS__OP__COMMIT:
			actx->current_op = "COMMIT";
			if (!in_remote_txn)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("the source sent a COMMIT outside a transaction")));
			commit_remote_txn(actx, msg);
			break;
		case DECODERBUFS__OP__RELATION:
			if (msg->relation == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("the source sent a RELATION message without a relation")));
			apply_relmap_update(msg->relation);
			break;
		case DECODERBUFS__OP__INSERT:
			apply_change(actx, msg, "INSERT");
			break;
		case DECODERBUFS__OP__UPDATE:
			apply_change(actx, msg, "UPDATE");
			break;
		case DECODERBUFS__OP__DELETE:
			apply_change(actx, msg, "DELETE");
			break;
		case DECODERBUFS__OP__TRUNCATE:
			apply_change(actx, msg, "TRUNCATE");
			break;
		case DECODERBUFS__OP__MESSAGE:
			/* not applied; our heartbeats measure lag */
			apply_heartbeat_receive(actx, msg);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("the source sent a message of unknown type %d", (int) msg->op)));
	}
	actx->current_op = NULL;
}

/* ---- streamed transactions ----
 *
 * STREAM_START opens a block of one transaction's changes, which go to its
 * spool until STREAM_STOP; RELATION messages in a block are also taken at
 * once (the source describes a relation once per session, whatever becomes
 * of the transaction it did so in).  STREAM_ABORT forgets a subtransaction's
 * changes, or the whole transaction's; STREAM_COMMIT applies the spool as
 * the transaction committed there.
 *
 * Why a restart loses nothing: the spool files die with the worker, and
 * neither the origin's progress nor the flush position reported to the
 * source ever passes the commit of a transaction not applied here.  The
 * origin moves only at the local commits of whole remote transactions, and
 * while any streamed transaction is open the worker reports as flushed no
 * more than the end of the last transaction it applied and flushed (never
 * what it merely received).  On restart the source decodes again from its
 * slot's restart_lsn, which is never later than the first change of a
 * transaction still running, and sends every transaction committed after
 * the position the worker resumes from in full: streamed again from its
 * first change (STREAM_START with stream_first), or whole at its commit.
 * Transactions that committed before that position, but whose changes the
 * source decodes again, come as streams that end in STREAM_ABORT.  That
 * the origin moves past the start of an unfinished streamed transaction
 * when another transaction commits meanwhile is as harmless as it is for a
 * long transaction that is not streamed.
 */

/* Publish the spool's figures in the status view. */
static void
publish_spool_stats(void)
{
	int			ntxns;
	uint64		open_bytes;
	uint64		total_bytes;

	if (MySlot == NULL)
		return;					/* the fuzz harness */
	apply_spool_stats(&ntxns, &open_bytes, &total_bytes);
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	MySlot->spool_txns = ntxns;
	MySlot->spool_bytes = open_bytes;
	MySlot->spooled_bytes += total_bytes - published_spooled_bytes;
	LWLockRelease(ApplyShared->lock);
	published_spooled_bytes = total_bytes;
}

static void
stream_protocol_error(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("the source sent %s", what)));
}

static void
stream_start(Decoderbufs__RowMessage *msg)
{
	if (stream_spool != NULL)
		stream_protocol_error("a STREAM_START inside a stream block");
	if (in_remote_txn)
		stream_protocol_error("a STREAM_START inside a transaction");
	if (!msg->has_transaction_id)
		stream_protocol_error("a STREAM_START without a transaction id");
	stream_spool = apply_spool_open(msg->transaction_id,
									msg->has_stream_first && msg->stream_first);
	stream_xid = msg->transaction_id;
}

static void
stream_stop(Decoderbufs__RowMessage *msg)
{
	if (stream_spool == NULL)
		stream_protocol_error("a STREAM_STOP outside a stream block");
	stream_spool = NULL;
	stream_xid = InvalidTransactionId;
	publish_spool_stats();
}

/* A message inside a stream block. */
static void
stream_change(ApplyContext *actx, Decoderbufs__RowMessage *msg,
			  const uint8 *raw, size_t rawlen)
{
	switch (msg->op)
	{
		case DECODERBUFS__OP__RELATION:
			/* at once, and again where it is when the spool is applied */
			handle_row(actx, msg);
			apply_spool_write(stream_spool, stream_xid, raw, rawlen);
			return;
		case DECODERBUFS__OP__MESSAGE:
			if (msg->message == NULL || !msg->message->transactional ||
				!msg->has_subxact_id)
			{
				/* not part of the transaction */
				handle_row(actx, msg);
				return;
			}
			break;
		case DECODERBUFS__OP__INSERT:
		case DECODERBUFS__OP__UPDATE:
		case DECODERBUFS__OP__DELETE:
		case DECODERBUFS__OP__TRUNCATE:
			break;
		default:
			stream_protocol_error(psprintf("a message of type %d inside a stream block",
										   (int) msg->op));
	}
	if (!msg->has_subxact_id)
		stream_protocol_error("a streamed change without its subtransaction");
	apply_spool_write(stream_spool, msg->subxact_id, raw, rawlen);
}

static void
stream_abort(Decoderbufs__RowMessage *msg)
{
	TransactionId subxact;

	if (stream_spool != NULL)
		stream_protocol_error("a STREAM_ABORT inside a stream block");
	if (!msg->has_transaction_id)
		stream_protocol_error("a STREAM_ABORT without a transaction id");
	subxact = msg->has_subxact_id ? msg->subxact_id : msg->transaction_id;
	if (apply_spool_abort(msg->transaction_id, subxact) && MySlot != NULL)
	{
		LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
		MySlot->n_stream_aborted++;
		LWLockRelease(ApplyShared->lock);
	}
	publish_spool_stats();
}

/* Apply what a spool holds, in the local transaction of its commit. */
static void
apply_spooled(ApplyContext *actx, PGconn *conn, ApplySpool *spool)
{
	static StringInfo buf = NULL;
	MemoryContext message_cxt = ApplyMessageContext;
	uint64		n = 0;

	if (buf == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		buf = makeStringInfo();
		MemoryContextSwitchTo(old);
	}
	if (SpoolReplayContext == NULL)
		SpoolReplayContext = AllocSetContextCreate(TopMemoryContext,
												   "decoderbufs_apply spooled message",
												   64 * 1024, 64 * 1024,
												   ALLOCSET_DEFAULT_MAXSIZE);

	/* each spooled message is a message of its own, as when received */
	ApplyMessageContext = SpoolReplayContext;
	PG_TRY();
	{
		while (apply_spool_read(spool, buf))
		{
			MemoryContext old = MemoryContextSwitchTo(ApplyMessageContext);
			Decoderbufs__RowMessage *msg;

			msg = decoderbufs__row_message__unpack(&dbufs_pb_allocator, buf->len,
												   (const uint8_t *) buf->data);
			if (msg == NULL)
				elog(ERROR, "could not decode a spooled message of %d bytes", buf->len);
			if (msg->op == DECODERBUFS__OP__BEGIN || msg->op == DECODERBUFS__OP__COMMIT)
				elog(ERROR, "a transaction boundary was spooled");
			handle_row(actx, msg);
			MemoryContextSwitchTo(old);
			MemoryContextReset(ApplyMessageContext);

			/* the source must hear from us during a long apply */
			if (++n % 1000 == 0)
			{
				send_feedback(conn, false, false);
				CHECK_FOR_INTERRUPTS();
			}
		}
	}
	PG_FINALLY();
	{
		ApplyMessageContext = message_cxt;
	}
	PG_END_TRY();
}

/*
 * STREAM_COMMIT: apply the transaction's spool as a transaction committed
 * there, which the message describes as a COMMIT does (commit LSN and time,
 * end LSN, origin): skip_transaction(), the copy's sync LSN, conflicts and
 * the origin's progress all work as for any other.
 */
static void
stream_commit(ApplyContext *actx, PGconn *conn, Decoderbufs__RowMessage *msg)
{
	ApplySpool *spool;

	if (stream_spool != NULL)
		stream_protocol_error("a STREAM_COMMIT inside a stream block");
	if (in_remote_txn)
		stream_protocol_error("a STREAM_COMMIT inside a transaction");
	if (!msg->has_transaction_id)
		stream_protocol_error("a STREAM_COMMIT without a transaction id");

	actx->current_op = "STREAM_COMMIT";
	begin_remote_txn(actx, msg);
	spool = apply_spool_take(msg->transaction_id);
	if (spool != NULL && !actx->skipping)
		apply_spooled(actx, conn, spool);
	actx->current_op = "STREAM_COMMIT";
	commit_remote_txn(actx, msg);
	apply_spool_close(spool);

	if (MySlot != NULL)
	{
		LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
		MySlot->n_streamed++;
		LWLockRelease(ApplyShared->lock);
	}
	publish_spool_stats();
}

/*
 * One message from the source; raw holds its bytes as received, for the
 * spool.
 */
static void
handle_message(ApplyContext *actx, PGconn *conn, Decoderbufs__RowMessage *msg,
			   const uint8 *raw, size_t rawlen)
{
	switch (msg->op)
	{
		case DECODERBUFS__OP__STREAM_START:
			stream_start(msg);
			break;
		case DECODERBUFS__OP__STREAM_STOP:
			stream_stop(msg);
			break;
		case DECODERBUFS__OP__STREAM_ABORT:
			stream_abort(msg);
			break;
		case DECODERBUFS__OP__STREAM_COMMIT:
			/* a verify() may hold us before this transaction */
			(void) apply_verify_barrier(actx, conn, msg->commit_lsn,
										InvalidXLogRecPtr,
										verify_feedback_before_txn);
			stream_commit(actx, conn, msg);
			break;
		default:
			if (stream_spool != NULL)
				stream_change(actx, msg, raw, rawlen);
			else
			{
				/* a verify() may hold us before this transaction */
				if (msg->op == DECODERBUFS__OP__BEGIN)
					(void) apply_verify_barrier(actx, conn, msg->commit_lsn,
												InvalidXLogRecPtr,
												verify_feedback_before_txn);
				handle_row(actx, msg);
			}
			break;
	}
	actx->current_op = NULL;
}

/*
 * The next RowMessage of a RowBatch (a sequence of field 1, length,
 * message) from *pos: sets *row and *rowlen and returns 1, or returns 0 at
 * the end, -1 if the bytes are not a RowBatch.
 */
static int
next_batch_row(const uint8 *data, size_t len, size_t *pos,
			   const uint8 **row, size_t *rowlen)
{
	uint64		v[2];

	if (*pos >= len)
		return 0;
	/* the tag (field 1, length-delimited), then the length */
	for (int k = 0; k < 2; k++)
	{
		int			shift = 0;

		v[k] = 0;
		for (;;)
		{
			uint8		b;

			if (*pos >= len || shift > 63)
				return -1;
			b = data[(*pos)++];
			v[k] |= (uint64) (b & 0x7F) << shift;
			if ((b & 0x80) == 0)
				break;
			shift += 7;
		}
	}
	if (v[0] != ((1 << 3) | 2) || v[1] > len - *pos)
		return -1;
	*row = data + *pos;
	*rowlen = (size_t) v[1];
	*pos += *rowlen;
	return 1;
}

static uint64
get_uint64(const char *p)
{
	uint64		v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char) p[i];
	return v;
}

/* One CopyData message from the source. */
static void
handle_copy_data(ApplyContext *actx, PGconn *conn, const char *buf, int len)
{
	if (len >= 25 && buf[0] == 'w')
	{
		XLogRecPtr	start = get_uint64(buf + 1);
		XLogRecPtr	end = get_uint64(buf + 9);
		const uint8 *data = (const uint8 *) buf + 25;
		size_t		datalen = len - 25;
		size_t		pos = 0;
		const uint8 *row;
		size_t		rowlen;
		int			r;

		last_received = Max(last_received, Max(start, end));
		/* each message by itself: a streamed one is spooled as it came */
		while ((r = next_batch_row(data, datalen, &pos, &row, &rowlen)) != 0)
		{
			Decoderbufs__RowMessage *msg = NULL;

			if (r > 0)
				msg = decoderbufs__row_message__unpack(&dbufs_pb_allocator,
													   rowlen, row);
			if (msg == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("could not decode a message of %d bytes from the source at %X/%X",
								len - 25, LSN_FORMAT_ARGS(start)),
						 errdetail("It is not a decoderbufs RowBatch."),
						 errhint("The source must run a decoderbufs plugin speaking proto-version 1.")));
			handle_message(actx, conn, msg, row, rowlen);
		}
	}
	else if (len >= 18 && buf[0] == 'k')
	{
		XLogRecPtr	end = get_uint64(buf + 1);
		bool		reply = buf[17] != 0;

		last_received = Max(last_received, end);
		send_feedback(conn, reply, false);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("unexpected message of type \"%c\" and %d bytes from the source",
						len > 0 ? buf[0] : '?', len)));
}

/* Read what arrived; returns whether anything did. */
static bool
receive_available(ApplyContext *actx, PGconn *conn)
{
	bool		got = false;

	for (;;)
	{
		char	   *buf = NULL;
		int			len = PQgetCopyData(conn, &buf, 1);

		if (len == 0)
			break;
		if (len == -1)
		{
			PGresult   *res = PQgetResult(conn);

			if (res && PQresultStatus(res) == PGRES_FATAL_ERROR)
				apply_stream_report_error(ERROR, conn, "receive data from the source");
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("the source ended the replication stream")));
		}
		if (len < -1)
			apply_stream_report_error(ERROR, conn, "receive data from the source");

		got = true;
		PG_TRY();
		{
			MemoryContext old = MemoryContextSwitchTo(ApplyMessageContext);

			handle_copy_data(actx, conn, buf, len);
			MemoryContextSwitchTo(old);
		}
		PG_FINALLY();
		{
			PQfreemem(buf);
		}
		PG_END_TRY();
		MemoryContextReset(ApplyMessageContext);
		CHECK_FOR_INTERRUPTS();
	}
	return got;
}

/*
 * The fuzz harness: forget the remote transaction, the stream block and
 * the streamed transactions (their spool files) the last messages left
 * open.  At the start of every call, and after it (fuzz.c), so that no
 * spool file outlives a call.
 */
void
apply_worker_harness_reset(void)
{
	in_remote_txn = false;
	last_received = last_flushed = last_applied = InvalidXLogRecPtr;
	stream_spool = NULL;
	stream_xid = InvalidTransactionId;
	apply_spool_reset();
}

/*
 * The fuzz harness (fuzz.c): run CopyData messages through the worker's own
 * dispatch, as receive_available() does, in the caller's transaction with
 * the caller's ApplyContext.  The worker's state starts afresh at each call
 * (no remote transaction or stream block open, no streamed transaction
 * spooled, no relation described); a COMMIT or STREAM_COMMIT message does
 * not commit (the caller undoes everything), nothing is reported to a
 * source, and an ERROR propagates to the caller.
 */
void
apply_worker_harness_feed(ApplyContext *actx, char **bufs, int *lens,
						  int nbufs)
{
	ErrorContextCallback errcallback;
	MemoryContext old = CurrentMemoryContext;

	if (ApplyMessageContext == NULL)
	{
		ApplyMessageContext = AllocSetContextCreate(TopMemoryContext,
													"decoderbufs_apply message",
													ALLOCSET_DEFAULT_SIZES);
		ApplyRowContext = AllocSetContextCreate(TopMemoryContext,
												"decoderbufs_apply row",
												ALLOCSET_DEFAULT_SIZES);
		RemoteTxnContext = AllocSetContextCreate(TopMemoryContext,
												 "decoderbufs_apply remote transaction",
												 ALLOCSET_SMALL_SIZES);
	}
	MemoryContextReset(ApplyMessageContext);
	MemoryContextReset(ApplyRowContext);
	MemoryContextReset(RemoteTxnContext);
	apply_worker_harness_reset();
	actx->current_op = NULL;
	actx->current_rel = NULL;
	actx->current_column = NULL;
	apply_relmap_init();

	errcallback.callback = apply_error_callback;
	errcallback.arg = actx;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	harness_mode = true;
	PG_TRY();
	{
		for (int i = 0; i < nbufs; i++)
		{
			MemoryContextSwitchTo(ApplyMessageContext);
			handle_copy_data(actx, NULL, bufs[i], lens[i]);
			MemoryContextSwitchTo(old);
			MemoryContextReset(ApplyMessageContext);
		}
	}
	PG_FINALLY();
	{
		harness_mode = false;
		error_context_stack = errcallback.previous;
	}
	PG_END_TRY();
}

static bool
restart_requested(void)
{
	bool		r;

	LWLockAcquire(ApplyShared->lock, LW_SHARED);
	r = MySlot->restart_requested;
	LWLockRelease(ApplyShared->lock);
	return r;
}

/*
 * Every decoderbufs_apply.sequence_sync_interval, between remote
 * transactions, set the subscription's sequences to the source's values
 * (sequences.c); the first time one interval after streaming starts, so
 * that a sync that keeps failing (an ERROR restarts the worker) still lets
 * the stream apply in between.  Returns how long the loop may wait.
 */
static long
sync_sequences_when_due(ApplyContext *actx)
{
	static TimestampTz last_sync = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (apply_sequence_sync_interval <= 0 || actx->sub->sequences == NULL)
		return LONG_MAX;
	if (last_sync == 0)
		last_sync = now;
	if (in_remote_txn || IsTransactionState())
		return LONG_MAX;		/* after the commit, which data wakes us for */
	if (TimestampDifferenceExceeds(last_sync, now, apply_sequence_sync_interval))
	{
		apply_sequences_sync(actx->sub, NULL);
		last_sync = now = GetCurrentTimestamp();
	}
	return TimestampDifferenceMilliseconds(now,
										   TimestampTzPlusMilliseconds(last_sync,
																	   apply_sequence_sync_interval));
}

/*
 * The streaming loop: receive, apply, report, and watch the connection.
 */
static void
stream_loop(ApplyContext *actx, PGconn *conn)
{
	TimestampTz last_recv = GetCurrentTimestamp();
	bool		ping_sent = false;

	for (;;)
	{
		int			rc;
		long		wait_ms = apply_feedback_interval;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!in_remote_txn && restart_requested())
		{
			ereport(LOG,
					(errmsg("decoderbufs_apply subscription \"%s\" restarts to use its new configuration",
							actx->sub->name)));
			proc_exit(0);
		}

		if (receive_available(actx, conn))
		{
			last_recv = GetCurrentTimestamp();
			ping_sent = false;
			LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
			MySlot->last_receive_time = last_recv;
			MySlot->received_lsn = last_received;
			apply_retry_progress_locked(MySlot, false);
			LWLockRelease(ApplyShared->lock);
		}
		send_feedback(conn, false, false);
		wait_ms = Min(wait_ms, sync_sequences_when_due(actx));
		wait_ms = Min(wait_ms,
					  apply_heartbeat_when_due(actx, last_received,
											   !in_remote_txn && !IsTransactionState()));
		if (!in_remote_txn)
		{
			/* a verify() may hold us here, with everything received applied */
			long		verify_ms = apply_verify_barrier(actx, conn, InvalidXLogRecPtr,
														 last_received, verify_feedback);

			if (verify_ms >= 0)
				wait_ms = Min(wait_ms, verify_ms);
		}

		now = GetCurrentTimestamp();
		if (apply_receive_timeout > 0)
		{
			if (TimestampDifferenceExceeds(last_recv, now, apply_receive_timeout))
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("no message from the source for %d ms", apply_receive_timeout),
						 errhint("The source or the network may be down; the worker reconnects. Raise decoderbufs_apply.receive_timeout if the source is just slow.")));
			if (!ping_sent &&
				TimestampDifferenceExceeds(last_recv, now, apply_receive_timeout / 2))
			{
				send_feedback(conn, true, true);
				ping_sent = true;
			}
		}
		if (!dlist_is_empty(&pending_flushes))
			wait_ms = Min(wait_ms, 200);

		rc = WaitLatchOrSocket(MyLatch,
							   WL_SOCKET_READABLE | WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							   PQsocket(conn), wait_ms, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
			apply_stream_report_error(ERROR, conn, "receive data from the source");
	}
}

/*
 * Read the subscription into actx (in cxt), apply as its owner, and set up
 * the session as applying needs it.  For the worker and its copy helpers.
 */
void
apply_context_load(ApplyContext *actx, int32 subid, MemoryContext cxt)
{
	MemoryContext old;

	StartTransactionCommand();
	old = MemoryContextSwitchTo(cxt);
	actx->sub = apply_catalog_get_subscription(subid, false);
	MemoryContextSwitchTo(old);
	actx->owner_is_superuser = superuser_arg(actx->sub->owner);
	CommitTransactionCommand();
	actx->apply_user = actx->sub->owner;
	pgstat_report_appname(actx->sub->name);
	apply_worker_session_settings(actx->sub);
}

/* Settings of the apply session (also of the copy helpers). */
void
apply_worker_session_settings(ApplySubscription *sub)
{
	SetConfigOption("DateStyle", "ISO, MDY", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("IntervalStyle", "postgres", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("search_path", "", PGC_SUSET, PGC_S_OVERRIDE);
	/* exactly-once does not need a synchronous commit: see the header */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	if (sub->replica_role)
		SetConfigOption("session_replication_role", "replica",
						PGC_SUSET, PGC_S_OVERRIDE);
}

/* Set up the replication origin and return where to resume. */
static XLogRecPtr
setup_origin(ApplySubscription *sub)
{
	RepOriginId originid;
	XLogRecPtr	startpos;

	StartTransactionCommand();
	originid = replorigin_by_name(sub->origin_name, true);
	if (originid == InvalidRepOriginId)
		originid = replorigin_create(sub->origin_name);
	CommitTransactionCommand();

#if PG_VERSION_NUM >= 160000
	replorigin_session_setup(originid, 0);
#else
	replorigin_session_setup(originid);
#endif
	replorigin_session_origin = originid;
	startpos = replorigin_session_get_progress(false);
	return startpos;
}

static void
run_worker(ApplyContext *actx)
{
	ErrorContextCallback errcallback;
	XLogRecPtr	startpos;
	PGconn	   *conn;

	startpos = setup_origin(actx->sub);
	last_applied = startpos;

	set_state(APPLY_STATE_CONNECTING);
	talking_to_source = true;
	conn = apply_stream_connect(actx->sub->conninfo, actx->sub->name, true);
	apply_stream_check_password(conn, !actx->owner_is_superuser);
	{
		TimeLineID	tli;
		char	   *sysid = apply_stream_identify(conn, &tli);

		LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
		strlcpy(MySlot->source_system_id, sysid, sizeof(MySlot->source_system_id));
		MySlot->source_timeline = tli;
		LWLockRelease(ApplyShared->lock);
	}
	talking_to_source = false;
	apply_copy_run(actx, conn);
	talking_to_source = true;
	apply_stream_start(conn, actx->sub, startpos);
	talking_to_source = false;
	set_state(APPLY_STATE_STREAMING);
	ereport(LOG,
			(errmsg("decoderbufs_apply subscription \"%s\" streams from %X/%X",
					actx->sub->name, LSN_FORMAT_ARGS(startpos))));

	errcallback.callback = apply_error_callback;
	errcallback.arg = actx;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	stream_loop(actx, conn);
}

static void
record_error(ErrorData *edata)
{
	apply_slot_record_error(MySlot, edata, true);
}

/*
 * After an error (recorded already): ask the retry policy whether the
 * worker is to be started again.  Returns false when the subscription
 * stopped (failed, or disabled by disable_on_error).  Runs after the failed
 * transaction was aborted.
 */
static bool
retry_after_error(ApplyContext *actx, ErrorData *edata)
{
	bool		permanent;
	ApplyErrorClass cls = apply_error_class(edata, talking_to_source, &permanent);
	ApplyRetryDecision decision;

	if (actx->sub == NULL)
		return true;			/* the subscription could not be read */
	decision = apply_retry_note_failure(MySlot, actx->sub, edata, cls, permanent);
	if (decision == APPLY_RETRY_AGAIN)
		return true;
	return !apply_retry_stop_subscription(MySlot, actx->sub, edata, cls,
										  permanent, decision);
}

void
apply_worker_main(Datum main_arg)
{
	int			slotno = DatumGetInt32(main_arg);
	ApplyContext *actx;
	MemoryContext worker_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	MySlot = &ApplyShared->workers[slotno];
	BackgroundWorkerInitializeConnectionByOid(MySlot->dbid, InvalidOid, 0);
	before_shmem_exit(worker_on_exit, (Datum) 0);

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	if (MySlot->hold ||
		(MySlot->pid != 0 && MySlot->pid != MyProcPid && kill(MySlot->pid, 0) == 0))
	{
		/* being dropped, or another worker already serves it */
		LWLockRelease(ApplyShared->lock);
		MySlot = NULL;
		proc_exit(0);
	}
	MySlot->pid = MyProcPid;
	MySlot->state = APPLY_STATE_STARTING;
	MySlot->restart_requested = false;
	LWLockRelease(ApplyShared->lock);

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "decoderbufs_apply worker",
									   ALLOCSET_DEFAULT_SIZES);
	ApplyMessageContext = AllocSetContextCreate(TopMemoryContext,
												"decoderbufs_apply message",
												256 * 1024, 256 * 1024,
												ALLOCSET_DEFAULT_MAXSIZE);
	/* one block kept across rows: no memory returned to the system per row */
	ApplyRowContext = AllocSetContextCreate(TopMemoryContext,
											"decoderbufs_apply row",
											64 * 1024, 64 * 1024,
											ALLOCSET_DEFAULT_MAXSIZE);
	RemoteTxnContext = AllocSetContextCreate(TopMemoryContext,
											 "decoderbufs_apply remote transaction",
											 ALLOCSET_SMALL_SIZES);
	actx = MemoryContextAllocZero(worker_cxt, sizeof(ApplyContext));
	MyApplyContext = actx;
	actx->slot = MySlot;
	actx->worker_user = GetUserId();

	PG_TRY();
	{
		apply_context_load(actx, MySlot->subid, worker_cxt);
		apply_relmap_init();
		run_worker(actx);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		retry;

		reset_origin_progress();
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(worker_cxt);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		record_error(edata);
		AbortOutOfAnyTransaction();
		apply_conflict_log_pending_failure(MySlot);
		retry = retry_after_error(actx, edata);
		RESUME_INTERRUPTS();
		proc_exit(retry ? 1 : 0);
	}
	PG_END_TRY();
}
