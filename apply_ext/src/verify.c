/*-------------------------------------------------------------------------
 *
 * verify.c
 *		verify(): compare a subscription's tables on the source and on the
 *		target, at one consistent point, by key ranges with hashes.
 *
 * Two snapshots that hold the same transactions.  On the source, a
 * temporary logical slot created with an exported snapshot gives a
 * consistent point L and a snapshot S holding exactly the transactions
 * committed before L; a normal connection imports S and closes the slot's
 * connection, which drops the slot.  On the target, the subscription's
 * apply worker is held at L: a barrier in its shared slot makes it apply
 * every remote transaction committed before L and none from L on, then
 * pause between transactions while the verifying backend takes its own
 * snapshot, and go on at once.  The barrier is set before the slot is
 * created, at the source's flush position, which is below any consistent
 * point found later: the worker cannot pass L before L is known.  Once L
 * is known the barrier moves up to it.  The worker also pauses when it is
 * idle and the source has sent everything up to L (keepalives carry the
 * source's position; the worker asks for them while a barrier waits), and
 * keeps answering the source while paused.  A worker that is not running
 * (a disabled subscription) leaves the target as it is: it is compared
 * anyway, and the result says it is not consistent.
 *
 * Rows are compared as text: each compared column's output on its own
 * side, under fixed settings on both (DateStyle ISO, IntervalStyle
 * postgres, extra_float_digits 3, bytea_output hex, TimeZone UTC,
 * lc_monetary C, search_path pg_catalog), so that equal values give equal
 * text.  The source side applies the table's row filter and column
 * selection and renders a column whose type differs on the target through
 * the target's type (built-in target types), as the apply converts it; the
 * target side reads the mapped table and columns.  A row's hash is
 * hashtextextended() of its text (md5 if the two servers hash differently,
 * as different architectures do); a range's fingerprint is its row count
 * and the sum of its rows' hashes, which does not depend on order.
 *
 * Ranges are key ranges: the source table's replica identity index or
 * primary key, ordered with the "C" collation on both sides.  The whole
 * table is compared first (one scan per side, run on both servers at
 * once); if it differs, the side with more rows splits it into up to
 * VERIFY_FANOUT ranges of equal size (row_number() over the key), the
 * other side counts and hashes its rows in the same ranges (width_bucket()
 * over the boundaries), and each differing range is split again, until it
 * holds at most VERIFY_LEAF_ROWS rows.  Such a range is compared row by
 * row: its keys and row hashes go from the source to the target, which
 * joins them with its own; for up to max_keys differing keys both rows are
 * fetched.  Only keys, hashes and the differing rows cross the network.
 * Once max_keys keys are found, differing ranges are reported without
 * splitting them further, adjacent ones merged.  A table without a key is
 * compared as a whole (a multiset of rows): counts only.
 *
 * The apply worker calls apply_verify_barrier() between remote
 * transactions; everything else here runs in the calling backend.
 *
 * Copyright (c) 2026, decoderbufs authors
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PG_FUNCTION_INFO_V1(apply_sql_verify);

/* A differing range splits into this many ranges. */
#define VERIFY_FANOUT			64

/* A differing range of at most this many rows is compared row by row. */
#define VERIFY_LEAF_ROWS		1000

/* Splitting stops at this depth (a safeguard; 64^8 rows is plenty). */
#define VERIFY_MAX_DEPTH		8

/* How often waits look at the shared state again. */
#define VERIFY_POLL_MS			100

/*
 * The longest the worker stays held by a verify(): it then goes on and the
 * verify() fails.  The verifier releases it as soon as it has its snapshot;
 * only the source's slot creation (which waits for the transactions
 * running there) can make the hold long.
 */
#define VERIFY_MAX_HOLD_MS		60000

/* How long verify() waits for the worker of an enabled subscription. */
#define VERIFY_NOT_RUNNING_MS	10000

/* Result columns of _verify(). */
#define VERIFY_COLUMNS			12

/* ---- the apply worker's side of the barrier ---- */

/*
 * Called by the apply worker between remote transactions: with
 * next_commit, before it applies the remote transaction committed there;
 * with InvalidXLogRecPtr, when it is idle and has applied everything it
 * received up to "received".  If a verify() holds the subscription at a
 * position this reaches, wait until the verifier has taken its snapshot and
 * moves or lifts the barrier, at most VERIFY_MAX_HOLD_MS, telling the
 * source we are alive (feedback) meanwhile.  Returns how soon, in ms, an
 * idle caller should call again (a barrier not reached yet: its position
 * is asked from the source), or -1 for no hurry.
 *
 * The first check reads the slot without the lock.  Missing a barrier set
 * at this very moment is harmless: a barrier starts at the source's flush
 * position, read before it is set, and the consistent point that replaces
 * it is found later, past anything the worker can have received by now.
 */
long
apply_verify_barrier(ApplyContext *actx, PGconn *conn, XLogRecPtr next_commit,
					 XLogRecPtr received, ApplyFeedbackFn feedback)
{
	static TimestampTz last_request = 0;
	ApplyWorkerSlot *slot = actx->slot;
	TimestampTz held_since = 0;
	TimestampTz last_feedback = 0;

	if (slot->verify_pid == 0)
		return -1;

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		XLogRecPtr	barrier;
		Latch	   *latch = NULL;
		pid_t		verifier;
		bool		active;
		bool		reached;

		LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
		barrier = slot->verify_lsn;
		verifier = slot->verify_pid;
		active = (verifier != 0 && !slot->verify_gave_up &&
				  barrier != InvalidXLogRecPtr);
		if (!active)
			reached = false;
		else if (next_commit != InvalidXLogRecPtr)
			reached = next_commit >= barrier;
		else
			reached = received >= barrier;

		if (!reached)
		{
			slot->verify_paused_lsn = InvalidXLogRecPtr;
			LWLockRelease(ApplyShared->lock);
			if (held_since != 0)
				elog(DEBUG1, "decoderbufs_apply subscription \"%s\" goes on after verify()",
					 actx->sub->name);
			if (!active || next_commit != InvalidXLogRecPtr)
				return -1;
			/* idle below the barrier: ask the source how far it has sent */
			if (TimestampDifferenceExceeds(last_request, now, VERIFY_POLL_MS))
			{
				feedback(conn, true);
				last_request = now;
			}
			return VERIFY_POLL_MS;
		}

		if (held_since == 0)
			held_since = now;
		else if (TimestampDifferenceExceeds(held_since, now, VERIFY_MAX_HOLD_MS))
		{
			slot->verify_gave_up = true;
			slot->verify_paused_lsn = InvalidXLogRecPtr;
			latch = slot->verify_latch;
			LWLockRelease(ApplyShared->lock);
			if (latch != NULL)
				SetLatch(latch);
			ereport(WARNING,
					(errmsg("decoderbufs_apply subscription \"%s\" stopped waiting for verify() in process %d after %d s",
							actx->sub->name, (int) verifier, VERIFY_MAX_HOLD_MS / 1000),
					 errdetail("The worker goes on applying; that verify() fails.")));
			return -1;
		}
		if (slot->verify_paused_lsn != barrier)
		{
			slot->verify_paused_lsn = barrier;
			latch = slot->verify_latch;
		}
		LWLockRelease(ApplyShared->lock);
		if (latch != NULL)
			SetLatch(latch);

		/*
		 * Nothing is read from the source meanwhile; a status update every
		 * second keeps its wal_sender_timeout away, and the keepalive it
		 * asks for keeps our own receive_timeout away after the pause.
		 */
		if (TimestampDifferenceExceeds(last_feedback, now, 1000))
		{
			feedback(conn, true);
			last_feedback = now;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 VERIFY_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ---- the verifier's side of the barrier ---- */

/* The slot whose barrier this backend holds, if any. */
static ApplyWorkerSlot *held_slot = NULL;
static int32 held_subid = 0;
static bool exit_callback_registered = false;

static void
wake_process(pid_t pid)
{
	PGPROC	   *proc;

	if (pid == 0)
		return;
	proc = BackendPidGetProc(pid);
	if (proc != NULL)
		SetLatch(&proc->procLatch);
}

/* Lift our barrier, if we hold one, and let the worker go on. */
static void
barrier_release(void)
{
	pid_t		worker = 0;

	if (held_slot == NULL)
		return;
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	if (held_slot->in_use && held_slot->dbid == MyDatabaseId &&
		held_slot->subid == held_subid && held_slot->verify_pid == MyProcPid)
	{
		held_slot->verify_pid = 0;
		held_slot->verify_latch = NULL;
		held_slot->verify_lsn = InvalidXLogRecPtr;
		held_slot->verify_gave_up = false;
		worker = held_slot->pid;
	}
	LWLockRelease(ApplyShared->lock);
	held_slot = NULL;
	wake_process(worker);
}

static void
barrier_on_exit(int code, Datum arg)
{
	barrier_release();
}

/*
 * Hold the subscription's worker: from now on it applies nothing committed
 * at or after lsn.  Only one verify() of a subscription runs at a time.
 */
static void
barrier_set(ApplySubscription *sub, XLogRecPtr lsn)
{
	ApplyWorkerSlot *slot;
	pid_t		other = 0;
	pid_t		worker;

	if (!exit_callback_registered)
	{
		before_shmem_exit(barrier_on_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	slot = apply_slot_for_subscription(MyDatabaseId, sub->id, true);
	if (slot != NULL && slot->verify_pid != 0 && slot->verify_pid != MyProcPid &&
		kill(slot->verify_pid, 0) == 0)
		other = slot->verify_pid;
	if (slot == NULL || other != 0)
	{
		LWLockRelease(ApplyShared->lock);
		if (slot == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("no shared slot is free for decoderbufs_apply subscription \"%s\"",
							sub->name),
					 errhint("Raise decoderbufs_apply.max_subscriptions.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("decoderbufs_apply subscription \"%s\" is being verified by process %d",
						sub->name, (int) other),
				 errhint("Wait for that verify() to end; a subscription is verified by one process at a time.")));
	}
	slot->verify_pid = MyProcPid;
	slot->verify_latch = MyLatch;
	slot->verify_lsn = lsn;
	slot->verify_paused_lsn = InvalidXLogRecPtr;
	slot->verify_gave_up = false;
	worker = slot->pid;
	LWLockRelease(ApplyShared->lock);
	held_slot = slot;
	held_subid = sub->id;
	wake_process(worker);
}

/* Error out if the worker stopped waiting for us. */
static void
barrier_check(ApplySubscription *sub)
{
	bool		gave_up;

	LWLockAcquire(ApplyShared->lock, LW_SHARED);
	gave_up = held_slot->verify_gave_up;
	LWLockRelease(ApplyShared->lock);
	if (gave_up)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the apply worker of decoderbufs_apply subscription \"%s\" stopped waiting for verify()",
						sub->name),
				 errdetail("The worker is held for at most %d s; the source took longer to give verify() its snapshot.",
						   VERIFY_MAX_HOLD_MS / 1000),
				 errhint("Creating the snapshot on the source waits for the transactions running there to end. Try again when no long transaction runs on the source.")));
}

