/*-------------------------------------------------------------------------
 *
 * catalog.c
 *		Reading subscriptions from the extension's catalog tables.
 *
 * The configuration lives in ordinary tables of schema decoderbufs_apply
 * (see decoderbufs_apply--1.0.sql), written by the SQL API and read here
 * with SPI by the managers and workers, inside the caller's transaction.
 * Results are copied into the caller's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"

#define SUBSCRIPTION_COLUMNS \
	"sub_id, sub_name, sub_owner::oid, sub_enabled, sub_conninfo, " \
	"sub_slot_name, sub_origin_name, sub_conflict_policy, sub_only_local, " \
	"sub_replica_role, sub_include_tables, sub_exclude_tables, sub_skip_lsn, " \
	"sub_include_schemas, sub_copy_data, sub_existing_data, " \
	"coalesce(sub_copy_parallelism, 0), sub_sequences, sub_disable_on_error, " \
	"sub_retry_connection_timeout, sub_retry_apply_timeout, sub_streaming"

/* Is the extension installed in the current database? */
bool
apply_extension_installed(void)
{
	return OidIsValid(get_extension_oid(APPLY_EXTENSION_NAME, true));
}

/* SPI needs a snapshot; workers call us in bare transactions. */
static bool
ensure_snapshot(void)
{
	if (ActiveSnapshotSet())
		return false;
	PushActiveSnapshot(GetTransactionSnapshot());
	return true;
}

static char *
text_column(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v;					/* NULL for SQL NULL */
}

static bool
bool_column(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return !isnull && DatumGetBool(d);
}

/* An integer setting of a subscription; NULL: the server's setting. */
static int
int_or_setting_column(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? APPLY_RETRY_USE_SETTING : DatumGetInt32(d);
}

static List *
read_table_policies(int32 subid, MemoryContext cxt)
{
	Datum		arg = Int32GetDatum(subid);
	Oid			argtype = INT4OID;
	List	   *result = NIL;
	int			ret;

	ret = SPI_execute_with_args("SELECT schema_name, table_name, conflict_policy "
								"FROM decoderbufs_apply.table_policy WHERE sub_id = $1",
								1, &argtype, &arg, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read table policies: SPI error %d", ret);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		ApplyTablePolicy *tp = palloc(sizeof(ApplyTablePolicy));

		tp->schema_name = text_column(tup, desc, 1);
		tp->table_name = text_column(tup, desc, 2);
		tp->policy = apply_policy_from_name(text_column(tup, desc, 3));
		result = lappend(result, tp);
		MemoryContextSwitchTo(old);
	}
	return result;
}

static ApplyExistingData
existing_data_from_name(const char *name)
{
	if (strcmp(name, "truncate") == 0)
		return APPLY_EXISTING_TRUNCATE;
	if (strcmp(name, "keep") == 0)
		return APPLY_EXISTING_KEEP;
	return APPLY_EXISTING_ERROR;
}

/* A text[] column as a List of strings (NIL for NULL). */
static List *
text_array_column(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	List	   *result = NIL;

	if (isnull)
		return NIL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, &n);
	for (int i = 0; i < n; i++)
		if (!elem_nulls[i])
			result = lappend(result, TextDatumGetCString(elems[i]));
	return result;
}

