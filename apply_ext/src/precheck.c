/*-------------------------------------------------------------------------
 *
 * precheck.c
 *		Checks that a subscription can work, before it is created or
 *		enabled: decoderbufs_apply.precheck().
 *
 * Every check gives one row: its name, a status (ok, warning or error), the
 * object concerned (a table, column, role or slot, when there is one), a
 * message and a hint that says how to fix it.  A check with nothing to
 * report gives a single ok row; a check that finds problems gives one row
 * per offending object.  create_subscription() and enable_subscription()
 * refuse to go on when a row says error.
 *
 * The source is examined over two connections: a normal one for catalog
 * queries (settings, roles, slots, tables, columns), and a logical
 * replication connection (replication=database) that proves what only such
 * a connection can: the role may replicate, pg_hba.conf lets it in, and a
 * wal sender is free.  The target's side is read from the local catalog
 * through the subscription's selection (selection.c) and name mapping
 * (mapping.c), exactly as the worker will map rows.
 *
 * Whether the source lets slots use the decoderbufs plugin
 * (output_plugin_libraries) is read from the setting when the source role
 * may read it (superusers and pg_read_all_settings members).  Otherwise the
 * only way to know is to try: a TEMPORARY logical slot with the plugin is
 * created on the replication connection and dropped with the connection.
 * That costs a free slot for a moment and a running-transactions record in
 * the source's WAL, and slot creation waits for the transactions running on
 * the source to end; the attempt is therefore given a few seconds only, and
 * is not made when it would wait for the calling transaction itself.
 *
 * Column types are compared simply, documented in the README: the same type
 * is fine; another type is converted through text by the worker (the source
 * type's output, the target type's input), which is a warning when it can
 * work for some values (same type category, a string type on either side,
 * or a type the target cannot judge) and an error when the categories
 * cannot meet (boolean into numeric, date into network address, ...).
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/commit_ts.h"
#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

PG_FUNCTION_INFO_V1(apply_sql_precheck);

#define PRECHECK_APPNAME		"decoderbufs_apply precheck"
#define PRECHECK_COLUMNS		5

/* How long the plugin probe (a temporary slot) may take. */
#define PRECHECK_PROBE_TIMEOUT_MS	5000

/* wal_sender_timeout below this is a warning. */
#define PRECHECK_MIN_SENDER_TIMEOUT_MS	10000

typedef enum PrecheckStatus
{
	PRECHECK_OK,
	PRECHECK_WARNING,
	PRECHECK_ERROR
} PrecheckStatus;

static const char *const status_names[] = {
	[PRECHECK_OK] = "ok",
	[PRECHECK_WARNING] = "warning",
	[PRECHECK_ERROR] = "error",
};

/* A selected source table and where its rows go. */
typedef struct PrecheckTable
{
	ApplySourceTable *src;
	ApplyTableConfig *tc;
	List	   *columns;		/* of ApplySourceColumn */
	const char *target_schema;
	const char *target_table;
	Oid			target_relid;	/* InvalidOid if missing or not a table */
	ApplyTableSync *sync;		/* copy state, NULL if none */
} PrecheckTable;

/* What the checks share. */
typedef struct Precheck
{
	ReturnSetInfo *rsinfo;
	int			problems;		/* rows that are not ok, so far */
	ApplySubscription *sub;		/* selection, mapping, copy settings */
	bool		sub_exists;		/* sub is a real subscription */
	const char *slot_name;		/* the subscription's slot, NULL: unknown */
	bool		create_slot;	/* the slot is yet to be created */
	PGconn	   *conn;			/* normal connection to the source */
	PGconn	   *repl;			/* replication connection, or NULL */
	char	   *source_user;
	bool		may_replicate;	/* REPLICATION or superuser on the source */
	bool		slot_exists;
	bool		slot_held_by_worker;	/* active, by this subscription */
	List	   *tables;			/* of PrecheckTable */
} Precheck;

/* ---- results ---- */

/* Add one row. */
static void
report(Precheck *pc, const char *check, PrecheckStatus status,
	   const char *object, const char *message, const char *hint)
{
	Datum		values[PRECHECK_COLUMNS];
	bool		nulls[PRECHECK_COLUMNS] = {false};

	values[0] = CStringGetTextDatum(check);
	values[1] = CStringGetTextDatum(status_names[status]);
	nulls[2] = (object == NULL);
	values[2] = object ? CStringGetTextDatum(object) : (Datum) 0;
	values[3] = CStringGetTextDatum(message);
	nulls[4] = (hint == NULL);
	values[4] = hint ? CStringGetTextDatum(hint) : (Datum) 0;
	tuplestore_putvalues(pc->rsinfo->setResult, pc->rsinfo->setDesc,
						 values, nulls);
	if (status != PRECHECK_OK)
		pc->problems++;
}

/*
 * The ok row of a check that looks at many objects, given only if none of
 * them was reported since "before" (pc->problems when the check began).
 */
static void
report_ok_unless(Precheck *pc, int before, const char *check,
				 const char *message)
{
	if (pc->problems == before)
		report(pc, check, PRECHECK_OK, NULL, message, NULL);
}

/* "schema.table" for objects and hints, quoted where SQL needs it. */
static char *
table_name(const char *schema, const char *table)
{
	return quote_qualified_identifier(schema, table);
}

/* "schema.table" for messages, as PostgreSQL's own messages name tables. */
static char *
table_label(const char *schema, const char *table)
{
	return psprintf("\"%s.%s\"", schema, table);
}

static char *
column_name(const char *schema, const char *table, const char *column)
{
	return psprintf("%s.%s", table_name(schema, table),
					quote_identifier(column));
}

/* ---- talking to the source ---- */

/*
 * Connect to the source; on failure return NULL with the error (message
 * and hint) in *edata.  apply_stream_connect raises its connection errors
 * after releasing the connection, so nothing is held and the error can be
 * caught without a subtransaction; any other error (a query cancel while
 * waiting) is raised again.
 */
static PGconn *
connect_source(const char *conninfo, bool replication, ErrorData **edata)
{
	MemoryContext cxt = CurrentMemoryContext;
	PGconn	   *volatile conn = NULL;

	PG_TRY();
	{
		conn = apply_stream_connect(conninfo, PRECHECK_APPNAME, replication);
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		if (e->sqlerrcode != ERRCODE_CONNECTION_FAILURE)
			PG_RE_THROW();
		FlushErrorState();
		*edata = e;
		conn = NULL;
	}
	PG_END_TRY();
	return conn;
}

/* The primary message of a failed result, or the connection's. */
static char *
result_error(PGconn *conn, PGresult *res)
{
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (msg == NULL)
		msg = PQerrorMessage(conn);
	return pchomp(msg);
}

/*
 * Run a query on the source.  NULL on failure, with the source's message
 * in *err and its SQLSTATE in *sqlstate (either may be NULL).
 */
static PGresult *
source_query(PGconn *conn, const char *sql, int nparams,
			 const char *const *params, char **err, char **sqlstate)
{
	PGresult   *res = apply_stream_exec_params(conn, sql, nparams, params);
	const char *state;

	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	if (err)
		*err = result_error(conn, res);
	state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (sqlstate)
		*sqlstate = pstrdup(state ? state : "");
	PQclear(res);
	return NULL;
}