/* Move the barrier up to the consistent point, once it is known. */
static void
barrier_raise(ApplySubscription *sub, XLogRecPtr lsn)
{
	pid_t		worker;

	barrier_check(sub);
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	held_slot->verify_lsn = lsn;
	worker = held_slot->pid;
	LWLockRelease(ApplyShared->lock);
	wake_process(worker);
}

/*
 * Wait until the worker is held at lsn, then take the target's snapshot
 * (registered; the caller unregisters it), lock the target tables (relids)
 * and lift the barrier.  A worker that does not run (disabled
 * subscription, or one that did not come back within
 * VERIFY_NOT_RUNNING_MS) is not waited for: the snapshot is taken as
 * things are, and *consistent says so.
 *
 * The tables are locked only now: a lock taken while the worker catches
 * up could keep it from applying a TRUNCATE, and so from ever reaching
 * lsn.  Taken before the worker goes on, it keeps the worker's TRUNCATEs,
 * which our snapshot would not survive, away until we are done.
 */
static Snapshot
barrier_snapshot(ApplySubscription *sub, XLogRecPtr lsn, List *relids,
				 bool *consistent)
{
	ListCell   *lc;

	TimestampTz not_running_since = 0;
	TimestampTz waiting_since = GetCurrentTimestamp();
	bool		told = false;
	Snapshot	snapshot;

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		pid_t		pid;
		ApplyWorkerState state;
		XLogRecPtr	paused;
		XLogRecPtr	applied;
		char		last_error[APPLY_MAX_ERROR_LEN];

		barrier_check(sub);
		LWLockAcquire(ApplyShared->lock, LW_SHARED);
		pid = held_slot->pid;
		state = held_slot->state;
		paused = held_slot->verify_paused_lsn;
		applied = held_slot->applied_lsn;
		strlcpy(last_error, held_slot->last_error, sizeof(last_error));
		LWLockRelease(ApplyShared->lock);

		if (paused == lsn)
		{
			bool		still;

			snapshot = RegisterSnapshot(GetLatestSnapshot());
			LWLockAcquire(ApplyShared->lock, LW_SHARED);
			still = (held_slot->verify_paused_lsn == lsn &&
					 !held_slot->verify_gave_up);
			LWLockRelease(ApplyShared->lock);
			if (still)
			{
				*consistent = true;
				break;
			}
			UnregisterSnapshot(snapshot);
			continue;
		}

		if (pid == 0)
		{
			if (not_running_since == 0)
				not_running_since = now;
			if (!sub->enabled ||
				TimestampDifferenceExceeds(not_running_since, now, VERIFY_NOT_RUNNING_MS))
			{
				snapshot = RegisterSnapshot(GetLatestSnapshot());
				*consistent = false;
				ereport(WARNING,
						(errmsg("decoderbufs_apply subscription \"%s\" is not streaming: the target is compared as it is",
								sub->name),
						 errdetail("%s The target was not brought to the source's snapshot at %X/%X, so differences may be changes it has not applied yet.",
								   !sub->enabled ? "The subscription is disabled." :
								   last_error[0] ? psprintf("Its apply worker does not run; its last error: %s", last_error) :
								   "Its apply worker does not run.",
								   LSN_FORMAT_ARGS(lsn)),
						 errhint("Enable the subscription and let it catch up for an exact comparison.")));
				break;
			}
		}
		else
		{
			not_running_since = 0;
			if (state == APPLY_STATE_COPYING)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("decoderbufs_apply subscription \"%s\" is copying its tables",
								sub->name),
						 errhint("Verify once the initial copy is done (subscription_status shows its progress).")));
		}
		if (!told && TimestampDifferenceExceeds(waiting_since, now, 5000))
		{
			ereport(NOTICE,
					(errmsg("verify() waits for decoderbufs_apply subscription \"%s\" to apply the source's changes up to %X/%X",
							sub->name, LSN_FORMAT_ARGS(lsn)),
					 applied != InvalidXLogRecPtr ?
					 errdetail("It has applied up to %X/%X.", LSN_FORMAT_ARGS(applied)) : 0));
			told = true;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 VERIFY_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	foreach(lc, relids)
		LockRelationOid(lfirst_oid(lc), AccessShareLock);
	barrier_release();
	return snapshot;
}

/* ---- running queries on either side ---- */

/* One side of the comparison. */
typedef struct VerifySide
{
	bool		is_source;
	PGconn	   *conn;			/* the source, in its snapshot */
	Snapshot	snapshot;		/* the target's */
} VerifySide;

/* A query's result, every value as text (NULL for SQL NULL). */
typedef struct VerifyRows
{
	int			nrows;
	int			ncols;
	char	  **values;
} VerifyRows;

#define VALUE(r, i, j)	((r)->values[(i) * (r)->ncols + (j)])

/* Text parameters of a query, numbered from $1. */
typedef struct VerifyParams
{
	int			n;
	int			size;
	const char **values;
} VerifyParams;

static void
params_init(VerifyParams *p)
{
	p->n = 0;
	p->size = 16;
	p->values = palloc(sizeof(char *) * p->size);
}

/* Add a parameter; returns its number. */
static int
param(VerifyParams *p, const char *value)
{
	if (p->n == p->size)
	{
		p->size *= 2;
		p->values = repalloc(p->values, sizeof(char *) * p->size);
	}
	p->values[p->n++] = value;
	return p->n;
}

static VerifyRows *
rows_from_pgresult(PGresult *res)
{
	VerifyRows *r = palloc(sizeof(VerifyRows));

	r->nrows = PQntuples(res);
	r->ncols = PQnfields(res);
	r->values = palloc(sizeof(char *) * Max(1, r->nrows * r->ncols));
	for (int i = 0; i < r->nrows; i++)
		for (int j = 0; j < r->ncols; j++)
			VALUE(r, i, j) = PQgetisnull(res, i, j) ? NULL :
				pstrdup(PQgetvalue(res, i, j));
	return r;
}

