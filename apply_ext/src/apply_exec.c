/*-------------------------------------------------------------------------
 *
 * apply_exec.c
 *		Applying remote row changes through the executor.
 *
 * Rows are found with an index lookup on the target's replica identity
 * index or primary key (or, without one, a scan comparing the whole old row
 * when the source sends it), locked, and changed with the executor's
 * simple-relation routines, so constraints, indexes and - when the
 * subscription asks for it - triggers behave as for any other write.  No
 * SQL text is built per row.
 *
 * Executor state (the opened relation, its indexes, an EState) is set up
 * once per relation per remote transaction and closed at its commit.
 * Consecutive INSERTs into a table without row triggers are buffered and
 * written with table_multi_insert(), as COPY does; any other change, a
 * TRUNCATE or the commit writes the buffer out first, so changes keep their
 * order.
 *
 * Conflicts: an UPDATE or DELETE whose row is missing (update_missing,
 * delete_missing), an UPDATE whose new key belongs to another row
 * (update_exists), an INSERT whose key exists (insert_exists).  Under the
 * policies ignore and overwrite every INSERT is checked with an index
 * lookup first, so the policy can act; under fail no lookup is needed: the
 * unique index raises the violation, which becomes the insert_exists
 * conflict error (conflict.c logs it, with the local row, after the abort).
 *
 * With track_commit_timestamp, an UPDATE or DELETE whose row was last
 * written by another origin than this subscription's (a local change, or
 * another subscription's) is an update_origin_differs or
 * delete_origin_differs conflict.  Under fail it is logged and applied, as
 * PostgreSQL 18 does: stopping would leave no way on but skipping, since
 * any fix on the target is itself a local change.  ignore keeps the local
 * row, overwrite applies, last_update_wins compares the versions
 * (conflict.c).  Under last_update_wins a change that finds no row compares
 * itself with the key's tombstone, and deletes leave one (tombstone.c).
 *
 * An UPDATE changes the row in place, starting from the local row: columns
 * the source marks as unchanged TOAST keep their local value, also when the
 * same UPDATE changes the key.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/commit_ts.h"
#include "access/genam.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/pg_class.h"
#include "commands/tablecmds.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#if PG_VERSION_NUM >= 160000
#include "parser/parse_relation.h"
#endif
#include "utils/acl.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "storage/lmgr.h"

/* Buffer limits of multi-inserts, those of COPY FROM. */
#define MAX_BUFFERED_ROWS	1000
#define MAX_BUFFERED_BYTES	65535

/* Executor state for one relation, kept for the remote transaction. */
typedef struct ExecRel
{
	Oid			relid;			/* hash key: the local relation */
	ApplyRelation *arel;
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	EPQState	epq;
	TupleTableSlot *remoteslot;
	TupleTableSlot *localslot;
	TupleTableSlot *otherslot;
	bool		has_row_triggers;
	bool		can_multi_insert;
	int			nbuffered;
	Size		buffered_bytes;
	int			nslots;
	TupleTableSlot **buffer;	/* MAX_BUFFERED_ROWS, created on demand */

	/* the lookup index, opened once, with its scan and scan keys */
	Relation	lookup_idx;
	IndexScanDesc lookup_scan;
	SnapshotData lookup_snap;	/* dirty: sees in-progress changes */
	int			nlookup_keys;
	ScanKeyData lookup_keys[INDEX_MAX_KEYS];

	/* defaults of local columns the source does not send, ready to run */
	ExprState **default_states;
	uint32		default_generation; /* of arel's local side they are for */
} ExecRel;

static HTAB *exec_rels = NULL;	/* lives in TopTransactionContext */
static ExecRel *buffered_rel = NULL;	/* the one with buffered inserts */

/*
 * Check once per relation and privilege that the subscription's owner may
 * write the table, and that no row security would filter what we write.
 */
/*
 * The current user (the subscription's owner) may write rel with mode, and
 * no row-level security policy would filter what it writes.
 */
void
apply_check_target_privileges(Relation rel, AclMode mode)
{
	/*
	 * Every privilege of mode: pg_class_aclcheck() is satisfied by any one
	 * of them (ACLMASK_ANY), so an owner with INSERT only would pass a check
	 * of INSERT | TRUNCATE.
	 */
	if ((pg_class_aclmask(RelationGetRelid(rel), GetUserId(), mode, ACLMASK_ALL) & mode) != mode)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(rel->rd_rel->relkind),
					   RelationGetRelationName(rel));
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("user \"%s\" cannot replicate into relation with row-level security enabled: \"%s\"",
						GetUserNameFromId(GetUserId(), true),
						RelationGetRelationName(rel)),
				 errhint("Make the subscription's owner the table's owner, a superuser, or a role with BYPASSRLS.")));
}

static void
check_privileges(ApplyRelation *arel, Relation rel, AclMode mode)
{
	if ((arel->acl_checked & mode) == mode)
		return;
	apply_check_target_privileges(rel, mode);
	arel->acl_checked |= mode;
}

static bool
has_insert_row_triggers(ResultRelInfo *rri)
{
	TriggerDesc *td = rri->ri_TrigDesc;

	return td != NULL &&
		(td->trig_insert_before_row || td->trig_insert_after_row ||
		 td->trig_insert_instead_row || td->trig_insert_new_table ||
		 td->trig_update_before_row || td->trig_update_after_row ||
		 td->trig_delete_before_row || td->trig_delete_after_row);
}

