/*-------------------------------------------------------------------------
 *
 * copy.c
 *		The initial copy: a subscription's tables copied from a consistent
 *		snapshot of the source before streaming starts.
 *
 * The apply worker is the coordinator.  Before it streams, it lists the
 * selected source tables; if any has not been copied yet (state waiting in
 * table_sync, or copying after a crash, or a table new to the selection),
 * it creates a temporary slot on its replication connection with an
 * exported snapshot, records the tables to copy, and starts up to
 * copy_parallelism copy helpers.  Each helper imports the snapshot on a
 * connection of its own, then claims waiting tables one at a time and
 * copies each in one local transaction: COPY ... TO STDOUT on the source
 * (binary when every column has the same built-in type on both sides),
 * PostgreSQL's COPY FROM machinery on the target (bulk insertion), and the
 * table's state set to ready in the same commit.  Binary data into a table
 * that is empty goes through copy_load.c instead when the result is the
 * same (no INSERT trigger fires, no stored generated column, ...): the
 * rows first, then each index built once, a tenth less CPU on the target
 * for a table with a primary key; the table is then locked against
 * writers (ShareRowExclusiveLock, or the truncate's AccessExclusiveLock)
 * until the copy commits.  A crash in the middle rolls back the
 * unfinished table, which is copied again from scratch on the next run;
 * finished tables are not.
 *
 * No row is lost or applied twice.  Every table records its snapshot's
 * consistent point as sync_lsn: the copy holds exactly the transactions
 * committed before it, and the stream applies the table's changes only
 * from transactions committed at or after it (apply_rel_synced).  The
 * subscription's own slot was created earlier, so streaming from it covers
 * everything after the copy.  Tables copied in an earlier run keep their
 * older sync_lsn.
 *
 * Copied rows carry the subscription's replication origin, like streamed
 * rows, so that a source asking for local changes only (two-way setups)
 * never gets them back.  A session may only hold the origin one process
 * has set up, so each helper sets up an origin of its own for bookkeeping
 * and labels its commits with the subscription's origin.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "commands/copy.h"
#include "commands/tablecmds.h"
#include "executor/spi.h"
#include "libpq/pqsignal.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "replication/origin.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* How often a long table copy reports its progress in the log. */
#define COPY_PROGRESS_LOG_INTERVAL_MS	10000

/* ---- the coordinator (in the apply worker) ---- */

/* A local transaction running as the worker itself, with a snapshot. */
static void
begin_catalog_txn(void)
{
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
end_catalog_txn(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/* Run one statement through SPI; returns the number of rows it processed. */
static uint64
spi_exec(const char *sql, int nargs, Oid *argtypes, Datum *args, int expected)
{
	int			ret;
	uint64		processed;

	SPI_connect();
	ret = SPI_execute_with_args(sql, nargs, argtypes, args, NULL, false, 0);
	if (ret != expected)
		elog(ERROR, "SPI error %d while running: %s", ret, sql);
	processed = SPI_processed;
	SPI_finish();
	return processed;
}

/*
 * Bring table_sync in line with the tables selected on the source: tables
 * no longer selected are forgotten (so that selecting one again copies it
 * again); with add_new, newly selected tables wait for their copy and
 * tables left half copied by a crash wait again.
 */
static void
record_selection(ApplySubscription *sub, List *tables, bool add_new)
{
	Oid			argtypes[3] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		args[3];
	Datum	   *schemas = palloc(sizeof(Datum) * Max(1, list_length(tables)));
	Datum	   *names = palloc(sizeof(Datum) * Max(1, list_length(tables)));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, tables)
	{
		ApplySourceTable *t = lfirst(lc);

		schemas[n] = CStringGetTextDatum(t->schema_name);
		names[n++] = CStringGetTextDatum(t->table_name);
	}
	args[0] = Int32GetDatum(sub->id);
	args[1] = PointerGetDatum(construct_array(schemas, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));

	spi_exec("DELETE FROM decoderbufs_apply.table_sync t WHERE t.sub_id = $1 "
			 "AND (t.schema_name, t.table_name) NOT IN "
			 "(SELECT * FROM unnest($2::text[], $3::text[]))",
			 3, argtypes, args, SPI_OK_DELETE);
	if (!add_new)
		return;
	spi_exec("UPDATE decoderbufs_apply.table_sync SET state = 'waiting', sync_lsn = NULL "
			 "WHERE sub_id = $1 AND state = 'copying'",
			 1, argtypes, args, SPI_OK_UPDATE);
	spi_exec("INSERT INTO decoderbufs_apply.table_sync (sub_id, schema_name, table_name, state) "
			 "SELECT $1, s, t, 'waiting' FROM unnest($2::text[], $3::text[]) AS u(s, t) "
			 "ON CONFLICT DO NOTHING",
			 3, argtypes, args, SPI_OK_INSERT);
}

/* The local table a source table is copied into, or an error naming it. */
static Oid
target_relid(ApplySubscription *sub, const char *schema, const char *table)
{
	const char *tschema;
	const char *ttable;
	Oid			nspid;
	Oid			relid = InvalidOid;

	apply_target_table(sub, schema, table, &tschema, &ttable);
	nspid = get_namespace_oid(tschema, true);
	if (OidIsValid(nspid))
		relid = get_relname_relid(ttable, nspid);
	if (OidIsValid(relid) && get_rel_relkind(relid) != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target relation \"%s.%s\" of the initial copy is not a table",
						tschema, ttable),
				 errdetail("Rows are copied into plain tables only; a partitioned table receives them through its partitions, which must exist on the target under the source partitions' names.")));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("target table \"%s.%s\" of the initial copy does not exist",
						tschema, ttable),
				 errdetail("Source table \"%s.%s\" of subscription \"%s\" is copied into it.",
						   schema, table, sub->name),
				 errhint("Create the table on the target, or exclude the source table from the subscription.")));
	return relid;
}

static bool
relation_is_empty(Oid relid, Snapshot snapshot)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		empty = !table_scan_getnextslot(scan, ForwardScanDirection, slot);

	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return empty;
}

