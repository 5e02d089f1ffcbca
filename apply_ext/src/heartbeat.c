/*-------------------------------------------------------------------------
 *
 * heartbeat.c
 *		Heartbeats through the source: lag measured end to end, also while
 *		the source is idle.
 *
 * Every decoderbufs_apply.heartbeat_interval the apply worker writes a
 * logical message into the source's WAL, on a normal connection to the
 * source that it keeps open:
 *
 *		pg_logical_emit_message(false, 'decoderbufs_apply.heartbeat',
 *			'slot=<slot> subscription=<name> time=<source clock, UTC>')
 *
 * It is non-transactional, so the source's decoder sends it as soon as it
 * reads it, after every transaction committed before it; when it comes back
 * through the subscription's slot the worker has applied all of those, and
 * the time from the source's clock_timestamp() at writing to our clock at
 * arrival is the end-to-end lag (clock skew between the servers included).
 * Every subscription streaming from the same source database sees every
 * heartbeat written there; a worker acts only on those naming its own slot,
 * which is unique on the source.
 *
 * One heartbeat is in flight at a time: the next is written one interval
 * after the previous attempt, once the previous has come back (or, if the
 * stream passed its position without it, is known lost).  The worker
 * publishes when it expects the next one (the one in flight was written, or
 * the next is due), so that the status view's lag grows while heartbeats
 * do not come back: a worker stuck in a long transaction or not running.
 *
 * Nothing here may stop replication or hold it up: the connection and the
 * query are non-blocking, polled from the stream loop; a failure is a
 * WARNING (repeated at DEBUG1 while the same failure persists), published in
 * the status view, and the heartbeat is tried again one interval later.
 *
 * The heartbeat's WAL also moves the slot on: the worker reports what it
 * received as flushed when nothing is pending (worker.c), so a stream that
 * carries nothing but heartbeats still advances confirmed_flush_lsn.
 *
 * Copyright (c) 2026, decoderbufs authors
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#define HEARTBEAT_PREFIX		"decoderbufs_apply.heartbeat"

/* How often an attempt under way is polled, in ms. */
#define HEARTBEAT_POLL_MS		10

/* How long (ms) an attempt may go unanswered when receive_timeout is 0. */
#define HEARTBEAT_DEFAULT_TIMEOUT	60000

/* Longest heartbeat content we parse; ours are far shorter. */
#define HEARTBEAT_MAX_CONTENT	1024

/* Length of the time field: YYYY-MM-DDTHH:MI:SS.USZ */
#define HEARTBEAT_TIME_LEN		27

typedef enum HeartbeatPhase
{
	HEARTBEAT_DISCONNECTED,		/* no connection to the source */
	HEARTBEAT_CONNECTING,		/* PQconnectPoll under way */
	HEARTBEAT_IDLE,				/* connected, no query running */
	HEARTBEAT_SENT				/* the query is sent, its result awaited */
} HeartbeatPhase;

static MemoryContext HeartbeatContext = NULL;	/* reset after every call */
static PGconn *hb_conn = NULL;
static PGresult *hb_result = NULL;	/* of the query, once read */
static HeartbeatPhase hb_phase = HEARTBEAT_DISCONNECTED;
static PostgresPollingStatusType hb_poll_status;
static bool hb_flushing = false;	/* the query is not fully sent yet */
static bool hb_exit_registered = false;
static bool hb_started = false;		/* this worker published its state */
static bool hb_active = false;		/* heartbeats on when last looked */

static TimestampTz hb_attempt_start = 0;	/* of the last attempt */
static bool hb_to_send = false;	/* the attempt has not sent its query yet */
static bool hb_conn_reused = false; /* the attempt uses an older connection */
static TimestampTz hb_query_sent = 0;	/* when its query went out */

/* The heartbeat in flight: written, not back yet. */
static bool hb_in_flight = false;
static char hb_sent_time_text[HEARTBEAT_TIME_LEN + 1];
static XLogRecPtr hb_sent_end_lsn = InvalidXLogRecPtr;