static void
exec_open(ExecRel *er, ApplyRelation *arel)
{
	RangeTblEntry *rte;
	EState	   *estate;

	er->arel = arel;
	er->rel = table_open(arel->local_relid, RowExclusiveLock);
	estate = er->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(er->rel);
	rte->relkind = er->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
#if PG_VERSION_NUM >= 160000
	{
		/* error reports that show the row look up the permission info */
		List	   *perminfos = NIL;

		addRTEPermissionInfo(&perminfos, rte);
		ExecInitRangeTable(estate, list_make1(rte), perminfos);
	}
#else
	ExecInitRangeTable(estate, list_make1(rte));
#endif
	er->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(er->rri, er->rel, 1, NULL, 0);
	ExecOpenIndices(er->rri, false);
	AfterTriggerBeginQuery();
#if PG_VERSION_NUM >= 160000
	EvalPlanQualInit(&er->epq, estate, NULL, NIL, -1, NIL);
#else
	EvalPlanQualInit(&er->epq, estate, NULL, NIL, -1);
#endif
	er->remoteslot = table_slot_create(er->rel, &estate->es_tupleTable);
	er->localslot = table_slot_create(er->rel, &estate->es_tupleTable);
	er->otherslot = table_slot_create(er->rel, &estate->es_tupleTable);
	er->has_row_triggers = has_insert_row_triggers(er->rri);
	er->can_multi_insert = !er->has_row_triggers &&
		er->rel->rd_rel->relkind == RELKIND_RELATION &&
		!er->rel->rd_rel->relispartition;
	er->nbuffered = 0;
	er->buffered_bytes = 0;
	er->nslots = 0;
	er->buffer = NULL;
	er->lookup_idx = NULL;
	er->lookup_scan = NULL;
	er->default_states = NULL;
}

/*
 * Open the lookup index and prepare its equality scan keys, once per
 * relation per transaction: a lookup then only sets the key values.
 */
static void
lookup_prepare(ExecRel *er)
{
	Relation	idx;

	er->lookup_idx = idx = index_open(er->arel->lookup_index, RowExclusiveLock);
	er->nlookup_keys = IndexRelationGetNumberOfKeyAttributes(idx);
	for (int k = 0; k < er->nlookup_keys; k++)
	{
		Oid			optype = idx->rd_opcintype[k];
		Oid			op = get_opfamily_member(idx->rd_opfamily[k], optype, optype,
											 BTEqualStrategyNumber);

		if (!OidIsValid(op))
			elog(ERROR, "missing equality operator for type %u in operator family %u",
				 optype, idx->rd_opfamily[k]);
		ScanKeyInit(&er->lookup_keys[k], k + 1, BTEqualStrategyNumber,
					get_opcode(op), (Datum) 0);
		er->lookup_keys[k].sk_collation = idx->rd_indcollation[k];
	}
	InitDirtySnapshot(er->lookup_snap);
	er->lookup_scan = index_beginscan(er->rel, idx, &er->lookup_snap,
									  er->nlookup_keys, 0);
}

/*
 * Find the row whose lookup-index key equals searchslot's, wait for any
 * transaction changing it, and lock it into outslot.  A NULL key matches
 * nothing, as in a unique index.
 */
static bool
lookup_row(ExecRel *er, TupleTableSlot *searchslot, TupleTableSlot *outslot)
{
	Relation	idx;
	bool		found;
	bool		fetched;
	MemoryContext old;

	if (er->lookup_scan == NULL)
	{
		old = MemoryContextSwitchTo(TopTransactionContext);
		lookup_prepare(er);
		MemoryContextSwitchTo(old);
	}
	idx = er->lookup_idx;
	slot_getallattrs(searchslot);
	for (int k = 0; k < er->nlookup_keys; k++)
	{
		AttrNumber	a = idx->rd_index->indkey.values[k];

		if (searchslot->tts_isnull[a - 1])
			return false;
		er->lookup_keys[k].sk_argument = searchslot->tts_values[a - 1];
		er->lookup_keys[k].sk_flags = 0;
	}

retry:
	found = false;

	/*
	 * The index AM allocates scan state it keeps (btree's list of dead items
	 * to mark) in the memory current when it needs it: that must live as
	 * long as the scan, not the row.
	 */
	old = MemoryContextSwitchTo(TopTransactionContext);
	index_rescan(er->lookup_scan, er->lookup_keys, er->nlookup_keys, NULL, 0);
	fetched = index_getnext_slot(er->lookup_scan, ForwardScanDirection, outslot);
	MemoryContextSwitchTo(old);
	if (fetched)
	{
		TransactionId xwait;

		found = true;
		ExecMaterializeSlot(outslot);
		xwait = TransactionIdIsValid(er->lookup_snap.xmin) ?
			er->lookup_snap.xmin : er->lookup_snap.xmax;
		if (TransactionIdIsValid(xwait))
		{
			/* another transaction is changing the row: let it finish */
			XactLockTableWait(xwait, NULL, NULL, XLTW_None);
			goto retry;
		}
	}
	if (found)
	{
		TM_FailureData tmfd;
		TM_Result	res;

		PushActiveSnapshot(GetLatestSnapshot());
		res = table_tuple_lock(er->rel, &outslot->tts_tid, GetLatestSnapshot(),
							   outslot, GetCurrentCommandId(false),
							   LockTupleExclusive, LockWaitBlock, 0, &tmfd);
		PopActiveSnapshot();
		switch (res)
		{
			case TM_Ok:
				break;
			case TM_Updated:
			case TM_Deleted:
				/* changed under us since the scan: look again */
				goto retry;
			case TM_Invisible:
				elog(ERROR, "attempted to lock invisible tuple");
				break;
			default:
				elog(ERROR, "unexpected table_tuple_lock status: %u", res);
				break;
		}
	}
	return found;
}