/*
 * With existing_data = error, refuse before copying anything if a table to
 * copy into holds rows, naming every such table.  Also proves every target
 * table exists.
 */
static void
check_targets(ApplySubscription *sub, List *waiting)
{
	StringInfoData nonempty;
	int			n = 0;
	ListCell   *lc;

	initStringInfo(&nonempty);
	foreach(lc, waiting)
	{
		ApplyTableSync *ts = lfirst(lc);
		Oid			relid = target_relid(sub, ts->schema_name, ts->table_name);

		if (sub->existing_data == APPLY_EXISTING_ERROR &&
			!relation_is_empty(relid, GetActiveSnapshot()))
		{
			appendStringInfo(&nonempty, "%s%s", n > 0 ? ", " : "",
							 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
														get_rel_name(relid)));
			n++;
		}
	}
	if (n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg_plural("target table %s of the initial copy is not empty",
							   "target tables %s of the initial copy are not empty",
							   n, nonempty.data),
				 errdetail("Subscription \"%s\" has existing_data = error.", sub->name),
				 errhint("Empty the tables, or use alter_subscription(existing_data => 'truncate') to empty them first, or 'keep' to keep their rows and resolve clashes by the conflict policy.")));
}

static List *
waiting_tables(List *syncs)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, syncs)
	{
		ApplyTableSync *ts = lfirst(lc);

		if (ts->state != 'r')
			result = lappend(result, ts);
	}
	return result;
}

/*
 * Re-read the copy states into the subscription, in the subscription's
 * own (long-lived) memory, not the transaction's.
 */
static void
reload_table_syncs(ApplySubscription *sub)
{
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(sub));

	sub->table_syncs = apply_catalog_table_syncs(sub->id);
	MemoryContextSwitchTo(old);
}

/*
 * Drop the bookkeeping origins of helpers that could not drop their own: a
 * helper that failed or crashed keeps it, also one that failed after its
 * last table, when no table is left to copy.  A helper of an earlier run
 * that is still exiting keeps its origin until a later run; one that has
 * just cleared its pid releases the origin as it exits, which the drop
 * waits for.
 */
static void
drop_leftover_helper_origins(ApplyWorkerSlot *slot, ApplySubscription *sub)
{
	char		name[NAMEDATALEN];

	StartTransactionCommand();
	for (int h = 0; h < APPLY_MAX_COPY_WORKERS; h++)
	{
		bool		running;

		LWLockAcquire(ApplyShared->lock, LW_SHARED);
		running = slot->copy_helpers[h].pid != 0;
		LWLockRelease(ApplyShared->lock);
		if (running)
			continue;
		snprintf(name, sizeof(name), "%s_copy_%d", sub->origin_name, h);
		replorigin_drop_by_name(name, true, false);
	}
	CommitTransactionCommand();
}

/* Does any selected table still need its copy? */
static bool
copy_needed(ApplySubscription *sub, List *tables)
{
	ListCell   *lc;

	foreach(lc, tables)
	{
		ApplySourceTable *t = lfirst(lc);
		ApplyTableSync *ts = apply_table_sync(sub, t->schema_name, t->table_name);

		if (ts == NULL || ts->state != 'r')
			return true;
	}
	return false;
}

/* Run a command on the source that returns no rows. */
static void
source_command(PGconn *conn, const char *sql, const char *what)
{
	PGresult   *res = apply_stream_query(conn, sql, 0, NULL, what);

	PQclear(res);
}

/* Enter the exported snapshot on a normal connection to the source. */
static void
import_snapshot(PGconn *conn, const char *snapshot)
{
	StringInfoData sql;

	/* a server-made name: hexadecimal digits and dashes */
	if (strspn(snapshot, "0123456789ABCDEFabcdef-") != strlen(snapshot))
		elog(ERROR, "unexpected snapshot name \"%s\" from the source", snapshot);
	source_command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
				   "start the copy's transaction");
	initStringInfo(&sql);
	appendStringInfo(&sql, "SET TRANSACTION SNAPSHOT '%s'", snapshot);
	source_command(conn, sql.data, "import the copy's snapshot");
	pfree(sql.data);
}

static BackgroundWorkerHandle *
start_helper(ApplyWorkerSlot *slot, int slotno, int helperno)
{
	char		name[BGW_MAXLEN];

	snprintf(name, sizeof(name), "decoderbufs_apply copy %d.%d", slot->subid, helperno);
	return apply_start_bgworker("apply_copy_helper_main", name,
								"decoderbufs_apply copy", Int32GetDatum(slotno),
								helperno, true);
}

/* Start the helpers and wait until all have exited. */
static void
run_helpers(ApplyContext *actx, int nhelpers)
{
	ApplyWorkerSlot *slot = actx->slot;
	int			slotno = slot - ApplyShared->workers;
	BackgroundWorkerHandle *handles[APPLY_MAX_COPY_WORKERS];
	int			started = 0;
	bool		failed = false;

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	for (int h = 0; h < APPLY_MAX_COPY_WORKERS; h++)
	{
		slot->copy_helpers[h].failed = false;
		slot->copy_helpers[h].table[0] = '\0';
	}
	LWLockRelease(ApplyShared->lock);

	for (int h = 0; h < nhelpers; h++)
	{
		handles[h] = start_helper(slot, slotno, h);
		if (handles[h] != NULL)
			started++;
	}
	if (started == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a copy helper for decoderbufs_apply subscription \"%s\"",
						actx->sub->name),
				 errhint("Raise max_worker_processes, or lower copy_parallelism.")));
	if (started < nhelpers)
		ereport(LOG,
				(errmsg("decoderbufs_apply subscription \"%s\" copies with %d helpers instead of %d: no more background worker slots",
						actx->sub->name, started, nhelpers)));

	for (;;)
	{
		int			running = 0;

		for (int h = 0; h < nhelpers; h++)
		{
			pid_t		pid;

			if (handles[h] != NULL &&
				GetBackgroundWorkerPid(handles[h], &pid) != BGWH_STOPPED)
				running++;
		}
		if (running == 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}

	LWLockAcquire(ApplyShared->lock, LW_SHARED);
	for (int h = 0; h < nhelpers; h++)
		failed |= slot->copy_helpers[h].failed;
	LWLockRelease(ApplyShared->lock);
	/* with the helper's error code: the retry policy classifies by it */
	if (failed)
		ereport(ERROR,
				(errcode(slot->last_error_sqlstate != 0 ? slot->last_error_sqlstate :
						 ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the initial copy of decoderbufs_apply subscription \"%s\" failed: %s",
						actx->sub->name, slot->last_error),
				 slot->last_error_hint[0] ? errhint("%s", slot->last_error_hint) : 0,
				 slot->last_error_context[0] ? errcontext("%s", slot->last_error_context) : 0));
}