/* Send a query to the source; source_finish() collects its rows. */
static void
source_send(VerifySide *side, const char *sql, VerifyParams *p)
{
	if (!PQsendQueryParams(side->conn, sql, p ? p->n : 0, NULL,
						   p ? p->values : NULL, NULL, NULL, 0))
		apply_stream_report_error(ERROR, side->conn, "send a query to the source");
}

static VerifyRows *
source_finish(VerifySide *side, const char *what)
{
	PGresult   *res = apply_stream_collect_result(side->conn);
	VerifyRows *rows;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		char	   *msg = pstrdup(pchomp(res && PQresultErrorMessage(res)[0] ?
										 PQresultErrorMessage(res) :
										 PQerrorMessage(side->conn)));

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("could not %s on the source: %s", what, msg)));
	}
	rows = rows_from_pgresult(res);
	PQclear(res);
	return rows;
}

/* Run a query on the target, in its snapshot, through SPI. */
static VerifyRows *
target_query(VerifySide *side, const char *sql, VerifyParams *p)
{
	int			n = p ? p->n : 0;
	Oid		   *types = palloc(sizeof(Oid) * Max(1, n));
	Datum	   *values = palloc(sizeof(Datum) * Max(1, n));
	SPIPlanPtr	plan;
	VerifyRows *r;
	int			ret;

	for (int i = 0; i < n; i++)
	{
		types[i] = TEXTOID;
		values[i] = CStringGetTextDatum(p->values[i]);
	}
	plan = SPI_prepare(sql, n, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare a query of verify(): %s",
			 SPI_result_code_string(SPI_result));
	ret = SPI_execute_snapshot(plan, values, NULL, side->snapshot,
							   InvalidSnapshot, true, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not run a query of verify(): %s",
			 SPI_result_code_string(ret));

	r = palloc(sizeof(VerifyRows));
	r->nrows = (int) SPI_processed;
	r->ncols = SPI_tuptable->tupdesc->natts;
	r->values = palloc(sizeof(char *) * Max(1, r->nrows * r->ncols));
	for (int i = 0; i < r->nrows; i++)
		for (int j = 0; j < r->ncols; j++)
			VALUE(r, i, j) = SPI_getvalue(SPI_tuptable->vals[i],
										  SPI_tuptable->tupdesc, j + 1);
	SPI_freetuptable(SPI_tuptable);
	SPI_freeplan(plan);
	return r;
}

static VerifyRows *
side_query(VerifySide *side, const char *sql, VerifyParams *p, const char *what)
{
	if (side->is_source)
	{
		source_send(side, sql, p);
		return source_finish(side, what);
	}
	return target_query(side, sql, p);
}

/*
 * The same query text on both sides at once (each with its own text and
 * parameters): the source works while the target does.
 */
static void
both_query(VerifySide *sides, const char *sql[2], VerifyParams *p[2],
		   const char *what, VerifyRows *out[2])
{
	source_send(&sides[0], sql[0], p[0]);
	out[1] = target_query(&sides[1], sql[1], p[1]);
	out[0] = source_finish(&sides[0], what);
}

/* Run a command on the source that returns no rows. */
static void
source_command(PGconn *conn, const char *sql, const char *what)
{
	PQclear(apply_stream_query(conn, sql, 0, NULL, what));
}

/* ---- what is compared: a table's columns and key on each side ---- */

/* How one side reads a table. */
typedef struct VerifyRel
{
	char	   *relation;		/* ONLY "schema"."table" */
	char	   *filter;			/* the row filter (source only), or NULL */
	char	   *hash;			/* expression: a row's hash */
	char	  **cols;			/* expressions: each compared column as text */
	char	  **keys;			/* key columns, collated "C" where collatable */
	char	  **key_texts;		/* key columns as text */
	char	  **key_types;		/* their types, to cast parameters to */
	bool	   *key_collatable;
} VerifyRel;

typedef struct VerifyTable
{
	char	   *schema;			/* on the source */
	char	   *table;
	char	   *display;		/* "schema"."table" */
	int			ncols;
	char	  **col_names;		/* target names of the compared columns */
	int			nkeys;			/* 0: compared as a whole */
	char	  **key_names;		/* target names of the key columns */
	Oid			target_relid;
	VerifyRel	rel[2];			/* [0] source, [1] target */
} VerifyTable;

/* A source column as this module needs it. */
typedef struct SourceCol
{
	char	   *name;
	char	   *type_name;
	bool		collatable;
} SourceCol;

/* The source's key columns of a table, in key order (names), or NIL. */
static List *
source_key_columns(PGconn *conn, Oid relid)
{
	char		relid_text[16];
	const char *params[1];
	PGresult   *res;
	List	   *result = NIL;

	snprintf(relid_text, sizeof(relid_text), "%u", relid);
	params[0] = relid_text;
	res = apply_stream_query(conn,
							 "SELECT a.attname "
							 "FROM pg_catalog.pg_class c "
							 "JOIN pg_catalog.pg_index i ON i.indrelid = c.oid "
							 "  AND CASE c.relreplident WHEN 'i' THEN i.indisreplident "
							 "                          ELSE i.indisprimary END "
							 "CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) "
							 "  WITH ORDINALITY AS k(attnum, n) "
							 "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
							 "WHERE c.oid = $1::pg_catalog.oid AND k.n <= i.indnkeyatts "
							 "ORDER BY k.n",
							 1, params, "list the key columns of a source table");
	for (int i = 0; i < PQntuples(res); i++)
		result = lappend(result, pstrdup(PQgetvalue(res, i, 0)));
	PQclear(res);
	return result;
}

/*
 * The source table's columns that hold data (apply_source_columns), each
 * with whether its type is collatable.
 */
static List *
source_columns(PGconn *conn, Oid relid)
{
	List	   *columns = apply_source_columns(conn, relid);
	List	   *result = NIL;
	char		relid_text[16];
	const char *params[1];
	PGresult   *res;
	ListCell   *lc;

	snprintf(relid_text, sizeof(relid_text), "%u", relid);
	params[0] = relid_text;
	res = apply_stream_query(conn,
							 "SELECT a.attname, t.typcollation <> 0 "
							 "FROM pg_catalog.pg_attribute a "
							 "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
							 "WHERE a.attrelid = $1::pg_catalog.oid AND a.attnum > 0 "
							 "  AND NOT a.attisdropped",
							 1, params, "list the columns of a source table");
	foreach(lc, columns)
	{
		ApplySourceColumn *c = lfirst(lc);
		SourceCol  *sc = palloc0(sizeof(SourceCol));

		sc->name = c->name;
		sc->type_name = c->type_name;
		for (int i = 0; i < PQntuples(res); i++)
			if (strcmp(PQgetvalue(res, i, 0), c->name) == 0)
				sc->collatable = PQgetvalue(res, i, 1)[0] == 't';
		result = lappend(result, sc);
	}
	PQclear(res);
	return result;
}

/* A row's hash: see the file header. */
static char *
hash_expression(char **cols, int ncols, bool md5)
{
	StringInfoData row;

	initStringInfo(&row);
	appendStringInfoString(&row, "ROW(");
	for (int i = 0; i < ncols; i++)
		appendStringInfo(&row, "%s%s", i > 0 ? ", " : "", cols[i]);
	appendStringInfoString(&row, ")::pg_catalog.text");
	if (md5)
		return psprintf("('x' OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.md5(%s), 16))"
						"::pg_catalog.bit(64)::pg_catalog.int8", row.data);
	return psprintf("pg_catalog.hashtextextended((%s) COLLATE pg_catalog.\"C\", 0)",
					row.data);
}

/*
 * Work out what is compared of one source table: its selected columns
 * that land in a target column (not generated there), under their target
 * names, and its key.  source is the source connection in the snapshot.
 */
