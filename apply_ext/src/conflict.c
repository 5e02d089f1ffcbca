/*-------------------------------------------------------------------------
 *
 * conflict.c
 *		Conflicts between remote changes and the target's rows: names,
 *		policies, counting and the conflict log.
 *
 * Conflict names are PostgreSQL 18's.  Every conflict is counted and
 * written to decoderbufs_apply.conflict_log with the remote and the local
 * tuple, who wrote each and when, the policy and its decision.  A decision
 * to apply or to skip is logged in the apply transaction itself, so the log
 * row is there exactly when the resolution is.  A decision to stop (the
 * fail policy) aborts the transaction; the conflict is remembered and
 * logged after the abort, in a transaction of its own, before the worker
 * exits to retry.
 *
 * Row versions.  With track_commit_timestamp, the transaction that last
 * wrote a local row (its xmin) has a commit timestamp and a replication
 * origin: none for a change made on this server, this subscription's origin
 * for the rows it (or its initial copy) wrote, another subscription's origin
 * for that one's rows.  The applied transactions commit with the remote
 * commit time as their timestamp, so a row keeps the time its change was
 * made on the node it was made on.  A version's node is a system
 * identifier: this server's for its own changes, the source's for a
 * subscription's (IDENTIFY_SYSTEM, remembered in the catalog).
 *
 * last_update_wins orders versions by (commit timestamp, node): the later
 * timestamp wins, and equal timestamps go to the higher system identifier.
 * Every node computes the same order for the same two versions, whichever
 * arrives first, so two nodes that exchange their changes keep the same
 * one.  A row not known to be newer than the remote change (no commit
 * timestamp data, or written by this very subscription) never beats it.
 *
 * resolve_conflict() writes a logged conflict's remote change now, or marks
 * it discarded.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/commit_ts.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(apply_sql_resolve_conflict);

const char *const apply_conflict_names[APPLY_NUM_CONFLICT_TYPES] = {
	[APPLY_CONFLICT_INSERT_EXISTS] = "insert_exists",
	[APPLY_CONFLICT_UPDATE_MISSING] = "update_missing",
	[APPLY_CONFLICT_UPDATE_EXISTS] = "update_exists",
	[APPLY_CONFLICT_DELETE_MISSING] = "delete_missing",
	[APPLY_CONFLICT_UPDATE_ORIGIN_DIFFERS] = "update_origin_differs",
	[APPLY_CONFLICT_DELETE_ORIGIN_DIFFERS] = "delete_origin_differs",
};

static const char *const policy_names[] = {
	[APPLY_POLICY_FAIL] = "fail",
	[APPLY_POLICY_IGNORE] = "ignore",
	[APPLY_POLICY_OVERWRITE] = "overwrite",
	[APPLY_POLICY_LAST_UPDATE_WINS] = "last_update_wins",
};

static const char *const decision_names[] = {
	[APPLY_DECISION_APPLIED] = "applied",
	[APPLY_DECISION_SKIPPED] = "skipped",
	[APPLY_DECISION_ERROR] = "error",
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
	const char *decision;
	char	   *remote_json;
	char	   *local_json;
	char	   *key_json;
	XLogRecPtr	commit_lsn;
	TimestampTz commit_time;
	char	   *remote_origin;
	char	   *remote_node;	/* the source's system identifier */
	char	   *local_origin;	/* origin name of the local version, or NULL */
	char	   *local_node;		/* its node, NULL if not known */
	TimestampTz local_commit_time;	/* 0 if not known */

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
			 errhint("Valid policies are fail, ignore, overwrite and last_update_wins.")));
	return APPLY_POLICY_FAIL;	/* keep compiler quiet */
}

/* ---- nodes and row versions ---- */

/* This server's node: its system identifier. */
uint64
apply_local_node(void)
{
	return GetSystemIdentifier();
}

static uint64
parse_node(const char *text)
{
	if (text == NULL || text[0] == '\0')
		return 0;
	return strtou64(text, NULL, 10);
}

