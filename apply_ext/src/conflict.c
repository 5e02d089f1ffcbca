/*-------------------------------------------------------------------------
 *
 * conflict.c
 *		Conflicts between remote changes and the target's rows: names,
 *		policies, counting and the conflict log.
 *
 * Conflict names are PostgreSQL 18's.  Every conflict is counted and
 * written to decoderbufs_apply.conflict_log with the remote and the local
 * tuple.  Under ignore and overwrite the log row is written in the apply
 * transaction itself, so it is there exactly when the resolution is.  Under
 * fail the transaction aborts; the conflict is remembered and logged after
 * the abort, in a transaction of its own, before the worker exits to retry.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

const char *const apply_conflict_names[APPLY_NUM_CONFLICT_TYPES] = {
	[APPLY_CONFLICT_INSERT_EXISTS] = "insert_exists",
	[APPLY_CONFLICT_UPDATE_MISSING] = "update_missing",
	[APPLY_CONFLICT_UPDATE_EXISTS] = "update_exists",
	[APPLY_CONFLICT_DELETE_MISSING] = "delete_missing",
};

static const char *const policy_names[] = {
	[APPLY_POLICY_FAIL] = "fail",
	[APPLY_POLICY_IGNORE] = "ignore",
	[APPLY_POLICY_OVERWRITE] = "overwrite",
};

/* A conflict that aborted its transaction, to be logged after the abort. */
typedef struct PendingConflict
{
	bool		valid;
	ApplyConflictType type;
	char	   *sub_name;
	char	   *schema_name;
	char	   *table_name;
	char	   *conflict_type;
	char	   *policy;
	char	   *remote_json;
	char	   *local_json;
	char	   *key_json;
	XLogRecPtr	commit_lsn;
	TimestampTz commit_time;
	char	   *remote_origin;

	/*
	 * A unique violation while inserting: the rows that may have caused it,
	 * with their key values as text; the local row is found after the abort.
	 */
	int			ncandidates;
	char	  **candidate_remote;	/* JSON of each row */
	char	 ***candidate_key;	/* key values as text, NULL for null */
	int			nkeys;
	char	  **key_names;
	char	  **key_types;		/* format_type_be_qualified() */
} PendingConflict;

static PendingConflict pending;

const char *
apply_policy_name(ApplyPolicy policy)
{
	return policy_names[policy];
}

ApplyPolicy
apply_policy_from_name(const char *name)
{
	for (int i = 0; i < lengthof(policy_names); i++)
	{
		if (name && strcmp(name, policy_names[i]) == 0)
			return (ApplyPolicy) i;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown conflict policy \"%s\"", name ? name : "(null)"),
			 errhint("Valid policies are fail, ignore and overwrite.")));
	return APPLY_POLICY_FAIL;	/* keep compiler quiet */
}

/* A non-NULL value's text, by its type's output function. */
static char *
value_text(Oid typid, Datum value)
{
	Oid			outfn;
	bool		isvarlena;

	getTypeOutputInfo(typid, &outfn, &isvarlena);
	return OidOutputFunctionCall(outfn, value);
}

/*
 * A slot's columns as a JSON object of text values (NULL as null).  Exact
 * whatever the type, and readable.
 */