/* The time field of the last of our heartbeats to arrive. */
static char hb_arrived_time_text[HEARTBEAT_TIME_LEN + 1];

/* The last attempt's failure, to log a failure that persists only once. */
static char *hb_failure = NULL;

static void start_connect(ApplyContext *actx);

/* libpq notices of the heartbeat connection go to DEBUG1. */
static void
heartbeat_notice(void *arg, const char *message)
{
	elog(DEBUG1, "source (heartbeat connection): %s", message);
}

static void
heartbeat_disconnect(void)
{
	PQclear(hb_result);
	hb_result = NULL;
	if (hb_conn != NULL)
		PQfinish(hb_conn);
	hb_conn = NULL;
	hb_phase = HEARTBEAT_DISCONNECTED;
	hb_flushing = false;
}

static void
heartbeat_on_exit(int code, Datum arg)
{
	heartbeat_disconnect();
}

/* Publish the heartbeat state of the subscription for the status view. */
static void
publish(ApplyWorkerSlot *slot, bool clear_all, TimestampTz expected,
		const char *error)
{
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	if (clear_all)
	{
		slot->heartbeat_source_time = 0;
		slot->heartbeat_receive_time = 0;
	}
	slot->heartbeat_expected_time = expected;
	if (error != NULL)
		strlcpy(slot->heartbeat_error, error, sizeof(slot->heartbeat_error));
	LWLockRelease(ApplyShared->lock);
}

/* When the next heartbeat is due, after the last attempt. */
static TimestampTz
next_due(void)
{
	return TimestampTzPlusMilliseconds(hb_attempt_start,
									   apply_heartbeat_interval);
}

/*
 * A hint for a failed heartbeat: what to grant or change on the source.
 * Replication does not depend on it, which the detail says.
 */
static const char *
failure_hint(const char *sqlstate, const char *msg)
{
	const char *user = hb_conn ? PQuser(hb_conn) : NULL;
	bool		flush_arg = hb_conn && PQserverVersion(hb_conn) >= 170000;

	if (msg != NULL && strstr(msg, "pg_logical_emit_message") &&
		sqlstate != NULL && strcmp(sqlstate, "42501") == 0)
		return psprintf("On the source: GRANT EXECUTE ON FUNCTION pg_catalog.pg_logical_emit_message(boolean, text, text%s) TO %s; or turn heartbeats off with decoderbufs_apply.heartbeat_interval = 0.",
						flush_arg ? ", boolean" : "",
						user ? quote_identifier(user) : "the subscription's user");
	if (msg != NULL && (strstr(msg, "during recovery") ||
						(sqlstate != NULL && strcmp(sqlstate, "25006") == 0)))
		return "The source is a standby, where no heartbeat can be written: turn heartbeats off with decoderbufs_apply.heartbeat_interval = 0.";
	if (msg != NULL && strstr(msg, "permission denied for database"))
		return "On the source, grant the subscription's user CONNECT on the database.";
	if (msg != NULL && strstr(msg, "no pg_hba.conf entry"))
		return "The heartbeat uses a normal connection (not a replication one) with the subscription's connection string: allow it in the source's pg_hba.conf, or turn heartbeats off with decoderbufs_apply.heartbeat_interval = 0.";
	return "The heartbeat uses a normal connection to the source with the subscription's connection string; it is tried again every decoderbufs_apply.heartbeat_interval.";
}

/*
 * A heartbeat attempt failed.  Log it at WARNING, unless it is the same
 * failure as the last attempt's (DEBUG1 then); publish it; with
 * disconnect, drop the connection so that the next attempt opens a new one.
 */