static bool
value_bool(PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

static int
value_int(PGresult *res, int row, int col)
{
	return (int) strtol(PQgetvalue(res, row, col), NULL, 10);
}

/* ---- connection, settings, privileges ---- */

/*
 * Open the normal connection.  A non-superuser's connection must have
 * used a password: the server's own OS user must not open it for them
 * (see apply_stream_check_password).
 */
static bool
check_connection(Precheck *pc)
{
	ErrorData  *edata = NULL;

	pc->conn = connect_source(pc->sub->conninfo, false, &edata);
	if (pc->conn == NULL)
	{
		report(pc, "connection", PRECHECK_ERROR, NULL,
			   psprintf("%s; the checks of the source were skipped", edata->message),
			   edata->hint ? edata->hint :
			   "Check the connection string: host, port, database, user and password.");
		return false;
	}
	if (!superuser() && !PQconnectionUsedPassword(pc->conn))
	{
		report(pc, "connection", PRECHECK_ERROR, NULL,
			   "password is required: the source did not ask for one; the checks of the source were skipped",
			   "Make the source ask this user for a password (pg_hba.conf), or have a superuser run the check: a non-superuser's connection must not be opened on the strength of the server's own OS user.");
		return false;
	}
	pc->source_user = pstrdup(PQuser(pc->conn));
	report(pc, "connection", PRECHECK_OK, NULL,
		   psprintf("connected to the source (PostgreSQL %s) as role \"%s\"",
					PQparameterStatus(pc->conn, "server_version"),
					pc->source_user),
		   NULL);
	return true;
}

/* wal_level must be logical. */
static void
check_wal_level(Precheck *pc, const char *wal_level)
{
	if (strcmp(wal_level, "logical") == 0)
		report(pc, "wal_level", PRECHECK_OK, NULL,
			   "wal_level is logical on the source", NULL);
	else
		report(pc, "wal_level", PRECHECK_ERROR, NULL,
			   psprintf("wal_level is \"%s\" on the source; logical decoding needs \"logical\"",
						wal_level),
			   "Set wal_level = logical in the source's postgresql.conf and restart it.");
}

/* Why the subscription needs the slots or wal senders it needs. */
static char *
needs_text(int need, bool stream, bool copy, const char *what)
{
	if (need == 0)
		return psprintf("none is needed: the subscription's %s exists already", what);
	if (stream && copy)
		return psprintf("%d are needed: one for the subscription, one for its initial copy", need);
	if (copy)
		return psprintf("%d is needed, for the initial copy", need);
	return psprintf("%d is needed, for the subscription", need);
}

/* Does the initial copy still have tables to copy? */
static bool
copy_pending(Precheck *pc)
{
	ListCell   *lc;

	if (!pc->sub->copy_data)
		return false;
	if (!pc->sub_exists || pc->sub->table_syncs == NIL)
		return true;
	foreach(lc, pc->sub->table_syncs)
	{
		if (((ApplyTableSync *) lfirst(lc))->state != 'r')
			return true;
	}
	return false;
}

/*
 * Free replication slots: one for the subscription unless its slot exists,
 * one temporary slot for the initial copy.
 */
static void
check_slots(Precheck *pc, int max_slots, int used)
{
	bool		stream = !pc->slot_exists;
	bool		copy = copy_pending(pc);
	int			need = (stream ? 1 : 0) + (copy ? 1 : 0);
	int			free_slots = Max(max_slots - used, 0);
	char	   *msg = psprintf("the source has %d of %d replication slots free; %s",
							   free_slots, max_slots,
							   needs_text(need, stream, copy, "slot"));

	if (free_slots >= need)
		report(pc, "replication_slots", PRECHECK_OK, NULL, msg, NULL);
	else
		report(pc, "replication_slots", PRECHECK_ERROR, NULL, msg,
			   psprintf("Raise max_replication_slots on the source (it is %d; a restart is needed), or drop slots it no longer needs with pg_drop_replication_slot().",
						max_slots));
}

/*
 * Free wal senders: the subscription streams through one, unless its
 * worker holds one already.  The initial copy uses the same connection.
 */
static void
check_wal_senders(Precheck *pc, int max_senders, int used)
{
	int			need = pc->slot_held_by_worker ? 0 : 1;
	int			free_senders = Max(max_senders - used, 0);
	char	   *msg = psprintf("the source has %d of %d wal senders free; %s",
							   free_senders, max_senders,
							   need == 0 ? "none is needed: the subscription's worker streams already" :
							   "1 is needed, for the subscription");

	if (free_senders >= need)
		report(pc, "wal_senders", PRECHECK_OK, NULL, msg, NULL);
	else
		report(pc, "wal_senders", PRECHECK_ERROR, NULL, msg,
			   psprintf("Raise max_wal_senders on the source (it is %d; a restart is needed), or stop replication connections it no longer needs.",
						max_senders));
}

/* A dead connection must be noticed, a busy target must not be cut off. */
static void
check_sender_timeout(Precheck *pc, int timeout_ms)
{
	if (timeout_ms == 0)
		report(pc, "wal_sender_timeout", PRECHECK_WARNING, NULL,
			   "wal_sender_timeout is 0 on the source: a subscription's dead connection goes unnoticed, and its wal sender and slot stay busy",
			   "Set wal_sender_timeout = 60s (the default) on the source and reload its configuration.");
	else if (timeout_ms < PRECHECK_MIN_SENDER_TIMEOUT_MS)
		report(pc, "wal_sender_timeout", PRECHECK_WARNING, NULL,
			   psprintf("wal_sender_timeout is %d ms on the source: a target busy with a large transaction may be disconnected",
						timeout_ms),
			   "Set wal_sender_timeout to 10s or more (the default is 60s) on the source and reload its configuration.");
	else
		report(pc, "wal_sender_timeout", PRECHECK_OK, NULL,
			   psprintf("wal_sender_timeout is %d ms on the source", timeout_ms),
			   NULL);
}

/*
 * The subscription's slot, when its name is known: it must not exist yet
 * if it is to be created, and must be a decoderbufs slot of this database
 * otherwise.
 */
static void
check_slot(Precheck *pc, PGresult *res)
{
	const char *slot = pc->slot_name;
	bool		exists = PQntuples(res) > 0;
	const char *plugin;
	const char *db;

	if (pc->create_slot)
	{
		if (exists)
			report(pc, "slot", PRECHECK_ERROR, slot,
				   psprintf("replication slot \"%s\" already exists on the source", slot),
				   psprintf("Drop it on the source with SELECT pg_drop_replication_slot('%s'), give the subscription another slot_name, or pass create_slot => false to use it.",
							slot));
		else
			report(pc, "slot", PRECHECK_OK, slot,
				   psprintf("replication slot \"%s\" does not exist yet on the source and will be created", slot),
				   NULL);
		return;
	}
	if (!exists)
	{
		report(pc, "slot", PRECHECK_ERROR, slot,
			   psprintf("replication slot \"%s\" does not exist on the source", slot),
			   pc->sub_exists ?
			   psprintf("Create it on the source with SELECT pg_create_logical_replication_slot('%s', 'decoderbufs') (changes made before are not replicated), or drop the subscription and create it again.", slot) :
			   psprintf("Create it on the source with SELECT pg_create_logical_replication_slot('%s', 'decoderbufs'), or pass create_slot => true.", slot));
		return;
	}
	plugin = PQgetisnull(res, 0, 0) ? "(physical)" : PQgetvalue(res, 0, 0);
	db = PQgetvalue(res, 0, 1);
	if (strcmp(plugin, "decoderbufs") != 0)
		report(pc, "slot", PRECHECK_ERROR, slot,
			   psprintf("replication slot \"%s\" on the source uses plugin \"%s\", not decoderbufs", slot, plugin),
			   "Use a slot created with the decoderbufs plugin: drop this one on the source, or give the subscription another slot_name.");
	else if (!value_bool(res, 0, 2))
		report(pc, "slot", PRECHECK_ERROR, slot,
			   psprintf("replication slot \"%s\" belongs to database \"%s\" on the source, not to the one the connection string names", slot, db),
			   "A logical slot decodes one database: connect to that database, or use a slot of this one.");
	else if (!PQgetisnull(res, 0, 3) && strcmp(PQgetvalue(res, 0, 3), "lost") == 0)
		report(pc, "slot", PRECHECK_ERROR, slot,
			   psprintf("replication slot \"%s\" on the source has lost WAL it needs", slot),
			   "The source removed WAL the slot still needed (max_slot_wal_keep_size). Drop the subscription and create it again, copying the data anew.");
	else if (value_bool(res, 0, 4) && !pc->slot_held_by_worker)
		report(pc, "slot", PRECHECK_WARNING, slot,
			   psprintf("replication slot \"%s\" is in use on the source by process %s", slot, PQgetvalue(res, 0, 5)),
			   "Another consumer streams from this slot; the worker cannot stream until it stops.");
	else
		report(pc, "slot", PRECHECK_OK, slot,
			   psprintf("replication slot \"%s\" exists on the source and uses decoderbufs", slot),
			   NULL);
}

/* Is this subscription's worker running here? */
static bool
worker_running(Precheck *pc)
{
	ApplyWorkerSlot *s;
	bool		running = false;

	if (!pc->sub_exists || ApplyShared == NULL)
		return false;
	LWLockAcquire(ApplyShared->lock, LW_SHARED);
	s = apply_slot_for_subscription(MyDatabaseId, pc->sub->id, false);
	if (s != NULL && s->pid != 0)
		running = true;
	LWLockRelease(ApplyShared->lock);
	return running;
}

/*
 * Look the subscription's slot up on the source, when its name is known:
 * its plugin, database, whether it belongs to the connection's database,
 * wal_status, active and active_pid.  NULL if there is no name, or on
 * failure (with the message in *err).
 */
static PGresult *
lookup_slot(Precheck *pc, char **err)
{
	PGresult   *res;
	const char *params[1];

	*err = NULL;
	if (pc->slot_name == NULL)
		return NULL;
	params[0] = pc->slot_name;
	res = source_query(pc->conn,
					   "SELECT s.plugin, s.database, "
					   "  s.database IS NOT DISTINCT FROM current_database(), "
					   "  s.wal_status, s.active, s.active_pid "
					   "FROM pg_catalog.pg_replication_slots s "
					   "WHERE s.slot_name = $1",
					   1, params, err, NULL);
	if (res != NULL)
	{
		pc->slot_exists = PQntuples(res) > 0;
		pc->slot_held_by_worker = pc->slot_exists &&
			value_bool(res, 0, 4) && worker_running(pc);
	}
	return res;
}

/*
 * The source's settings, counts of slots and wal senders, the role's
 * attributes, and the subscription's slot.  False if the source cannot
 * be queried at all.
 */
static bool
check_source_settings(Precheck *pc)
{
	PGresult   *res;
	PGresult   *slot;
	char	   *err;

	res = source_query(pc->conn,
					   "SELECT pg_catalog.current_setting('wal_level'), "
					   "  pg_catalog.current_setting('max_replication_slots')::int, "
					   "  (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int, "
					   "  pg_catalog.current_setting('max_wal_senders')::int, "
					   "  (SELECT count(*) FROM pg_catalog.pg_stat_get_wal_senders())::int, "
					   "  (SELECT setting::int FROM pg_catalog.pg_settings "
					   "   WHERE name = 'wal_sender_timeout'), "
					   "  r.rolsuper OR r.rolreplication "
					   "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
					   0, NULL, &err, NULL);
	if (res == NULL || PQntuples(res) != 1)
	{
		report(pc, "connection", PRECHECK_ERROR, NULL,
			   psprintf("could not read the source's settings: %s", res ? "no row" : err),
			   "Check that the connection string names a database of a PostgreSQL server.");
		PQclear(res);
		return false;
	}
	pc->may_replicate = value_bool(res, 0, 6);
	slot = lookup_slot(pc, &err);

	check_wal_level(pc, PQgetvalue(res, 0, 0));
	check_slots(pc, value_int(res, 0, 1), value_int(res, 0, 2));
	check_wal_senders(pc, value_int(res, 0, 3), value_int(res, 0, 4));
	check_sender_timeout(pc, value_int(res, 0, 5));
	if (slot != NULL)
		check_slot(pc, slot);
	else if (pc->slot_name != NULL)
		report(pc, "slot", PRECHECK_WARNING, pc->slot_name,
			   psprintf("could not look up replication slot \"%s\" on the source: %s",
						pc->slot_name, err),
			   NULL);
	PQclear(slot);
	PQclear(res);
	return true;
}

/*
 * The role may replicate (REPLICATION or superuser), and a logical
 * replication connection gets through pg_hba.conf and to a wal sender:
 * IDENTIFY_SYSTEM answers on it.
 */
static void
check_replication(Precheck *pc)
{
	ErrorData  *edata = NULL;
	PGresult   *res;
	const char *role = pc->source_user;

	if (!pc->may_replicate)
	{
		report(pc, "replication_privilege", PRECHECK_ERROR, role,
			   psprintf("role \"%s\" on the source has neither the REPLICATION attribute nor superuser", role),
			   psprintf("On the source: ALTER ROLE %s REPLICATION;", quote_identifier(role)));
		return;
	}
	pc->repl = connect_source(pc->sub->conninfo, true, &edata);
	if (pc->repl == NULL)
	{
		report(pc, "replication_privilege", PRECHECK_ERROR, role,
			   psprintf("could not open a replication connection: %s", edata->message),
			   edata->hint ? edata->hint :
			   "Check pg_hba.conf on the source: logical replication connections match its database entries.");
		return;
	}
	if (!superuser() && !PQconnectionUsedPassword(pc->repl))
	{
		report(pc, "replication_privilege", PRECHECK_ERROR, role,
			   "password is required: the source did not ask for one on the replication connection",
			   "Make the source ask this user for a password (pg_hba.conf).");
		return;
	}
	res = apply_stream_exec(pc->repl, "IDENTIFY_SYSTEM");
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		report(pc, "replication_privilege", PRECHECK_ERROR, role,
			   psprintf("IDENTIFY_SYSTEM failed on a replication connection: %s",
						result_error(pc->repl, res)),
			   NULL);
	else
		report(pc, "replication_privilege", PRECHECK_OK, role,
			   psprintf("role \"%s\" may replicate, and a logical replication connection works", role),
			   NULL);
	PQclear(res);
}

/* ---- the plugin ---- */

/*
 * Does a list of libraries (a setting's value) name the library "name",
 * alone, with a directory, or with the shared library suffix?
 */
static bool
library_listed(const char *value, const char *name)
{
	char	   *copy = pstrdup(value);
	List	   *entries;
	ListCell   *lc;
	size_t		len = strlen(name);

	if (!SplitDirectoriesString(copy, ',', &entries))
		return false;
	foreach(lc, entries)
	{
		const char *entry = lfirst(lc);
		const char *base = last_dir_separator(entry);

		base = base ? base + 1 : entry;
		if (strncmp(base, name, len) == 0 &&
			(base[len] == '\0' || strcmp(base + len, DLSUFFIX) == 0))
			return true;
	}
	return false;
}

/* Would creating a slot on the source wait for this very transaction? */
static bool
probe_waits_for_us(Precheck *pc)
{
	PGresult   *res;
	char		local[32];
	bool		same;

	if (!TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return false;
	res = apply_stream_exec(pc->repl, "IDENTIFY_SYSTEM");
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		PQclear(res);
		return true;
	}
	snprintf(local, sizeof(local), UINT64_FORMAT, GetSystemIdentifier());
	same = strcmp(PQgetvalue(res, 0, 0), local) == 0;
	PQclear(res);
	return same;
}

/*
 * Wait for the command sent on the replication connection, for at most
 * PRECHECK_PROBE_TIMEOUT_MS.  Returns its result, or NULL on timeout (the
 * command is then cancelled).
 */
static PGresult *
wait_probe(PGconn *conn, bool *timed_out)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   PRECHECK_PROBE_TIMEOUT_MS);
	PGresult   *res;
	PGresult   *next;

	*timed_out = false;
	while (PQisBusy(conn))
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		int			rc;

		if (left <= 0)
		{
			PGcancel   *cancel = PQgetCancel(conn);
			char		buf[256];

			if (cancel)
			{
				(void) PQcancel(cancel, buf, sizeof(buf));
				PQfreeCancel(cancel);
			}
			*timed_out = true;
			return NULL;
		}
		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							   PQsocket(conn), left, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
			break;
	}
	res = PQgetResult(conn);
	while ((next = PQgetResult(conn)) != NULL)
		PQclear(next);
	return res;
}

