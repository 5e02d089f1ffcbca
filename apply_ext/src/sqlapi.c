/*-------------------------------------------------------------------------
 *
 * sqlapi.c
 *		The C parts of the SQL API: talking to the source (slots), to the
 *		workers (wakeups, stop), and the status of each subscription.
 *
 * The user-facing functions (create_subscription and friends) are PL/pgSQL
 * in decoderbufs_apply--1.0.sql; they call these helpers.  Every helper
 * checks that the library was preloaded and that the caller may manage
 * subscriptions (a superuser or a member of decoderbufs_apply_admin).
 *
 * Wakeups take effect at commit: a manager woken before the catalog change
 * commits would not see it.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "parser/parser.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PG_FUNCTION_INFO_V1(apply_sql_check);
PG_FUNCTION_INFO_V1(apply_sql_check_conninfo);
PG_FUNCTION_INFO_V1(apply_sql_create_slot);
PG_FUNCTION_INFO_V1(apply_sql_drop_slot);
PG_FUNCTION_INFO_V1(apply_sql_wakeup);
PG_FUNCTION_INFO_V1(apply_sql_stop_worker);
PG_FUNCTION_INFO_V1(apply_sql_drop_origin);
PG_FUNCTION_INFO_V1(apply_sql_worker_status);
PG_FUNCTION_INFO_V1(apply_sql_check_row_filter);

static void
check_preloaded(void)
{
	if (ApplyShared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("decoderbufs_apply is not loaded"),
				 errhint("Add decoderbufs_apply to shared_preload_libraries in postgresql.conf and restart the server.")));
}

static void
check_may_manage(void)
{
	Oid			admin = get_role_oid(APPLY_ADMIN_ROLE, true);

	if (superuser())
		return;
	if (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to manage decoderbufs_apply subscriptions"),
			 errhint("Only superusers and members of role \"%s\" may manage subscriptions.",
					 APPLY_ADMIN_ROLE)));
}

static void
check_caller(void)
{
	check_preloaded();
	check_may_manage();
}

/* _check() RETURNS void: preloaded, and the caller may manage */
Datum
apply_sql_check(PG_FUNCTION_ARGS)
{
	check_caller();
	PG_RETURN_VOID();
}

/* _check_conninfo(conninfo text) RETURNS void */
Datum
apply_sql_check_conninfo(PG_FUNCTION_ARGS)
{
	char	   *conninfo = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *err = NULL;
	PQconninfoOption *opts;
	bool		has_password = false;

	opts = PQconninfoParse(conninfo, &err);
	if (opts == NULL)
	{
		char	   *msg = err ? pstrdup(pchomp(err)) : "out of memory";

		if (err)
			PQfreemem(err);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for argument \"conninfo\": %s", msg),
				 errhint("Give a libpq connection string such as 'host=source.example port=5432 dbname=app user=repl'.")));
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
	{
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
			has_password = true;
		if (strcmp(o->keyword, "replication") == 0 && o->val != NULL)
		{
			PQconninfoFree(opts);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for argument \"conninfo\": it must not set \"replication\""),
					 errhint("The worker opens a logical replication connection itself.")));
		}
	}
	PQconninfoFree(opts);

	/*
	 * Without a password, the server's own OS user would authenticate the
	 * connection (trust, peer, ~/.pgpass): only superusers may rely on that.
	 */
	if (!has_password && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("password is required"),
				 errdetail("Non-superusers must provide a password in the connection string.")));
	PG_RETURN_VOID();
}

/* Run f on a replication connection, closing it on error too. */
static XLogRecPtr
with_connection(const char *conninfo, const char *slot,
				XLogRecPtr (*f) (PGconn *, const char *))
{
	PGconn	   *volatile conn = NULL;
	XLogRecPtr	result;

	PG_TRY();
	{
		conn = apply_stream_connect(conninfo, "decoderbufs_apply", true);
		apply_stream_check_password(conn, !superuser());
		result = f(conn, slot);
	}
	PG_FINALLY();
	{
		apply_stream_disconnect(conn);
	}
	PG_END_TRY();
	return result;
}