static void
publish_copy_start(ApplyWorkerSlot *slot, const char *snapshot,
				   XLogRecPtr sync_lsn, int total, int done)
{
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	strlcpy(slot->copy_snapshot, snapshot, sizeof(slot->copy_snapshot));
	slot->copy_sync_lsn = sync_lsn;
	slot->copy_tables_total = total;
	slot->copy_tables_done = done;
	slot->copy_rows = 0;
	slot->copy_bytes = 0;
	slot->copy_start_time = GetCurrentTimestamp();
	slot->state = APPLY_STATE_COPYING;
	LWLockRelease(ApplyShared->lock);
}

/*
 * Copy what the subscription has not copied yet, then return: the caller
 * streams.  repl_conn is the worker's replication connection, idle.
 */
void
apply_copy_run(ApplyContext *actx, PGconn *repl_conn)
{
	ApplySubscription *sub = actx->sub;
	PGconn	   *src;
	List	   *tables;
	List	   *waiting;
	char	   *snapshot;
	char		tmp_slot[NAMEDATALEN];
	XLogRecPtr	sync_lsn;
	int			parallelism;
	int			nwaiting;
	TimestampTz start = GetCurrentTimestamp();
	int			total;
	uint64		rows;
	uint64		bytes;

	if (!sub->copy_data)
		return;

	src = apply_stream_connect(sub->conninfo, sub->name, false);
	apply_stream_check_password(src, !actx->owner_is_superuser);
	tables = apply_source_tables(src, sub);
	if (!copy_needed(sub, tables))
	{
		apply_stream_disconnect(src);
		begin_catalog_txn();
		record_selection(sub, tables, false);
		end_catalog_txn();
		drop_leftover_helper_origins(actx->slot, sub);
		return;
	}

	/* the snapshot, and the selection as it is in that snapshot */
	snprintf(tmp_slot, sizeof(tmp_slot), "%.40s_copy_%d", sub->slot_name, MyProcPid);
	sync_lsn = apply_stream_create_snapshot_slot(repl_conn, tmp_slot, &snapshot);
	import_snapshot(src, snapshot);
	tables = apply_source_tables(src, sub);
	source_command(src, "COMMIT", "end the copy's transaction");
	apply_stream_disconnect(src);

	begin_catalog_txn();
	record_selection(sub, tables, true);
	/* see what record_selection wrote */
	PopActiveSnapshot();
	PushActiveSnapshot(GetTransactionSnapshot());
	reload_table_syncs(sub);
	waiting = waiting_tables(sub->table_syncs);
	nwaiting = list_length(waiting);
	SetUserIdAndSecContext(actx->apply_user, SECURITY_LOCAL_USERID_CHANGE);
	check_targets(sub, waiting);
	SetUserIdAndSecContext(actx->worker_user, 0);
	end_catalog_txn();

	parallelism = sub->copy_parallelism > 0 ? sub->copy_parallelism : apply_copy_parallelism;
	parallelism = Min(parallelism, nwaiting);
	ereport(LOG,
			(errmsg("decoderbufs_apply subscription \"%s\" starts the initial copy of %d of its %d tables with %d helper(s), in a snapshot consistent at %X/%X",
					sub->name, nwaiting, list_length(sub->table_syncs),
					Max(parallelism, 1), LSN_FORMAT_ARGS(sync_lsn))));
	publish_copy_start(actx->slot, snapshot, sync_lsn, list_length(sub->table_syncs),
					   list_length(sub->table_syncs) - nwaiting);
	if (parallelism > 0)
		run_helpers(actx, parallelism);

	/* every table must be ready now */
	StartTransactionCommand();
	reload_table_syncs(sub);
	CommitTransactionCommand();
	if (waiting_tables(sub->table_syncs) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the initial copy of decoderbufs_apply subscription \"%s\" ended with tables not copied",
						sub->name),
				 errhint("The worker retries; decoderbufs_apply.table_sync shows each table's state.")));

	/* the snapshot has served: release the temporary slot's WAL */
	apply_stream_drop_slot(repl_conn, tmp_slot);
	drop_leftover_helper_origins(actx->slot, sub);
	/* sequences follow the copied tables (sequences.c) */
	if (sub->sequences != NULL)
		apply_sequences_sync(sub, NULL);

	LWLockAcquire(ApplyShared->lock, LW_SHARED);
	total = actx->slot->copy_tables_total;
	rows = actx->slot->copy_rows;
	bytes = actx->slot->copy_bytes;
	LWLockRelease(ApplyShared->lock);
	ereport(LOG,
			(errmsg("decoderbufs_apply subscription \"%s\" finished the initial copy: %d tables copied in this run (%d in all), " UINT64_FORMAT " rows, %.1f MB in %.1f s",
					sub->name, nwaiting, total, rows, bytes / 1048576.0,
					(GetCurrentTimestamp() - start) / 1000000.0)));
}

/*
 * A selected table first seen in the stream, with no copy state: it was
 * created on the source after the last copy's snapshot, so the stream has
 * all its rows.  Record it as ready, in the applying transaction, so that a
 * later run does not copy it.
 */