/*
 * Try the plugin: create a temporary slot with it on the replication
 * connection (see the file header for the cost).  The slot goes with the
 * connection, which is closed here.
 */
static void
probe_plugin(Precheck *pc)
{
	const char *check = "plugin";
	char	   *slot = psprintf("dbufs_precheck_%d", MyProcPid);
	char	   *cmd;
	PGresult   *res;
	bool		timed_out = false;
	const char *hint_read = "Grant the source role pg_read_all_settings so that the precheck can read output_plugin_libraries, or check on the source that it lists decoderbufs.";

	if (pc->repl == NULL)
	{
		report(pc, check, PRECHECK_WARNING, "decoderbufs",
			   "could not check whether output_plugin_libraries on the source allows decoderbufs: the source role may not read it, and there is no replication connection to try a slot on",
			   hint_read);
		return;
	}
	if (probe_waits_for_us(pc))
	{
		report(pc, check, PRECHECK_WARNING, "decoderbufs",
			   "could not check whether output_plugin_libraries on the source allows decoderbufs: the source role may not read it, and trying a slot would wait for the calling transaction",
			   "Run the precheck outside a transaction that has written, or grant the source role pg_read_all_settings.");
		return;
	}
	cmd = psprintf("CREATE_REPLICATION_SLOT %s TEMPORARY LOGICAL decoderbufs (SNAPSHOT 'nothing')",
				   quote_identifier(slot));
	res = PQsendQuery(pc->repl, cmd) ? wait_probe(pc->repl, &timed_out) : NULL;
	if (timed_out)
		report(pc, check, PRECHECK_WARNING, "decoderbufs",
			   psprintf("could not check whether output_plugin_libraries on the source allows decoderbufs: a temporary slot was not created within %d s",
						PRECHECK_PROBE_TIMEOUT_MS / 1000),
			   "Creating a slot waits for the transactions running on the source, and so will create_subscription. Grant the source role pg_read_all_settings so that the precheck can read output_plugin_libraries instead.");
	else if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
		report(pc, check, PRECHECK_OK, "decoderbufs",
			   "the source created a temporary slot with the decoderbufs plugin", NULL);
	else
	{
		char	   *msg = result_error(pc->repl, res);

		if (strstr(msg, "may not be used as an output plugin"))
			report(pc, check, PRECHECK_ERROR, "decoderbufs",
				   psprintf("output_plugin_libraries on the source does not allow decoderbufs: %s", msg),
				   "Add decoderbufs to output_plugin_libraries on the source, keeping the entries already there, and reload its configuration.");
		else if (strstr(msg, "could not access file"))
			report(pc, check, PRECHECK_ERROR, "decoderbufs",
				   psprintf("the decoderbufs output plugin cannot be loaded on the source: %s", msg),
				   "Install the decoderbufs package on the source server.");
		else
			report(pc, check, PRECHECK_WARNING, "decoderbufs",
				   psprintf("could not check the decoderbufs plugin with a temporary slot: %s", msg),
				   hint_read);
	}
	PQclear(res);
	apply_stream_disconnect(pc->repl);
	pc->repl = NULL;
}