static void
exec_close(ExecRel *er)
{
	if (er->lookup_scan != NULL)
	{
		index_endscan(er->lookup_scan);
		index_close(er->lookup_idx, NoLock);
	}
	EvalPlanQualEnd(&er->epq);
	AfterTriggerEndQuery(er->estate);
	ExecCloseIndices(er->rri);
	ExecResetTupleTable(er->estate->es_tupleTable, false);
	FreeExecutorState(er->estate);
	table_close(er->rel, NoLock);
}

/*
 * The executor state of a relation for this transaction, ready for a
 * change needing privilege mode.
 */
static ExecRel *
exec_get(ApplyRelation *arel, AclMode mode)
{
	ExecRel    *er;
	bool		found;

	if (exec_rels == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ExecRel);
		ctl.hcxt = TopTransactionContext;
		exec_rels = hash_create("decoderbufs_apply executor states", 16, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	er = hash_search(exec_rels, &arel->local_relid, HASH_ENTER, &found);
	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		exec_open(er, arel);
		MemoryContextSwitchTo(old);
	}
	er->arel = arel;
	check_privileges(arel, er->rel, mode);
	if (arel->policy == APPLY_POLICY_LAST_UPDATE_WINS && !track_commit_timestamp)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("conflict policy last_update_wins of table \"%s.%s\" needs track_commit_timestamp",
						arel->schema_name, arel->table_name),
				 errdetail("Without commit timestamps the target cannot tell when its rows were written."),
				 errhint("Set track_commit_timestamp = on on the target and restart it, or give the table another policy with decoderbufs_apply.set_table_policy() or alter_subscription(); the worker retries.")));
	apply_conflict_note_source(MyApplyContext);
	er->estate->es_output_cid = GetCurrentCommandId(true);
	return er;
}

/* After each change: fire queued AFTER triggers, free per-row memory. */
static void
exec_row_done(ExecRel *er)
{
	if (er->has_row_triggers)
	{
		AfterTriggerEndQuery(er->estate);
		AfterTriggerBeginQuery();
	}
	ResetPerTupleExprContext(er->estate);
}

/* Evaluate the defaults of local columns the source does not send. */
static void
fill_defaults(ExecRel *er, ApplyRelation *arel, TupleTableSlot *slot)
{
	ExprContext *econtext = GetPerTupleExprContext(er->estate);

	if (arel->ndefaults == 0)
		return;
	/*
	 * The expressions are prepared once per relation per transaction, and
	 * again if its local side was rebuilt since (a RELATION message in the
	 * middle of the transaction may change which columns need defaults).
	 */
	if (er->default_states == NULL ||
		er->default_generation != arel->local_generation)
	{
		MemoryContext old = MemoryContextSwitchTo(er->estate->es_query_cxt);

		er->default_states = palloc(sizeof(ExprState *) * arel->ndefaults);
		for (int i = 0; i < arel->ndefaults; i++)
			er->default_states[i] = ExecInitExpr(arel->default_exprs[i], NULL);
		er->default_generation = arel->local_generation;
		MemoryContextSwitchTo(old);
	}
	for (int i = 0; i < arel->ndefaults; i++)
	{
		AttrNumber	a = arel->default_attnums[i] - 1;

		slot->tts_values[a] = ExecEvalExpr(er->default_states[i], econtext,
										   &slot->tts_isnull[a]);
	}
}

/* Put a decoded remote tuple into slot, as a virtual tuple. */
static void
store_remote(TupleTableSlot *slot, ApplyTupleData *td)
{
	ExecClearTuple(slot);
	memcpy(slot->tts_values, td->values, sizeof(Datum) * td->natts);
	memcpy(slot->tts_isnull, td->nulls, sizeof(bool) * td->natts);
	ExecStoreVirtualTuple(slot);
}

/*
 * Start from the local row and overlay the columns the source sent with a
 * value; unchanged TOAST and columns the source lacks keep the local value.
 */
static void
store_updated(TupleTableSlot *slot, TupleTableSlot *localslot, ApplyTupleData *td)
{
	slot_getallattrs(localslot);
	ExecClearTuple(slot);
	for (int a = 0; a < td->natts; a++)
	{
		if (td->present[a] && !td->unchanged[a])
		{
			slot->tts_values[a] = td->values[a];
			slot->tts_isnull[a] = td->nulls[a];
		}
		else
		{
			slot->tts_values[a] = localslot->tts_values[a];
			slot->tts_isnull[a] = localslot->tts_isnull[a];
		}
	}
	ExecStoreVirtualTuple(slot);
}

static bool
has_unchanged(ApplyTupleData *td)
{
	for (int a = 0; a < td->natts; a++)
		if (td->unchanged[a])
			return true;
	return false;
}