static void
heartbeat_failed(ApplyContext *actx, const char *sqlstate, const char *msg,
				 const char *hint, bool disconnect)
{
	bool		repeated = (hb_failure != NULL && strcmp(hb_failure, msg) == 0);
	int			code = ERRCODE_CONNECTION_EXCEPTION;

	/*
	 * A connection kept open may have been closed by the source meanwhile
	 * (a restart, idle_session_timeout, a terminated backend): try once
	 * more, at once, on a new one.
	 */
	if (disconnect && hb_conn_reused && hb_to_send)
	{
		elog(DEBUG1, "the heartbeat connection of decoderbufs_apply subscription \"%s\" was closed: %s",
			 actx->sub->name, msg);
		heartbeat_disconnect();
		start_connect(actx);
		return;
	}
	hb_to_send = false;

	if (hint == NULL)
		hint = failure_hint(sqlstate, msg);
	if (sqlstate != NULL && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
							 sqlstate[3], sqlstate[4]);
	ereport(repeated ? DEBUG1 : WARNING,
			(errcode(code),
			 errmsg("heartbeat of decoderbufs_apply subscription \"%s\" failed: %s",
					actx->sub->name, msg),
			 errdetail("Replication goes on. Until a heartbeat comes back, lag_seconds is measured from commit times only."),
			 errhint("%s", hint)));
	if (!repeated)
	{
		if (hb_failure != NULL)
			pfree(hb_failure);
		hb_failure = MemoryContextStrdup(TopMemoryContext, msg);
	}
	if (disconnect)
		heartbeat_disconnect();
	publish(actx->slot, false, next_due(), msg);
}

/* Is the socket ready for reading (or writing) right now? */
static bool
socket_ready(PGconn *conn, bool for_read)
{
	int			rc;

	if (PQsocket(conn) == PGINVALID_SOCKET)
		return true;			/* libpq will say what is wrong */
	rc = WaitLatchOrSocket(NULL,
						   (for_read ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE) |
						   WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						   PQsocket(conn), 0, PG_WAIT_EXTENSION);
	return (rc & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE)) != 0;
}

/* Start connecting to the source (non-blocking). */
static void
start_connect(ApplyContext *actx)
{
	const char *keys[3];
	const char *vals[3];
	char		appname[NAMEDATALEN];

	snprintf(appname, sizeof(appname), "%s heartbeat", actx->sub->name);
	keys[0] = "dbname";
	vals[0] = actx->sub->conninfo;
	keys[1] = "fallback_application_name";
	vals[1] = appname;
	keys[2] = NULL;
	vals[2] = NULL;

	if (!hb_exit_registered)
	{
		on_proc_exit(heartbeat_on_exit, (Datum) 0);
		hb_exit_registered = true;
	}
	hb_conn_reused = false;
	hb_conn = PQconnectStartParams(keys, vals, true);
	if (hb_conn == NULL || PQstatus(hb_conn) == CONNECTION_BAD)
	{
		char	   *msg = hb_conn ? pchomp(PQerrorMessage(hb_conn)) : "out of memory";

		heartbeat_failed(actx, NULL, psprintf("could not connect: %s", msg),
						 NULL, true);
		return;
	}
	hb_phase = HEARTBEAT_CONNECTING;
	hb_poll_status = PGRES_POLLING_WRITING;
}

/*
 * Move the connection on, if its socket is ready.  A subscription owned by
 * a non-superuser must have authenticated with a password, as its
 * replication connection did.
 */
static void
advance_connect(ApplyContext *actx)
{
	if (!socket_ready(hb_conn, hb_poll_status == PGRES_POLLING_READING))
		return;
	hb_poll_status = PQconnectPoll(hb_conn);
	if (hb_poll_status == PGRES_POLLING_FAILED)
	{
		heartbeat_failed(actx, NULL,
						 psprintf("could not connect: %s", pchomp(PQerrorMessage(hb_conn))),
						 NULL, true);
		return;
	}
	if (hb_poll_status != PGRES_POLLING_OK)
		return;

	if (!actx->owner_is_superuser && !PQconnectionUsedPassword(hb_conn))
	{
		heartbeat_failed(actx, "2F003",
						 "password is required",
						 "A subscription owned by a non-superuser connects only with a password: make the source ask for one on normal connections too (pg_hba.conf).",
						 true);
		return;
	}
	PQsetNoticeProcessor(hb_conn, heartbeat_notice, NULL);
	if (PQsetnonblocking(hb_conn, 1) != 0)
	{
		heartbeat_failed(actx, NULL,
						 psprintf("could not make the connection non-blocking: %s",
								  pchomp(PQerrorMessage(hb_conn))),
						 NULL, true);
		return;
	}
	hb_phase = HEARTBEAT_IDLE;
}