void
apply_copy_note_streamed_table(ApplySubscription *sub, const char *schema,
							   const char *table)
{
	Oid			argtypes[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3];
	Oid			save_user;
	int			save_sec;
	MemoryContext old;
	ApplyTableSync *ts;

	if (!sub->copy_data || apply_table_sync(sub, schema, table) != NULL)
		return;

	args[0] = Int32GetDatum(sub->id);
	args[1] = CStringGetTextDatum(schema);
	args[2] = CStringGetTextDatum(table);
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(MyApplyContext->worker_user, save_sec);
	spi_exec("INSERT INTO decoderbufs_apply.table_sync (sub_id, schema_name, table_name, state, finished_at) "
			 "VALUES ($1, $2, $3, 'ready', now()) ON CONFLICT DO NOTHING",
			 3, argtypes, args, SPI_OK_INSERT);
	SetUserIdAndSecContext(save_user, save_sec);

	old = MemoryContextSwitchTo(TopMemoryContext);
	ts = palloc(sizeof(ApplyTableSync));
	ts->schema_name = pstrdup(schema);
	ts->table_name = pstrdup(table);
	ts->state = 'r';
	ts->sync_lsn = InvalidXLogRecPtr;
	sub->table_syncs = lappend(sub->table_syncs, ts);
	MemoryContextSwitchTo(old);
}

/* ---- the copy helpers ---- */

static ApplyWorkerSlot *HelperSlot = NULL;
static int	HelperNo = -1;

/* The COPY stream being read, for copy_read_data. */
typedef struct CopySource
{
	PGconn	   *conn;
	char	   *buf;			/* current CopyData message */
	int			len;
	int			pos;
	bool		done;
	uint64		messages;
	uint64		bytes;
	TimestampTz last_progress;
	TimestampTz last_log;
	TimestampTz start;
	const char *table;			/* for the log */
} CopySource;

static CopySource *copy_source = NULL;

static void
publish_helper_progress(CopySource *cs, bool force)
{
	TimestampTz now;

	/* a message is a row, often a small one: look at the clock less often */
	if (!force && cs->messages % 128 != 0 && cs->len < 65536)
		return;
	now = GetCurrentTimestamp();
	if (!force && !TimestampDifferenceExceeds(cs->last_progress, now, 250))
		return;
	cs->last_progress = now;
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	HelperSlot->copy_helpers[HelperNo].rows = cs->messages;
	HelperSlot->copy_helpers[HelperNo].bytes = cs->bytes;
	LWLockRelease(ApplyShared->lock);

	if (TimestampDifferenceExceeds(cs->last_log, now, COPY_PROGRESS_LOG_INTERVAL_MS))
	{
		double		secs = (now - cs->start) / 1000000.0;

		cs->last_log = now;
		ereport(LOG,
				(errmsg("decoderbufs_apply copy of \"%s\": " UINT64_FORMAT " rows, %.1f MB so far, %.0f rows/s",
						cs->table, cs->messages, cs->bytes / 1048576.0,
						secs > 0 ? cs->messages / secs : 0)));
	}
}

/* Fetch the next CopyData message; false at the end of the COPY. */
static bool
next_copy_message(CopySource *cs)
{
	bool		tried_read = false;

	for (;;)
	{
		char	   *buf = NULL;
		int			len;

		CHECK_FOR_INTERRUPTS();
		len = PQgetCopyData(cs->conn, &buf, 1);
		if (len > 0)
		{
			if (cs->buf)
				PQfreemem(cs->buf);
			cs->buf = buf;
			cs->len = len;
			cs->pos = 0;
			cs->messages++;
			cs->bytes += len;
			publish_helper_progress(cs, false);
			return true;
		}
		if (len == -1)
		{
			PGresult   *res = PQgetResult(cs->conn);

			if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
			{
				char	   *msg = pchomp(res ? PQresultErrorMessage(res) : PQerrorMessage(cs->conn));

				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_EXCEPTION),
						 errmsg("could not copy table \"%s\" from the source: %s",
								cs->table, msg)));
			}
			PQclear(res);
			/* the connection takes commands again after a NULL result */
			while ((res = PQgetResult(cs->conn)) != NULL)
				PQclear(res);
			cs->done = true;
			return false;
		}
		if (len < -1)
			apply_stream_report_error(ERROR, cs->conn, "read the copy data from the source");

		/*
		 * No whole message buffered: read what the socket holds, and wait
		 * for it only if that was not enough (a wait costs more than a read
		 * that finds nothing, and the socket mostly has data).
		 */
		if (tried_read)
		{
			(void) WaitLatchOrSocket(MyLatch,
									 WL_SOCKET_READABLE | WL_LATCH_SET | WL_EXIT_ON_PM_DEATH,
									 PQsocket(cs->conn), -1L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		tried_read = true;
		if (!PQconsumeInput(cs->conn))
			apply_stream_report_error(ERROR, cs->conn, "read the copy data from the source");
	}
}

/*
 * COPY FROM's data source: at least minread and at most maxread bytes of
 * the source's COPY stream, fewer only at its end.
 */
static int
copy_read_data(void *outbuf, int minread, int maxread)
{
	CopySource *cs = copy_source;
	int			nread = 0;

	while (nread < minread || (nread < maxread && cs->pos < cs->len))
	{
		int			avail = cs->len - cs->pos;

		if (avail > 0)
		{
			int			n = Min(avail, maxread - nread);

			memcpy((char *) outbuf + nread, cs->buf + cs->pos, n);
			cs->pos += n;
			nread += n;
			continue;
		}
		if (cs->done || !next_copy_message(cs))
			break;
	}
	return nread;
}

/* The settings of the table a helper copies, resolved against both sides. */
typedef struct CopyPlan
{
	char	   *source_sql;		/* COPY ... TO STDOUT on the source */
	List	   *attnames;		/* target columns, in the COPY's order */
	bool		binary;
} CopyPlan;

static Oid
source_relid(PGconn *conn, const char *schema, const char *table)
{
	const char *params[1];
	PGresult   *res;
	Oid			relid;

	params[0] = quote_qualified_identifier(schema, table);
	res = apply_stream_query(conn, "SELECT $1::pg_catalog.regclass::pg_catalog.oid",
							 1, params, "look up a table to copy");
	relid = (Oid) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return relid;
}

/*
 * Which columns go where, and the COPY to run on the source: the selected
 * columns whose target column is not generated, rows through the table's
 * row filter, binary when every column has the same built-in type on both
 * sides.
 */
