/*-------------------------------------------------------------------------
 *
 * apply_exec.c
 *		Applying one remote row change through the executor.
 *
 * Rows are found with an index lookup on the target's replica identity
 * index or primary key (or, without one, a scan comparing the whole old row
 * when the source sends it), locked, and changed with the executor's
 * simple-relation routines, so constraints, indexes and - when the
 * subscription asks for it - triggers behave as for any other write.  No
 * SQL text is built per row.
 *
 * Each change is checked against the target first, which is how conflicts
 * are found: an INSERT whose key exists (insert_exists), an UPDATE or DELETE
 * whose row is missing (update_missing, delete_missing), an UPDATE whose new
 * key belongs to another row (update_exists).  conflict.c counts and logs
 * them; the policy decides what happens.
 *
 * An UPDATE changes the row in place, starting from the local row: columns
 * the source marks as unchanged TOAST keep their local value, also when the
 * same UPDATE changes the key.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "commands/tablecmds.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "catalog/catalog.h"
#include "utils/rel.h"
#include "utils/rls.h"

/* Executor state for applying changes to one relation. */
typedef struct ExecRel
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	EPQState	epq;
	TupleTableSlot *remoteslot;
	TupleTableSlot *localslot;
	TupleTableSlot *otherslot;
} ExecRel;

/*
 * Check once per relation and privilege that the subscription's owner may
 * write the table, and that no row security would filter what we write.
 */
static void
check_privileges(ApplyRelation *arel, Relation rel, AclMode mode)
{
	AclResult	aclresult;

	if ((arel->acl_checked & mode) == mode)
		return;
	aclresult = pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), mode);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(rel->rd_rel->relkind),
					   RelationGetRelationName(rel));
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("user \"%s\" cannot replicate into relation with row-level security enabled: \"%s\"",
						GetUserNameFromId(GetUserId(), true),
						RelationGetRelationName(rel)),
				 errhint("Make the subscription's owner the table's owner, a superuser, or a role with BYPASSRLS.")));
	arel->acl_checked |= mode;
}

static void
exec_begin(ExecRel *er, ApplyRelation *arel, AclMode mode)
{
	RangeTblEntry *rte;
	EState	   *estate;

	er->rel = table_open(arel->local_relid, RowExclusiveLock);
	check_privileges(arel, er->rel, mode);

	estate = er->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(er->rel);
	rte->relkind = er->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
#if PG_VERSION_NUM >= 160000
	ExecInitRangeTable(estate, list_make1(rte), NIL);
#else
	ExecInitRangeTable(estate, list_make1(rte));
#endif
	er->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(er->rri, er->rel, 1, NULL, 0);
	estate->es_output_cid = GetCurrentCommandId(true);
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
}

static void
exec_end(ExecRel *er)
{
	EvalPlanQualEnd(&er->epq);
	AfterTriggerEndQuery(er->estate);
	ExecCloseIndices(er->rri);
	ExecResetTupleTable(er->estate->es_tupleTable, false);
	FreeExecutorState(er->estate);
	table_close(er->rel, NoLock);
}