static VerifyTable *
plan_table(ApplySubscription *sub, PGconn *source, ApplySourceTable *st,
		   bool md5)
{
	ApplyTableConfig *tc = apply_table_config(sub, st->schema_name, st->table_name);
	VerifyTable *t = palloc0(sizeof(VerifyTable));
	const char *tschema;
	const char *ttable;
	Oid			nspid;
	Oid			relid = InvalidOid;
	List	   *columns;
	List	   *keys;
	int			ncols;
	int			k;
	ListCell   *lc;

	t->schema = st->schema_name;
	t->table = st->table_name;
	t->display = quote_qualified_identifier(st->schema_name, st->table_name);

	apply_target_table(sub, st->schema_name, st->table_name, &tschema, &ttable);
	nspid = get_namespace_oid(tschema, true);
	if (OidIsValid(nspid))
		relid = get_relname_relid(ttable, nspid);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("target table \"%s.%s\" does not exist", tschema, ttable),
				 errdetail("Source table \"%s.%s\" of decoderbufs_apply subscription \"%s\" is applied to it.",
						   st->schema_name, st->table_name, sub->name)));
	if (get_rel_relkind(relid) != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target relation \"%s.%s\" is not a table", tschema, ttable),
				 errdetail("Rows are applied to plain tables only.")));
	t->target_relid = relid;

	if (tc != NULL && tc->operations != NIL && list_length(tc->operations) < 4)
		ereport(NOTICE,
				(errmsg("table \"%s.%s\" of decoderbufs_apply subscription \"%s\" takes only some operations",
						st->schema_name, st->table_name, sub->name),
				 errdetail("Changes its operations leave out are not applied, so the two sides may rightly differ.")));

	columns = source_columns(source, st->relid);
	keys = source_key_columns(source, st->relid);

	ncols = list_length(columns);
	t->col_names = palloc(sizeof(char *) * Max(1, ncols));
	t->rel[0].cols = palloc(sizeof(char *) * Max(1, ncols));
	t->rel[1].cols = palloc(sizeof(char *) * Max(1, ncols));
	foreach(lc, columns)
	{
		SourceCol  *c = lfirst(lc);
		const char *local = apply_target_column(tc, c->name);
		AttrNumber	attnum;
		Oid			typid;
		int32		typmod;
		Oid			collid;
		char	   *ttype;
		char	   *source_expr;

		if (!apply_column_selected(tc, c->name))
			continue;
		attnum = get_attnum(relid, local);
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("target relation \"%s.%s\" has no column \"%s\"",
							tschema, ttable, local),
					 errdetail("Column \"%s\" of source table \"%s.%s\" is applied to it.",
							   c->name, st->schema_name, st->table_name)));
		if (get_attgenerated(relid, attnum))
			continue;			/* the target computes it */
		get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &collid);
		/* qualified unless in pg_catalog, as the source's type names are */
		ttype = format_type_with_typemod(typid, typmod);

		/*
		 * A column whose type differs on the target is rendered on the
		 * source through the target's type, as the apply converts it
		 * (through text); only built-in target types exist on both.
		 */
		source_expr = (char *) quote_identifier(c->name);
		if (strcmp(ttype, c->type_name) != 0 && typid < FirstNormalObjectId)
			source_expr = psprintf("%s::pg_catalog.text::%s", source_expr, ttype);

		t->col_names[t->ncols] = pstrdup(local);
		t->rel[0].cols[t->ncols] = psprintf("(%s)::pg_catalog.text", source_expr);
		t->rel[1].cols[t->ncols] = psprintf("%s::pg_catalog.text", quote_identifier(local));
		t->ncols++;
	}
	if (t->ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("no column of source table \"%s.%s\" is compared", st->schema_name, st->table_name),
				 errhint("Check the table's column selection with decoderbufs_apply.table_config.")));

	/* the key, if every key column is compared */
	t->nkeys = list_length(keys);
	foreach(lc, keys)
	{
		bool		found = false;

		for (int i = 0; i < t->ncols; i++)
			if (apply_column_selected(tc, lfirst(lc)) &&
				strcmp(t->col_names[i], apply_target_column(tc, lfirst(lc))) == 0)
				found = true;
		if (!found)
			t->nkeys = 0;
	}
	if (t->nkeys > 0)
	{
		t->key_names = palloc(sizeof(char *) * t->nkeys);
		for (int s = 0; s < 2; s++)
		{
			t->rel[s].keys = palloc(sizeof(char *) * t->nkeys);
			t->rel[s].key_texts = palloc(sizeof(char *) * t->nkeys);
			t->rel[s].key_types = palloc(sizeof(char *) * t->nkeys);
			t->rel[s].key_collatable = palloc(sizeof(bool) * t->nkeys);
		}
		k = 0;
		foreach(lc, keys)
		{
			char	   *name = lfirst(lc);
			const char *local = apply_target_column(tc, name);
			AttrNumber	attnum = get_attnum(relid, local);
			Oid			typid;
			int32		typmod;
			Oid			collid;
			SourceCol  *sc = NULL;
			ListCell   *lc2;

			foreach(lc2, columns)
				if (strcmp(((SourceCol *) lfirst(lc2))->name, name) == 0)
					sc = lfirst(lc2);
			Assert(sc != NULL);
			get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &collid);

			t->key_names[k] = pstrdup(local);
			t->rel[0].key_types[k] = sc->type_name;
			t->rel[0].key_collatable[k] = sc->collatable;
			t->rel[1].key_types[k] = format_type_be(typid);
			t->rel[1].key_collatable[k] = type_is_collatable(typid);
			for (int s = 0; s < 2; s++)
			{
				const char *q = quote_identifier(s == 0 ? name : local);

				t->rel[s].keys[k] = t->rel[s].key_collatable[k] ?
					psprintf("%s COLLATE pg_catalog.\"C\"", q) : pstrdup(q);
				t->rel[s].key_texts[k] = psprintf("%s::pg_catalog.text", q);
			}
			k++;
		}
	}

	t->rel[0].relation = psprintf("ONLY %s", t->display);
	t->rel[0].filter = (tc != NULL && tc->row_filter != NULL) ? tc->row_filter : NULL;
	t->rel[1].relation = psprintf("ONLY %s", quote_qualified_identifier(tschema, ttable));
	for (int s = 0; s < 2; s++)
		t->rel[s].hash = hash_expression(t->rel[s].cols, t->ncols, md5);
	return t;
}

/* ---- building the queries ---- */

/* a, or (a, b, ...); with force_row, ROW(a, ...) even for one */
static void
append_tuple(StringInfo sql, char **exprs, int n, bool force_row)
{
	if (n > 1 || force_row)
		appendStringInfoString(sql, force_row ? "ROW(" : "(");
	for (int i = 0; i < n; i++)
		appendStringInfo(sql, "%s%s", i > 0 ? ", " : "", exprs[i]);
	if (n > 1 || force_row)
		appendStringInfoChar(sql, ')');
}

/* The key values given as parameters (texts), cast to a side's key types. */
static void
append_param_tuple(StringInfo sql, VerifyRel *r, int nkeys, VerifyParams *p,
				   char **values)
{
	char	  **exprs = palloc(sizeof(char *) * nkeys);

	for (int i = 0; i < nkeys; i++)
		exprs[i] = psprintf("$%d::pg_catalog.text::%s%s", param(p, values[i]),
							r->key_types[i],
							r->key_collatable[i] ? " COLLATE pg_catalog.\"C\"" : "");
	append_tuple(sql, exprs, nkeys, false);
}

/* FROM, and WHERE: the row filter and the key range lo <= key < hi. */
static void
append_from_where(StringInfo sql, VerifyRel *r, int nkeys, char **lo,
				  char **hi, VerifyParams *p)
{
	appendStringInfo(sql, " FROM %s WHERE true", r->relation);
	if (r->filter)
		appendStringInfo(sql, " AND (%s)", r->filter);
	if (lo)
	{
		appendStringInfoString(sql, " AND ");
		append_tuple(sql, r->keys, nkeys, false);
		appendStringInfoString(sql, " >= ");
		append_param_tuple(sql, r, nkeys, p, lo);
	}
	if (hi)
	{
		appendStringInfoString(sql, " AND ");
		append_tuple(sql, r->keys, nkeys, false);
		appendStringInfoString(sql, " < ");
		append_param_tuple(sql, r, nkeys, p, hi);
	}
}

/* An array literal of the texts at position col of n key tuples. */
static char *
array_literal(char ***tuples, int n, int col)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '"');
		for (const char *c = tuples[i][col]; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, *c);
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * ROWS FROM (unnest($a::text[]), ...) AS u(a0, ...[, extra][, o]) over key tuples,
 * with an extra text[] column if given, and WITH ORDINALITY (column o).
 */