/*
 * Find the local row matching the values in searchslot (the remote key or
 * old row) and lock it into outslot.  td says which columns the source sent.
 */
static bool
find_local_row(ExecRel *er, ApplyRelation *arel, ApplyTupleData *td,
			   TupleTableSlot *searchslot, TupleTableSlot *outslot)
{
	if (OidIsValid(arel->lookup_index))
	{
		for (int k = 0; k < arel->nlookup_attnums; k++)
		{
			AttrNumber	a = arel->lookup_attnums[k];

			if (a <= 0 || !td->present[a - 1] || td->unchanged[a - 1])
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
						 errmsg("cannot find rows of \"%s.%s\" on the target: the source does not send its key column \"%s\"",
								arel->schema_name, arel->table_name,
								a > 0 ? NameStr(TupleDescAttr(RelationGetDescr(er->rel), a - 1)->attname) : "(expression)"),
						 errhint("Make the target's primary key (or replica identity index) use the source's key columns, or set REPLICA IDENTITY FULL on the source.")));
		}
		return lookup_row(er, searchslot, outslot);
	}

	for (int a = 0; a < td->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(er->rel), a);

		if (!att->attisdropped && (!td->present[a] || td->unchanged[a]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("cannot find rows of \"%s.%s\" on the target: it has no primary key or replica identity index, and the source does not send the whole old row",
							arel->schema_name, arel->table_name),
					 errhint("Add a primary key to the target table, or set REPLICA IDENTITY FULL on the source.")));
	}
	return RelationFindReplTupleSeq(er->rel, LockTupleExclusive, searchslot,
									outslot);
}

/*
 * Do the lookup-index columns of two slots hold the same values?  By image,
 * as tombstones compare keys, but whatever the varlena header: a value read
 * from a local row has a short (1-byte) header where the same value decoded
 * from the source has a 4-byte one, which datumIsEqual() takes for a
 * different value (an UPDATE of a text-keyed row would look like a change
 * of its key, onto itself).
 */
static bool
same_key(ApplyRelation *arel, TupleTableSlot *a, TupleTableSlot *b)
{
	TupleDesc	desc = a->tts_tupleDescriptor;

	slot_getallattrs(a);
	slot_getallattrs(b);
	for (int k = 0; k < arel->nlookup_attnums; k++)
	{
		int			i = arel->lookup_attnums[k] - 1;
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (a->tts_isnull[i] != b->tts_isnull[i])
			return false;
		if (!a->tts_isnull[i] &&
			!datum_image_eq(a->tts_values[i], b->tts_values[i], att->attbyval, att->attlen))
			return false;
	}
	return true;
}

static void
decode_new(ApplyRelation *arel, ExecRel *er, Decoderbufs__RowMessage *msg,
		   ApplyTupleData *td)
{
	apply_decode_tuple(arel, RelationGetDescr(er->rel), msg->new_tuple,
					   (int) msg->n_new_tuple, false, td);
}

/* The old tuple of an UPDATE or DELETE: the key, or the whole old row. */
static bool
decode_old(ApplyRelation *arel, ExecRel *er, Decoderbufs__RowMessage *msg,
		   ApplyTupleData *td)
{
	bool		key_only = arel->replident != 'f' && arel->nkeys > 0;

	if (msg->n_old_tuple == 0)
		return false;
	apply_decode_tuple(arel, RelationGetDescr(er->rel), msg->old_tuple,
					   (int) msg->n_old_tuple, key_only, td);
	return true;
}

/*
 * Report a conflict: the remote and local rows (either may be NULL), the
 * values searched for, the local row's (or tombstone's) version, and the
 * decision taken.
 */
static void
conflict(ApplyContext *actx, ApplyConflictType type, ExecRel *er,
		 TupleTableSlot *remote, TupleTableSlot *local, TupleTableSlot *key,
		 ApplyRowVersion *version, ApplyDecision decision)
{
	ApplyConflict c;

	memset(&c, 0, sizeof(c));
	c.type = type;
	c.policy = er->arel->policy;
	c.decision = decision;
	c.rel = er->rel;
	c.remote = remote;
	c.local = local;
	c.key = key;
	c.local_version = version;
	apply_conflict_report(actx, &c);
}

/*
 * What er's policy decides for a conflict of this type: whether the remote
 * change wins.  v is the version of the local row or tombstone (NULL if
 * there is none), remote the remote row (NULL for a DELETE), local the
 * local row (NULL if none).
 */
static ApplyDecision
decide(ApplyContext *actx, ExecRel *er, ApplyConflictType type,
	   ApplyRowVersion *v, TupleTableSlot *remote, TupleTableSlot *local)
{
	switch (er->arel->policy)
	{
		case APPLY_POLICY_FAIL:
			/* an origin difference does not keep a change from applying */
			if (type == APPLY_CONFLICT_UPDATE_ORIGIN_DIFFERS ||
				type == APPLY_CONFLICT_DELETE_ORIGIN_DIFFERS)
				return APPLY_DECISION_APPLIED;
			return APPLY_DECISION_ERROR;
		case APPLY_POLICY_IGNORE:
			return APPLY_DECISION_SKIPPED;
		case APPLY_POLICY_OVERWRITE:
			/* a DELETE of a missing row has nothing to overwrite */
			return type == APPLY_CONFLICT_DELETE_MISSING ?
				APPLY_DECISION_SKIPPED : APPLY_DECISION_APPLIED;
		case APPLY_POLICY_LAST_UPDATE_WINS:
			return apply_lww_remote_wins(actx, v, remote, local) ?
				APPLY_DECISION_APPLIED : APPLY_DECISION_SKIPPED;
	}
	return APPLY_DECISION_ERROR;	/* keep compiler quiet */
}