/*
 * The plugin is installed on the source (its package puts decoderbufs.so
 * and decoderbufs.control in place; pg_available_extensions lists the
 * latter to anyone), and output_plugin_libraries, where the server has it,
 * lets slots use it.
 */
static void
check_plugin(Precheck *pc)
{
	PGresult   *res;
	char	   *err;
	char	   *sqlstate;

	res = source_query(pc->conn,
					   "SELECT EXISTS (SELECT FROM pg_catalog.pg_available_extensions "
					   "               WHERE name = 'decoderbufs')",
					   0, NULL, &err, NULL);
	if (res == NULL || !value_bool(res, 0, 0))
	{
		report(pc, "plugin", PRECHECK_ERROR, "decoderbufs",
			   res ? "the decoderbufs output plugin is not installed on the source" :
			   psprintf("could not check whether the decoderbufs output plugin is installed on the source: %s", err),
			   "Install the decoderbufs package on the source server (CREATE EXTENSION is not needed for replication).");
		PQclear(res);
		return;
	}
	PQclear(res);

	res = source_query(pc->conn,
					   "SELECT pg_catalog.current_setting('output_plugin_libraries', true)",
					   0, NULL, &err, &sqlstate);
	if (res == NULL && strcmp(sqlstate, "42501") == 0)
		probe_plugin(pc);		/* the setting exists, the role may not read it */
	else if (res == NULL)
		report(pc, "plugin", PRECHECK_WARNING, "decoderbufs",
			   psprintf("could not read output_plugin_libraries on the source: %s", err),
			   NULL);
	else if (PQgetisnull(res, 0, 0))
		report(pc, "plugin", PRECHECK_OK, "decoderbufs",
			   "the decoderbufs output plugin is installed on the source, which does not restrict output plugins",
			   NULL);
	else if (library_listed(PQgetvalue(res, 0, 0), "decoderbufs"))
		report(pc, "plugin", PRECHECK_OK, "decoderbufs",
			   "the decoderbufs output plugin is installed on the source and output_plugin_libraries allows it",
			   NULL);
	else
		report(pc, "plugin", PRECHECK_ERROR, "decoderbufs",
			   psprintf("output_plugin_libraries on the source does not list decoderbufs (it is '%s')",
						PQgetvalue(res, 0, 0)),
			   "Add decoderbufs to output_plugin_libraries on the source, keeping the entries already there, and reload its configuration.");
	PQclear(res);
}