static void
append_unnest(StringInfo sql, char ***tuples, int n, int nkeys,
			  VerifyParams *p, const char *extra_literal, const char *extra_name,
			  bool ordinality)
{
	appendStringInfoString(sql, "ROWS FROM (");
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(sql, "%spg_catalog.unnest($%d::pg_catalog.text[])", k > 0 ? ", " : "",
						 param(p, array_literal(tuples, n, k)));
	if (extra_literal)
		appendStringInfo(sql, ", pg_catalog.unnest($%d::pg_catalog.text[])",
						 param(p, extra_literal));
	appendStringInfo(sql, ")%s AS u(", ordinality ? " WITH ORDINALITY" : "");
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(sql, "%sa%d", k > 0 ? ", " : "", k);
	if (extra_name)
		appendStringInfo(sql, ", %s", extra_name);
	if (ordinality)
		appendStringInfoString(sql, ", o");
	appendStringInfoChar(sql, ')');
}

/* u.a0::type0 [COLLATE "C"], ... for a side */
static char **
unnest_casts(VerifyRel *r, int nkeys)
{
	char	  **exprs = palloc(sizeof(char *) * nkeys);

	for (int k = 0; k < nkeys; k++)
		exprs[k] = psprintf("u.a%d::%s%s", k, r->key_types[k],
							r->key_collatable[k] ? " COLLATE pg_catalog.\"C\"" : "");
	return exprs;
}

/* ---- comparing ---- */

typedef struct VerifyState
{
	ApplySubscription *sub;
	VerifySide	side[2];		/* [0] source, [1] target */
	XLogRecPtr	lsn;			/* the source's consistent point */
	bool		consistent;		/* the target was held at it */
	int			max_keys;
	Tuplestorestate *store;
	TupleDesc	desc;

	/* the table being compared */
	VerifyTable *t;
	int			keys_found;
	bool		pending;		/* a differing range not output yet */
	char	  **pending_lo;
	char	  **pending_hi;
	int64		pending_rows[2];
} VerifyState;

/* A JSON object of names and text values (NULL: null), as jsonb. */
static Datum
jsonb_of_texts(char **names, char **values, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, names[i]);
		appendStringInfoString(&buf, ": ");
		if (values[i] == NULL)
			appendStringInfoString(&buf, "null");
		else
			escape_json(&buf, values[i]);
	}
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/* One result row; rows < 0 and NULL pointers are SQL NULLs. */
static void
emit(VerifyState *st, const char *kind, const char *status, int64 source_rows,
	 int64 target_rows, char **lo, char **hi, char **key, char **source_row,
	 char **target_row)
{
	Datum		values[VERIFY_COLUMNS];
	bool		nulls[VERIFY_COLUMNS];
	VerifyTable *t = st->t;
	int			n = 0;

	memset(nulls, 0, sizeof(nulls));
	values[n++] = CStringGetTextDatum(t->display);
	values[n++] = CStringGetTextDatum(kind);
	values[n++] = CStringGetTextDatum(status);
	nulls[n] = source_rows < 0;
	values[n++] = Int64GetDatum(source_rows);
	nulls[n] = target_rows < 0;
	values[n++] = Int64GetDatum(target_rows);
	nulls[n] = lo == NULL;
	values[n++] = lo ? jsonb_of_texts(t->key_names, lo, t->nkeys) : (Datum) 0;
	nulls[n] = hi == NULL;
	values[n++] = hi ? jsonb_of_texts(t->key_names, hi, t->nkeys) : (Datum) 0;
	nulls[n] = key == NULL;
	values[n++] = key ? jsonb_of_texts(t->key_names, key, t->nkeys) : (Datum) 0;
	nulls[n] = source_row == NULL;
	values[n++] = source_row ? jsonb_of_texts(t->col_names, source_row, t->ncols) : (Datum) 0;
	nulls[n] = target_row == NULL;
	values[n++] = target_row ? jsonb_of_texts(t->col_names, target_row, t->ncols) : (Datum) 0;
	values[n++] = LSNGetDatum(st->lsn);
	values[n++] = BoolGetDatum(st->consistent);
	Assert(n == VERIFY_COLUMNS);
	tuplestore_putvalues(st->store, st->desc, values, nulls);
}

static void
flush_pending(VerifyState *st)
{
	if (!st->pending)
		return;
	emit(st, "range", "different", st->pending_rows[0], st->pending_rows[1],
		 st->pending_lo, st->pending_hi, NULL, NULL, NULL);
	st->pending = false;
}

static bool
same_bound(char **a, char **b, int nkeys)
{
	if (a == NULL || b == NULL)
		return false;
	for (int k = 0; k < nkeys; k++)
		if (strcmp(a[k], b[k]) != 0)
			return false;
	return true;
}

/*
 * Report a differing range.  Ranges whose keys are not listed are merged
 * with the adjacent ones before them.
 */
static void
report_range(VerifyState *st, char **lo, char **hi, int64 rows[2], bool listed)
{
	if (!listed && st->pending && same_bound(st->pending_hi, lo, st->t->nkeys))
	{
		st->pending_hi = hi;
		st->pending_rows[0] += rows[0];
		st->pending_rows[1] += rows[1];
		return;
	}
	flush_pending(st);
	if (listed)
	{
		emit(st, "range", "different", rows[0], rows[1], lo, hi, NULL, NULL, NULL);
		return;
	}
	st->pending = true;
	st->pending_lo = lo;
	st->pending_hi = hi;
	st->pending_rows[0] = rows[0];
	st->pending_rows[1] = rows[1];
}

/*
 * The whole rows of some keys on one side, matched to keys[] by their key
 * texts: rows[i] is keys[i]'s row, or NULL.
 */
static char ***
fetch_rows(VerifyState *st, int s, char ***keys, int n, const char *what)
{
	VerifyTable *t = st->t;
	VerifyRel  *r = &t->rel[s];
	StringInfoData sql;
	VerifyParams p;
	VerifyRows *res;
	char	 ***rows = palloc0(sizeof(char **) * Max(1, n));

	if (n == 0)
		return rows;
	params_init(&p);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int k = 0; k < t->nkeys; k++)
		appendStringInfo(&sql, "%s, ", r->key_texts[k]);
	for (int c = 0; c < t->ncols; c++)
		appendStringInfo(&sql, "%s%s", c > 0 ? ", " : "", r->cols[c]);
	append_from_where(&sql, r, t->nkeys, NULL, NULL, &p);
	appendStringInfoString(&sql, " AND ");
	append_tuple(&sql, r->keys, t->nkeys, false);
	appendStringInfoString(&sql, " IN (SELECT ");
	{
		char	  **casts = unnest_casts(r, t->nkeys);

		for (int k = 0; k < t->nkeys; k++)
			appendStringInfo(&sql, "%s%s", k > 0 ? ", " : "", casts[k]);
	}
	appendStringInfoString(&sql, " FROM ");
	append_unnest(&sql, keys, n, t->nkeys, &p, NULL, NULL, false);
	appendStringInfoChar(&sql, ')');

	res = side_query(&st->side[s], sql.data, &p, what);
	for (int i = 0; i < res->nrows; i++)
	{
		for (int j = 0; j < n; j++)
		{
			bool		match = true;

			for (int k = 0; k < t->nkeys && match; k++)
				match = strcmp(VALUE(res, i, k), keys[j][k]) == 0;
			if (match)
			{
				rows[j] = &VALUE(res, i, t->nkeys);
				break;
			}
		}
	}
	return rows;
}

/*
 * Compare a small range row by row: the source's keys and row hashes go to
 * the target, which joins them with its own; list up to max_keys
 * differing keys with both rows.
 */
