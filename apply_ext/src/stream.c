/*-------------------------------------------------------------------------
 *
 * stream.c
 *		The replication connection to the source, over libpq.
 *
 * Everything waits on the process latch together with the socket, so a
 * worker or a backend stays responsive to signals and postmaster death
 * while the source is slow: connecting, running replication commands
 * (IDENTIFY_SYSTEM, CREATE_REPLICATION_SLOT, START_REPLICATION) and
 * sending standby status updates.
 *
 * Connection and command failures get an error whose hint tells the user
 * what to change, for the causes people meet when setting up replication.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

/* Wait for the socket to become readable or writable, or the latch. */
static void
wait_for_socket(PGconn *conn, bool for_read)
{
	int			io = for_read ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
	int			rc;

	rc = WaitLatchOrSocket(MyLatch, WL_EXIT_ON_PM_DEATH | WL_LATCH_SET | io,
						   PQsocket(conn), -1L, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* libpq notices from the source (the plugin's INFO lines) go to DEBUG1. */
static void
notice_to_debug(void *arg, const char *message)
{
	elog(DEBUG1, "source: %s", message);
}

/* A hint for the errors users meet most when setting replication up. */
static const char *
hint_for(const char *msg)
{
	if (msg == NULL)
		return NULL;
	if (strstr(msg, "all replication slots are in use"))
		return "Increase max_replication_slots on the source, or drop slots it no longer needs.";
	if (strstr(msg, "is active for PID"))
		return "Another process streams from this replication slot. Stop it, or give this subscription its own slot_name.";
	if (strstr(msg, "must be superuser or replication role") ||
		strstr(msg, "permission denied to start WAL sender") ||
		strstr(msg, "must have the REPLICATION attribute"))
		return "Grant the source user the REPLICATION attribute: ALTER ROLE ... REPLICATION on the source.";
	if (strstr(msg, "no pg_hba.conf entry"))
		return "Add a line for this user and database to pg_hba.conf on the source and reload it; logical replication connections match database entries, not \"replication\".";
	if (strstr(msg, "password authentication failed"))
		return "Check the user and password in the subscription's connection string.";
	if (strstr(msg, "may not be used as an output plugin"))
		return "Add decoderbufs to output_plugin_libraries on the source and reload its configuration.";
	if (strstr(msg, "could not access file \"decoderbufs\"") ||
		strstr(msg, "decoderbufs.so"))
		return "Install the decoderbufs output plugin on the source server.";
	if (strstr(msg, "unrecognized decoderbufs option \"stream-changes\""))
		return "The source's decoderbufs plugin cannot stream transactions in progress: install the same version as decoderbufs_apply there, or turn the subscription's streaming off with alter_subscription(..., streaming => false).";
	if (strstr(msg, "wal_level"))
		return "Set wal_level = logical on the source and restart it.";
	if (strstr(msg, "exceeds max_wal_senders") ||
		strstr(msg, "too many clients already"))
		return "Increase max_wal_senders (and max_connections) on the source.";
	if (strstr(msg, "replication slot") && strstr(msg, "does not exist"))
		return "The slot is gone from the source, with the changes it kept; nothing creates it again. Create the subscription again (copy_data => true copies the tables anew), or create the slot on the source again and repair the tables; see the README.";
	if (strstr(msg, "Connection refused") || strstr(msg, "could not translate host name") ||
		strstr(msg, "timeout expired") || strstr(msg, "Is the server running"))
		return "Check that the source server runs and that host and port in the connection string are right.";
	return NULL;
}

/*
 * Report a libpq failure with the source's message and a hint.  "what" says
 * what we were doing.  Does not return for elevel >= ERROR.
 */
void
apply_stream_report_error(int elevel, PGconn *conn, const char *what)
{
	char	   *msg = pchomp(conn ? PQerrorMessage(conn) : "out of memory");
	const char *hint = hint_for(msg);

	ereport(elevel,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("could not %s: %s", what, msg),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * Open a connection to the source.  With replication, it is a logical
 * replication connection (replication=database).
 */
PGconn *
apply_stream_connect(const char *conninfo, const char *appname, bool replication)
{
	const char *keys[5];
	const char *vals[5];
	int			n = 0;
	PGconn	   *conn;
	PostgresPollingStatusType status = PGRES_POLLING_WRITING;

	keys[n] = "dbname";
	vals[n++] = conninfo;
	if (replication)
	{
		keys[n] = "replication";
		vals[n++] = "database";
	}
	keys[n] = "fallback_application_name";
	vals[n++] = appname;
	keys[n] = NULL;
	vals[n] = NULL;

	conn = PQconnectStartParams(keys, vals, true);
	if (conn == NULL || PQstatus(conn) == CONNECTION_BAD)
	{
		char	   *msg = conn ? pstrdup(pchomp(PQerrorMessage(conn))) : "out of memory";
		const char *hint = hint_for(msg);

		PQfinish(conn);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not connect to the source: %s", msg),
				 hint ? errhint("%s", hint) : 0));
	}

	while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED)
	{
		wait_for_socket(conn, status == PGRES_POLLING_READING);
		status = PQconnectPoll(conn);
	}

	if (PQstatus(conn) != CONNECTION_OK)
	{
		char	   *msg = pstrdup(pchomp(PQerrorMessage(conn)));
		const char *hint = hint_for(msg);

		PQfinish(conn);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not connect to the source: %s", msg),
				 hint ? errhint("%s", hint) : 0));
	}
	PQsetNoticeProcessor(conn, notice_to_debug, NULL);
	return conn;
}