static CopyPlan *
plan_copy(PGconn *conn, ApplySubscription *sub, const char *schema,
		  const char *table, Relation rel)
{
	ApplyTableConfig *tc = apply_table_config(sub, schema, table);
	List	   *columns = apply_source_columns(conn, source_relid(conn, schema, table));
	TupleDesc	desc = RelationGetDescr(rel);
	CopyPlan   *plan = palloc0(sizeof(CopyPlan));
	StringInfoData collist;
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&collist);
	plan->binary = true;
	foreach(lc, columns)
	{
		ApplySourceColumn *c = lfirst(lc);
		const char *local = apply_target_column(tc, c->name);
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), local);
		Form_pg_attribute att;

		if (!apply_column_selected(tc, c->name))
			continue;
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("target relation \"%s.%s\" has no column \"%s\"",
							get_namespace_name(RelationGetNamespace(rel)),
							RelationGetRelationName(rel), local),
					 errdetail("The initial copy copies column \"%s\" of type %s of source table \"%s.%s\" into it.",
							   c->name, c->type_name, schema, table),
					 errhint("Add the column to the target table, map it to another one with set_table_options(column_map => ...), or leave it out with set_table_options(columns => ...).")));
		att = TupleDescAttr(desc, attnum - 1);
		if (att->attgenerated)
			continue;			/* the target computes it */
		if (!(c->typid < FirstGenbkiObjectId && c->typid == att->atttypid))
			plan->binary = false;
		appendStringInfo(&collist, "%s%s", plan->attnames ? ", " : "",
						 quote_identifier(c->name));
		plan->attnames = lappend(plan->attnames, makeString(pstrdup(local)));
	}
	if (plan->attnames == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("no column of source table \"%s.%s\" is copied", schema, table),
				 errhint("Check the table's column selection with decoderbufs_apply.table_config.")));

	initStringInfo(&sql);
	if (tc != NULL && tc->row_filter != NULL)
		appendStringInfo(&sql, "COPY (SELECT %s FROM ONLY %s WHERE (%s)) TO STDOUT",
						 collist.data, quote_qualified_identifier(schema, table),
						 tc->row_filter);
	else
		appendStringInfo(&sql, "COPY %s (%s) TO STDOUT",
						 quote_qualified_identifier(schema, table), collist.data);
	if (plan->binary)
		appendStringInfoString(&sql, " (FORMAT binary)");
	plan->source_sql = sql.data;
	return plan;
}

/* Empty a target table, in the copy's transaction (existing_data = truncate). */
static void
truncate_target(Relation rel)
{
	List	   *rels = list_make1(rel);
	List	   *relids = list_make1_oid(RelationGetRelid(rel));
	List	   *logged = RelationIsLogicallyLogged(rel) ? relids : NIL;

#if PG_VERSION_NUM >= 160000
	ExecuteTruncateGuts(rels, relids, logged, DROP_RESTRICT, false, false);
#else
	ExecuteTruncateGuts(rels, relids, logged, DROP_RESTRICT, false);
#endif
}

/*
 * Rows to insert into a table that keeps its rows (existing_data = keep):
 * COPY into a temporary table of the same shape, then insert what clashes
 * with nothing, and resolve the rest by the conflict policy (ignore keeps
 * the local row, overwrite takes the source's, fail stops the copy).
 */
/* The key columns of a table's index, by name. */
static List *
key_columns(Relation rel, Oid indexid)
{
	Relation	idx = index_open(indexid, AccessShareLock);
	List	   *result = NIL;

	for (int k = 0; k < IndexRelationGetNumberOfKeyAttributes(idx); k++)
		result = lappend(result,
						 get_attname(RelationGetRelid(rel),
									 idx->rd_index->indkey.values[k], false));
	index_close(idx, AccessShareLock);
	return result;
}

/*
 * Log every copied row that clashes with a local row by key, as conflict
 * insert_exists with both rows, and count them; under the fail policy the
 * first clash stops the copy.
 */
static void
log_keep_clashes(ApplySubscription *sub, Relation rel, const char *target,
				 List *keys, ApplyPolicy policy)
{
	StringInfoData sql;
	StringInfoData on;
	StringInfoData keyjson;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[4];
	Oid			save_user;
	int			save_sec;
	uint64		n;
	ListCell   *lc;

	initStringInfo(&on);
	initStringInfo(&keyjson);
	foreach(lc, keys)
	{
		const char *k = quote_identifier(lfirst(lc));

		appendStringInfo(&on, "%sl.%s = r.%s", on.len ? " AND " : "", k, k);
		appendStringInfo(&keyjson, "%s%s, r.%s", keyjson.len ? ", " : "",
						 quote_literal_cstr(lfirst(lc)), k);
	}
	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO decoderbufs_apply.conflict_log "
					 "(sub_name, schema_name, table_name, conflict_type, resolution, "
					 "remote_tuple, local_tuple, key_tuple, decision) "
					 "SELECT $1, $2, $3, 'insert_exists', $4, to_jsonb(r), to_jsonb(l), "
					 "jsonb_build_object(%s), "
					 "CASE $4 WHEN 'overwrite' THEN 'applied' WHEN 'fail' THEN 'error' ELSE 'skipped' END "
					 "FROM pg_temp.decoderbufs_apply_copy_keep r JOIN %s l ON %s",
					 keyjson.data, target, on.data);
	args[0] = CStringGetTextDatum(sub->name);
	args[1] = CStringGetTextDatum(get_namespace_name(RelationGetNamespace(rel)));
	args[2] = CStringGetTextDatum(RelationGetRelationName(rel));
	args[3] = CStringGetTextDatum(apply_policy_name(policy));

	/* the log is the extension's, written as the worker */
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(MyApplyContext->worker_user, save_sec);
	n = spi_exec(sql.data, 4, argtypes, args, SPI_OK_INSERT);
	SetUserIdAndSecContext(save_user, save_sec);
	if (n == 0)
		return;

	if (policy == APPLY_POLICY_FAIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("conflict detected on relation %s: conflict=insert_exists", target),
				 errdetail_plural("The initial copy brings " UINT64_FORMAT " row whose key a local row already has.",
								  "The initial copy brings " UINT64_FORMAT " rows whose keys local rows already have.",
								  n, n),
				 errhint("With existing_data = keep, set the conflict policy to ignore (keep the local rows) or overwrite (take the source's) for this table, or use existing_data = truncate.")));
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	HelperSlot->n_conflicts[APPLY_CONFLICT_INSERT_EXISTS] += n;
	LWLockRelease(ApplyShared->lock);
	ereport(LOG,
			(errmsg("decoderbufs_apply subscription \"%s\": " UINT64_FORMAT " copied rows of %s clash with local rows; resolution=%s",
					sub->name, n, target, apply_policy_name(policy))));
}