/*
 * Creating or dropping a slot on the source cannot be undone by a rollback:
 * like CREATE and DROP SUBSCRIPTION, refuse to do it in a transaction block.
 */
static void
prevent_in_transaction_block(const char *what)
{
	if (IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run inside a transaction block", what),
				 errdetail("A replication slot on the source is created or dropped at once; a rollback could not undo it."),
				 errhint("Call it on its own, outside BEGIN ... COMMIT.")));
}

/* _create_slot(conninfo text, slot_name text) RETURNS pg_lsn */
Datum
apply_sql_create_slot(PG_FUNCTION_ARGS)
{
	char	   *conninfo = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *slot = text_to_cstring(PG_GETARG_TEXT_PP(1));

	check_caller();
	prevent_in_transaction_block("create_subscription with create_slot => true");
	PG_RETURN_LSN(with_connection(conninfo, slot, apply_stream_create_slot));
}

static bool drop_missing_ok;

static XLogRecPtr
drop_slot(PGconn *conn, const char *slot)
{
	StringInfoData cmd;
	PGresult   *res;

	initStringInfo(&cmd);
	appendStringInfo(&cmd, "DROP_REPLICATION_SLOT %s WAIT", quote_identifier(slot));
	res = apply_stream_exec(conn, cmd.data);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		if (drop_missing_ok && sqlstate && strcmp(sqlstate, "42704") == 0)
		{
			ereport(NOTICE,
					(errmsg("replication slot \"%s\" does not exist on the source, skipping", slot)));
			PQclear(res);
			return InvalidXLogRecPtr;
		}
		PQclear(res);
		apply_stream_report_error(ERROR, conn, "drop the replication slot on the source");
	}
	PQclear(res);
	return InvalidXLogRecPtr;
}

/* _drop_slot(conninfo text, slot_name text, missing_ok bool) RETURNS void */
Datum
apply_sql_drop_slot(PG_FUNCTION_ARGS)
{
	char	   *conninfo = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *slot = text_to_cstring(PG_GETARG_TEXT_PP(1));

	check_caller();
	prevent_in_transaction_block("drop_subscription with drop_slot => true");
	drop_missing_ok = PG_GETARG_BOOL(2);
	(void) with_connection(conninfo, slot, drop_slot);
	PG_RETURN_VOID();
}

/* ---- wakeups at commit ---- */

static bool wakeup_pending = false;
static List *restart_pending = NIL;	/* of subscription ids */
static List *unhold_on_abort = NIL;
static bool xact_callback_registered = false;

static void
set_restart(int32 subid)
{
	ApplyWorkerSlot *s;

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	s = apply_slot_for_subscription(MyDatabaseId, subid, false);
	if (s != NULL)
	{
		s->restart_requested = true;
		s->next_start_time = 0;
		s->retry_count = 0;
		apply_retry_reset_locked(s);
	}
	LWLockRelease(ApplyShared->lock);
}

static void
set_hold(int32 subid, bool hold)
{
	ApplyWorkerSlot *s;

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	s = apply_slot_for_subscription(MyDatabaseId, subid, hold);
	if (s != NULL)
		s->hold = hold;
	LWLockRelease(ApplyShared->lock);
}

static void
apply_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event == XACT_EVENT_COMMIT && wakeup_pending)
	{
		foreach(lc, restart_pending)
			set_restart(lfirst_int(lc));
		apply_request_database(MyDatabaseId);
		apply_wake_manager(MyDatabaseId);
	}
	if (event == XACT_EVENT_ABORT)
	{
		foreach(lc, unhold_on_abort)
			set_hold(lfirst_int(lc), false);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
	{
		wakeup_pending = false;
		restart_pending = NIL;	/* memory went with the transaction */
		unhold_on_abort = NIL;
	}
}