static void
compare_leaf(VerifyState *st, char **lo, char **hi, int64 rows[2])
{
	VerifyTable *t = st->t;
	int			nkeys = t->nkeys;
	StringInfoData sql;
	VerifyParams p;
	VerifyRows *src;
	VerifyRows *diff;
	char	 ***src_keys;
	char	  **src_hashes;
	char	 ***want[2];
	int			nwant[2] = {0, 0};
	char	 ***got[2];
	int			nlist;
	char	  **casts;

	/* the source's keys and hashes in the range */
	params_init(&p);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, "%s, ", t->rel[0].key_texts[k]);
	appendStringInfoString(&sql, t->rel[0].hash);
	append_from_where(&sql, &t->rel[0], nkeys, lo, hi, &p);
	src = side_query(&st->side[0], sql.data, &p, "read the keys and row hashes of a range");

	src_keys = palloc(sizeof(char **) * Max(1, src->nrows));
	src_hashes = palloc(sizeof(char *) * Max(1, src->nrows));
	for (int i = 0; i < src->nrows; i++)
	{
		src_keys[i] = &VALUE(src, i, 0);
		src_hashes[i] = VALUE(src, i, nkeys);
	}

	/* the target joins them with its rows: the keys that differ, in order */
	params_init(&p);
	resetStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, "s.vs%d, ", k);
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, "t.vt%d, ", k);
	appendStringInfoString(&sql, "CASE WHEN t.vh IS NULL THEN 'missing' "
						   "WHEN s.vh IS NULL THEN 'extra' ELSE 'different' END "
						   "FROM (SELECT ");
	casts = unnest_casts(&t->rel[1], nkeys);
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, "u.a%d AS vs%d, %s AS vk%d, ", k, k, casts[k], k);
	appendStringInfoString(&sql, "u.h::pg_catalog.int8 AS vh FROM ");
	{
		StringInfoData hashes;

		initStringInfo(&hashes);
		appendStringInfoChar(&hashes, '{');
		for (int i = 0; i < src->nrows; i++)
			appendStringInfo(&hashes, "%s%s", i > 0 ? "," : "", src_hashes[i]);
		appendStringInfoChar(&hashes, '}');
		append_unnest(&sql, src_keys, src->nrows, nkeys, &p, hashes.data, "h", false);
	}
	appendStringInfoString(&sql, ") s FULL JOIN (SELECT ");
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, "%s AS vk%d, %s AS vt%d, ", t->rel[1].keys[k], k,
						 t->rel[1].key_texts[k], k);
	appendStringInfo(&sql, "%s AS vh", t->rel[1].hash);
	append_from_where(&sql, &t->rel[1], nkeys, lo, hi, &p);
	appendStringInfoString(&sql, ") t ON ");
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, "%ss.vk%d = t.vk%d", k > 0 ? " AND " : "", k, k);
	appendStringInfoString(&sql, " WHERE s.vh IS DISTINCT FROM t.vh ORDER BY ");
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, "%sCOALESCE(s.vk%d, t.vk%d)", k > 0 ? ", " : "", k, k);
	diff = side_query(&st->side[1], sql.data, &p, "compare a range row by row");

	report_range(st, lo, hi, rows, true);

	/* the rows of the keys to list, from both sides */
	nlist = Min(diff->nrows, st->max_keys - st->keys_found);
	for (int s = 0; s < 2; s++)
		want[s] = palloc(sizeof(char **) * Max(1, nlist));
	for (int i = 0; i < nlist; i++)
	{
		if (VALUE(diff, i, 0) != NULL)
			want[0][nwant[0]++] = &VALUE(diff, i, 0);
		if (VALUE(diff, i, nkeys) != NULL)
			want[1][nwant[1]++] = &VALUE(diff, i, nkeys);
	}
	got[0] = fetch_rows(st, 0, want[0], nwant[0], "read the differing rows");
	got[1] = fetch_rows(st, 1, want[1], nwant[1], "read the differing rows");

	nwant[0] = nwant[1] = 0;
	for (int i = 0; i < nlist; i++)
	{
		char	  **source_key = VALUE(diff, i, 0) ? &VALUE(diff, i, 0) : NULL;
		char	  **target_key = VALUE(diff, i, nkeys) ? &VALUE(diff, i, nkeys) : NULL;
		char	  **source_row = source_key ? got[0][nwant[0]++] : NULL;
		char	  **target_row = target_key ? got[1][nwant[1]++] : NULL;

		emit(st, "key", VALUE(diff, i, 2 * nkeys), -1, -1, NULL, NULL,
			 source_key ? source_key : target_key, source_row, target_row);
	}
	st->keys_found += nlist;
}

/* Does a range hold the same rows on both sides, by count and hash sum? */
static bool
same_fingerprint(const char *count0, const char *sum0, const char *count1,
				 const char *sum1)
{
	return strcmp(count0, count1) == 0 && strcmp(sum0, sum1) == 0;
}

/*
 * Compare a range that differs (lo <= key < hi; NULL: unbounded), holding
 * rows[0] rows on the source and rows[1] on the target: split it, or
 * compare it row by row when it is small, or report it as it is once
 * enough keys are listed.
 */
static void
compare_range(VerifyState *st, char **lo, char **hi, int64 rows[2], int depth)
{
	VerifyTable *t = st->t;
	int			nkeys = t->nkeys;
	int64		most = Max(rows[0], rows[1]);
	int			splitter = rows[0] >= rows[1] ? 0 : 1;
	int			other = 1 - splitter;
	int64		step;
	StringInfoData sql;
	VerifyParams p;
	VerifyRows *split;
	VerifyRows *counted;
	char	 ***bounds;
	int			nbuckets;
	int			next = 0;
	char		step_text[32];

	CHECK_FOR_INTERRUPTS();
	/* enough keys: report the range as it is, but split the table once */
	if (st->keys_found >= st->max_keys && depth > 0)
	{
		report_range(st, lo, hi, rows, false);
		return;
	}
	if (most <= VERIFY_LEAF_ROWS || depth >= VERIFY_MAX_DEPTH)
	{
		compare_leaf(st, lo, hi, rows);
		return;
	}

	/* the side with more rows cuts the range into ranges of equal size */
	step = (most + VERIFY_FANOUT - 1) / VERIFY_FANOUT;
	snprintf(step_text, sizeof(step_text), INT64_FORMAT, step);
	params_init(&p);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT pg_catalog.count(*), pg_catalog.sum(vh)");
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, ", pg_catalog.min(vk%d) FILTER (WHERE vf)", k);
	appendStringInfo(&sql, " FROM (SELECT (vn - 1) / $1::pg_catalog.int8 AS vb, "
					 "(vn - 1) %% $1::pg_catalog.int8 = 0 AS vf, vh");
	param(&p, step_text);
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, ", vk%d", k);
	appendStringInfoString(&sql, " FROM (SELECT pg_catalog.row_number() OVER (ORDER BY ");
	append_tuple(&sql, t->rel[splitter].keys, nkeys, false);
	appendStringInfo(&sql, ") AS vn, %s AS vh", t->rel[splitter].hash);
	for (int k = 0; k < nkeys; k++)
		appendStringInfo(&sql, ", %s AS vk%d", t->rel[splitter].key_texts[k], k);
	append_from_where(&sql, &t->rel[splitter], nkeys, lo, hi, &p);
	appendStringInfoString(&sql, ") r) x GROUP BY vb ORDER BY vb");
	split = side_query(&st->side[splitter], sql.data, &p, "split a range of keys");
	nbuckets = split->nrows;
	if (nbuckets <= 1)
	{
		compare_leaf(st, lo, hi, rows);
		return;
	}

	/* each range starts at its first key; the first one at lo */
	bounds = palloc(sizeof(char **) * (nbuckets + 1));
	bounds[0] = lo;
	for (int b = 1; b < nbuckets; b++)
		bounds[b] = &VALUE(split, b, 2);
	bounds[nbuckets] = hi;

	/*
	 * The other side counts and hashes its rows in the same ranges:
	 * width_bucket() over the ranges' first keys, a ROW for a key of
	 * several columns (five times slower).  OFFSET 0 keeps the planner from
	 * taking the key's statistics for the number of ranges, which would
	 * make it sort all the rows instead of hashing them into the ranges.
	 */
	params_init(&p);
	resetStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT vb, pg_catalog.count(*), pg_catalog.sum(vh) "
						   "FROM (SELECT COALESCE(pg_catalog.width_bucket(");
	append_tuple(&sql, t->rel[other].keys, nkeys, nkeys > 1);
	appendStringInfoString(&sql, ", (SELECT pg_catalog.array_agg(");
	append_tuple(&sql, unnest_casts(&t->rel[other], nkeys), nkeys, nkeys > 1);
	appendStringInfoString(&sql, " ORDER BY u.o) FROM ");
	append_unnest(&sql, bounds + 1, nbuckets - 1, nkeys, &p, NULL, NULL, true);
	appendStringInfo(&sql, ")), 0) AS vb, %s AS vh", t->rel[other].hash);
	append_from_where(&sql, &t->rel[other], nkeys, lo, hi, &p);
	appendStringInfoString(&sql, " OFFSET 0) s GROUP BY vb ORDER BY vb");
	counted = side_query(&st->side[other], sql.data, &p, "count a range's rows by key range");

	for (int b = 0; b < nbuckets; b++)
	{
		const char *count[2];
		const char *sum[2];
		int64		sub_rows[2];

		count[splitter] = VALUE(split, b, 0);
		sum[splitter] = VALUE(split, b, 1);
		count[other] = "0";
		sum[other] = NULL;
		while (next < counted->nrows && atoi(VALUE(counted, next, 0)) < b)
			next++;
		if (next < counted->nrows && atoi(VALUE(counted, next, 0)) == b)
		{
			count[other] = VALUE(counted, next, 1);
			sum[other] = VALUE(counted, next, 2);
		}
		if (sum[other] != NULL && same_fingerprint(count[0], sum[0], count[1], sum[1]))
			continue;
		sub_rows[0] = strtoi64(count[0], NULL, 10);
		sub_rows[1] = strtoi64(count[1], NULL, 10);
		compare_range(st, bounds[b], bounds[b + 1], sub_rows, depth + 1);
	}
}