static uint64
copy_keep_existing(ApplySubscription *sub, CopyPlan *plan, Relation rel,
				   ApplyPolicy policy, List *options)
{
	char	   *target = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													RelationGetRelationName(rel));
	StringInfoData sql;
	StringInfoData cols;
	StringInfoData sets;
	Relation	tmp;
	ParseState *pstate;
	CopyFromState cstate;
	Oid			tmpid;
	Oid			pk = RelationGetReplicaIndex(rel);
	uint64		processed;
	List	   *keys;
	ListCell   *lc;

	if (!OidIsValid(pk))
		pk = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(pk))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("target table %s has rows and no primary key or replica identity index", target),
				 errdetail("existing_data = keep needs a key to tell which copied rows clash with local ones."),
				 errhint("Add a primary key, or use existing_data => 'truncate'.")));

	initStringInfo(&cols);
	initStringInfo(&sets);
	foreach(lc, plan->attnames)
	{
		const char *col = quote_identifier(strVal(lfirst(lc)));

		appendStringInfo(&cols, "%s%s", cols.len ? ", " : "", col);
		appendStringInfo(&sets, "%s%s = excluded.%s", sets.len ? ", " : "", col, col);
	}

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TEMP TABLE decoderbufs_apply_copy_keep ON COMMIT DROP AS "
					 "SELECT %s FROM %s WITH NO DATA", cols.data, target);
	SPI_connect();
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create the copy's temporary table");
	SPI_finish();
	CommandCounterIncrement();

	tmpid = RelnameGetRelid("decoderbufs_apply_copy_keep");
	tmp = table_open(tmpid, RowExclusiveLock);
	/* COPY FROM writes into the first relation of its range table */
	pstate = make_parsestate(NULL);
	(void) addRangeTableEntryForRelation(pstate, tmp, RowExclusiveLock, NULL,
										 false, false);
	cstate = BeginCopyFrom(pstate, tmp, NULL, NULL, false, copy_read_data,
						   plan->attnames, options);
	processed = CopyFrom(cstate);
	EndCopyFrom(cstate);
	table_close(tmp, NoLock);
	CommandCounterIncrement();

	keys = key_columns(rel, pk);
	log_keep_clashes(sub, rel, target, keys, policy);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s (%s) SELECT %s FROM pg_temp.decoderbufs_apply_copy_keep ",
					 target, cols.data, cols.data);
	/*
	 * The copy does not know when the source's rows were written:
	 * last_update_wins keeps the local rows, as ignore does.
	 */
	if (policy == APPLY_POLICY_IGNORE || policy == APPLY_POLICY_LAST_UPDATE_WINS)
		appendStringInfoString(&sql, "ON CONFLICT DO NOTHING");
	else if (policy == APPLY_POLICY_OVERWRITE)
	{
		appendStringInfoString(&sql, "ON CONFLICT (");
		foreach(lc, keys)
			appendStringInfo(&sql, "%s%s", lc != list_head(keys) ? ", " : "",
							 quote_identifier(lfirst(lc)));
		appendStringInfo(&sql, ") DO UPDATE SET %s", sets.data);
	}
	SPI_connect();
	if (SPI_execute(sql.data, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert the copied rows");
	SPI_finish();
	return processed;
}

/*
 * Load the table with copy_load.c, its indexes built after the rows,
 * rather than with COPY FROM?  Only binary data into a table that
 * qualifies and is empty, and only while no one else can write to it
 * until commit: after a truncate the table is locked exclusively;
 * otherwise ShareRowExclusiveLock is taken here, if the user may take it
 * (LOCK TABLE asks for UPDATE, DELETE or TRUNCATE), and the table must
 * still be empty under it.  *empty says whether the table is empty, as
 * seen under that lock if it was taken.
 */
static bool
use_bulk_load(ApplySubscription *sub, Relation rel, CopyPlan *plan,
			  bool *empty)
{
	Oid			relid = RelationGetRelid(rel);
	Snapshot	snapshot;

	*empty = (sub->existing_data == APPLY_EXISTING_TRUNCATE ||
			  relation_is_empty(relid, GetActiveSnapshot()));
	if (!*empty || !plan->binary ||
		!apply_copy_load_supported(rel, plan->attnames))
		return false;
	if (sub->existing_data == APPLY_EXISTING_TRUNCATE)
		return true;
	/* all three (pg_class_aclcheck() would take any one of them) */
	if ((pg_class_aclmask(relid, GetUserId(), ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE,
						  ACLMASK_ALL) & (ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE)) !=
		(ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE))
		return false;
	LockRelationOid(relid, ShareRowExclusiveLock);
	/* rows committed by writers the lock waited for */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	*empty = relation_is_empty(relid, snapshot);
	UnregisterSnapshot(snapshot);
	return *empty;
}

/* Record a finished table in the copy's transaction. */
static void
mark_ready(ApplySubscription *sub, const char *schema, const char *table,
		   XLogRecPtr sync_lsn, uint64 rows, uint64 bytes)
{
	Oid			argtypes[6] = {INT4OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID};
	Datum		args[6];
	char		lsn[32];

	snprintf(lsn, sizeof(lsn), "%X/%X", LSN_FORMAT_ARGS(sync_lsn));
	args[0] = Int32GetDatum(sub->id);
	args[1] = CStringGetTextDatum(schema);
	args[2] = CStringGetTextDatum(table);
	args[3] = CStringGetTextDatum(lsn);
	args[4] = Int64GetDatum((int64) rows);
	args[5] = Int64GetDatum((int64) bytes);
	spi_exec("UPDATE decoderbufs_apply.table_sync SET state = 'ready', sync_lsn = $4::pg_lsn, "
			 "rows_copied = $5, bytes_copied = $6, finished_at = clock_timestamp() "
			 "WHERE sub_id = $1 AND schema_name = $2 AND table_name = $3",
			 6, argtypes, args, SPI_OK_UPDATE);
}

/*
 * Lock the table's copy state for the copy's transaction, and make sure it
 * is still ours to copy.  The lock keeps any other process from copying the
 * table meanwhile: a helper of an earlier run that is still finishing, or a
 * new run resetting half-copied tables (it waits for this commit or abort).
 */
static bool
lock_claimed_table(ApplySubscription *sub, const char *schema, const char *table)
{
	Oid			argtypes[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3];

	args[0] = Int32GetDatum(sub->id);
	args[1] = CStringGetTextDatum(schema);
	args[2] = CStringGetTextDatum(table);
	return spi_exec("SELECT FROM decoderbufs_apply.table_sync "
					"WHERE sub_id = $1 AND schema_name = $2 AND table_name = $3 "
					"AND state = 'copying' FOR UPDATE",
					3, argtypes, args, SPI_OK_SELECT) == 1;
}

/*
 * Copy one table in one local transaction: its rows and its state change
 * commit together, labelled with the subscription's origin.
 */
static void
copy_table(ApplyContext *actx, PGconn *conn, const char *schema,
		   const char *table, XLogRecPtr sync_lsn, RepOriginId origin)
{
	ApplySubscription *sub = actx->sub;
	CopySource	cs;
	CopyPlan   *plan;
	Relation	rel;
	List	   *options = NIL;
	PGresult   *res;
	uint64		processed;
	bool		keep_rows;
	bool		bulk;
	bool		empty;
	Oid			relid;
	char		name[APPLY_QUALIFIED_NAME_LEN];
	double		secs;
	int			done;
	int			total;

	snprintf(name, sizeof(name), "%s.%s", schema, table);
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!lock_claimed_table(sub, schema, table))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		return;
	}
	SetUserIdAndSecContext(actx->apply_user, SECURITY_LOCAL_USERID_CHANGE);

	relid = target_relid(sub, schema, table);
	rel = table_open(relid, sub->existing_data == APPLY_EXISTING_TRUNCATE ?
					 AccessExclusiveLock : RowExclusiveLock);
	apply_check_target_privileges(rel, ACL_INSERT |
								  (sub->existing_data == APPLY_EXISTING_TRUNCATE ? ACL_TRUNCATE : 0) |
								  (sub->existing_data == APPLY_EXISTING_KEEP &&
								   apply_table_policy(sub, schema, table) == APPLY_POLICY_OVERWRITE ?
								   ACL_UPDATE : 0));
	plan = plan_copy(conn, sub, schema, table, rel);
	if (sub->existing_data == APPLY_EXISTING_TRUNCATE)
		truncate_target(rel);
	bulk = use_bulk_load(sub, rel, plan, &empty);
	keep_rows = (sub->existing_data == APPLY_EXISTING_KEEP && !empty);

	res = apply_stream_exec_params(conn, plan->source_sql, 0, NULL);
	if (res == NULL || PQresultStatus(res) != PGRES_COPY_OUT)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("could not copy table \"%s\" from the source: %s", name,
						pchomp(res ? PQresultErrorMessage(res) : PQerrorMessage(conn)))));
	PQclear(res);

	memset(&cs, 0, sizeof(cs));
	cs.conn = conn;
	cs.table = name;
	cs.start = cs.last_log = cs.last_progress = GetCurrentTimestamp();
	copy_source = &cs;
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	strlcpy(HelperSlot->copy_helpers[HelperNo].table, name,
			sizeof(HelperSlot->copy_helpers[HelperNo].table));
	HelperSlot->copy_helpers[HelperNo].rows = 0;
	HelperSlot->copy_helpers[HelperNo].bytes = 0;
	LWLockRelease(ApplyShared->lock);

	if (plan->binary)
		options = list_make1(makeDefElem("format", (Node *) makeString("binary"), -1));
	if (keep_rows)
		processed = copy_keep_existing(sub, plan, rel,
									   apply_table_policy(sub, schema, table),
									   options);
	else if (bulk)
		processed = apply_copy_load(rel, plan->attnames, copy_read_data);
	else
	{
		ParseState *pstate = make_parsestate(NULL);
		CopyFromState cstate;

		(void) addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock,
											 NULL, false, false);
		cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, copy_read_data,
							   plan->attnames, options);

		processed = CopyFrom(cstate);
		EndCopyFrom(cstate);
	}
	/* drain the end of the COPY (its trailer) and its result */
	while (!cs.done && next_copy_message(&cs))
		;
	if (cs.buf)
		PQfreemem(cs.buf);
	copy_source = NULL;
	table_close(rel, NoLock);

	SetUserIdAndSecContext(actx->worker_user, 0);
	mark_ready(sub, schema, table, sync_lsn, processed, cs.bytes);
	PopActiveSnapshot();
	replorigin_session_origin = origin;
	CommitTransactionCommand();

	secs = (GetCurrentTimestamp() - cs.start) / 1000000.0;
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	done = ++HelperSlot->copy_tables_done;
	total = HelperSlot->copy_tables_total;
	HelperSlot->copy_rows += processed;
	HelperSlot->copy_bytes += cs.bytes;
	HelperSlot->copy_helpers[HelperNo].table[0] = '\0';
	HelperSlot->copy_helpers[HelperNo].rows = 0;
	HelperSlot->copy_helpers[HelperNo].bytes = 0;
	LWLockRelease(ApplyShared->lock);
	ereport(LOG,
			(errmsg("decoderbufs_apply subscription \"%s\" copied table \"%s\": " UINT64_FORMAT " rows, %.1f MB in %.1f s (%.0f rows/s, %s); %d of %d tables done",
					sub->name, name, processed, cs.bytes / 1048576.0, secs,
					secs > 0 ? processed / secs : 0,
					bulk ? "binary, bulk load" : plan->binary ? "binary" : "text",
					done, total)));
}