/* Column renames of one table_config row, from its jsonb object. */
static List *
read_column_map(int32 subid, const char *schema, const char *table,
				MemoryContext cxt)
{
	Datum		args[3];
	Oid			argtypes[3] = {INT4OID, TEXTOID, TEXTOID};
	List	   *result = NIL;
	int			ret;

	args[0] = Int32GetDatum(subid);
	args[1] = CStringGetTextDatum(schema);
	args[2] = CStringGetTextDatum(table);
	ret = SPI_execute_with_args("SELECT m.key, m.value FROM decoderbufs_apply.table_config c, "
								"jsonb_each_text(c.column_map) m "
								"WHERE c.sub_id = $1 AND c.schema_name = $2 AND c.table_name = $3",
								3, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read column renames: SPI error %d", ret);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		ApplyColumnRename *r = palloc(sizeof(ApplyColumnRename));

		r->source = text_column(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		r->target = text_column(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		result = lappend(result, r);
		MemoryContextSwitchTo(old);
	}
	return result;
}

static List *
read_table_configs(int32 subid, MemoryContext cxt)
{
	Datum		arg = Int32GetDatum(subid);
	Oid			argtype = INT4OID;
	List	   *result = NIL;
	SPITupleTable *tuptable;
	uint64		n;
	int			ret;
	ListCell   *lc;

	ret = SPI_execute_with_args("SELECT schema_name, table_name, target_schema, target_table, "
								"columns, operations, row_filter, column_map IS NOT NULL "
								"FROM decoderbufs_apply.table_config WHERE sub_id = $1 "
								"ORDER BY schema_name, table_name",
								1, &argtype, &arg, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read table settings: SPI error %d", ret);
	tuptable = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = tuptable->vals[i];
		TupleDesc	desc = tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		ApplyTableConfig *tc = palloc0(sizeof(ApplyTableConfig));

		tc->schema_name = text_column(tup, desc, 1);
		tc->table_name = text_column(tup, desc, 2);
		tc->target_schema = text_column(tup, desc, 3);
		tc->target_table = text_column(tup, desc, 4);
		tc->columns = text_array_column(tup, desc, 5);
		tc->operations = text_array_column(tup, desc, 6);
		tc->row_filter = text_column(tup, desc, 7);
		/* the renames are read below: a nested query ends this result */
		tc->column_map = bool_column(tup, desc, 8) ? list_make1(NULL) : NIL;
		result = lappend(result, tc);
		MemoryContextSwitchTo(old);
	}
	foreach(lc, result)
	{
		ApplyTableConfig *tc = lfirst(lc);

		if (tc->column_map != NIL)
			tc->column_map = read_column_map(subid, tc->schema_name,
											 tc->table_name, cxt);
	}
	return result;
}

static List *
read_schema_maps(int32 subid, MemoryContext cxt)
{
	Datum		arg = Int32GetDatum(subid);
	Oid			argtype = INT4OID;
	List	   *result = NIL;
	int			ret;

	ret = SPI_execute_with_args("SELECT source_schema, target_schema "
								"FROM decoderbufs_apply.schema_map WHERE sub_id = $1",
								1, &argtype, &arg, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schema mappings: SPI error %d", ret);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		ApplySchemaMap *m = palloc(sizeof(ApplySchemaMap));

		m->source_schema = text_column(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		m->target_schema = text_column(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		result = lappend(result, m);
		MemoryContextSwitchTo(old);
	}
	return result;
}

/* The initial-copy state of the subscription's tables. */
List *
apply_catalog_table_syncs(int32 subid)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		arg = Int32GetDatum(subid);
	Oid			argtype = INT4OID;
	List	   *result = NIL;
	int			ret;
	bool		pushed = ensure_snapshot();

	SPI_connect();
	ret = SPI_execute_with_args("SELECT schema_name, table_name, state, sync_lsn "
								"FROM decoderbufs_apply.table_sync WHERE sub_id = $1 "
								"ORDER BY schema_name, table_name",
								1, &argtype, &arg, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read table copy states: SPI error %d", ret);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		ApplyTableSync *ts = palloc(sizeof(ApplyTableSync));
		char	   *lsn;

		ts->schema_name = text_column(tup, desc, 1);
		ts->table_name = text_column(tup, desc, 2);
		ts->state = text_column(tup, desc, 3)[0];
		lsn = text_column(tup, desc, 4);
		ts->sync_lsn = lsn ? DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(lsn))) : InvalidXLogRecPtr;
		result = lappend(result, ts);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	if (pushed)
		PopActiveSnapshot();
	return result;
}

static ApplySubscription *
subscription_from_tuple(HeapTuple tup, TupleDesc desc, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ApplySubscription *sub = palloc0(sizeof(ApplySubscription));
	bool		isnull;
	char	   *skip;

	sub->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	sub->name = text_column(tup, desc, 2);
	sub->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
	sub->enabled = bool_column(tup, desc, 4);
	sub->conninfo = text_column(tup, desc, 5);
	sub->slot_name = text_column(tup, desc, 6);
	sub->origin_name = text_column(tup, desc, 7);
	sub->policy = apply_policy_from_name(text_column(tup, desc, 8));
	sub->only_local = bool_column(tup, desc, 9);
	sub->replica_role = bool_column(tup, desc, 10);
	sub->include_tables = text_column(tup, desc, 11);
	sub->exclude_tables = text_column(tup, desc, 12);
	skip = text_column(tup, desc, 13);
	sub->skip_lsn = skip ? DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(skip))) : InvalidXLogRecPtr;
	sub->include_schemas = text_column(tup, desc, 14);
	sub->copy_data = bool_column(tup, desc, 15);
	sub->existing_data = existing_data_from_name(text_column(tup, desc, 16));
	sub->copy_parallelism = DatumGetInt32(SPI_getbinval(tup, desc, 17, &isnull));
	sub->sequences = text_column(tup, desc, 18);
	sub->disable_on_error = bool_column(tup, desc, 19);
	sub->retry_connection_timeout = int_or_setting_column(tup, desc, 20);
	sub->retry_apply_timeout = int_or_setting_column(tup, desc, 21);
	sub->streaming = bool_column(tup, desc, 22);
	MemoryContextSwitchTo(old);
	return sub;
}