/* Evaluate the defaults of local columns the source does not send. */
static void
fill_defaults(ExecRel *er, ApplyRelation *arel, TupleTableSlot *slot)
{
	ExprContext *econtext = GetPerTupleExprContext(er->estate);

	for (int i = 0; i < arel->ndefaults; i++)
	{
		AttrNumber	a = arel->default_attnums[i] - 1;
		ExprState  *state = ExecInitExpr(arel->default_exprs[i], NULL);

		slot->tts_values[a] = ExecEvalExpr(state, econtext, &slot->tts_isnull[a]);
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
		return RelationFindReplTupleByIndex(er->rel, arel->lookup_index,
											LockTupleExclusive, searchslot,
											outslot);
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

/* Do the lookup-index columns of two slots hold the same values? */
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
			!datumIsEqual(a->tts_values[i], b->tts_values[i], att->attbyval, att->attlen))
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

static void
conflict(ApplyContext *actx, ApplyConflictType type, ApplyRelation *arel,
		 ExecRel *er, TupleTableSlot *remote, TupleTableSlot *local,
		 TupleTableSlot *key)
{
	ApplyConflict c;

	c.type = type;
	c.policy = arel->policy;
	c.rel = er->rel;
	c.remote = remote;
	c.local = local;
	c.key = key;
	apply_conflict_report(actx, &c);
}

void
apply_exec_insert(ApplyContext *actx, ApplyRelation *arel,
				  Decoderbufs__RowMessage *msg)
{
	ExecRel		er;
	ApplyTupleData td;
	bool		exists = false;

	exec_begin(&er, arel, ACL_INSERT);
	decode_new(arel, &er, msg, &td);
	store_remote(er.remoteslot, &td);
	fill_defaults(&er, arel, er.remoteslot);

	if (OidIsValid(arel->lookup_index))
		exists = RelationFindReplTupleByIndex(er.rel, arel->lookup_index,
											  LockTupleExclusive,
											  er.remoteslot, er.localslot);
	if (!exists)
	{
		ExecSimpleRelationInsert(er.rri, er.estate, er.remoteslot);
		actx->n_inserted++;
	}
	else
	{
		conflict(actx, APPLY_CONFLICT_INSERT_EXISTS, arel, &er,
				 er.remoteslot, er.localslot, NULL);
		if (arel->policy == APPLY_POLICY_OVERWRITE)
		{
			check_privileges(arel, er.rel, ACL_UPDATE);
			ExecSimpleRelationUpdate(er.rri, er.estate, &er.epq,
									 er.localslot, er.remoteslot);
			actx->n_updated++;
		}
	}
	exec_end(&er);
}

/*
 * The new key of an UPDATE may belong to another local row (update_exists).
 * Returns false when the update is to be skipped.
 */
static bool
check_new_key(ApplyContext *actx, ApplyRelation *arel, ExecRel *er)
{
	if (!OidIsValid(arel->lookup_index) ||
		same_key(arel, er->localslot, er->remoteslot))
		return true;
	if (!RelationFindReplTupleByIndex(er->rel, arel->lookup_index,
									  LockTupleExclusive, er->remoteslot,
									  er->otherslot))
		return true;
	conflict(actx, APPLY_CONFLICT_UPDATE_EXISTS, arel, er, er->remoteslot,
			 er->otherslot, er->localslot);
	if (arel->policy == APPLY_POLICY_IGNORE)
		return false;
	/* overwrite: the row holding the new key makes way */
	check_privileges(arel, er->rel, ACL_DELETE);
	ExecSimpleRelationDelete(er->rri, er->estate, &er->epq, er->otherslot);
	actx->n_deleted++;
	return true;
}

void
apply_exec_update(ApplyContext *actx, ApplyRelation *arel,
				  Decoderbufs__RowMessage *msg)
{
	ExecRel		er;
	ApplyTupleData newtd;
	ApplyTupleData oldtd;
	bool		have_old;

	exec_begin(&er, arel, ACL_UPDATE);
	decode_new(arel, &er, msg, &newtd);
	have_old = decode_old(arel, &er, msg, &oldtd);

	/* the search values: the old key or row if sent, else the new row */
	store_remote(er.otherslot, have_old ? &oldtd : &newtd);
	if (!find_local_row(&er, arel, have_old ? &oldtd : &newtd, er.otherslot,
						er.localslot))
	{
		store_remote(er.remoteslot, &newtd);
		conflict(actx, APPLY_CONFLICT_UPDATE_MISSING, arel, &er,
				 er.remoteslot, NULL, er.otherslot);
		if (arel->policy == APPLY_POLICY_OVERWRITE)
		{
			if (has_unchanged(&newtd))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot insert the missing row of an UPDATE on \"%s.%s\": the source did not send its unchanged TOAST values",
								arel->schema_name, arel->table_name),
						 errhint("Restore the row on the target, or step over this transaction with decoderbufs_apply.skip_transaction().")));
			check_privileges(arel, er.rel, ACL_INSERT);
			fill_defaults(&er, arel, er.remoteslot);
			ExecSimpleRelationInsert(er.rri, er.estate, er.remoteslot);
			actx->n_inserted++;
		}
		exec_end(&er);
		return;
	}

	store_updated(er.remoteslot, er.localslot, &newtd);
	if (check_new_key(actx, arel, &er))
	{
		ExecSimpleRelationUpdate(er.rri, er.estate, &er.epq, er.localslot,
								 er.remoteslot);
		actx->n_updated++;
	}
	exec_end(&er);
}

void
apply_exec_delete(ApplyContext *actx, ApplyRelation *arel,
				  Decoderbufs__RowMessage *msg)
{
	ExecRel		er;
	ApplyTupleData oldtd;

	exec_begin(&er, arel, ACL_DELETE);
	if (!decode_old(arel, &er, msg, &oldtd))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot apply DELETE on \"%s.%s\": the source sends no key for it",
						arel->schema_name, arel->table_name),
				 errdetail("The source table has REPLICA IDENTITY NOTHING, or DEFAULT without a primary key."),
				 errhint("Add a primary key to the source table or set its REPLICA IDENTITY FULL, then step over this transaction with decoderbufs_apply.skip_transaction().")));

	store_remote(er.otherslot, &oldtd);
	if (find_local_row(&er, arel, &oldtd, er.otherslot, er.localslot))
	{
		ExecSimpleRelationDelete(er.rri, er.estate, &er.epq, er.localslot);
		actx->n_deleted++;
	}
	else
		conflict(actx, APPLY_CONFLICT_DELETE_MISSING, arel, &er, NULL, NULL,
				 er.otherslot);
	exec_end(&er);
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

	for (size_t i = 0; i < msg->truncate->n_relation_oids; i++)
	{
		ApplyRelation *arel = apply_relmap_get(msg->truncate->relation_oids[i]);
		Relation	rel;

		actx->current_rel = arel;
		apply_relmap_open_local(arel, actx->sub);
		if (arel->ignored || list_member_oid(relids, arel->local_relid))
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