/* ---- tables ---- */

static bool
operation_applied(ApplyTableConfig *tc, const char *op)
{
	ListCell   *lc;

	if (tc == NULL || tc->operations == NIL)
		return true;
	foreach(lc, tc->operations)
	{
		if (strcmp(lfirst(lc), op) == 0)
			return true;
	}
	return false;
}

/* Are UPDATEs or DELETEs of the table applied? */
static bool
needs_key(ApplyTableConfig *tc)
{
	return operation_applied(tc, "update") || operation_applied(tc, "delete");
}

/* The selected source tables, where they go, and their columns. */
static void
collect_tables(Precheck *pc)
{
	List	   *src = apply_source_tables(pc->conn, pc->sub);
	ListCell   *lc;

	foreach(lc, src)
	{
		PrecheckTable *t = palloc0(sizeof(PrecheckTable));
		Oid			nspid;

		t->src = lfirst(lc);
		t->tc = apply_table_config(pc->sub, t->src->schema_name, t->src->table_name);
		t->sync = apply_table_sync(pc->sub, t->src->schema_name, t->src->table_name);
		apply_target_table(pc->sub, t->src->schema_name, t->src->table_name,
						   &t->target_schema, &t->target_table);
		nspid = get_namespace_oid(t->target_schema, true);
		t->target_relid = OidIsValid(nspid) ?
			get_relname_relid(t->target_table, nspid) : InvalidOid;
		t->columns = apply_source_columns(pc->conn, t->src->relid);
		pc->tables = lappend(pc->tables, t);
	}
}

static void
check_no_tables(Precheck *pc)
{
	if (pc->tables == NIL)
		report(pc, "no_tables", PRECHECK_WARNING, NULL,
			   "the subscription selects no table on the source",
			   "Check the tables, schemas and exclude_tables arguments against the source's tables; the subscription replicates nothing until a selected table exists on the source.");
	else
		report(pc, "no_tables", PRECHECK_OK, NULL,
			   psprintf("the subscription selects %d table%s on the source",
						list_length(pc->tables), list_length(pc->tables) == 1 ? "" : "s"),
			   NULL);
}

/*
 * Each source table must send a key with UPDATE and DELETE: a primary key,
 * a replica identity index, or the whole old row (REPLICA IDENTITY FULL).
 */
static void
check_source_keys(Precheck *pc)
{
	int			before = pc->problems;
	ListCell   *lc;

	foreach(lc, pc->tables)
	{
		PrecheckTable *t = lfirst(lc);
		ApplySourceTable *s = t->src;
		char	   *name = table_name(s->schema_name, s->table_name);
		char	   *label = table_label(s->schema_name, s->table_name);
		const char *why;

		if (s->has_key)
			continue;
		why = s->replident == 'n' ? "has REPLICA IDENTITY NOTHING" :
			s->replident == 'i' ? "has lost its replica identity index" :
			"has no primary key";
		if (!needs_key(t->tc))
			report(pc, "source_table_key", PRECHECK_WARNING, name,
				   psprintf("source table %s %s, which is harmless only while the table's operations leave out UPDATE and DELETE", label, why),
				   psprintf("Before adding UPDATE or DELETE to the table's operations, add a primary key on the source or run ALTER TABLE %s REPLICA IDENTITY FULL there.", name));
		else
			report(pc, "source_table_key", PRECHECK_ERROR, name,
				   psprintf("source table %s %s: the source sends no key with its UPDATEs and DELETEs, which cannot be applied", label, why),
				   psprintf("On the source, add a primary key (ALTER TABLE %s ADD PRIMARY KEY (...)) or run ALTER TABLE %s REPLICA IDENTITY FULL; or leave the table out with exclude_tables.", name, name));
	}
	report_ok_unless(pc, before, "source_table_key",
					 "every selected source table has a primary key, a replica identity index or REPLICA IDENTITY FULL");
}

/* Each target table exists, and is a plain table. */
static void
check_target_tables(Precheck *pc)
{
	int			before = pc->problems;
	ListCell   *lc;

	foreach(lc, pc->tables)
	{
		PrecheckTable *t = lfirst(lc);
		char	   *target = table_name(t->target_schema, t->target_table);
		char	   *source = table_name(t->src->schema_name, t->src->table_name);
		char	   *label = table_label(t->target_schema, t->target_table);
		bool		mapped = strcmp(target, source) != 0;

		if (!OidIsValid(t->target_relid))
			report(pc, "target_table", PRECHECK_ERROR, target,
				   mapped ?
				   psprintf("target table %s does not exist (source table %s maps to it)", label,
							table_label(t->src->schema_name, t->src->table_name)) :
				   psprintf("target table %s does not exist", label),
				   psprintf("Create it on the target (pg_dump --schema-only --table=%s on the source prints its definition), leave the source table out with exclude_tables, or map it to another table with set_table_options(target_table => ...).", source));
		else if (get_rel_relkind(t->target_relid) != RELKIND_RELATION)
		{
			report(pc, "target_table", PRECHECK_ERROR, target,
				   psprintf("target relation %s is not a table", label),
				   "Rows are applied to plain tables only; a partitioned table receives them through its partitions, which must exist on the target under the source partitions' names.");
			t->target_relid = InvalidOid;
		}
	}
	report_ok_unless(pc, before, "target_table",
					 "every selected source table has a table on the target");
}

/* The selected source column that goes to target column attname, or NULL. */
static ApplySourceColumn *
source_column_for(PrecheckTable *t, const char *attname)
{
	ListCell   *lc;

	foreach(lc, t->columns)
	{
		ApplySourceColumn *c = lfirst(lc);

		if (apply_column_selected(t->tc, c->name) &&
			strcmp(apply_target_column(t->tc, c->name), attname) == 0)
			return c;
	}
	return NULL;
}

/* The source's key columns, as target column names, for a hint. */
static char *
source_key_list(PrecheckTable *t)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, t->columns)
	{
		ApplySourceColumn *c = lfirst(lc);

		if (c->is_key)
			appendStringInfo(&buf, "%s%s", buf.len ? ", " : "",
							 quote_identifier(apply_target_column(t->tc, c->name)));
	}
	return buf.len ? buf.data : "...";
}

/*
 * UPDATE and DELETE find the target row through the target's replica
 * identity index or primary key, whose columns the source must send (its
 * key, or every column with REPLICA IDENTITY FULL); a target table without
 * either is searched by the whole old row.
 */