/*
 * All enabled subscriptions of this database (without table policies),
 * but not failed ones (retry.c).  Runs in the caller's transaction.
 */
List *
apply_catalog_enabled_subscriptions(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *result = NIL;
	int			ret;

	bool		pushed = ensure_snapshot();

	SPI_connect();
	ret = SPI_execute("SELECT " SUBSCRIPTION_COLUMNS
					  " FROM decoderbufs_apply.subscription"
					  " WHERE sub_enabled AND sub_failed_at IS NULL",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read subscriptions: SPI error %d", ret);
	for (uint64 i = 0; i < SPI_processed; i++)
		result = lappend(result,
						 subscription_from_tuple(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, cxt));
	SPI_finish();
	if (pushed)
		PopActiveSnapshot();
	return result;
}

/*
 * One subscription with its table policies, or NULL if it does not exist
 * and missing_ok.  Runs in the caller's transaction.
 */
ApplySubscription *
apply_catalog_get_subscription(int32 subid, bool missing_ok)
{
	MemoryContext cxt = CurrentMemoryContext;
	ApplySubscription *sub = NULL;
	Datum		arg = Int32GetDatum(subid);
	Oid			argtype = INT4OID;
	int			ret;
	bool		pushed = ensure_snapshot();

	SPI_connect();
	ret = SPI_execute_with_args("SELECT " SUBSCRIPTION_COLUMNS
								" FROM decoderbufs_apply.subscription WHERE sub_id = $1",
								1, &argtype, &arg, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read subscription %d: SPI error %d", subid, ret);
	if (SPI_processed > 0)
	{
		sub = subscription_from_tuple(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, cxt);
		sub->table_policies = read_table_policies(subid, cxt);
		sub->table_configs = read_table_configs(subid, cxt);
		sub->schema_maps = read_schema_maps(subid, cxt);
	}
	SPI_finish();
	if (sub != NULL)
		sub->table_syncs = apply_catalog_table_syncs(subid);
	if (pushed)
		PopActiveSnapshot();
	if (sub == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("decoderbufs_apply subscription %d does not exist", subid)));
	return sub;
}

/*
 * Clear a subscription's skip LSN; the caller's transaction also advances
 * the origin past the skipped transaction, so both happen or neither.
 */
void
apply_catalog_clear_skip_lsn(int32 subid)
{
	Datum		arg = Int32GetDatum(subid);
	Oid			argtype = INT4OID;
	int			ret;
	bool		pushed = ensure_snapshot();

	SPI_connect();
	ret = SPI_execute_with_args("UPDATE decoderbufs_apply.subscription SET sub_skip_lsn = NULL "
								"WHERE sub_id = $1",
								1, &argtype, &arg, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not clear skip_lsn: SPI error %d", ret);
	SPI_finish();
	if (pushed)
		PopActiveSnapshot();
}

/*
 * Stop a subscription on an error for good (retry.c): record when, the
 * error's class and the error, and with disable, disable it.  A failed
 * subscription stays enabled: sub_failed_at keeps the managers from
 * starting it until the SQL API clears it.
 */
void
apply_catalog_stop_subscription(int32 subid, bool disable,
								const char *error_class, ErrorData *edata)
{
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Oid			argtypes[6] = {INT4OID, BOOLOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	int			ret;
	bool		pushed = ensure_snapshot();

	args[0] = Int32GetDatum(subid);
	args[1] = BoolGetDatum(disable);
	args[2] = CStringGetTextDatum(error_class);
	args[3] = CStringGetTextDatum(edata->message ? edata->message : "unknown error");
	if (edata->hint)
		args[4] = CStringGetTextDatum(edata->hint);
	else
		nulls[4] = 'n';
	if (edata->context)
		args[5] = CStringGetTextDatum(edata->context);
	else
		nulls[5] = 'n';

	SPI_connect();
	ret = SPI_execute_with_args("UPDATE decoderbufs_apply.subscription SET "
								"sub_enabled = sub_enabled AND NOT $2, "
								"sub_failed_at = pg_catalog.clock_timestamp(), "
								"sub_error_class = $3, sub_last_error = $4, "
								"sub_last_error_hint = $5, sub_last_error_context = $6 "
								"WHERE sub_id = $1",
								6, argtypes, args, nulls, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not record the failure of subscription %d: SPI error %d",
			 subid, ret);
	SPI_finish();
	if (pushed)
		PopActiveSnapshot();
}