/*
 * Send the heartbeat.  The source's clock_timestamp() goes into the message
 * and comes back with the position of its WAL record.  From PostgreSQL 17
 * on the message is flushed at once; before, the source's WAL writer
 * flushes it at the end of the statement's transaction (within
 * wal_writer_delay).
 */
static void
send_heartbeat(ApplyContext *actx)
{
	const char *values[2];
	bool		flush_arg = PQserverVersion(hb_conn) >= 170000;
	char	   *query;

	/* everything schema-qualified, no operators: the source's search_path */
	query = psprintf("SELECT h.t, pg_catalog.pg_logical_emit_message(false, '%s', "
					 "pg_catalog.format('slot=%%s subscription=%%s time=%%s', $1::text, $2::text, h.t)%s)::text "
					 "FROM (SELECT pg_catalog.to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC', "
					 "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS t OFFSET 0) h",
					 HEARTBEAT_PREFIX, flush_arg ? ", true" : "");
	values[0] = actx->sub->slot_name;
	values[1] = actx->sub->name;
	if (!PQsendQueryParams(hb_conn, query, 2, NULL, values, NULL, NULL, 0))
	{
		heartbeat_failed(actx, NULL, pchomp(PQerrorMessage(hb_conn)), NULL, true);
		return;
	}
	pfree(query);
	hb_query_sent = GetCurrentTimestamp();
	hb_flushing = true;
	hb_phase = HEARTBEAT_SENT;
}

/*
 * The query's result: what was written, and where.  If the heartbeat came
 * back through the stream before its result here, it is not in flight.
 */
static void
take_result(ApplyContext *actx, PGresult *res)
{
	uint32		hi,
				lo;
	const char *t;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		char	   *msg = primary ? pstrdup(primary) :
			pchomp(PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res) :
				   PQerrorMessage(hb_conn));

		heartbeat_failed(actx, sqlstate, msg, NULL,
						 PQstatus(hb_conn) != CONNECTION_OK);
		return;
	}
	if (PQntuples(res) != 1 || PQnfields(res) != 2 ||
		strlen(t = PQgetvalue(res, 0, 0)) != HEARTBEAT_TIME_LEN ||
		sscanf(PQgetvalue(res, 0, 1), "%X/%X", &hi, &lo) != 2)
	{
		heartbeat_failed(actx, NULL, "unexpected result of the heartbeat query",
						 NULL, false);
		return;
	}
	hb_to_send = false;
	strlcpy(hb_sent_time_text, t, sizeof(hb_sent_time_text));
	hb_sent_end_lsn = ((uint64) hi << 32) | lo;
	hb_in_flight = (strcmp(hb_sent_time_text, hb_arrived_time_text) != 0);
	publish(actx->slot, false, hb_in_flight ? hb_query_sent : next_due(), NULL);
}

/*
 * Move the query on: finish sending it, read what arrived, and once its
 * result and the end of the query are in, take the result.  Never waits.
 */
static void
advance_query(ApplyContext *actx)
{
	PGresult   *res;

	if (hb_flushing)
	{
		int			r = PQflush(hb_conn);

		if (r < 0)
		{
			heartbeat_failed(actx, NULL, pchomp(PQerrorMessage(hb_conn)), NULL, true);
			return;
		}
		hb_flushing = (r > 0);
		if (hb_flushing)
			return;
	}
	if (!PQconsumeInput(hb_conn))
	{
		heartbeat_failed(actx, NULL, pchomp(PQerrorMessage(hb_conn)), NULL, true);
		return;
	}
	for (;;)
	{
		if (PQisBusy(hb_conn))
			return;				/* more to read: on a later call */
		res = PQgetResult(hb_conn);
		if (res == NULL)
			break;
		PQclear(hb_result);
		hb_result = res;
		if (PQstatus(hb_conn) == CONNECTION_BAD)
			break;
	}
	hb_phase = HEARTBEAT_IDLE;
	res = hb_result;
	hb_result = NULL;
	if (res == NULL)
		heartbeat_failed(actx, NULL, "the source returned no result", NULL, true);
	else
		take_result(actx, res);
	PQclear(res);
}