/*
 * The version of the local row in slot, and whether it is an origin
 * conflict: known (track_commit_timestamp) and written by another origin
 * than this subscription's.
 */
static bool
origin_differs(ApplyContext *actx, TupleTableSlot *slot, ApplyRowVersion *v)
{
	apply_row_version(actx, slot, v);
	return v->known && !v->ours;
}

/* ---- inserts ---- */

/*
 * Run an insert that may hit a unique index (multi-insert flush, or a plain
 * insert under the fail policy): a unique violation is the insert_exists
 * conflict.  slots are the rows being inserted, the candidates.
 *
 * No subtransaction: its cost per small remote transaction would be most of
 * the gain of not looking the key up first.  Catching only the unique
 * violation is safe here: nbtree releases its buffer locks before raising it
 * (it looks the catalogs up itself to describe the key), the transaction
 * aborts right after, and nothing is written in between; we only describe
 * the candidate rows and raise the conflict error in its place.
 */
static void
insert_as_fail_policy(ApplyContext *actx, ExecRel *er, TupleTableSlot **slots,
					  int nslots, void (*insert) (ExecRel *er))
{
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		insert(er);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			PG_RE_THROW();
		FlushErrorState();
		apply_conflict_insert_failed(actx, er->rel, er->arel, slots, nslots,
									 edata);
	}
	PG_END_TRY();
}

/* Write out the buffered inserts of er. */
static void
flush_buffer_now(ExecRel *er)
{
	CommandId	cid = GetCurrentCommandId(true);

	table_multi_insert(er->rel, er->buffer, er->nbuffered, cid, 0, NULL);
	for (int i = 0; i < er->nbuffered; i++)
	{
		if (er->rri->ri_NumIndices > 0)
		{
			List	   *recheck;

#if PG_VERSION_NUM >= 160000
			recheck = ExecInsertIndexTuples(er->rri, er->buffer[i], er->estate,
											false, false, NULL, NIL, false);
#else
			recheck = ExecInsertIndexTuples(er->rri, er->buffer[i], er->estate,
											false, false, NULL, NIL);
#endif
			list_free(recheck);
		}
	}
}

static void
flush_buffer(ApplyContext *actx, ExecRel *er)
{
	if (er->nbuffered == 0)
		return;
	er->estate->es_output_cid = GetCurrentCommandId(true);
	insert_as_fail_policy(actx, er, er->buffer, er->nbuffered, flush_buffer_now);
	for (int i = 0; i < er->nbuffered; i++)
		ExecClearTuple(er->buffer[i]);
	actx->n_inserted += er->nbuffered;
	er->nbuffered = 0;
	er->buffered_bytes = 0;
	CommandCounterIncrement();
}

/*
 * Write out buffered inserts, if any: before any change that is not one
 * more INSERT into the same table, and at commit.
 */
void
apply_exec_flush(ApplyContext *actx)
{
	if (buffered_rel != NULL)
	{
		ExecRel    *er = buffered_rel;

		buffered_rel = NULL;
		flush_buffer(actx, er);
	}
}

/* Checks ExecSimpleRelationInsert() does, for a row going to a buffer. */
static void
prepare_for_buffer(ExecRel *er, TupleTableSlot *slot)
{
	Relation	rel = er->rel;

	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(er->rri, er->estate, slot, CMD_INSERT);
	if (rel->rd_att->constr)
		ExecConstraints(er->rri, slot, er->estate);
}

static void
buffer_insert(ApplyContext *actx, ExecRel *er)
{
	TupleTableSlot *slot;

	if (er->buffer == NULL)
		er->buffer = MemoryContextAllocZero(TopTransactionContext,
											sizeof(TupleTableSlot *) * MAX_BUFFERED_ROWS);
	if (er->nbuffered == er->nslots)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		er->buffer[er->nslots++] = table_slot_create(er->rel, &er->estate->es_tupleTable);
		MemoryContextSwitchTo(old);
	}
	prepare_for_buffer(er, er->remoteslot);
	slot = er->buffer[er->nbuffered++];
	ExecCopySlot(slot, er->remoteslot);
	er->buffered_bytes += ExecFetchSlotHeapTuple(slot, false, NULL)->t_len;
	buffered_rel = er;
	if (er->nbuffered >= MAX_BUFFERED_ROWS || er->buffered_bytes >= MAX_BUFFERED_BYTES)
		apply_exec_flush(actx);
}

static void
simple_insert_now(ExecRel *er)
{
	ExecSimpleRelationInsert(er->rri, er->estate, er->remoteslot);
}

