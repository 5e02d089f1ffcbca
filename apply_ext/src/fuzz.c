/*-------------------------------------------------------------------------
 *
 * fuzz.c
 *		The fuzz harness: CopyData messages through the apply worker's own
 *		decoding and applying, with every effect undone.
 *
 * apply_sql_fuzz_messages(sub_id integer, messages bytea[]) RETURNS text
 * loads a subscription as its worker does (apply_context_load) and feeds
 * the messages, each one a whole CopyData message of the replication
 * stream ('w' header and RowBatch, or 'k' keepalive), through the worker's
 * dispatch (worker.c: apply_worker_harness_feed): unpacking, checks,
 * relation mapping, value decoding, the executor, conflicts.  It runs in an
 * internal subtransaction that is always rolled back, so the tables are as
 * they were after every call; streamed transactions left open are
 * forgotten and their spool files deleted.  It returns NULL when the worker
 * took every message, or "SQLSTATE: message" of the ERROR it raised: a bad
 * message must end in an ERROR, never in a crash.
 *
 * The function is not part of the extension's SQL script: the fuzz tests
 * create it themselves (CREATE FUNCTION ... LANGUAGE C AS
 * 'decoderbufs_apply', 'apply_sql_fuzz_messages'), and only a superuser
 * may call it.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

PG_FUNCTION_INFO_V1(apply_sql_fuzz_messages);

/*
 * The settings apply_context_load() gives the session.  It sets them as
 * overrides, which a rollback does not undo: the harness puts the caller's
 * values back itself.
 */
static const char *const session_settings[] = {
	"DateStyle", "IntervalStyle", "search_path", "synchronous_commit",
	"session_replication_role"
};

/* The messages of a bytea[] as buffers and lengths. */
static int
messages_from_array(ArrayType *arr, char ***bufs, int **lens)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"messages\" must be a one-dimensional array")));
	deconstruct_array(arr, BYTEAOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	*bufs = palloc(sizeof(char *) * Max(1, n));
	*lens = palloc(sizeof(int) * Max(1, n));
	for (int i = 0; i < n; i++)
	{
		bytea	   *b;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"messages\" must not contain NULL")));
		b = DatumGetByteaPP(elems[i]);
		(*lens)[i] = VARSIZE_ANY_EXHDR(b);
		/* a copy of its own, as PQgetCopyData gives the worker */
		(*bufs)[i] = palloc((*lens)[i] + 1);
		memcpy((*bufs)[i], VARDATA_ANY(b), (*lens)[i]);
	}
	return n;
}

/* Load the subscription and run the messages, as its owner. */
static void
feed(int32 subid, char **bufs, int *lens, int n, MemoryContext cxt)
{
	ApplyContext *actx = MemoryContextAllocZero(cxt, sizeof(ApplyContext));

	/* a slot of its own: no worker's status changes */
	actx->slot = MemoryContextAllocZero(cxt, sizeof(ApplyWorkerSlot));
	actx->worker_user = GetUserId();
	MyApplyContext = actx;
	apply_context_load(actx, subid, cxt);
	SetUserIdAndSecContext(actx->apply_user, SECURITY_LOCAL_USERID_CHANGE);
	apply_worker_harness_feed(actx, bufs, lens, n);
}

Datum
apply_sql_fuzz_messages(PG_FUNCTION_ARGS)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ApplyContext *save_actx = MyApplyContext;
	MemoryContext cxt;
	char	  **bufs;
	int		   *lens;
	int			n;
	char	   *result = NULL;
	char	   *saved[lengthof(session_settings)];

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may run the decoderbufs_apply fuzz harness")));
	if (ApplyShared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("decoderbufs_apply is not loaded"),
				 errhint("Add decoderbufs_apply to shared_preload_libraries in postgresql.conf and restart the server.")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();

	n = messages_from_array(PG_GETARG_ARRAYTYPE_P(1), &bufs, &lens);
	cxt = AllocSetContextCreate(oldcxt, "decoderbufs_apply fuzz",
								ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < lengthof(session_settings); i++)
		saved[i] = GetConfigOptionByName(session_settings[i], NULL, false);

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		feed(PG_GETARG_INT32(0), bufs, lens, n, cxt);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		result = psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode),
						  edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();

	/* undo everything, the worker's success as well as its failure */
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	apply_exec_forget();
	apply_worker_harness_reset();
	MyApplyContext = save_actx;
	MemoryContextDelete(cxt);
	for (int i = 0; i < lengthof(session_settings); i++)
		SetConfigOption(session_settings[i], saved[i], PGC_SUSET, PGC_S_OVERRIDE);

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}