/*
 * A connection made for a non-superuser must have authenticated with a
 * password: without one, the server's own OS user opened it.
 */
void
apply_stream_check_password(PGconn *conn, bool must_use_password)
{
	if (must_use_password && !PQconnectionUsedPassword(conn))
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("password is required"),
				 errdetail("A subscription owned by a non-superuser cannot connect if the source does not ask for a password."),
				 errhint("Make the source ask this user for a password (pg_hba.conf), or have a superuser own the subscription.")));
}

void
apply_stream_disconnect(PGconn *conn)
{
	if (conn != NULL)
		PQfinish(conn);
}

/* Wait for the results of the command sent; see apply_stream_exec. */
static PGresult *
collect_result(PGconn *conn)
{
	PGresult   *last = NULL;

	for (;;)
	{
		PGresult   *res;

		while (PQisBusy(conn))
		{
			wait_for_socket(conn, true);
			if (!PQconsumeInput(conn))
			{
				PQclear(last);
				return NULL;
			}
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		PQclear(last);
		last = res;
		if (PQresultStatus(res) == PGRES_COPY_BOTH ||
			PQresultStatus(res) == PGRES_COPY_OUT ||
			PQresultStatus(res) == PGRES_COPY_IN ||
			PQstatus(conn) == CONNECTION_BAD)
			break;
	}
	return last;
}

/*
 * The result of a query sent with PQsendQuery*(): its last result, or the
 * first COPY result, waiting on the latch; NULL if the connection failed.
 * The caller PQclear()s it.
 */
PGresult *
apply_stream_collect_result(PGconn *conn)
{
	return collect_result(conn);
}

/*
 * Run a command and return its last result, or the first COPY result.
 * The caller checks the status and PQclear()s it.
 */
PGresult *
apply_stream_exec(PGconn *conn, const char *query)
{
	if (!PQsendQuery(conn, query))
		return NULL;
	return collect_result(conn);
}

/*
 * The same with parameters (text), through the extended protocol: one
 * statement only, and values never become SQL text.
 */
PGresult *
apply_stream_exec_params(PGconn *conn, const char *query, int nparams,
						 const char *const *values)
{
	if (!PQsendQueryParams(conn, query, nparams, NULL, values, NULL, NULL, 0))
		return NULL;
	return collect_result(conn);
}

/*
 * Run a query on a normal (not replication) connection to the source and
 * return its rows; an ERROR says what we were doing ("what").  The caller
 * PQclear()s the result.
 */
PGresult *
apply_stream_query(PGconn *conn, const char *query, int nparams,
				   const char *const *values, const char *what)
{
	PGresult   *res = apply_stream_exec_params(conn, query, nparams, values);

	if (res == NULL || (PQresultStatus(res) != PGRES_TUPLES_OK &&
						PQresultStatus(res) != PGRES_COMMAND_OK))
	{
		char	   *msg = pchomp(res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
		const char *hint = hint_for(msg);

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("could not %s on the source: %s", what, msg),
				 hint ? errhint("%s", hint) : 0));
	}
	return res;
}

/*
 * Raise an error for a failed command result, naming the command.  Its
 * code is ERRCODE_CONNECTION_FAILURE, but ERRCODE_UNDEFINED_OBJECT when the
 * source says the slot does not exist: the retry policy gives up at once
 * on that one (retry.c).
 */