void
apply_exec_insert(ApplyContext *actx, ApplyRelation *arel,
				  Decoderbufs__RowMessage *msg)
{
	ExecRel    *er = exec_get(arel, ACL_INSERT);
	ApplyTupleData td;

	if (buffered_rel != NULL && buffered_rel != er)
		apply_exec_flush(actx);

	decode_new(arel, er, msg, &td);

	/*
	 * An UPDATE that the source's row filter turned into an INSERT carries
	 * unchanged TOAST values only as markers: the row cannot be built.
	 */
	if (has_unchanged(&td))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot apply INSERT on \"%s.%s\": the source did not send the values of its unchanged TOAST columns",
						arel->schema_name, arel->table_name),
				 errdetail("The row came into the table's row filter through an UPDATE that did not change those columns, and the table's replica identity does not carry them."),
				 errhint("Set REPLICA IDENTITY FULL on the source table, then resync the table with decoderbufs_apply.resync_table(), or step over this transaction with decoderbufs_apply.skip_transaction().")));
	store_remote(er->remoteslot, &td);
	fill_defaults(er, arel, er->remoteslot);

	if (arel->policy != APPLY_POLICY_FAIL && OidIsValid(arel->lookup_index))
	{
		ApplyRowVersion v;
		ApplyDecision d;

		/* the policy acts on an existing row: look for it first */
		apply_exec_flush(actx);
		if (lookup_row(er, er->remoteslot, er->localslot))
		{
			apply_row_version(actx, er->localslot, &v);
			d = decide(actx, er, APPLY_CONFLICT_INSERT_EXISTS, &v,
					   er->remoteslot, er->localslot);
			conflict(actx, APPLY_CONFLICT_INSERT_EXISTS, er, er->remoteslot,
					 er->localslot, NULL, &v, d);
			if (d == APPLY_DECISION_APPLIED)
			{
				check_privileges(arel, er->rel, ACL_UPDATE);
				ExecSimpleRelationUpdate(er->rri, er->estate, &er->epq,
										 er->localslot, er->remoteslot);
				actx->n_updated++;
			}
			exec_row_done(er);
			return;
		}

		/* a newer delete of the key wins over the insert */
		if (arel->policy == APPLY_POLICY_LAST_UPDATE_WINS &&
			apply_tombstone_find(actx, er->rel, arel, er->remoteslot, &v) &&
			!apply_lww_remote_wins(actx, &v, er->remoteslot, NULL))
		{
			conflict(actx, APPLY_CONFLICT_INSERT_EXISTS, er, er->remoteslot,
					 NULL, NULL, &v, APPLY_DECISION_SKIPPED);
			exec_row_done(er);
			return;
		}
	}

	if (er->can_multi_insert)
		buffer_insert(actx, er);
	else
	{
		insert_as_fail_policy(actx, er, &er->remoteslot, 1, simple_insert_now);
		actx->n_inserted++;
	}
	exec_row_done(er);
}

/* ---- updates and deletes ---- */

/*
 * The new key of an UPDATE may belong to another local row (update_exists).
 * Returns false when the update is to be skipped.
 *
 * Under last_update_wins a change of key is a delete of the old key and a
 * write of the new one: when the row holding the new key wins, the row of
 * the old key is still deleted (its version lost to this change already),
 * which is what a node that got the two in the other order ends with.
 */
static bool
check_new_key(ApplyContext *actx, ExecRel *er)
{
	ApplyRelation *arel = er->arel;
	ApplyRowVersion v;
	ApplyDecision d;

	if (!OidIsValid(arel->lookup_index) ||
		same_key(arel, er->localslot, er->remoteslot))
		return true;
	if (!lookup_row(er, er->remoteslot, er->otherslot))
		return true;
	apply_row_version(actx, er->otherslot, &v);
	d = decide(actx, er, APPLY_CONFLICT_UPDATE_EXISTS, &v, er->remoteslot,
			   er->otherslot);
	conflict(actx, APPLY_CONFLICT_UPDATE_EXISTS, er, er->remoteslot,
			 er->otherslot, er->localslot, &v, d);
	if (d != APPLY_DECISION_APPLIED)
	{
		if (arel->policy == APPLY_POLICY_LAST_UPDATE_WINS)
		{
			check_privileges(arel, er->rel, ACL_DELETE);
			ExecSimpleRelationDelete(er->rri, er->estate, &er->epq, er->localslot);
			actx->n_deleted++;
			apply_tombstone_write(actx, er->rel, arel, er->localslot);
		}
		return false;
	}
	/* the row holding the new key makes way */
	check_privileges(arel, er->rel, ACL_DELETE);
	ExecSimpleRelationDelete(er->rri, er->estate, &er->epq, er->otherslot);
	actx->n_deleted++;
	return true;
}