static void
ensure_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(apply_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

/*
 * _wakeup(sub_id int, restart bool) RETURNS void: at commit, make sure this
 * database has a manager and wake it; with restart, restart the
 * subscription's worker so it reads its new configuration.
 */
Datum
apply_sql_wakeup(PG_FUNCTION_ARGS)
{
	check_caller();
	ensure_callback();
	wakeup_pending = true;
	if (!PG_ARGISNULL(0) && PG_GETARG_BOOL(1))
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		restart_pending = lappend_int(restart_pending, PG_GETARG_INT32(0));
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_VOID();
}

/*
 * _stop_worker(sub_id int) RETURNS void: stop the subscription's worker and
 * keep it stopped (the subscription is being dropped); waits until it has
 * exited.  If the transaction aborts, the worker may run again.
 */
Datum
apply_sql_stop_worker(PG_FUNCTION_ARGS)
{
	int32		subid = PG_GETARG_INT32(0);
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 60000);
	MemoryContext old;

	check_caller();
	ensure_callback();
	set_hold(subid, true);
	old = MemoryContextSwitchTo(TopTransactionContext);
	unhold_on_abort = lappend_int(unhold_on_abort, subid);
	MemoryContextSwitchTo(old);

	for (;;)
	{
		ApplyWorkerSlot *s;
		pid_t		pid = 0;

		LWLockAcquire(ApplyShared->lock, LW_SHARED);
		s = apply_slot_for_subscription(MyDatabaseId, subid, false);
		if (s != NULL)
			pid = s->pid;
		LWLockRelease(ApplyShared->lock);
		if (pid == 0 || kill(pid, 0) != 0)
			break;
		if (GetCurrentTimestamp() > deadline)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("the apply worker of subscription %d (PID %d) did not stop", subid, (int) pid)));
		kill(pid, SIGTERM);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_VOID();
}

/* _drop_origin(name text) RETURNS void: drop a replication origin if present */
Datum
apply_sql_drop_origin(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	check_caller();
	if (replorigin_by_name(name, true) != InvalidRepOriginId)
		replorigin_drop_by_name(name, true, true);
	PG_RETURN_VOID();
}

static const char *
state_name(ApplyWorkerState state)
{
	switch (state)
	{
		case APPLY_STATE_STOPPED:
			return "stopped";
		case APPLY_STATE_STARTING:
			return "starting";
		case APPLY_STATE_CONNECTING:
			return "connecting";
		case APPLY_STATE_COPYING:
			return "copying";
		case APPLY_STATE_STREAMING:
			return "streaming";
		case APPLY_STATE_WAITING_RETRY:
			return "waiting_retry";
		case APPLY_STATE_DISABLED:
			return "disabled";
		case APPLY_STATE_FAILED:
			return "failed";
	}
	return "unknown";
}

#define STATUS_COLUMNS 42

/*
 * The copy progress columns: rows and bytes of the tables being copied
 * (finished ones are counted in table_sync), which tables, and the rate in
 * rows per second since this run of the copy started.  NULL when no copy
 * ran since the worker slot was set up.
 */
static int
copy_status_columns(ApplyWorkerSlot *s, Datum *values, bool *nulls, int n)
{
	uint64		rows = 0;
	uint64		bytes = 0;
	StringInfoData current;
	bool		none = (s->copy_start_time == 0);
	bool		running = (s->state == APPLY_STATE_COPYING);
	double		secs;

	initStringInfo(&current);
	for (int h = 0; h < APPLY_MAX_COPY_WORKERS; h++)
	{
		ApplyCopyHelper *helper = &s->copy_helpers[h];

		if (helper->pid == 0 || helper->table[0] == '\0')
			continue;
		rows += helper->rows;
		bytes += helper->bytes;
		appendStringInfo(&current, "%s%s", current.len > 0 ? ", " : "", helper->table);
	}
	secs = none ? 0 : (double) (GetCurrentTimestamp() - s->copy_start_time) / USECS_PER_SEC;
	values[n++] = Int64GetDatum((int64) rows);
	values[n++] = Int64GetDatum((int64) bytes);
	nulls[n] = current.len == 0;
	values[n++] = CStringGetTextDatum(current.data);
	nulls[n] = none || !running || secs <= 0;
	values[n++] = Float8GetDatum(secs > 0 ? (s->copy_rows + rows) / secs : 0);
	return n;
}