static void
check_target_key(Precheck *pc, PrecheckTable *t, Relation rel)
{
	char	   *target = table_name(t->target_schema, t->target_table);
	char	   *label = table_label(t->target_schema, t->target_table);
	bool		full = t->src->replident == 'f';
	Oid			idxoid;
	Relation	idx;

	/* a table without a source key has its row under source_table_key */
	if (!t->src->has_key || !needs_key(t->tc))
		return;
	idxoid = RelationGetReplicaIndex(rel);
	if (!OidIsValid(idxoid))
		idxoid = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(idxoid))
	{
		if (full)
			report(pc, "target_key", PRECHECK_WARNING, target,
				   psprintf("target table %s has no primary key or replica identity index: every UPDATE and DELETE scans the whole table", label),
				   psprintf("Add a primary key to the target table: ALTER TABLE %s ADD PRIMARY KEY (...);", target));
		else
			report(pc, "target_key", PRECHECK_ERROR, target,
				   psprintf("target table %s has no primary key or replica identity index, and the source sends only its key with UPDATE and DELETE", label),
				   psprintf("Add the source's key to the target table: ALTER TABLE %s ADD PRIMARY KEY (%s);", target, source_key_list(t)));
		return;
	}
	idx = index_open(idxoid, AccessShareLock);
	for (int k = 0; k < IndexRelationGetNumberOfKeyAttributes(idx); k++)
	{
		AttrNumber	a = idx->rd_index->indkey.values[k];
		const char *attname;
		ApplySourceColumn *c;

		if (a <= 0)
		{
			report(pc, "target_key", PRECHECK_ERROR, target,
				   psprintf("the key index \"%s\" of target table %s has an expression, which cannot be matched with the source's key",
							RelationGetRelationName(idx), label),
				   "Give the target table a primary key (or replica identity index) on the source's key columns.");
			break;
		}
		attname = NameStr(TupleDescAttr(RelationGetDescr(rel), a - 1)->attname);
		c = source_column_for(t, attname);
		if (c == NULL || !(c->is_key || full))
			report(pc, "target_key", PRECHECK_ERROR,
				   column_name(t->target_schema, t->target_table, attname),
				   psprintf("key column \"%s\" of target table %s is not part of what the source sends with UPDATE and DELETE", attname, label),
				   psprintf("Make the target's primary key (or replica identity index) use the source's key columns (%s), or run ALTER TABLE %s REPLICA IDENTITY FULL on the source.",
							source_key_list(t), table_name(t->src->schema_name, t->src->table_name)));
	}
	index_close(idx, AccessShareLock);
}

/* The target attribute named attname, or NULL. */
static Form_pg_attribute
target_attribute(Relation rel, const char *attname)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!att->attisdropped && strcmp(NameStr(att->attname), attname) == 0)
			return att;
	}
	return NULL;
}

/* Can values of the source column's type get into the target column? */
static void
check_column_type(Precheck *pc, PrecheckTable *t, ApplySourceColumn *c,
				  Form_pg_attribute att)
{
	char	   *object = column_name(t->target_schema, t->target_table, NameStr(att->attname));
	char	   *label = psprintf("\"%s\" of %s", NameStr(att->attname),
								 table_label(t->target_schema, t->target_table));
	char	   *target_type = format_type_with_typemod(att->atttypid, att->atttypmod);
	bool		builtin = c->typid < FirstGenbkiObjectId;
	bool		same_type;
	char		src_cat = TYPCATEGORY_USER;
	char		tgt_cat;
	bool		preferred;

	if (strcmp(c->type_name, target_type) == 0)
		return;
	same_type = builtin ? c->typid == att->atttypid :
		strcmp(c->type_name, format_type_be(att->atttypid)) == 0;
	/* an unconstrained target column takes any type modifier's values */
	if (same_type && att->atttypmod < 0)
		return;
	if (same_type)
	{
		report(pc, "column_types", PRECHECK_WARNING, object,
			   psprintf("column %s is %s on the source and %s on the target: values are coerced to the target's type modifier, which may round or reject them",
						label, c->type_name, target_type),
			   psprintf("To keep values exactly: ALTER TABLE %s ALTER COLUMN %s TYPE %s;",
						table_name(t->target_schema, t->target_table),
						quote_identifier(NameStr(att->attname)), c->type_name));
		return;
	}
	if (builtin)
		get_type_category_preferred(c->typid, &src_cat, &preferred);
	get_type_category_preferred(att->atttypid, &tgt_cat, &preferred);
	if (tgt_cat == src_cat || tgt_cat == TYPCATEGORY_STRING ||
		src_cat == TYPCATEGORY_STRING || src_cat == TYPCATEGORY_USER ||
		tgt_cat == TYPCATEGORY_USER || src_cat == TYPCATEGORY_UNKNOWN ||
		tgt_cat == TYPCATEGORY_UNKNOWN)
		report(pc, "column_types", PRECHECK_WARNING, object,
			   psprintf("column %s is %s on the source and %s on the target: values are converted through their text form, and those the target type does not accept stop the subscription",
						label, c->type_name, target_type),
			   psprintf("Give the target column the source's type unless every value converts: ALTER TABLE %s ALTER COLUMN %s TYPE %s;",
						table_name(t->target_schema, t->target_table),
						quote_identifier(NameStr(att->attname)), c->type_name));
	else
		report(pc, "column_types", PRECHECK_ERROR, object,
			   psprintf("column %s is %s on the source and %s on the target, which cannot hold its values",
						label, c->type_name, target_type),
			   psprintf("Give the target column the source's type: ALTER TABLE %s ALTER COLUMN %s TYPE %s;",
						table_name(t->target_schema, t->target_table),
						quote_identifier(NameStr(att->attname)), c->type_name));
}

/*
 * Each replicated source column has a target column, by name or renamed.
 */
static void
check_target_columns(Precheck *pc, PrecheckTable *t, Relation rel)
{
	char	   *target = table_name(t->target_schema, t->target_table);
	char	   *label = table_label(t->target_schema, t->target_table);
	ListCell   *lc;

	foreach(lc, t->columns)
	{
		ApplySourceColumn *c = lfirst(lc);
		const char *attname;
		Form_pg_attribute att;

		if (!apply_column_selected(t->tc, c->name))
			continue;
		attname = apply_target_column(t->tc, c->name);
		att = target_attribute(rel, attname);
		if (att == NULL)
			report(pc, "target_columns", PRECHECK_ERROR,
				   column_name(t->target_schema, t->target_table, attname),
				   strcmp(attname, c->name) != 0 ?
				   psprintf("target table %s has no column \"%s\" (source column \"%s\" maps to it)", label, attname, c->name) :
				   psprintf("target table %s has no column \"%s\"", label, attname),
				   psprintf("Add it on the target (ALTER TABLE %s ADD COLUMN %s %s;), or leave it out with set_table_options(columns => ...), or map it to another column with set_table_options(column_map => ...).",
							target, quote_identifier(attname), c->type_name));
		else if (att->attgenerated)
			report(pc, "target_columns", PRECHECK_WARNING,
				   column_name(t->target_schema, t->target_table, attname),
				   psprintf("column \"%s\" of target table %s is generated: the target computes it and ignores the source's values", attname, label),
				   "Leave the column out with set_table_options(columns => ...), or make it an ordinary column on the target.");
	}
}