void
apply_exec_update(ApplyContext *actx, ApplyRelation *arel,
				  Decoderbufs__RowMessage *msg)
{
	ExecRel    *er;
	ApplyTupleData newtd;
	ApplyTupleData oldtd;
	bool		have_old;
	ApplyRowVersion v;
	ApplyDecision d;

	apply_exec_flush(actx);
	er = exec_get(arel, ACL_UPDATE);
	decode_new(arel, er, msg, &newtd);
	have_old = decode_old(arel, er, msg, &oldtd);

	/*
	 * A table without a key on the source (REPLICA IDENTITY NOTHING, or
	 * DEFAULT without a primary key) gets no old tuple: the new values
	 * cannot tell which row changed.
	 */
	if (!have_old && arel->nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot apply UPDATE on \"%s.%s\": the source sends no key for it",
						arel->schema_name, arel->table_name),
				 errdetail("The source table has REPLICA IDENTITY NOTHING, or DEFAULT without a primary key."),
				 errhint("Add a primary key to the source table or set its REPLICA IDENTITY FULL, then step over this transaction with decoderbufs_apply.skip_transaction().")));

	/* the search values: the old key or row if sent, else the new row */
	store_remote(er->otherslot, have_old ? &oldtd : &newtd);
	if (!find_local_row(er, arel, have_old ? &oldtd : &newtd, er->otherslot,
						er->localslot))
	{
		ApplyRowVersion tv;
		bool		have_tombstone;
		ApplyConflict c;

		store_remote(er->remoteslot, &newtd);
		/* under last_update_wins: deleted after this update? */
		have_tombstone = arel->policy == APPLY_POLICY_LAST_UPDATE_WINS &&
			apply_tombstone_find(actx, er->rel, arel, er->otherslot, &tv);
		d = decide(actx, er, APPLY_CONFLICT_UPDATE_MISSING,
				   have_tombstone ? &tv : NULL, er->remoteslot, NULL);

		/*
		 * A key change whose old row is gone: another row may hold the new
		 * key, which makes the change an update of that row (update_exists).
		 */
		if (d == APPLY_DECISION_APPLIED && OidIsValid(arel->lookup_index) &&
			lookup_row(er, er->remoteslot, er->localslot))
		{
			conflict(actx, APPLY_CONFLICT_UPDATE_MISSING, er, er->remoteslot,
					 NULL, er->otherslot, have_tombstone ? &tv : NULL, d);
			apply_row_version(actx, er->localslot, &v);
			store_updated(er->remoteslot, er->localslot, &newtd);
			d = decide(actx, er, APPLY_CONFLICT_UPDATE_EXISTS, &v,
					   er->remoteslot, er->localslot);
			conflict(actx, APPLY_CONFLICT_UPDATE_EXISTS, er, er->remoteslot,
					 er->localslot, er->otherslot, &v, d);
			if (d == APPLY_DECISION_APPLIED)
			{
				ExecSimpleRelationUpdate(er->rri, er->estate, &er->epq,
										 er->localslot, er->remoteslot);
				actx->n_updated++;
			}
			exec_row_done(er);
			return;
		}
		if (d == APPLY_DECISION_APPLIED && has_unchanged(&newtd))
		{
			memset(&c, 0, sizeof(c));
			c.type = APPLY_CONFLICT_UPDATE_MISSING;
			c.policy = arel->policy;
			c.decision = APPLY_DECISION_ERROR;
			c.rel = er->rel;
			c.remote = er->remoteslot;
			c.key = er->otherslot;
			c.local_version = have_tombstone ? &tv : NULL;
			c.error_detail = psprintf("The policy \"%s\" inserts the missing row of the UPDATE, but the source did not send the values of its unchanged TOAST columns.",
									  apply_policy_name(arel->policy));
			c.error_hint = "Restore the row on the target, or step over this transaction with decoderbufs_apply.skip_transaction().";
			apply_conflict_report(actx, &c);
		}
		conflict(actx, APPLY_CONFLICT_UPDATE_MISSING, er, er->remoteslot, NULL,
				 er->otherslot, have_tombstone ? &tv : NULL, d);
		if (d == APPLY_DECISION_APPLIED)
		{
			check_privileges(arel, er->rel, ACL_INSERT);
			fill_defaults(er, arel, er->remoteslot);
			ExecSimpleRelationInsert(er->rri, er->estate, er->remoteslot);
			actx->n_inserted++;
		}
		exec_row_done(er);
		return;
	}

	store_updated(er->remoteslot, er->localslot, &newtd);
	if (origin_differs(actx, er->localslot, &v))
	{
		d = decide(actx, er, APPLY_CONFLICT_UPDATE_ORIGIN_DIFFERS, &v,
				   er->remoteslot, er->localslot);
		conflict(actx, APPLY_CONFLICT_UPDATE_ORIGIN_DIFFERS, er, er->remoteslot,
				 er->localslot, er->otherslot, &v, d);
		if (d != APPLY_DECISION_APPLIED)
		{
			exec_row_done(er);
			return;
		}
	}
	if (check_new_key(actx, er))
	{
		/* under last_update_wins, the old key of a key change is deleted */
		if (arel->policy == APPLY_POLICY_LAST_UPDATE_WINS &&
			OidIsValid(arel->lookup_index) &&
			!same_key(arel, er->localslot, er->remoteslot))
			apply_tombstone_write(actx, er->rel, arel, er->localslot);
		ExecSimpleRelationUpdate(er->rri, er->estate, &er->epq, er->localslot,
								 er->remoteslot);
		actx->n_updated++;
	}
	exec_row_done(er);
}