static char *
slot_to_json(TupleTableSlot *slot)
{
	TupleDesc	desc;
	StringInfoData buf;
	bool		first = true;

	if (slot == NULL || TTS_EMPTY(slot))
		return NULL;
	desc = slot->tts_tupleDescriptor;
	slot_getallattrs(slot);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		escape_json(&buf, NameStr(att->attname));
		appendStringInfoString(&buf, ": ");
		if (slot->tts_isnull[i])
			appendStringInfoString(&buf, "null");
		else
			escape_json(&buf, value_text(att->atttypid, slot->tts_values[i]));
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* The lookup-key columns only, for the error message. */
static char *
key_to_text(ApplyRelation *arel, TupleTableSlot *slot)
{
	StringInfoData buf;
	TupleDesc	desc;

	if (slot == NULL || arel == NULL || arel->nlookup_attnums == 0)
		return NULL;
	desc = slot->tts_tupleDescriptor;
	slot_getallattrs(slot);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	for (int k = 0; k < arel->nlookup_attnums; k++)
	{
		int			i = arel->lookup_attnums[k] - 1;

		appendStringInfo(&buf, "%s%s", k ? ", " : "",
						 quote_identifier(NameStr(TupleDescAttr(desc, i)->attname)));
	}
	appendStringInfoString(&buf, ")=(");
	for (int k = 0; k < arel->nlookup_attnums; k++)
	{
		int			i = arel->lookup_attnums[k] - 1;
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (k)
			appendStringInfoString(&buf, ", ");
		if (slot->tts_isnull[i])
			appendStringInfoString(&buf, "null");
		else
			appendStringInfoString(&buf, value_text(att->atttypid, slot->tts_values[i]));
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

static Datum
json_or_null(const char *json, bool *isnull)
{
	*isnull = (json == NULL);
	if (json == NULL)
		return (Datum) 0;
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

/* Insert one row into the conflict log, as the worker's own user. */
static void
write_log(PendingConflict *p)
{
	Oid			types[11] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	JSONBOID, JSONBOID, JSONBOID, PG_LSNOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[11];
	char		nulls[11];
	bool		isnull;
	Oid			save_userid;
	int			save_sec;
	int			ret;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(p->sub_name);
	values[1] = CStringGetTextDatum(p->schema_name);
	values[2] = CStringGetTextDatum(p->table_name);
	values[3] = CStringGetTextDatum(p->conflict_type);
	values[4] = CStringGetTextDatum(p->policy);
	values[5] = json_or_null(p->remote_json, &isnull);
	nulls[5] = isnull ? 'n' : ' ';
	values[6] = json_or_null(p->local_json, &isnull);
	nulls[6] = isnull ? 'n' : ' ';
	values[7] = json_or_null(p->key_json, &isnull);
	nulls[7] = isnull ? 'n' : ' ';
	values[8] = LSNGetDatum(p->commit_lsn);
	values[9] = TimestampTzGetDatum(p->commit_time);
	nulls[9] = p->commit_time == 0 ? 'n' : ' ';
	values[10] = p->remote_origin ? CStringGetTextDatum(p->remote_origin) : (Datum) 0;
	nulls[10] = p->remote_origin ? ' ' : 'n';

	GetUserIdAndSecContext(&save_userid, &save_sec);
	if (MyApplyContext)
		SetUserIdAndSecContext(MyApplyContext->worker_user,
							   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	ret = SPI_execute_with_args("INSERT INTO decoderbufs_apply.conflict_log "
								"(sub_name, schema_name, table_name, conflict_type, resolution, "
								"remote_tuple, local_tuple, key_tuple, remote_commit_lsn, "
								"remote_commit_time, remote_origin) "
								"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
								11, types, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not write the conflict log: SPI error %d", ret);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);
}

static void
fill_pending(PendingConflict *p, ApplyContext *actx, ApplyConflict *c,
			 MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	char	   *remote = slot_to_json(c->remote);
	char	   *local = slot_to_json(c->local);
	char	   *key = slot_to_json(c->key);

	p->sub_name = pstrdup(actx->sub->name);
	p->schema_name = get_namespace_name(RelationGetNamespace(c->rel));
	p->table_name = pstrdup(RelationGetRelationName(c->rel));
	p->type = c->type;
	p->conflict_type = pstrdup(apply_conflict_names[c->type]);
	p->policy = pstrdup(apply_policy_name(c->policy));
	p->remote_json = remote;
	p->local_json = local;
	p->key_json = key;
	p->commit_lsn = actx->remote_commit_lsn;
	p->commit_time = actx->remote_commit_time;
	p->remote_origin = actx->remote_origin ? pstrdup(actx->remote_origin) : NULL;
	p->valid = true;
	MemoryContextSwitchTo(old);
}

/*
 * Count and log a conflict; under the fail policy, raise the error that
 * stops the transaction.
 */
void
apply_conflict_report(ApplyContext *actx, ApplyConflict *c)
{
	const char *name = apply_conflict_names[c->type];
	char	   *keytext;

	actx->n_conflicts[c->type]++;

	if (c->policy != APPLY_POLICY_FAIL)
	{
		PendingConflict p;

		fill_pending(&p, actx, c, CurrentMemoryContext);
		write_log(&p);
		ereport(LOG,
				(errmsg("conflict detected on relation \"%s.%s\": conflict=%s, resolution=%s",
						p.schema_name, p.table_name, name, p.policy)));
		return;
	}

	/* fail: keep what to log past the abort */
	fill_pending(&pending, actx, c, TopMemoryContext);
	keytext = key_to_text(actx->current_rel, c->key ? c->key : (c->local ? c->local : c->remote));
	ereport(ERROR,
			(errcode(c->type == APPLY_CONFLICT_INSERT_EXISTS ||
					 c->type == APPLY_CONFLICT_UPDATE_EXISTS ?
					 ERRCODE_UNIQUE_VIOLATION : ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("conflict detected on relation \"%s.%s\": conflict=%s",
					pending.schema_name, pending.table_name, name),
			 keytext ? errdetail("Key %s; existing local row %s; remote row %s.",
								 keytext,
								 pending.local_json ? pending.local_json : "none",
								 pending.remote_json ? pending.remote_json : "none") : 0,
			 errhint("The subscription's conflict policy is \"fail\": the worker retries this transaction. Resolve the row on the target, change the policy with decoderbufs_apply.alter_subscription(), or step over the transaction with decoderbufs_apply.skip_transaction().")));
}

/*
 * A unique violation (sqlerrcode 23505) raised while inserting slots into
 * rel: it is the insert_exists conflict, under the fail policy since the
 * transaction cannot go on.  Remember the candidate rows and raise the
 * conflict error; the local row is looked up after the abort.
 */
void
apply_conflict_insert_failed(ApplyContext *actx, Relation rel,
							 ApplyRelation *arel, TupleTableSlot **slots,
							 int nslots, ErrorData *edata)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	TupleDesc	desc = RelationGetDescr(rel);
	PendingConflict *p = &pending;

	memset(p, 0, sizeof(PendingConflict));
	p->type = APPLY_CONFLICT_INSERT_EXISTS;
	p->sub_name = pstrdup(actx->sub->name);
	p->schema_name = get_namespace_name(RelationGetNamespace(rel));
	p->table_name = pstrdup(RelationGetRelationName(rel));
	p->conflict_type = pstrdup(apply_conflict_names[APPLY_CONFLICT_INSERT_EXISTS]);
	p->policy = pstrdup(apply_policy_name(APPLY_POLICY_FAIL));
	p->commit_lsn = actx->remote_commit_lsn;
	p->commit_time = actx->remote_commit_time;
	p->remote_origin = actx->remote_origin ? pstrdup(actx->remote_origin) : NULL;

	p->nkeys = arel->nlookup_attnums;
	p->key_names = palloc(sizeof(char *) * Max(1, p->nkeys));
	p->key_types = palloc(sizeof(char *) * Max(1, p->nkeys));
	for (int k = 0; k < p->nkeys; k++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, arel->lookup_attnums[k] - 1);

		p->key_names[k] = pstrdup(NameStr(att->attname));
		p->key_types[k] = format_type_be_qualified(att->atttypid);
	}
	p->ncandidates = nslots;
	p->candidate_remote = palloc(sizeof(char *) * nslots);
	p->candidate_key = palloc(sizeof(char **) * nslots);
	for (int i = 0; i < nslots; i++)
	{
		p->candidate_remote[i] = slot_to_json(slots[i]);
		p->candidate_key[i] = palloc(sizeof(char *) * Max(1, p->nkeys));
		for (int k = 0; k < p->nkeys; k++)
		{
			int			a = arel->lookup_attnums[k] - 1;
			Form_pg_attribute att = TupleDescAttr(desc, a);

			p->candidate_key[i][k] = slots[i]->tts_isnull[a] ? NULL :
				value_text(att->atttypid, slots[i]->tts_values[a]);
		}
	}
	p->remote_json = p->candidate_remote[0];
	p->valid = true;
	MemoryContextSwitchTo(old);

	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("conflict detected on relation \"%s.%s\": conflict=insert_exists",
					p->schema_name, p->table_name),
			 errdetail("%s%s%s", edata->message,
					   edata->detail ? " " : "", edata->detail ? edata->detail : ""),
			 errhint("The subscription's conflict policy is \"fail\": the worker retries this transaction. Resolve the row on the target, change the policy with decoderbufs_apply.alter_subscription(), or step over the transaction with decoderbufs_apply.skip_transaction().")));
}

/* A row fetched by SPI as a JSON object of text values. */
static char *
spi_row_to_json(HeapTuple tup, TupleDesc desc)
{
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < desc->natts; i++)
	{
		char	   *v;

		if (TupleDescAttr(desc, i)->attisdropped)
			continue;
		appendStringInfoString(&buf, first ? "" : ", ");
		first = false;
		escape_json(&buf, NameStr(TupleDescAttr(desc, i)->attname));
		appendStringInfoString(&buf, ": ");
		v = SPI_getvalue(tup, desc, i + 1);
		if (v == NULL)
			appendStringInfoString(&buf, "null");
		else
			escape_json(&buf, v);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * After the abort of a failed insert: find which candidate's key exists
 * locally, and take that row as the conflict's local and remote tuples.
 */
static void
resolve_candidates(PendingConflict *p)
{
	StringInfoData sql;
	int			ret;

	if (p->ncandidates == 0 || p->nkeys == 0)
		return;
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT * FROM ONLY %s WHERE ",
					 quote_qualified_identifier(p->schema_name, p->table_name));
	for (int k = 0; k < p->nkeys; k++)
		appendStringInfo(&sql, "%s%s = $%d::%s", k ? " AND " : "",
						 quote_identifier(p->key_names[k]), k + 1, p->key_types[k]);

	SPI_connect();
	for (int i = 0; i < p->ncandidates; i++)
	{
		Oid		   *types = palloc(sizeof(Oid) * p->nkeys);
		Datum	   *values = palloc(sizeof(Datum) * p->nkeys);
		bool		skip = false;

		for (int k = 0; k < p->nkeys; k++)
		{
			types[k] = TEXTOID;
			if (p->candidate_key[i][k] == NULL)
				skip = true;
			else
				values[k] = CStringGetTextDatum(p->candidate_key[i][k]);
		}
		if (skip)
			continue;
		ret = SPI_execute_with_args(sql.data, p->nkeys, types, values, NULL, true, 1);
		if (ret == SPI_OK_SELECT && SPI_processed > 0)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
			StringInfoData key;

			p->local_json = spi_row_to_json(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
			p->remote_json = p->candidate_remote[i];
			initStringInfo(&key);
			appendStringInfoChar(&key, '{');
			for (int k = 0; k < p->nkeys; k++)
			{
				appendStringInfoString(&key, k ? ", " : "");
				escape_json(&key, p->key_names[k]);
				appendStringInfoString(&key, ": ");
				escape_json(&key, p->candidate_key[i][k]);
			}
			appendStringInfoChar(&key, '}');
			p->key_json = key.data;
			MemoryContextSwitchTo(old);
			break;
		}
	}
	SPI_finish();
}

/*
 * After an abort: count and log the conflict that caused it, if any, in a
 * transaction of its own.
 */
void
apply_conflict_log_pending_failure(ApplyWorkerSlot *slot)
{
	if (!pending.valid)
		return;
	pending.valid = false;
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	slot->n_conflicts[pending.type]++;
	LWLockRelease(ApplyShared->lock);
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	resolve_candidates(&pending);
	write_log(&pending);
	PopActiveSnapshot();
	CommitTransactionCommand();
}