static void
check_result(PGconn *conn, PGresult *res, ExecStatusType expected,
			 const char *what)
{
	if (res != NULL && PQresultStatus(res) == expected)
		return;
	{
		char	   *msg = pstrdup(pchomp(res && PQresultErrorMessage(res)[0] ?
										 PQresultErrorMessage(res) :
										 PQerrorMessage(conn)));
		const char *hint = hint_for(msg);
		const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		bool		no_slot = (sqlstate != NULL && strcmp(sqlstate, "42704") == 0 &&
							   strstr(msg, "replication slot") != NULL);

		PQclear(res);
		ereport(ERROR,
				(errcode(no_slot ? ERRCODE_UNDEFINED_OBJECT : ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not %s on the source: %s", what, msg),
				 hint ? errhint("%s", hint) : 0));
	}
}

/*
 * Create a logical slot using the decoderbufs plugin; returns its
 * consistent point.
 */
XLogRecPtr
apply_stream_create_slot(PGconn *conn, const char *slot_name)
{
	StringInfoData cmd;
	PGresult   *res;
	XLogRecPtr	lsn;

	initStringInfo(&cmd);
	appendStringInfo(&cmd, "CREATE_REPLICATION_SLOT %s LOGICAL decoderbufs (SNAPSHOT 'nothing')",
					 quote_identifier(slot_name));
	res = apply_stream_exec(conn, cmd.data);
	check_result(conn, res, PGRES_TUPLES_OK, "create replication slot");
	lsn = DatumGetLSN(DirectFunctionCall1(pg_lsn_in,
										  CStringGetDatum(PQgetvalue(res, 0, 1))));
	PQclear(res);
	return lsn;
}

/*
 * Create a temporary slot whose snapshot is exported, for the initial copy:
 * returns its consistent point and the snapshot's name.  The snapshot stays
 * valid until the next command on this connection.
 */
XLogRecPtr
apply_stream_create_snapshot_slot(PGconn *conn, const char *slot_name,
								  char **snapshot_name)
{
	StringInfoData cmd;
	PGresult   *res;
	XLogRecPtr	lsn;

	initStringInfo(&cmd);
	appendStringInfo(&cmd, "CREATE_REPLICATION_SLOT %s TEMPORARY LOGICAL decoderbufs (SNAPSHOT 'export')",
					 quote_identifier(slot_name));
	res = apply_stream_exec(conn, cmd.data);
	check_result(conn, res, PGRES_TUPLES_OK, "create a temporary replication slot for the initial copy");
	lsn = DatumGetLSN(DirectFunctionCall1(pg_lsn_in,
										  CStringGetDatum(PQgetvalue(res, 0, 1))));
	*snapshot_name = pstrdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	pfree(cmd.data);
	return lsn;
}

/* Drop a slot through the replication connection. */
void
apply_stream_drop_slot(PGconn *conn, const char *slot_name)
{
	StringInfoData cmd;
	PGresult   *res;

	initStringInfo(&cmd);
	appendStringInfo(&cmd, "DROP_REPLICATION_SLOT %s", quote_identifier(slot_name));
	res = apply_stream_exec(conn, cmd.data);
	check_result(conn, res, PGRES_COMMAND_OK, "drop the temporary replication slot of the initial copy");
	PQclear(res);
	pfree(cmd.data);
}

/*
 * IDENTIFY_SYSTEM: the source's system identifier (returned) and timeline.
 * It also proves the connection is a logical replication connection to a
 * database.
 */
char *
apply_stream_identify(PGconn *conn, TimeLineID *timeline)
{
	PGresult   *res = apply_stream_exec(conn, "IDENTIFY_SYSTEM");
	char	   *sysid;

	check_result(conn, res, PGRES_TUPLES_OK, "identify the source system");
	if (PQntuples(res) != 1 || PQnfields(res) < 4 || PQgetisnull(res, 0, 3))
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("unexpected IDENTIFY_SYSTEM result from the source"),
				 errdetail("A logical replication connection to a database was expected.")));
	}
	sysid = pstrdup(PQgetvalue(res, 0, 0));
	*timeline = (TimeLineID) strtoul(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return sysid;
}

/* Append one plugin option to a START_REPLICATION command. */
static void
append_option(StringInfo cmd, bool *first, const char *name, const char *value)
{
	appendStringInfoString(cmd, *first ? " (" : ", ");
	appendStringInfo(cmd, "\"%s\" ", name);
	appendStringInfoChar(cmd, '\'');
	for (const char *p = value; *p; p++)
	{
		if (*p == '\'')
			appendStringInfoChar(cmd, '\'');
		appendStringInfoChar(cmd, *p);
	}
	appendStringInfoChar(cmd, '\'');
	*first = false;
}

/* A table named exactly in a table-pattern list ("schema"."table"). */
static void
append_exact_table(StringInfo buf, const char *schema, const char *table)
{
	appendStringInfo(buf, "%s.%s", quote_identifier(schema),
					 quote_identifier(table));
}