/* Compare one table: its totals, then the ranges that differ. */
static void
verify_table(VerifyState *st, VerifyTable *t)
{
	const char *sql[2];
	VerifyParams *p[2] = {NULL, NULL};
	VerifyRows *totals[2];
	int64		rows[2];
	bool		equal;

	st->t = t;
	st->keys_found = 0;
	st->pending = false;
	for (int s = 0; s < 2; s++)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfo(&buf, "SELECT pg_catalog.count(*), COALESCE(pg_catalog.sum(%s), 0)",
						 t->rel[s].hash);
		append_from_where(&buf, &t->rel[s], 0, NULL, NULL, NULL);
		sql[s] = buf.data;
	}
	both_query(st->side, sql, p, "count and hash the rows of a table", totals);
	rows[0] = strtoi64(VALUE(totals[0], 0, 0), NULL, 10);
	rows[1] = strtoi64(VALUE(totals[1], 0, 0), NULL, 10);
	equal = same_fingerprint(VALUE(totals[0], 0, 0), VALUE(totals[0], 0, 1),
							 VALUE(totals[1], 0, 0), VALUE(totals[1], 0, 1));
	emit(st, "summary", equal ? "equal" : "different", rows[0], rows[1],
		 NULL, NULL, NULL, NULL, NULL);
	if (equal || t->nkeys == 0)
		return;
	compare_range(st, NULL, NULL, rows, 0);
	flush_pending(st);
}

/* ---- the source's snapshot ---- */

/* IDENTIFY_SYSTEM's xlogpos: the source's WAL flush position now. */
static XLogRecPtr
source_flush_position(PGconn *repl)
{
	PGresult   *res = apply_stream_exec(repl, "IDENTIFY_SYSTEM");
	XLogRecPtr	lsn;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
		PQntuples(res) != 1 || PQnfields(res) < 3)
	{
		PQclear(res);
		apply_stream_report_error(ERROR, repl, "identify the source system");
	}
	lsn = DatumGetLSN(DirectFunctionCall1(pg_lsn_in,
										  CStringGetDatum(PQgetvalue(res, 0, 2))));
	PQclear(res);
	return lsn;
}

/*
 * Create a temporary slot with an exported snapshot: its consistent point,
 * and the snapshot's name, valid until the next command on repl.
 */
static XLogRecPtr
create_snapshot_slot(PGconn *repl, const char *slot_name, char **snapshot)
{
	StringInfoData cmd;
	PGresult   *res;
	XLogRecPtr	lsn;

	initStringInfo(&cmd);
	appendStringInfo(&cmd, "CREATE_REPLICATION_SLOT %s TEMPORARY LOGICAL decoderbufs (SNAPSHOT 'export')",
					 quote_identifier(slot_name));
	res = apply_stream_exec(repl, cmd.data);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		char	   *msg = pstrdup(pchomp(res && PQresultErrorMessage(res)[0] ?
										 PQresultErrorMessage(res) : PQerrorMessage(repl)));

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not create a temporary replication slot for verify() on the source: %s", msg),
				 errhint("verify() needs a free replication slot on the source (max_replication_slots) for a moment.")));
	}
	lsn = DatumGetLSN(DirectFunctionCall1(pg_lsn_in,
										  CStringGetDatum(PQgetvalue(res, 0, 1))));
	*snapshot = pstrdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	pfree(cmd.data);
	return lsn;
}

/* Settings that make both sides print the same value the same way. */
static const char *const verify_settings[][2] = {
	{"DateStyle", "ISO, MDY"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "3"},
	{"bytea_output", "hex"},
	{"TimeZone", "UTC"},
	{"lc_monetary", "C"},
	{"search_path", "pg_catalog"},
};

static void
source_settings(PGconn *conn)
{
	for (int i = 0; i < lengthof(verify_settings); i++)
	{
		const char *params[2] = {verify_settings[i][0], verify_settings[i][1]};

		PQclear(apply_stream_query(conn,
								   "SELECT pg_catalog.set_config($1, $2, false)",
								   2, params, "set up the session for verify()"));
	}
}

static void
target_settings(void)
{
	for (int i = 0; i < lengthof(verify_settings); i++)
		(void) set_config_option(verify_settings[i][0], verify_settings[i][1],
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
}

/* Enter the exported snapshot on the normal connection to the source. */
static void
import_snapshot(PGconn *conn, const char *snapshot)
{
	char	   *sql;

	/* a server-made name: hexadecimal digits and dashes */
	if (strspn(snapshot, "0123456789ABCDEFabcdef-") != strlen(snapshot))
		elog(ERROR, "unexpected snapshot name \"%s\" from the source", snapshot);
	source_command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
				   "start the transaction of verify()");
	sql = psprintf("SET TRANSACTION SNAPSHOT '%s'", snapshot);
	source_command(conn, sql, "import the snapshot of verify()");
	pfree(sql);
}

/*
 * Do the two servers hash text alike?  hashtextextended() depends on the
 * CPU's byte order; if they differ, md5() is used on both sides.
 */
static bool
hashes_differ(VerifySide *sides)
{
	const char *sql = "SELECT pg_catalog.hashtextextended('decoderbufs_apply', 0)";
	const char *sqls[2] = {sql, sql};
	VerifyParams *p[2] = {NULL, NULL};
	VerifyRows *out[2];

	both_query(sides, sqls, p, "compute a hash", out);
	return strcmp(VALUE(out[0], 0, 0), VALUE(out[1], 0, 0)) != 0;
}

/* The source tables to compare: those named, or all selected. */
static List *
tables_to_compare(VerifyState *st, PGconn *source, List *wanted)
{
	List	   *selected = apply_source_tables(source, st->sub);
	List	   *result = NIL;
	ListCell   *lc;

	if (wanted == NIL)
	{
		result = selected;
		if (selected == NIL)
			ereport(NOTICE,
					(errmsg("decoderbufs_apply subscription \"%s\" takes no table of the source",
							st->sub->name)));
	}
	foreach(lc, wanted)
	{
		char	  **name = lfirst(lc);
		ApplySourceTable *found = NULL;
		ListCell   *lc2;

		foreach(lc2, selected)
		{
			ApplySourceTable *t = lfirst(lc2);

			if (strcmp(t->schema_name, name[0]) == 0 && strcmp(t->table_name, name[1]) == 0)
				found = t;
		}
		if (found == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("source table \"%s.%s\" does not exist", name[0], name[1]),
					 errdetail("decoderbufs_apply subscription \"%s\" selects it, but the source has no such plain table.",
							   st->sub->name),
					 errhint("A partitioned table is verified partition by partition, as its rows are replicated.")));
		result = lappend(result, found);
	}

	/* tables still being copied have nothing to compare yet */
	foreach(lc, result)
	{
		ApplySourceTable *t = lfirst(lc);
		ApplyTableSync *ts = apply_table_sync(st->sub, t->schema_name, t->table_name);

		if (st->sub->copy_data && (ts == NULL || ts->state != 'r'))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s.%s\" of decoderbufs_apply subscription \"%s\" has not been copied yet",
							t->schema_name, t->table_name, st->sub->name),
					 errhint("Verify it once its initial copy is done (decoderbufs_apply.table_sync shows its state).")));
	}
	return result;
}

/*
 * Lock the source tables in the snapshot's transaction: a TRUNCATE, which
 * an older snapshot would see as an empty table, then waits for us.  (One
 * committed between the snapshot and the lock is not seen; a TRUNCATE on
 * the source while verify() starts gives a false difference.)
 */
static void
lock_source_tables(PGconn *source, List *tables)
{
	ListCell   *lc;

	foreach(lc, tables)
	{
		ApplySourceTable *t = lfirst(lc);
		char	   *sql = psprintf("LOCK TABLE ONLY %s IN ACCESS SHARE MODE",
								   quote_qualified_identifier(t->schema_name, t->table_name));

		source_command(source, sql, "lock a table to compare");
		pfree(sql);
	}
}