/* The node of this subscription's source, 0 before the first connection. */
uint64
apply_remote_node(ApplyContext *actx)
{
	/* our own slot: only this worker writes source_system_id */
	return parse_node(actx->slot->source_system_id);
}

char *
apply_node_text(uint64 node)
{
	return node == 0 ? NULL : psprintf(UINT64_FORMAT, node);
}

/*
 * Remember the source's system identifier in the catalog, once per worker,
 * so that other subscriptions' workers can tell which node this one's rows
 * come from also before it connects again (after a server restart).
 */
void
apply_conflict_note_source(ApplyContext *actx)
{
	static bool noted = false;
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	Oid			save_userid;
	int			save_sec;

	if (noted || actx->slot->source_system_id[0] == '\0')
		return;
	values[0] = Int32GetDatum(actx->sub->id);
	values[1] = CStringGetTextDatum(actx->slot->source_system_id);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(actx->worker_user, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	if (SPI_execute_with_args("UPDATE decoderbufs_apply.subscription "
							  "SET sub_source_system_id = $2 "
							  "WHERE sub_id = $1 AND sub_source_system_id IS DISTINCT FROM $2",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the source's system identifier");
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);
	noted = true;
}

/* Origins of other subscriptions, by id, to the node they stand for. */
typedef struct OriginNode
{
	RepOriginId origin;			/* hash key */
	uint64		node;
} OriginNode;

static HTAB *origin_nodes = NULL;

/*
 * The node a replication origin stands for.  Another subscription's origin
 * stands for that subscription's source (from its worker's shared state, or
 * from the catalog); an origin that is no subscription's (a session or a
 * native subscription writing here) stands for this server, through which
 * those changes entered.  0 when a subscription's source is not known yet.
 */
static uint64
node_of_origin(ApplyContext *actx, RepOriginId origin)
{
	OriginNode *on;
	bool		found;
	char	   *name = NULL;
	uint64		node = 0;
	int32		subid = 0;
	char	   *catalog_node = NULL;

	if (origin == InvalidRepOriginId)
		return apply_local_node();
	if (origin == replorigin_session_origin)
		return apply_remote_node(actx);

	if (origin_nodes == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(RepOriginId);
		ctl.entrysize = sizeof(OriginNode);
		ctl.hcxt = TopMemoryContext;
		origin_nodes = hash_create("decoderbufs_apply origin nodes", 16, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	on = hash_search(origin_nodes, &origin, HASH_FIND, &found);
	if (on != NULL)
		return on->node;

	if (!replorigin_by_oid(origin, true, &name))
		node = apply_local_node();	/* dropped since: no subscription's */
	else
	{
		Oid			types[1] = {TEXTOID};
		Datum		values[1];
		Oid			save_userid;
		int			save_sec;

		values[0] = CStringGetTextDatum(name);
		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(actx->worker_user, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		SPI_connect();
		if (SPI_execute_with_args("SELECT sub_id, sub_source_system_id "
								  "FROM decoderbufs_apply.subscription "
								  "WHERE sub_origin_name = $1",
								  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the subscriptions");
		if (SPI_processed == 0)
			node = apply_local_node();
		else
		{
			bool		isnull;
			char	   *v;

			subid = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
			v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
			if (v != NULL)
				catalog_node = MemoryContextStrdup(TopTransactionContext, v);
		}
		SPI_finish();
		SetUserIdAndSecContext(save_userid, save_sec);

		if (subid != 0)
		{
			ApplyWorkerSlot *slot;

			LWLockAcquire(ApplyShared->lock, LW_SHARED);
			slot = apply_slot_for_subscription(MyDatabaseId, subid, false);
			if (slot != NULL)
				node = parse_node(slot->source_system_id);
			LWLockRelease(ApplyShared->lock);
			if (node == 0)
				node = parse_node(catalog_node);
		}
	}
	if (node == 0)
	{
		ereport(LOG,
				(errmsg("decoderbufs_apply subscription \"%s\": the source of replication origin \"%s\" is not known yet; its rows order before others of the same commit time",
						actx->sub->name, name ? name : "?")));
		return 0;				/* not cached: known once its worker connects */
	}
	on = hash_search(origin_nodes, &origin, HASH_ENTER, &found);
	on->node = node;
	return node;
}

/*
 * The version of what transaction xmin wrote: its commit timestamp, origin
 * and node.  Not known without track_commit_timestamp, for frozen and
 * bootstrap transaction ids, and for transactions whose commit timestamp
 * is no longer kept.  What this very transaction wrote is this
 * subscription's, at the remote commit time.
 */
void
apply_xmin_version(ApplyContext *actx, TransactionId xmin, ApplyRowVersion *v)
{
	memset(v, 0, sizeof(ApplyRowVersion));
	if (TransactionIdIsCurrentTransactionId(xmin))
	{
		v->known = true;
		v->ours = true;
		v->commit_time = actx->remote_commit_time;
		v->origin = replorigin_session_origin;
		v->node = apply_remote_node(actx);
		return;
	}
	if (!track_commit_timestamp || !TransactionIdIsNormal(xmin))
		return;
	if (!TransactionIdGetCommitTsData(xmin, &v->commit_time, &v->origin))
		return;
	v->known = true;
	v->ours = (v->origin == replorigin_session_origin);
	v->node = node_of_origin(actx, v->origin);
}

/* The version of a local row (a slot holding a heap tuple). */
void
apply_row_version(ApplyContext *actx, TupleTableSlot *slot, ApplyRowVersion *v)
{
	bool		isnull;
	Datum		xmin = slot_getsysattr(slot, MinTransactionIdAttributeNumber,
									   &isnull);

	apply_xmin_version(actx, DatumGetTransactionId(xmin), v);
}

/*
 * The images of a row's values (tombstone.c), to order two versions of a
 * row by their contents alike on every server of one architecture.
 */
static StringInfo
row_image(TupleTableSlot *slot)
{
	StringInfo	buf = makeStringInfo();
	TupleDesc	desc = slot->tts_tupleDescriptor;

	slot_getallattrs(slot);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		appendStringInfoChar(buf, slot->tts_isnull[i] ? 'n' : 'v');
		if (!slot->tts_isnull[i])
			apply_append_datum_image(buf, slot->tts_values[i], att);
	}
	return buf;
}

/*
 * last_update_wins: does the remote change (of the transaction being
 * applied) beat the local version?  remote_row is the remote row, NULL for
 * a DELETE; local_row the local row, NULL when local is a tombstone or
 * there is none (local NULL too).
 *
 * Later commit timestamp first, then higher node.  Two different origins
 * of the same node (two databases of one cluster, or clusters cloned from
 * one backup, which share a system identifier) cannot be ordered by node:
 * then a deletion wins over a row, and of two rows the one whose image is
 * greater, which both sides compute alike for tables of the same shape.
 */
bool
apply_lww_remote_wins(ApplyContext *actx, ApplyRowVersion *local,
					  TupleTableSlot *remote_row, TupleTableSlot *local_row)
{
	static bool warned = false;
	TimestampTz remote_time = actx->remote_commit_time;
	uint64		remote_node = apply_remote_node(actx);
	StringInfo	rimage;
	StringInfo	limage;
	int			cmp;

	if (local == NULL || !local->known || local->ours)
		return true;
	if (remote_time != local->commit_time)
		return remote_time > local->commit_time;
	if (remote_node != local->node)
		return remote_node > local->node;

	if (!warned)
	{
		ereport(LOG,
				(errmsg("decoderbufs_apply subscription \"%s\": two changes of the same commit time come from origins of the same system identifier " UINT64_FORMAT,
						actx->sub->name, remote_node),
				 errdetail("last_update_wins orders them by their contents instead.")));
		warned = true;
	}
	if (remote_row == NULL || local->tombstone)
		return remote_row == NULL && !local->tombstone;
	if (local_row == NULL)
		return true;
	rimage = row_image(remote_row);
	limage = row_image(local_row);
	cmp = memcmp(rimage->data, limage->data, Min(rimage->len, limage->len));
	return cmp > 0 || (cmp == 0 && rimage->len > limage->len);
}

/* ---- the conflict log ---- */

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

static Datum
text_or_null(const char *text, char *null)
{
	*null = text ? ' ' : 'n';
	return text ? CStringGetTextDatum(text) : (Datum) 0;
}

/* Insert one row into the conflict log, as the worker's own user. */
static void
write_log(PendingConflict *p)
{
#define LOG_COLUMNS 16
	Oid			types[LOG_COLUMNS] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		JSONBOID, JSONBOID, JSONBOID, PG_LSNOID, TIMESTAMPTZOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[LOG_COLUMNS];
	char		nulls[LOG_COLUMNS];
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
	values[10] = text_or_null(p->remote_origin, &nulls[10]);
	values[11] = text_or_null(p->decision, &nulls[11]);
	values[12] = text_or_null(p->remote_node, &nulls[12]);
	values[13] = text_or_null(p->local_origin, &nulls[13]);
	values[14] = text_or_null(p->local_node, &nulls[14]);
	values[15] = TimestampTzGetDatum(p->local_commit_time);
	nulls[15] = p->local_commit_time == 0 ? 'n' : ' ';

	GetUserIdAndSecContext(&save_userid, &save_sec);
	if (MyApplyContext)
		SetUserIdAndSecContext(MyApplyContext->worker_user,
							   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	ret = SPI_execute_with_args("INSERT INTO decoderbufs_apply.conflict_log "
								"(sub_name, schema_name, table_name, conflict_type, resolution, "
								"remote_tuple, local_tuple, key_tuple, remote_commit_lsn, "
								"remote_commit_time, remote_origin, decision, remote_node, "
								"local_origin, local_node, local_commit_time) "
								"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
								"$12, $13, $14, $15, $16)",
								LOG_COLUMNS, types, values, nulls, false, 0);
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
	ApplyRowVersion *v = c->local_version;

	memset(p, 0, sizeof(PendingConflict));
	p->sub_name = pstrdup(actx->sub->name);
	p->schema_name = get_namespace_name(RelationGetNamespace(c->rel));
	p->table_name = pstrdup(RelationGetRelationName(c->rel));
	p->type = c->type;
	p->conflict_type = pstrdup(apply_conflict_names[c->type]);
	p->policy = pstrdup(apply_policy_name(c->policy));
	p->decision = decision_names[c->decision];
	p->remote_json = remote;
	p->local_json = local;
	p->key_json = key;
	p->commit_lsn = actx->remote_commit_lsn;
	p->commit_time = actx->remote_commit_time;
	p->remote_origin = actx->remote_origin ? pstrdup(actx->remote_origin) : NULL;
	p->remote_node = apply_node_text(apply_remote_node(actx));
	if (v != NULL && v->known)
	{
		char	   *name = NULL;

		if (v->origin != InvalidRepOriginId &&
			replorigin_by_oid(v->origin, true, &name))
			p->local_origin = name;
		p->local_node = apply_node_text(v->node);
		p->local_commit_time = v->commit_time;
	}
	p->valid = true;
	MemoryContextSwitchTo(old);
}

/*
 * Count and log a conflict with its policy's decision.  An ERROR decision
 * (the fail policy, or a change that cannot be applied) raises the error
 * that stops the transaction; the conflict is logged after the abort.
 */
void
apply_conflict_report(ApplyContext *actx, ApplyConflict *c)
{
	const char *name = apply_conflict_names[c->type];
	char	   *keytext;

	actx->n_conflicts[c->type]++;

	if (c->decision != APPLY_DECISION_ERROR)
	{
		PendingConflict p;

		fill_pending(&p, actx, c, CurrentMemoryContext);
		write_log(&p);
		ereport(LOG,
				(errmsg("conflict detected on relation \"%s.%s\": conflict=%s, resolution=%s, decision=%s",
						p.schema_name, p.table_name, name, p.policy, p.decision)));
		return;
	}

	/* keep what to log past the abort */
	fill_pending(&pending, actx, c, TopMemoryContext);
	if (c->error_detail != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("conflict detected on relation \"%s.%s\": conflict=%s",
						pending.schema_name, pending.table_name, name),
				 errdetail_internal("%s", c->error_detail),
				 c->error_hint ? errhint("%s", c->error_hint) : 0));
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
	p->decision = decision_names[APPLY_DECISION_ERROR];
	p->commit_lsn = actx->remote_commit_lsn;
	p->commit_time = actx->remote_commit_time;
	p->remote_origin = actx->remote_origin ? pstrdup(actx->remote_origin) : NULL;
	p->remote_node = apply_node_text(apply_remote_node(actx));

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

/* A row fetched by SPI, from column first on, as a JSON object of text values. */
static char *
spi_row_to_json(HeapTuple tup, TupleDesc desc, int first_col)
{
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = first_col; i < desc->natts; i++)
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
	appendStringInfo(&sql, "SELECT t.xmin, t.* FROM ONLY %s t WHERE ",
					 quote_qualified_identifier(p->schema_name, p->table_name));
	for (int k = 0; k < p->nkeys; k++)
		appendStringInfo(&sql, "%st.%s = $%d::%s", k ? " AND " : "",
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
			bool		isnull;
			TransactionId xmin;

			xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1,
													   &isnull));
			p->local_json = spi_row_to_json(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			p->remote_json = p->candidate_remote[i];
			if (MyApplyContext != NULL)
			{
				ApplyRowVersion v;

				apply_xmin_version(MyApplyContext, xmin, &v);
				if (v.known)
				{
					char	   *name = NULL;

					if (v.origin != InvalidRepOriginId &&
						replorigin_by_oid(v.origin, true, &name))
						p->local_origin = name;
					p->local_node = apply_node_text(v.node);
					p->local_commit_time = v.commit_time;
				}
			}
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

/* ---- resolve_conflict() ---- */

/* What a logged conflict's remote change does to the table. */
typedef enum ResolveOp
{
	RESOLVE_UPSERT,				/* insert_exists: write the remote row */
	RESOLVE_UPDATE,				/* update_*: the row of the old key becomes the remote row */
	RESOLVE_DELETE				/* delete_*: delete the row of the key */
} ResolveOp;

/* A column of the table the logged JSON names, with its type for a cast. */
typedef struct ResolveColumn
{
	char	   *name;
	char	   *type;			/* format_type, qualified, with typmod */
	bool		is_key;
	bool		always;			/* GENERATED ALWAYS AS IDENTITY */
} ResolveColumn;

/* "col = ($n ->> 'col')::type AND ..." over the key columns. */
static void
append_key_condition(StringInfo buf, ResolveColumn *cols, int ncols, int param)
{
	bool		first = true;

	for (int i = 0; i < ncols; i++)
	{
		if (!cols[i].is_key)
			continue;
		appendStringInfo(buf, "%s%s = ($%d ->> %s)::%s", first ? "" : " AND ",
						 quote_identifier(cols[i].name), param,
						 quote_literal_cstr(cols[i].name), cols[i].type);
		first = false;
	}
}

static uint64
resolve_exec(const char *sql, Datum remote, Datum key)
{
	Oid			types[2] = {JSONBOID, JSONBOID};
	Datum		values[2] = {remote, key};
	char		nulls[2] = {remote ? ' ' : 'n', key ? ' ' : 'n'};
	int			ret;

	ret = SPI_execute_with_args(sql, 2, types, values, nulls, false, 0);
	if (ret < 0)
		elog(ERROR, "could not run \"%s\": SPI error %d", sql, ret);
	return SPI_processed;
}

/*
 * Write a logged conflict's remote change into the table now, with SQL, as
 * the current user (the subscription's owner): an INSERT becomes an upsert
 * of the remote row on the table's key; an UPDATE changes the row of its old
 * key into the remote row (deleting a row that holds the new key, for
 * update_exists) or, when there is no such row, upserts it; a DELETE deletes
 * the row of the key.  Columns are those of the logged row that the table
 * still has, values converted from their text; generated columns are left
 * to the table.
 */
static void
resolve_apply_remote(int64 id, Relation rel, const char *type,
					 Datum remote, Datum key)
{
	char	   *table = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												   RelationGetRelationName(rel));
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			keyidx = RelationGetReplicaIndex(rel);
	ResolveOp	op;
	ResolveColumn *cols;
	int			ncols = 0;
	int			nkeys = 0;
	StringInfoData sql;
	StringInfoData list;
	StringInfoData vals;
	StringInfoData ulist;
	StringInfoData uvals;
	StringInfoData sets;
	Relation	idx;
	bool		same_key = true;

	if (strcmp(type, "insert_exists") == 0)
		op = RESOLVE_UPSERT;
	else if (strncmp(type, "update_", 7) == 0)
		op = RESOLVE_UPDATE;
	else
		op = RESOLVE_DELETE;

	if (!OidIsValid(keyidx))
		keyidx = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(keyidx))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s of conflict " INT64_FORMAT " has no primary key or replica identity index", table, id),
				 errdetail("resolve_conflict finds the conflict's row by its key."),
				 errhint("Write the row yourself, then mark the conflict with action => 'discard'.")));
	if (op != RESOLVE_DELETE && remote == (Datum) 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("conflict " INT64_FORMAT " has no remote row to apply", id)));
	if (op == RESOLVE_DELETE && key == (Datum) 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("conflict " INT64_FORMAT " has no key to delete", id)));
	apply_check_target_privileges(rel, op == RESOLVE_DELETE ? ACL_DELETE :
								  ACL_INSERT | ACL_UPDATE | ACL_DELETE);

	/* the columns: those of the logged row (the key for a DELETE) */
	if (SPI_execute_with_args("SELECT jsonb_object_keys($1)", 1,
							  (Oid[]) {JSONBOID},
							  (Datum[]) {op == RESOLVE_DELETE ? key : remote},
							  NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the logged row");
	cols = palloc0(sizeof(ResolveColumn) * Max(1, SPI_processed));
	idx = index_open(keyidx, AccessShareLock);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), name);
		Form_pg_attribute att;

		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("table %s has no column \"%s\" of the row of conflict " INT64_FORMAT,
							table, name, id),
					 errhint("Write the row yourself, then mark the conflict with action => 'discard'.")));
		att = TupleDescAttr(desc, attnum - 1);
		if (att->attgenerated)
			continue;
		cols[ncols].name = name;
		cols[ncols].type = format_type_extended(att->atttypid, att->atttypmod,
												FORMAT_TYPE_TYPEMOD_GIVEN |
												FORMAT_TYPE_FORCE_QUALIFY);
		cols[ncols].always = (att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS);
		for (int k = 0; k < IndexRelationGetNumberOfKeyAttributes(idx); k++)
			if (idx->rd_index->indkey.values[k] == attnum)
				cols[ncols].is_key = true;
		nkeys += cols[ncols].is_key ? 1 : 0;
		ncols++;
	}
	if (nkeys != IndexRelationGetNumberOfKeyAttributes(idx))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the logged row of conflict " INT64_FORMAT " lacks key columns of table %s", id, table),
				 errhint("Write the row yourself, then mark the conflict with action => 'discard'.")));
	index_close(idx, AccessShareLock);

	initStringInfo(&sql);
	if (op == RESOLVE_DELETE)
	{
		appendStringInfo(&sql, "DELETE FROM %s WHERE ", table);
		append_key_condition(&sql, cols, ncols, 2);
		resolve_exec(sql.data, remote, key);
		return;
	}

	/*
	 * An identity column GENERATED ALWAYS takes the remote value in an
	 * INSERT (OVERRIDING SYSTEM VALUE) and keeps the local one in an UPDATE,
	 * which cannot set it.
	 */
	initStringInfo(&list);
	initStringInfo(&vals);
	initStringInfo(&ulist);
	initStringInfo(&uvals);
	initStringInfo(&sets);
	for (int i = 0; i < ncols; i++)
	{
		const char *col = quote_identifier(cols[i].name);
		char	   *val = psprintf("($1 ->> %s)::%s",
								   quote_literal_cstr(cols[i].name), cols[i].type);

		appendStringInfo(&list, "%s%s", i ? ", " : "", col);
		appendStringInfo(&vals, "%s%s", i ? ", " : "", val);
		if (cols[i].always)
			continue;
		appendStringInfo(&ulist, "%s%s", ulist.len ? ", " : "", col);
		appendStringInfo(&uvals, "%s%s", uvals.len ? ", " : "", val);
		if (!cols[i].is_key)
			appendStringInfo(&sets, "%s%s = excluded.%s", sets.len ? ", " : "",
							 col, col);
	}

	/* an UPDATE that changes the key: from the row of the old key */
	if (op == RESOLVE_UPDATE && key != (Datum) 0)
	{
		bool		isnull;

		appendStringInfoString(&sql, "SELECT ");
		for (int i = 0, n = 0; i < ncols; i++)
		{
			if (!cols[i].is_key)
				continue;
			appendStringInfo(&sql, "%s($1 ->> %s) IS NOT DISTINCT FROM ($2 ->> %s)",
							 n++ ? " AND " : "", quote_literal_cstr(cols[i].name),
							 quote_literal_cstr(cols[i].name));
		}
		resolve_exec(sql.data, remote, key);
		same_key = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull)
			same_key = true;	/* the key was not logged: by the new key */
	}
	if (op == RESOLVE_UPDATE && !same_key)
	{
		if (strcmp(type, "update_exists") == 0)
		{
			resetStringInfo(&sql);
			appendStringInfo(&sql, "DELETE FROM %s WHERE ", table);
			append_key_condition(&sql, cols, ncols, 1);
			resolve_exec(sql.data, remote, key);
		}
		resetStringInfo(&sql);
		appendStringInfo(&sql, "UPDATE %s SET (%s) = ROW(%s) WHERE ", table,
						 ulist.data, uvals.data);
		append_key_condition(&sql, cols, ncols, 2);
		if (resolve_exec(sql.data, remote, key) > 0)
			return;
	}

	resetStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s "
					 "ON CONFLICT (", table, list.data, vals.data);
	for (int i = 0, n = 0; i < ncols; i++)
		if (cols[i].is_key)
			appendStringInfo(&sql, "%s%s", n++ ? ", " : "",
							 quote_identifier(cols[i].name));
	if (sets.len > 0)
		appendStringInfo(&sql, ") DO UPDATE SET %s", sets.data);
	else
		appendStringInfoString(&sql, ") DO NOTHING");
	resolve_exec(sql.data, remote, key);
}