/*
 * The heartbeat columns (heartbeat.c): when the last heartbeat that came
 * back was written (the source's clock) and when it arrived (ours), when
 * the next is expected back, and the last failure; NULL while heartbeats
 * are off.
 */
static int
heartbeat_status_columns(ApplyWorkerSlot *s, Datum *values, bool *nulls, int n)
{
	nulls[n] = (s->heartbeat_source_time == 0);
	values[n++] = TimestampTzGetDatum(s->heartbeat_source_time);
	nulls[n] = (s->heartbeat_receive_time == 0);
	values[n++] = TimestampTzGetDatum(s->heartbeat_receive_time);
	nulls[n] = (s->heartbeat_expected_time == 0);
	values[n++] = TimestampTzGetDatum(s->heartbeat_expected_time);
	nulls[n] = (s->heartbeat_error[0] == '\0');
	values[n++] = CStringGetTextDatum(s->heartbeat_error);
	return n;
}

/* Streamed transactions: applied, aborted, bytes spooled, open now. */
static int
stream_status_columns(ApplyWorkerSlot *s, Datum *values, bool *nulls, int n)
{
	values[n++] = Int64GetDatum((int64) s->n_streamed);
	values[n++] = Int64GetDatum((int64) s->n_stream_aborted);
	values[n++] = Int64GetDatum((int64) s->spooled_bytes);
	values[n++] = Int32GetDatum(s->spool_txns);
	values[n++] = Int64GetDatum((int64) s->spool_bytes);
	return n;
}

/*
 * _worker_status() RETURNS SETOF record: the shared status of this
 * database's subscriptions; the view subscription_status joins it with the
 * catalog.
 */
Datum
apply_sql_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	check_preloaded();
	InitMaterializedSRF(fcinfo, 0);

	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		ApplyWorkerSlot s;
		Datum		values[STATUS_COLUMNS];
		bool		nulls[STATUS_COLUMNS];
		int			n = 0;

		LWLockAcquire(ApplyShared->lock, LW_SHARED);
		memcpy(&s, &ApplyShared->workers[i], sizeof(s));
		LWLockRelease(ApplyShared->lock);
		if (!s.in_use || s.dbid != MyDatabaseId)
			continue;

		memset(nulls, false, sizeof(nulls));