/* One per-table plugin option: "<table>: item, item, ...". */
static void
append_list_option(StringInfo cmd, bool *first, const char *name,
				   ApplyTableConfig *tc, List *items, bool quote)
{
	StringInfoData v;
	ListCell   *lc;

	initStringInfo(&v);
	append_exact_table(&v, tc->schema_name, tc->table_name);
	appendStringInfoString(&v, ": ");
	foreach(lc, items)
	{
		if (lc != list_head(items))
			appendStringInfoString(&v, ", ");
		appendStringInfoString(&v, quote ? quote_identifier(lfirst(lc)) : lfirst(lc));
	}
	append_option(cmd, first, name, v.data);
	pfree(v.data);
}

/* The per-table plugin options of one table's settings. */
static void
append_table_options(StringInfo cmd, bool *first, ApplyTableConfig *tc)
{
	if (tc->row_filter)
	{
		StringInfoData v;

		initStringInfo(&v);
		append_exact_table(&v, tc->schema_name, tc->table_name);
		appendStringInfo(&v, ": %s", tc->row_filter);
		append_option(cmd, first, "row-filter", v.data);
		pfree(v.data);
	}
	if (tc->columns != NIL)
		append_list_option(cmd, first, "columns", tc, tc->columns, true);
	if (tc->operations != NIL)
		append_list_option(cmd, first, "operations", tc, tc->operations, false);
}

/*
 * Start streaming the subscription's slot from startpoint, asking the
 * plugin for compact, batched output (with the subscription option
 * streaming, big transactions while in progress), filtered as the
 * subscription says:
 * the table selection, and each table's columns, operations and row filter,
 * so that nothing filtered out crosses the network.  The extension's own
 * tables are never asked for.
 */
void
apply_stream_start(PGconn *conn, ApplySubscription *sub, XLogRecPtr startpoint)
{
	StringInfoData cmd;
	StringInfoData include;
	StringInfoData exclude;
	PGresult   *res;
	bool		first = true;
	char		batch[32];
	ListCell   *lc;

	initStringInfo(&include);
	if (sub->include_tables && sub->include_tables[0])
		appendStringInfoString(&include, sub->include_tables);
	if (sub->include_schemas && sub->include_schemas[0])
		appendStringInfo(&include, "%s%s", include.len > 0 ? ", " : "",
						 sub->include_schemas);
	initStringInfo(&exclude);
	appendStringInfoString(&exclude, APPLY_SCHEMA_NAME ".*");
	if (sub->exclude_tables && sub->exclude_tables[0])
		appendStringInfo(&exclude, ", %s", sub->exclude_tables);
	snprintf(batch, sizeof(batch), "%d", apply_batch_size);

	initStringInfo(&cmd);
	appendStringInfo(&cmd, "START_REPLICATION SLOT %s LOGICAL %X/%X",
					 quote_identifier(sub->slot_name), LSN_FORMAT_ARGS(startpoint));
	append_option(&cmd, &first, "proto-version", "1");
	append_option(&cmd, &first, "compact", "true");
	append_option(&cmd, &first, "batch-size", batch);
	append_option(&cmd, &first, "only-local", sub->only_local ? "true" : "false");
	if (sub->streaming)
		append_option(&cmd, &first, "stream-changes", "true");
	if (include.len > 0)
		append_option(&cmd, &first, "include-tables", include.data);
	append_option(&cmd, &first, "exclude-tables", exclude.data);
	foreach(lc, sub->table_configs)
		append_table_options(&cmd, &first, lfirst(lc));
	appendStringInfoChar(&cmd, ')');

	res = apply_stream_exec(conn, cmd.data);
	check_result(conn, res, PGRES_COPY_BOTH, "start replication");
	PQclear(res);
}

static void
put_int64(char *buf, int64 v)
{
	uint64		u = (uint64) v;

	for (int i = 7; i >= 0; i--)
	{
		buf[i] = (char) (u & 0xFF);
		u >>= 8;
	}
}

/*
 * Send a standby status update: positions written, flushed and applied.
 */
void
apply_stream_send_feedback(PGconn *conn, XLogRecPtr write, XLogRecPtr flush,
						   XLogRecPtr apply, bool request_reply)
{
	char		buf[1 + 8 * 4 + 1];

	buf[0] = 'r';
	put_int64(&buf[1], write);
	put_int64(&buf[9], flush);
	put_int64(&buf[17], apply);
	put_int64(&buf[25], GetCurrentTimestamp());
	buf[33] = request_reply ? 1 : 0;

	if (PQputCopyData(conn, buf, sizeof(buf)) <= 0 || PQflush(conn) != 0)
		apply_stream_report_error(ERROR, conn, "send feedback to the source");
}