/* Turn heartbeats off: no connection, nothing published. */
static void
heartbeat_stop(ApplyContext *actx)
{
	heartbeat_disconnect();
	hb_in_flight = false;
	hb_to_send = false;
	hb_attempt_start = 0;
	if (hb_failure != NULL)
		pfree(hb_failure);
	hb_failure = NULL;
	publish(actx->slot, true, 0, "");
	hb_active = false;
}

/* Is an attempt under way (connecting, or its query not answered)? */
static bool
attempt_under_way(void)
{
	return hb_phase == HEARTBEAT_CONNECTING || hb_phase == HEARTBEAT_SENT ||
		(hb_to_send && hb_phase == HEARTBEAT_IDLE);
}

/* Move an attempt on as far as it goes without waiting. */
static void
advance_attempt(ApplyContext *actx)
{
	if (hb_phase == HEARTBEAT_CONNECTING)
		advance_connect(actx);
	if (hb_phase == HEARTBEAT_IDLE && hb_to_send)
		send_heartbeat(actx);
	if (hb_phase == HEARTBEAT_SENT)
		advance_query(actx);
	/* a second connection, after one found closed, from its start */
	if (hb_phase == HEARTBEAT_CONNECTING)
		advance_connect(actx);
}

/* The work of apply_heartbeat_when_due, in HeartbeatContext. */
static long
heartbeat_step(ApplyContext *actx, XLogRecPtr received_lsn, bool between_txns)
{
	TimestampTz now;

	if (apply_heartbeat_interval <= 0)
	{
		if (hb_active || !hb_started)
			heartbeat_stop(actx);
		hb_started = true;
		return LONG_MAX;
	}
	if (!hb_active)
	{
		/* nothing of an earlier worker, or of an earlier setting, is in flight */
		hb_started = hb_active = true;
		publish(actx->slot, false, GetCurrentTimestamp(), NULL);
	}

	if (attempt_under_way())
		advance_attempt(actx);

	/* the stream went past the heartbeat in flight without it */
	if (hb_in_flight && received_lsn >= hb_sent_end_lsn)
	{
		hb_in_flight = false;
		heartbeat_failed(actx, NULL,
						 psprintf("the heartbeat did not come back through slot \"%s\"",
								  actx->sub->slot_name),
						 "The source's decoderbufs plugin must send logical messages, and the connection string must lead to the server and database of the slot.",
						 false);
	}

	now = GetCurrentTimestamp();
	if (attempt_under_way())
	{
		int			timeout = apply_receive_timeout > 0 ?
			apply_receive_timeout : HEARTBEAT_DEFAULT_TIMEOUT;

		if (!TimestampDifferenceExceeds(hb_attempt_start, now, timeout))
			return HEARTBEAT_POLL_MS;
		hb_conn_reused = false; /* no second try */
		heartbeat_failed(actx, NULL,
						 psprintf("the source did not answer within %d ms", timeout),
						 NULL, true);
	}

	if (hb_in_flight || !between_txns)
		return LONG_MAX;		/* the stream wakes us */
	if (hb_attempt_start != 0 &&
		!TimestampDifferenceExceeds(hb_attempt_start, now, apply_heartbeat_interval))
		return TimestampDifferenceMilliseconds(now, next_due());

	/* a new attempt */
	hb_attempt_start = now;
	hb_to_send = true;
	if (hb_phase == HEARTBEAT_DISCONNECTED)
		start_connect(actx);
	else
		hb_conn_reused = true;
	advance_attempt(actx);
	return attempt_under_way() ? HEARTBEAT_POLL_MS : apply_heartbeat_interval;
}

/*
 * Called from the stream loop: move an attempt under way on, notice a
 * heartbeat that will not come back, and start the next attempt when one
 * is due, only between remote transactions (between_txns).  received_lsn
 * is the latest position the stream reached.  Returns how long the loop
 * may wait before calling again.
 */