/* Claim the next waiting table; false when none is left. */
static bool
claim_table(ApplySubscription *sub, char **schema, char **table)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	bool		found;
	int			ret;

	args[0] = Int32GetDatum(sub->id);
	begin_catalog_txn();
	SPI_connect();
	ret = SPI_execute_with_args("UPDATE decoderbufs_apply.table_sync t SET state = 'copying', started_at = clock_timestamp(), "
								"finished_at = NULL, rows_copied = NULL, bytes_copied = NULL "
								"FROM (SELECT schema_name, table_name FROM decoderbufs_apply.table_sync "
								"      WHERE sub_id = $1 AND state = 'waiting' "
								"      ORDER BY schema_name, table_name LIMIT 1 "
								"      FOR UPDATE SKIP LOCKED) w "
								"WHERE t.sub_id = $1 AND t.schema_name = w.schema_name "
								"AND t.table_name = w.table_name "
								"RETURNING t.schema_name, t.table_name",
								1, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not claim a table to copy: SPI error %d", ret);
	found = SPI_processed > 0;
	if (found)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		*schema = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		*table = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	end_catalog_txn();
	return found;
}

/*
 * The helper's own origin, for the bookkeeping of its commits; returns the
 * subscription's origin, which labels them.
 */
static RepOriginId
setup_helper_origin(ApplySubscription *sub, char *helper_origin, size_t len)
{
	RepOriginId sub_origin;
	RepOriginId own;

	snprintf(helper_origin, len, "%s_copy_%d", sub->origin_name, HelperNo);
	StartTransactionCommand();
	sub_origin = replorigin_by_name(sub->origin_name, true);
	if (sub_origin == InvalidRepOriginId)
		sub_origin = replorigin_create(sub->origin_name);
	own = replorigin_by_name(helper_origin, true);
	if (own == InvalidRepOriginId)
		own = replorigin_create(helper_origin);
	CommitTransactionCommand();
#if PG_VERSION_NUM >= 160000
	replorigin_session_setup(own, 0);
#else
	replorigin_session_setup(own);
#endif
	return sub_origin;
}