/* The types of the columns check_target_columns found. */
static void
check_column_types(Precheck *pc, PrecheckTable *t, Relation rel)
{
	ListCell   *lc;

	foreach(lc, t->columns)
	{
		ApplySourceColumn *c = lfirst(lc);
		Form_pg_attribute att;

		if (!apply_column_selected(t->tc, c->name))
			continue;
		att = target_attribute(rel, apply_target_column(t->tc, c->name));
		if (att != NULL && !att->attgenerated)
			check_column_type(pc, t, c, att);
	}
}

/*
 * Target columns that are NOT NULL without a default, and that the source
 * does not send, make every INSERT fail.
 */
static void
check_not_null(Precheck *pc, PrecheckTable *t, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	char	   *target = table_name(t->target_schema, t->target_table);
	char	   *label = table_label(t->target_schema, t->target_table);

	if (!operation_applied(t->tc, "insert") && !pc->sub->copy_data)
		return;
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		const char *attname = NameStr(att->attname);

		if (att->attisdropped || !att->attnotnull || att->atthasdef ||
			att->attgenerated || att->attidentity)
			continue;
		if (source_column_for(t, attname) != NULL)
			continue;
		report(pc, "target_not_null", PRECHECK_ERROR,
			   column_name(t->target_schema, t->target_table, attname),
			   psprintf("column \"%s\" of target table %s is NOT NULL without a default, and the source does not send it: every INSERT would fail",
						attname, label),
			   psprintf("Give it a default (ALTER TABLE %s ALTER COLUMN %s SET DEFAULT ...), drop its NOT NULL constraint, or map a source column to it with set_table_options(column_map => ...).",
						target, quote_identifier(attname)));
	}
}