long
apply_heartbeat_when_due(ApplyContext *actx, XLogRecPtr received_lsn,
						 bool between_txns)
{
	MemoryContext oldcxt;
	long		wait_ms;

	if (HeartbeatContext == NULL)
		HeartbeatContext = AllocSetContextCreate(TopMemoryContext,
												 "decoderbufs_apply heartbeat",
												 ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(HeartbeatContext);
	wait_ms = heartbeat_step(actx, received_lsn, between_txns);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(HeartbeatContext);
	return wait_ms;
}

/*
 * Parse the content of a heartbeat: its slot and its time.  Returns false
 * for anything that is not a heartbeat of ours in a form we know.
 */
static bool
parse_heartbeat(const char *content, size_t len, const char *slot_name,
				char *time_text, TimestampTz *source_time)
{
	char		buf[HEARTBEAT_MAX_CONTENT + 1];
	bool		our_slot = false;
	bool		have_time = false;
	char	   *tok;
	char	   *save;

	if (len > HEARTBEAT_MAX_CONTENT || memchr(content, '\0', len) != NULL)
		return false;
	memcpy(buf, content, len);
	buf[len] = '\0';

	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
	{
		if (strncmp(tok, "slot=", 5) == 0)
			our_slot = (strcmp(tok + 5, slot_name) == 0);
		else if (strncmp(tok, "time=", 5) == 0)
		{
			struct pg_tm tm;
			int			usec;
			int			consumed = -1;
			Timestamp	ts;

			memset(&tm, 0, sizeof(tm));
			if (strlen(tok + 5) != HEARTBEAT_TIME_LEN ||
				sscanf(tok + 5, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ%n",
					   &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
					   &tm.tm_min, &tm.tm_sec, &usec, &consumed) != 7 ||
				consumed != HEARTBEAT_TIME_LEN ||
				tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
				tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
				tm.tm_sec > 60 || usec < 0 || tm.tm_year < 1 ||
				tm2timestamp(&tm, usec, NULL, &ts) != 0)
				return false;
			strlcpy(time_text, tok + 5, HEARTBEAT_TIME_LEN + 1);
			*source_time = (TimestampTz) ts;
			have_time = true;
		}
		/* other fields: from a later version, not needed */
	}
	return our_slot && have_time;
}

/*
 * A logical message arrived (handle_row).  A heartbeat of this
 * subscription's slot records when it was written (the source's clock) and
 * when it arrived (ours); every other message, including other
 * subscriptions' heartbeats, is ignored.  Its position counts as received
 * like any other: the worker reports it flushed when nothing is pending.
 */
void
apply_heartbeat_receive(ApplyContext *actx, Decoderbufs__RowMessage *msg)
{
	Decoderbufs__LogicalMessage *lm = msg->message;
	char		time_text[HEARTBEAT_TIME_LEN + 1];
	TimestampTz source_time;
	TimestampTz now;
	ApplyWorkerSlot *slot = actx->slot;

	if (apply_heartbeat_interval <= 0 || lm == NULL || lm->transactional ||
		lm->prefix == NULL || strcmp(lm->prefix, HEARTBEAT_PREFIX) != 0)
		return;
	if (!parse_heartbeat((const char *) lm->content.data, lm->content.len,
						 actx->sub->slot_name, time_text, &source_time))
		return;

	now = GetCurrentTimestamp();
	strlcpy(hb_arrived_time_text, time_text, sizeof(hb_arrived_time_text));
	if (hb_failure != NULL)
	{
		ereport(LOG,
				(errmsg("heartbeats of decoderbufs_apply subscription \"%s\" work again",
						actx->sub->name)));
		pfree(hb_failure);
		hb_failure = NULL;
	}
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	slot->heartbeat_source_time = source_time;
	slot->heartbeat_receive_time = now;
	slot->heartbeat_error[0] = '\0';
	if (hb_in_flight && strcmp(time_text, hb_sent_time_text) == 0)
	{
		hb_in_flight = false;
		slot->heartbeat_expected_time = next_due();
	}
	LWLockRelease(ApplyShared->lock);
}