void
apply_exec_delete(ApplyContext *actx, ApplyRelation *arel,
				  Decoderbufs__RowMessage *msg)
{
	ExecRel    *er;
	ApplyTupleData oldtd;
	ApplyRowVersion v;
	ApplyDecision d;
	bool		lww = arel->policy == APPLY_POLICY_LAST_UPDATE_WINS;

	apply_exec_flush(actx);
	er = exec_get(arel, ACL_DELETE);
	if (!decode_old(arel, er, msg, &oldtd))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot apply DELETE on \"%s.%s\": the source sends no key for it",
						arel->schema_name, arel->table_name),
				 errdetail("The source table has REPLICA IDENTITY NOTHING, or DEFAULT without a primary key."),
				 errhint("Add a primary key to the source table or set its REPLICA IDENTITY FULL, then step over this transaction with decoderbufs_apply.skip_transaction().")));

	store_remote(er->otherslot, &oldtd);
	if (find_local_row(er, arel, &oldtd, er->otherslot, er->localslot))
	{
		if (origin_differs(actx, er->localslot, &v))
		{
			d = decide(actx, er, APPLY_CONFLICT_DELETE_ORIGIN_DIFFERS, &v,
					   NULL, er->localslot);
			conflict(actx, APPLY_CONFLICT_DELETE_ORIGIN_DIFFERS, er, NULL,
					 er->localslot, er->otherslot, &v, d);
			if (d != APPLY_DECISION_APPLIED)
			{
				exec_row_done(er);
				return;
			}
		}
		ExecSimpleRelationDelete(er->rri, er->estate, &er->epq, er->localslot);
		actx->n_deleted++;
		if (lww)
			apply_tombstone_write(actx, er->rel, arel, er->otherslot);
	}
	else
	{
		/* under last_update_wins the delete is remembered, unless older */
		bool		have_tombstone = lww &&
			apply_tombstone_find(actx, er->rel, arel, er->otherslot, &v);

		if (lww)
			d = decide(actx, er, APPLY_CONFLICT_DELETE_MISSING,
					   have_tombstone ? &v : NULL, NULL, NULL);
		else
			d = decide(actx, er, APPLY_CONFLICT_DELETE_MISSING, NULL, NULL, NULL);
		conflict(actx, APPLY_CONFLICT_DELETE_MISSING, er, NULL, NULL,
				 er->otherslot, have_tombstone ? &v : NULL, d);
		if (lww && d == APPLY_DECISION_APPLIED)
			apply_tombstone_write(actx, er->rel, arel, er->otherslot);
	}
	exec_row_done(er);
}

/*
 * At the end of a remote transaction (before the local commit), and before
 * a TRUNCATE: write buffered inserts and close every relation's executor
 * state.
 */
void
apply_exec_end(ApplyContext *actx)
{
	HASH_SEQ_STATUS status;
	ExecRel    *er;
	List	   *lww_relids = NIL;

	apply_exec_flush(actx);
	if (exec_rels != NULL)
	{
		hash_seq_init(&status, exec_rels);
		while ((er = hash_seq_search(&status)) != NULL)
		{
			if (er->arel->policy == APPLY_POLICY_LAST_UPDATE_WINS &&
				OidIsValid(er->arel->lookup_index))
				lww_relids = lappend_oid(lww_relids, er->relid);
			exec_close(er);
		}
		hash_destroy(exec_rels);
		exec_rels = NULL;
	}
	/* with every relation closed: DDL on them is possible */
	apply_tombstone_end_of_xact(actx, lww_relids);
}

/*
 * Forget the executor states after an abort of the (sub)transaction they
 * were opened in, which released what they held: for the fuzz harness,
 * which goes on in the same backend.  Their memory goes with the top-level
 * transaction.
 */
void
apply_exec_forget(void)
{
	exec_rels = NULL;
	buffered_rel = NULL;
}

/*
 * TRUNCATE the local tables of a remote TRUNCATE.  The source lists every
 * table it truncated (CASCADE included), so the target does not cascade
 * further on its own.
 */
void
apply_exec_truncate(ApplyContext *actx, Decoderbufs__RowMessage *msg)
{
	List	   *rels = NIL;
	List	   *relids = NIL;
	List	   *relids_logged = NIL;
	ListCell   *lc;

	if (msg->truncate == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the source sent a TRUNCATE without its relations")));

	/* TRUNCATE refuses tables this session still has open */
	apply_exec_end(actx);

	for (size_t i = 0; i < msg->truncate->n_relation_oids; i++)
	{
		ApplyRelation *arel = apply_relmap_get(msg->truncate->relation_oids[i]);
		Relation	rel;

		actx->current_rel = arel;
		apply_relmap_open_local(arel, actx->sub);
		if (arel->ignored || list_member_oid(relids, arel->local_relid) ||
			!apply_rel_synced(arel, actx->remote_commit_lsn))
			continue;
		rel = table_open(arel->local_relid, AccessExclusiveLock);
		check_privileges(arel, rel, ACL_TRUNCATE);
		rels = lappend(rels, rel);
		relids = lappend_oid(relids, arel->local_relid);
		if (RelationIsLogicallyLogged(rel))
			relids_logged = lappend_oid(relids_logged, arel->local_relid);
	}
	actx->current_rel = NULL;
	if (rels == NIL)
		return;

#if PG_VERSION_NUM >= 160000
	ExecuteTruncateGuts(rels, relids, relids_logged, DROP_RESTRICT,
						msg->truncate->restart_identity, false);
#else
	ExecuteTruncateGuts(rels, relids, relids_logged, DROP_RESTRICT,
						msg->truncate->restart_identity);
#endif
	foreach(lc, rels)
		table_close((Relation) lfirst(lc), NoLock);
	actx->n_truncated += list_length(relids);
}