/* Does the table hold a row the caller can see? */
static bool
table_has_rows(Relation rel)
{
	TableScanDesc scan;
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		found;

	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	found = table_scan_getnextslot(scan, ForwardScanDirection, slot);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/* The initial copy and the rows already in a target table. */
static void
check_target_empty(Precheck *pc, PrecheckTable *t, Relation rel)
{
	char	   *target = table_name(t->target_schema, t->target_table);
	char	   *label = table_label(t->target_schema, t->target_table);

	/* tables copied already, or being copied, hold the copy's own rows */
	if (!pc->sub->copy_data || (t->sync != NULL && t->sync->state != 'w'))
		return;
	if (pg_class_aclcheck(t->target_relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
	{
		report(pc, "target_empty", PRECHECK_WARNING, target,
			   psprintf("permission denied to check whether target table %s is empty", label),
			   "Run the precheck as a role that may read the table.");
		return;
	}
	if (!table_has_rows(rel))
		return;
	switch (pc->sub->existing_data)
	{
		case APPLY_EXISTING_ERROR:
			report(pc, "target_empty", PRECHECK_ERROR, target,
				   psprintf("target table %s is not empty, and existing_data is \"error\": the initial copy would refuse it", label),
				   psprintf("Empty it (TRUNCATE %s), or pass existing_data => 'truncate' to empty it before the copy, or existing_data => 'keep' to keep its rows (conflicts then follow the conflict policy).", target));
			break;
		case APPLY_EXISTING_TRUNCATE:
			report(pc, "target_empty", PRECHECK_WARNING, target,
				   psprintf("target table %s is not empty: existing_data is \"truncate\", so the initial copy empties it first", label),
				   "Pass existing_data => 'keep' to keep its rows instead.");
			break;
		case APPLY_EXISTING_KEEP:
			report(pc, "target_empty", PRECHECK_WARNING, target,
				   psprintf("target table %s is not empty: existing_data is \"keep\", so its rows stay and copied rows with the same key are conflicts", label),
				   "Make sure the conflict policy says what to do with them, or pass existing_data => 'truncate' to empty the table first.");
			break;
	}
}

typedef void (*TargetCheck) (Precheck *pc, PrecheckTable *t, Relation rel);

typedef struct TargetCheckDef
{
	const char *name;
	TargetCheck check;
	const char *ok_message;		/* the row when no table has a problem */
} TargetCheckDef;

/* The checks of the target tables, in the order their rows come. */
static const TargetCheckDef target_checks[] = {
	{"target_key", check_target_key,
	"every target table has a key whose columns the source sends"},
	{"target_columns", check_target_columns,
	"every replicated source column has a column on the target"},
	{"column_types", check_column_types,
	"every replicated column has a type on the target that holds its values"},
	{"target_not_null", check_not_null,
	"every NOT NULL column without a default of the target tables gets a value from the source"},
	{"target_empty", check_target_empty,
	"every target table the initial copy fills is empty"},
};

/*
 * Run the checks of the target tables that exist, each over every table
 * before the next, so that each check's rows come together.
 */
static void
check_targets(Precheck *pc)
{
	for (int i = 0; i < lengthof(target_checks); i++)
	{
		int			before = pc->problems;
		ListCell   *lc;

		foreach(lc, pc->tables)
		{
			PrecheckTable *t = lfirst(lc);
			Relation	rel;

			if (!OidIsValid(t->target_relid))
				continue;
			rel = try_relation_open(t->target_relid, AccessShareLock);
			if (rel == NULL)
				continue;
			target_checks[i].check(pc, t, rel);
			relation_close(rel, AccessShareLock);
		}
		report_ok_unless(pc, before, target_checks[i].name,
						 target_checks[i].check == check_target_empty && !pc->sub->copy_data ?
						 "no initial copy: the subscription does not copy data" :
						 target_checks[i].ok_message);
	}
}

/* ---- the target server ---- */

/*
 * Does a change of shared_preload_libraries wait for a restart?  Only
 * roles that may read the setting can tell (pg_settings hides it from the
 * others), which is enough for a hint.
 */
static bool
preload_pending_restart(void)
{
	bool		pending = false;
	int			ret;

	SPI_connect();
	ret = SPI_execute("SELECT pending_restart FROM pg_catalog.pg_settings "
					  "WHERE name = 'shared_preload_libraries'", true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull);

		pending = !isnull && DatumGetBool(d);
	}
	SPI_finish();
	return pending;
}

/* decoderbufs_apply must have been loaded at server start. */
static void
check_preload(Precheck *pc)
{
	if (ApplyShared != NULL)
		report(pc, "shared_preload_libraries", PRECHECK_OK, NULL,
			   "decoderbufs_apply is loaded on the target (shared_preload_libraries)", NULL);
	else if (preload_pending_restart())
		report(pc, "shared_preload_libraries", PRECHECK_ERROR, NULL,
			   "decoderbufs_apply is not loaded on the target, and a change of shared_preload_libraries waits for a restart: no subscription can run",
			   "Restart the target server, with decoderbufs_apply in shared_preload_libraries.");
	else
		report(pc, "shared_preload_libraries", PRECHECK_ERROR, NULL,
			   "decoderbufs_apply is not in the target's shared_preload_libraries: no subscription can run",
			   "Add decoderbufs_apply to shared_preload_libraries in the target's postgresql.conf, keeping the entries already there, and restart the server.");
}

/*
 * Background workers: the launcher, one manager per database, one worker
 * per running subscription, and the copy's helpers.  Other extensions and
 * parallel query take theirs from the same max_worker_processes.
 */
static void
check_worker_processes(Precheck *pc)
{
	int			managers = 0;
	int			workers = 0;
	bool		have_manager = false;
	bool		have_worker = false;
	int			helpers = 0;
	int			need;

	if (ApplyShared == NULL)
		return;
	LWLockAcquire(ApplyShared->lock, LW_SHARED);
	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		ApplyDbSlot *d = &ApplyShared->dbs[i];
		ApplyWorkerSlot *w = &ApplyShared->workers[i];

		if (OidIsValid(d->dbid) && d->manager_pid != 0)
		{
			managers++;
			have_manager |= (d->dbid == MyDatabaseId);
		}
		if (w->in_use && w->pid != 0)
		{
			workers++;
			have_worker |= (pc->sub_exists && w->dbid == MyDatabaseId &&
							w->subid == pc->sub->id);
		}
	}
	LWLockRelease(ApplyShared->lock);
	if (copy_pending(pc))
		helpers = pc->sub->copy_parallelism > 0 ?
			pc->sub->copy_parallelism : apply_copy_parallelism;
	need = 1 + managers + (have_manager ? 0 : 1) + workers +
		(have_worker ? 0 : 1) + helpers;
	if (need > max_worker_processes)
		report(pc, "max_worker_processes", PRECHECK_WARNING, NULL,
			   psprintf("max_worker_processes is %d on the target; decoderbufs_apply would use %d background workers with this subscription",
						max_worker_processes, need),
			   psprintf("Raise max_worker_processes on the target to at least %d plus what other extensions and parallel query use, and restart it; until then, workers wait for a free slot.",
						need));
	else
		report(pc, "max_worker_processes", PRECHECK_OK, NULL,
			   psprintf("max_worker_processes is %d on the target; decoderbufs_apply would use %d background workers with this subscription",
						max_worker_processes, need),
			   NULL);
}

/*
 * Commit timestamps on the target: without them, rows last written by
 * another origin are not detected (update_origin_differs,
 * delete_origin_differs), and last_update_wins cannot work.
 */
static void
check_commit_timestamp(Precheck *pc)
{
	bool		lww = false;
	ListCell   *lc;

	if (pc->sub_exists)
	{
		lww = pc->sub->policy == APPLY_POLICY_LAST_UPDATE_WINS;
		foreach(lc, pc->sub->table_policies)
			lww |= ((ApplyTablePolicy *) lfirst(lc))->policy == APPLY_POLICY_LAST_UPDATE_WINS;
	}
	if (track_commit_timestamp)
		report(pc, "track_commit_timestamp", PRECHECK_OK, NULL,
			   "track_commit_timestamp is on on the target: rows last written by another origin are detected (update_origin_differs, delete_origin_differs)",
			   NULL);
	else if (lww)
		report(pc, "track_commit_timestamp", PRECHECK_ERROR, NULL,
			   "track_commit_timestamp is off on the target, and the conflict policy last_update_wins needs it",
			   "Set track_commit_timestamp = on in the target's postgresql.conf and restart it, or choose another conflict policy.");
	else
		report(pc, "track_commit_timestamp", PRECHECK_WARNING, NULL,
			   "track_commit_timestamp is off on the target: rows last written by another origin are not detected (update_origin_differs, delete_origin_differs), and the conflict policy last_update_wins cannot be used",
			   "Set track_commit_timestamp = on in the target's postgresql.conf and restart it.");
}

/* ---- the SQL function ---- */

/* The caller may manage subscriptions (as sqlapi.c requires). */
static void
check_may_manage(void)
{
	Oid			admin = get_role_oid(APPLY_ADMIN_ROLE, true);

	if (superuser() || (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to manage decoderbufs_apply subscriptions"),
			 errhint("Only superusers and members of role \"%s\" may manage subscriptions.",
					 APPLY_ADMIN_ROLE)));
}

static char *
text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * The subscription to check: the real one when sub_id is given (its table
 * settings, schema mapping and copy state), with the selection and copy
 * settings of the arguments; otherwise one built from the arguments alone.
 */
static ApplySubscription *
subscription_from_args(FunctionCallInfo fcinfo, bool *exists)
{
	ApplySubscription *sub = NULL;
	char	   *existing = text_arg(fcinfo, 6);

	if (!PG_ARGISNULL(1))
		sub = apply_catalog_get_subscription(PG_GETARG_INT32(1), false);
	*exists = (sub != NULL);
	if (sub == NULL)
	{
		sub = palloc0(sizeof(ApplySubscription));
		sub->name = "precheck";
	}
	sub->conninfo = text_arg(fcinfo, 0);
	sub->include_tables = text_arg(fcinfo, 2);
	sub->include_schemas = text_arg(fcinfo, 3);
	sub->exclude_tables = text_arg(fcinfo, 4);
	sub->copy_data = !PG_ARGISNULL(5) && PG_GETARG_BOOL(5);
	sub->existing_data = existing == NULL || strcmp(existing, "error") == 0 ?
		APPLY_EXISTING_ERROR :
		strcmp(existing, "truncate") == 0 ? APPLY_EXISTING_TRUNCATE :
		APPLY_EXISTING_KEEP;
	return sub;
}

/* Every check of the source, its connections closed whatever happens. */
static void
check_source(Precheck *pc)
{
	PG_TRY();
	{
		if (check_connection(pc) && check_source_settings(pc))
		{
			check_replication(pc);
			check_plugin(pc);
			collect_tables(pc);
			check_no_tables(pc);
			check_source_keys(pc);
			check_target_tables(pc);
			check_targets(pc);
		}
	}
	PG_FINALLY();
	{
		apply_stream_disconnect(pc->repl);
		apply_stream_disconnect(pc->conn);
		pc->repl = NULL;
		pc->conn = NULL;
	}
	PG_END_TRY();
}

/*
 * _precheck(conninfo text, sub_id integer, include_tables text,
 *			 include_schemas text, exclude_tables text, copy_data boolean,
 *			 existing_data text, slot_name text, create_slot boolean)
 * RETURNS TABLE (check_name text, status text, object text, message text,
 *				  hint text)
 *
 * The lists are plugin option values, as _table_list() and _schema_list()
 * make them; the SQL wrappers validate every argument.  slot_name is the
 * subscription's slot (NULL: not known yet), create_slot whether it is yet
 * to be created.  Works without shared_preload_libraries, so that it can
 * say that it is missing.
 */
Datum
apply_sql_precheck(PG_FUNCTION_ARGS)
{
	Precheck	pc;

	check_may_manage();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"conninfo\" must not be NULL")));
	InitMaterializedSRF(fcinfo, 0);

	memset(&pc, 0, sizeof(pc));
	pc.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	pc.sub = subscription_from_args(fcinfo, &pc.sub_exists);
	pc.slot_name = text_arg(fcinfo, 7);
	pc.create_slot = PG_ARGISNULL(8) || PG_GETARG_BOOL(8);

	check_source(&pc);
	check_preload(&pc);
	check_worker_processes(&pc);
	check_commit_timestamp(&pc);
	return (Datum) 0;
}