/*
 * _resolve_conflict(id bigint, action text): write the remote change of a
 * logged conflict now ('apply_remote'), as the subscription's owner, or
 * leave the table as it is ('discard'); either way the conflict is marked
 * resolved, with who and when.  The SQL wrapper resolve_conflict() checks
 * the arguments and that the caller may manage subscriptions.
 */
Datum
apply_sql_resolve_conflict(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	char	   *action = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		apply_remote = strcmp(action, "apply_remote") == 0;
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *sub_name;
	char	   *schema_name;
	char	   *table_name;
	char	   *type;
	Datum		remote;
	Datum		key;
	bool		isnull;
	Oid			owner = InvalidOid;
	Oid			relid = InvalidOid;

	if (!apply_remote && strcmp(action, "discard") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for argument \"action\": \"%s\"", action),
				 errhint("Use apply_remote (write the remote change now) or discard (keep the table as it is).")));
	SPI_connect();
	if (SPI_execute_with_args("SELECT sub_name, schema_name, table_name, conflict_type, "
							  "remote_tuple, key_tuple, resolved_at, resolved_by, resolved_action "
							  "FROM decoderbufs_apply.conflict_log WHERE id = $1 FOR UPDATE",
							  1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(id)},
							  NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the conflict log");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("conflict " INT64_FORMAT " does not exist", id),
				 errhint("decoderbufs_apply.conflict_log lists the conflicts by id.")));
	tup = SPI_copytuple(SPI_tuptable->vals[0]);
	desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	if (!heap_attisnull(tup, 7, desc))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("conflict " INT64_FORMAT " is already resolved", id),
				 errdetail("It was resolved with \"%s\" by %s at %s.",
						   SPI_getvalue(tup, desc, 9), SPI_getvalue(tup, desc, 8),
						   SPI_getvalue(tup, desc, 7))));
	sub_name = SPI_getvalue(tup, desc, 1);
	schema_name = SPI_getvalue(tup, desc, 2);
	table_name = SPI_getvalue(tup, desc, 3);
	type = SPI_getvalue(tup, desc, 4);
	remote = SPI_getbinval(tup, desc, 5, &isnull);
	if (isnull)
		remote = (Datum) 0;
	key = SPI_getbinval(tup, desc, 6, &isnull);
	if (isnull)
		key = (Datum) 0;

	/* the subscription's owner writes, and the caller must act for it */
	if (SPI_execute_with_args("SELECT sub_owner::oid FROM decoderbufs_apply.subscription "
							  "WHERE sub_name = $1",
							  1, (Oid[]) {TEXTOID}, (Datum[]) {CStringGetTextDatum(sub_name)},
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the subscriptions");
	if (SPI_processed > 0)
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	if (OidIsValid(owner) && !superuser() && !has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for decoderbufs_apply subscription \"%s\"", sub_name),
				 errdetail("Only the subscription's owner (or a member of that role) and superusers may resolve its conflicts.")));

	if (apply_remote)
	{
		Oid			nspid;
		Relation	rel;
		Oid			save_userid;
		int			save_sec;

		if (!OidIsValid(owner))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("decoderbufs_apply subscription \"%s\" of conflict " INT64_FORMAT " does not exist any more",
							sub_name, id),
					 errdetail("The remote row is written as the subscription's owner."),
					 errhint("Write the row yourself, then mark the conflict with action => 'discard'.")));
		nspid = get_namespace_oid(schema_name, true);
		if (OidIsValid(nspid))
			relid = get_relname_relid(table_name, nspid);
		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table \"%s.%s\" of conflict " INT64_FORMAT " does not exist",
							schema_name, table_name, id),
					 errhint("Mark the conflict with action => 'discard'.")));
		rel = table_open(relid, RowExclusiveLock);
		if (rel->rd_rel->relkind != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s.%s\" of conflict " INT64_FORMAT " is not a table",
							schema_name, table_name, id)));

		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		resolve_apply_remote(id, rel, type, remote, key);
		SetUserIdAndSecContext(save_userid, save_sec);
		table_close(rel, NoLock);
	}

	if (SPI_execute_with_args("UPDATE decoderbufs_apply.conflict_log "
							  "SET resolved_at = clock_timestamp(), resolved_by = current_user, "
							  "resolved_action = $2 WHERE id = $1",
							  2, (Oid[]) {INT8OID, TEXTOID},
							  (Datum[]) {Int64GetDatum(id), CStringGetTextDatum(action)},
							  NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the conflict log");
	SPI_finish();
	PG_RETURN_VOID();
}