static void
drop_helper_origin(const char *helper_origin)
{
	replorigin_session_reset();
	replorigin_session_origin = InvalidRepOriginId;
	StartTransactionCommand();
	replorigin_drop_by_name(helper_origin, true, true);
	CommitTransactionCommand();
}

static void
helper_on_exit(int code, Datum arg)
{
	replorigin_session_origin_lsn = InvalidXLogRecPtr;
	if (HelperSlot == NULL)
		return;
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	HelperSlot->copy_helpers[HelperNo].pid = 0;
	HelperSlot->copy_helpers[HelperNo].table[0] = '\0';
	if (code != 0)
		HelperSlot->copy_helpers[HelperNo].failed = true;
	LWLockRelease(ApplyShared->lock);
}

static void
record_helper_error(ErrorData *edata)
{
	apply_slot_record_error(HelperSlot, edata, false);
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	HelperSlot->copy_helpers[HelperNo].failed = true;
	LWLockRelease(ApplyShared->lock);
}

static void
helper_error_callback(void *arg)
{
	const char *name = arg;

	if (copy_source != NULL)
		errcontext("initial copy of table \"%s\" for decoderbufs_apply subscription \"%s\"",
				   copy_source->table, name);
	else
		errcontext("initial copy for decoderbufs_apply subscription \"%s\"", name);
}

static void
run_helper(ApplyContext *actx)
{
	ApplySubscription *sub = actx->sub;
	char		helper_origin[NAMEDATALEN];
	char		snapshot[64];
	XLogRecPtr	sync_lsn;
	RepOriginId origin;
	PGconn	   *conn;
	char	   *schema;
	char	   *table;
	ErrorContextCallback errcallback;

	LWLockAcquire(ApplyShared->lock, LW_SHARED);
	strlcpy(snapshot, HelperSlot->copy_snapshot, sizeof(snapshot));
	sync_lsn = HelperSlot->copy_sync_lsn;
	LWLockRelease(ApplyShared->lock);

	errcallback.callback = helper_error_callback;
	errcallback.arg = sub->name;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	origin = setup_helper_origin(sub, helper_origin, sizeof(helper_origin));
	conn = apply_stream_connect(sub->conninfo, sub->name, false);
	apply_stream_check_password(conn, !actx->owner_is_superuser);
	import_snapshot(conn, snapshot);

	while (claim_table(sub, &schema, &table))
	{
		copy_table(actx, conn, schema, table, sync_lsn, origin);
		CHECK_FOR_INTERRUPTS();
	}

	source_command(conn, "COMMIT", "end the copy's transaction");
	apply_stream_disconnect(conn);
	drop_helper_origin(helper_origin);
	error_context_stack = errcallback.previous;
}

void
apply_copy_helper_main(Datum main_arg)
{
	int			slotno = DatumGetInt32(main_arg);
	ApplyContext *actx;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	memcpy(&HelperNo, MyBgworkerEntry->bgw_extra, sizeof(int));
	HelperSlot = &ApplyShared->workers[slotno];
	BackgroundWorkerInitializeConnectionByOid(HelperSlot->dbid, InvalidOid, 0);
	before_shmem_exit(helper_on_exit, (Datum) 0);

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	HelperSlot->copy_helpers[HelperNo].pid = MyProcPid;
	LWLockRelease(ApplyShared->lock);

	actx = MemoryContextAllocZero(TopMemoryContext, sizeof(ApplyContext));
	MyApplyContext = actx;
	actx->slot = HelperSlot;
	actx->worker_user = GetUserId();

	PG_TRY();
	{
		apply_context_load(actx, HelperSlot->subid, TopMemoryContext);
		run_helper(actx);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		replorigin_session_origin_lsn = InvalidXLogRecPtr;
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		record_helper_error(edata);
		AbortOutOfAnyTransaction();
		RESUME_INTERRUPTS();
		proc_exit(1);
	}
	PG_END_TRY();
	proc_exit(0);
}