#define LSN_OR_NULL(v) (nulls[n] = ((v) == InvalidXLogRecPtr), values[n++] = LSNGetDatum(v))
#define TS_OR_NULL(v) (nulls[n] = ((v) == 0), values[n++] = TimestampTzGetDatum(v))
		values[n++] = Int32GetDatum(s.subid);
		values[n++] = CStringGetTextDatum(state_name(s.state));
		nulls[n] = (s.pid == 0);
		values[n++] = Int32GetDatum(s.pid);
		LSN_OR_NULL(s.received_lsn);
		LSN_OR_NULL(s.applied_lsn);
		LSN_OR_NULL(s.flushed_lsn);
		TS_OR_NULL(s.last_receive_time);
		TS_OR_NULL(s.last_applied_commit_time);
		TS_OR_NULL(s.last_applied_time);
		values[n++] = Int64GetDatum((int64) s.n_inserted);
		values[n++] = Int64GetDatum((int64) s.n_updated);
		values[n++] = Int64GetDatum((int64) s.n_deleted);
		values[n++] = Int64GetDatum((int64) s.n_truncated);
		values[n++] = Int64GetDatum((int64) s.n_transactions);
		for (int c = 0; c < APPLY_NUM_CONFLICT_TYPES; c++)
			values[n++] = Int64GetDatum((int64) s.n_conflicts[c]);
		values[n++] = Int32GetDatum(s.retry_count);
		TS_OR_NULL(s.next_start_time);
		nulls[n] = (s.last_error[0] == '\0');
		values[n++] = CStringGetTextDatum(s.last_error);
		nulls[n] = (s.last_error_hint[0] == '\0');
		values[n++] = CStringGetTextDatum(s.last_error_hint);
		nulls[n] = (s.last_error_context[0] == '\0');
		values[n++] = CStringGetTextDatum(s.last_error_context);
		TS_OR_NULL(s.last_error_time);
		nulls[n] = (s.source_system_id[0] == '\0');
		values[n++] = CStringGetTextDatum(s.source_system_id);
		n = copy_status_columns(&s, values, nulls, n);
		n = heartbeat_status_columns(&s, values, nulls, n);
		nulls[n] = (s.last_error[0] == '\0');
		values[n++] = CStringGetTextDatum(apply_error_class_name(s.last_error_class));
		TS_OR_NULL(s.retry_until);
		n = stream_status_columns(&s, values, nulls, n);
		Assert(n == STATUS_COLUMNS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Is a raw parse a single "SELECT WHERE <expression>", and nothing else?
 */
static bool
one_plain_where(List *stmts)
{
	SelectStmt *sel;

	if (list_length(stmts) != 1)
		return false;
	sel = (SelectStmt *) ((RawStmt *) linitial(stmts))->stmt;
	return IsA(sel, SelectStmt) && sel->whereClause != NULL &&
		sel->fromClause == NIL && sel->targetList == NIL &&
		sel->op == SETOP_NONE && sel->withClause == NULL &&
		sel->sortClause == NIL && sel->limitCount == NULL &&
		sel->limitOffset == NULL && sel->lockingClause == NIL &&
		sel->groupClause == NIL && sel->havingClause == NULL &&
		sel->windowClause == NIL && sel->distinctClause == NIL &&
		sel->intoClause == NULL && sel->valuesLists == NIL;
}

/*
 * _check_row_filter(expr): the expression parses as one SQL expression.
 * Column references are resolved by the source's plugin, which also checks
 * what the expression may call; here we only make sure the text cannot be
 * anything but an expression (it is embedded in the copy's SELECT).
 */
Datum
apply_sql_check_row_filter(PG_FUNCTION_ARGS)
{
	char	   *expr = text_to_cstring(PG_GETARG_TEXT_PP(0));
	StringInfoData sql;
	List	   *stmts = NIL;
	bool		ok;
	MemoryContext cxt = CurrentMemoryContext;
	char	   *parse_error = NULL;

	check_caller();

	/*
	 * The expression must be one on its own, as the plugin's row-filter
	 * option reads it, and in parentheses, as the initial copy's WHERE
	 * clause has it: "true) OR (true" or a trailing comment are one only in
	 * one of the two.
	 */
	for (int form = 0; form < 2 && parse_error == NULL; form++)
	{
		initStringInfo(&sql);
		appendStringInfo(&sql, form == 0 ? "SELECT WHERE %s" : "SELECT WHERE (%s)", expr);
		PG_TRY();
		{
			stmts = raw_parser(sql.data, RAW_PARSE_DEFAULT);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			/* a syntax error only: the raw parser holds no resources */
			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			parse_error = edata->message;
			stmts = NIL;
		}
		PG_END_TRY();
		if (!one_plain_where(stmts))
			break;
	}

	ok = parse_error == NULL && one_plain_where(stmts);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for argument \"row_filter\": \"%s\"", expr),
				 parse_error ? errdetail("%s.", parse_error) : errdetail("It is not one SQL expression."),
				 errhint("Give a boolean expression over the source table's columns, such as region = 'eu' AND total > 100.")));
	PG_RETURN_VOID();
}