/*
 * With copy_data, every compared table must be copied in the target's
 * snapshot, from a source snapshot older than ours: a table copied again
 * (resync_table) while we waited holds rows of a later point.
 */
static void
check_copy_states(VerifyState *st, List *plans)
{
	VerifyParams p;
	VerifyRows *rows;
	char		subid[16];
	char		lsn[32];
	ListCell   *lc;

	if (!st->sub->copy_data)
		return;
	snprintf(subid, sizeof(subid), "%d", st->sub->id);
	snprintf(lsn, sizeof(lsn), "%X/%X", LSN_FORMAT_ARGS(st->lsn));
	params_init(&p);
	param(&p, subid);
	param(&p, lsn);
	rows = target_query(&st->side[1],
						"SELECT schema_name, table_name, "
						"  state = 'ready' AND (sync_lsn IS NULL OR sync_lsn <= $2::pg_catalog.pg_lsn) "
						"FROM decoderbufs_apply.table_sync WHERE sub_id = $1::pg_catalog.int4",
						&p);
	foreach(lc, plans)
	{
		VerifyTable *t = lfirst(lc);
		bool		ok = false;

		for (int i = 0; i < rows->nrows; i++)
			if (strcmp(VALUE(rows, i, 0), t->schema) == 0 &&
				strcmp(VALUE(rows, i, 1), t->table) == 0)
				ok = VALUE(rows, i, 2)[0] == 't';
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s.%s\" of decoderbufs_apply subscription \"%s\" was being copied while verify() started",
							t->schema, t->table, st->sub->name),
					 errhint("Verify it again once its copy is done (decoderbufs_apply.table_sync shows its state).")));
	}
}

typedef struct VerifyErrorContext
{
	ApplySubscription *sub;
	VerifyTable *table;
} VerifyErrorContext;

static void
verify_error_callback(void *arg)
{
	VerifyErrorContext *ctx = arg;

	if (ctx->table)
		errcontext("verifying table \"%s.%s\" of decoderbufs_apply subscription \"%s\"",
				   ctx->table->schema, ctx->table->table, ctx->sub->name);
	else
		errcontext("verifying decoderbufs_apply subscription \"%s\"", ctx->sub->name);
}

/*
 * Take the two snapshots, then compare each table (wanted: a List of
 * {schema, table} name pairs, NIL for every selected table).
 */
static void
verify_run(VerifyState *st, List *wanted)
{
	ApplySubscription *sub = st->sub;
	PGconn	   *volatile repl = NULL;
	PGconn	   *volatile source = NULL;
	bool		need_password = !superuser_arg(sub->owner) || !superuser();
	VerifyErrorContext errctx;
	ErrorContextCallback errcallback;

	errctx.sub = sub;
	errctx.table = NULL;
	errcallback.callback = verify_error_callback;
	errcallback.arg = &errctx;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	PG_TRY();
	{
		char		slot_name[NAMEDATALEN];
		char	   *snapshot;
		List	   *tables;
		List	   *plans = NIL;
		List	   *relids = NIL;
		bool		md5;
		MemoryContext table_cxt;
		MemoryContext old;
		ListCell   *lc;

		repl = apply_stream_connect(sub->conninfo, "decoderbufs_apply verify", true);
		apply_stream_check_password(repl, need_password);
		source = apply_stream_connect(sub->conninfo, "decoderbufs_apply verify", false);
		apply_stream_check_password(source, need_password);
		source_settings(source);

		/* hold the worker below anything the slot can find, then create it */
		barrier_set(sub, source_flush_position(repl));
		snprintf(slot_name, sizeof(slot_name), "%.40s_verify_%d", sub->slot_name, MyProcPid);
		st->lsn = create_snapshot_slot(repl, slot_name, &snapshot);
		import_snapshot(source, snapshot);
		/* the snapshot lives on in the import: the slot can go */
		apply_stream_disconnect(repl);
		repl = NULL;
		barrier_raise(sub, st->lsn);

		/* what to compare, while the worker catches up */
		st->side[0].is_source = true;
		st->side[0].conn = source;
		st->side[1].is_source = false;
		SPI_connect();
		tables = tables_to_compare(st, source, wanted);
		lock_source_tables(source, tables);
		st->side[1].snapshot = GetActiveSnapshot();
		md5 = hashes_differ(st->side);
		foreach(lc, tables)
		{
			VerifyTable *t = plan_table(sub, source, lfirst(lc), md5);

			plans = lappend(plans, t);
			relids = lappend_oid(relids, t->target_relid);
		}

		/* the target's snapshot, with the worker held at the same point */
		st->side[1].snapshot = barrier_snapshot(sub, st->lsn, relids,
												&st->consistent);
		check_copy_states(st, plans);

		table_cxt = AllocSetContextCreate(CurrentMemoryContext, "decoderbufs_apply verify table",
										  ALLOCSET_DEFAULT_SIZES);
		foreach(lc, plans)
		{
			errctx.table = lfirst(lc);
			old = MemoryContextSwitchTo(table_cxt);
			verify_table(st, lfirst(lc));
			MemoryContextSwitchTo(old);
			MemoryContextReset(table_cxt);
		}
		errctx.table = NULL;
		UnregisterSnapshot(st->side[1].snapshot);
		source_command(source, "COMMIT", "end the transaction of verify()");
		SPI_finish();
	}
	PG_FINALLY();
	{
		barrier_release();
		apply_stream_disconnect(repl);
		apply_stream_disconnect(source);
	}
	PG_END_TRY();
	error_context_stack = errcallback.previous;
}

/*
 * _verify(sub_id integer, schemas text[], tables text[], max_keys integer)
 * RETURNS SETOF record: compare the named source tables (schemas[i].tables[i];
 * NULL arrays: every table the subscription selects) with the target.  The
 * API functions verify() and verify_all() wrap it.
 */
Datum
apply_sql_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VerifyState st;
	List	   *wanted = NIL;
	int			nestlevel;

	if (ApplyShared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("decoderbufs_apply is not loaded"),
				 errhint("Add decoderbufs_apply to shared_preload_libraries in postgresql.conf and restart the server.")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(3) || PG_GETARG_INT32(3) < 0)
		elog(ERROR, "invalid arguments to _verify()");

	InitMaterializedSRF(fcinfo, 0);
	memset(&st, 0, sizeof(st));
	st.store = rsinfo->setResult;
	st.desc = rsinfo->setDesc;
	st.max_keys = PG_GETARG_INT32(3);
	st.sub = apply_catalog_get_subscription(PG_GETARG_INT32(0), false);

	if (!has_privs_of_role(GetUserId(), st.sub->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for decoderbufs_apply subscription \"%s\"",
						st.sub->name),
				 errdetail("verify() reads the source with the subscription's connection; only its owner (or a member of that role) and superusers may verify it.")));

	/*
	 * The source creates a slot, which waits for the transactions that have
	 * written (ours too, when the source is this server), and the worker
	 * waits for us: neither may wait behind a transaction block.
	 */
	if (IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("verify() cannot run inside a transaction block"),
				 errdetail("It takes a snapshot on the source and holds the apply worker for a moment; a transaction around it could make either wait for the other."),
				 errhint("Call it on its own, outside BEGIN ... COMMIT.")));
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("verify() cannot run in a transaction that has written"),
				 errhint("Call it in a statement of its own.")));

	if (!PG_ARGISNULL(1) && !PG_ARGISNULL(2))
	{
		Datum	   *schemas;
		Datum	   *tables;
		int			nschemas;
		int			ntables;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT,
						  &schemas, NULL, &nschemas);
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT,
						  &tables, NULL, &ntables);
		for (int i = 0; i < Min(nschemas, ntables); i++)
		{
			char	  **name = palloc(sizeof(char *) * 2);

			name[0] = TextDatumGetCString(schemas[i]);
			name[1] = TextDatumGetCString(tables[i]);
			if (!apply_table_selected(st.sub, name[0], name[1]))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_TABLE),
						 errmsg("table \"%s.%s\" is not part of decoderbufs_apply subscription \"%s\"",
								name[0], name[1], st.sub->name),
						 errhint("Give a source table that the subscription's tables, schemas and exclude_tables select, as schema.table.")));
			wanted = lappend(wanted, name);
		}
	}

	nestlevel = NewGUCNestLevel();
	target_settings();
	verify_run(&st, wanted);
	AtEOXact_GUC(true, nestlevel);
	return (Datum) 0;
}
