/*-------------------------------------------------------------------------
 *
 * relmap.c
 *		Mapping remote relations to local ones.
 *
 * The source's plugin (compact mode) describes each relation in a RELATION
 * message before its first row and again after it changes; rows then name
 * the relation by its source OID.  This file keeps those descriptions and,
 * per relation, the local side: the local table (of the same schema and
 * name unless the subscription maps it elsewhere, mapping.c), which local
 * column each remote column goes to (matched by name, or renamed),
 * how to convert values, defaults for local columns the source does not
 * send, the index used to find rows, and the conflict policy.  The local
 * side is rebuilt after local DDL (relcache invalidation) or a new RELATION
 * message.
 *
 * A remote column missing locally, or a target table that does not exist,
 * is an ERROR naming it: the worker stops at that transaction, nothing is
 * skipped, and it resumes once the target is fixed.  A description that
 * cannot be right (names not valid in the database's encoding, a built-in
 * type OID that is no type, two source columns going to one local column)
 * is an ERROR too.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

static HTAB *relmap = NULL;
static MemoryContext relmap_cxt = NULL;

static void
relmap_invalidate_cb(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	ApplyRelation *rel;

	if (relmap == NULL)
		return;
	hash_seq_init(&status, relmap);
	while ((rel = hash_seq_search(&status)) != NULL)
	{
		if (!OidIsValid(relid) || rel->local_relid == relid)
			rel->local_valid = false;
	}
}

/*
 * Start with no relation described.  Called again (by the fuzz harness),
 * forgets every relation.
 */
void
apply_relmap_init(void)
{
	HASHCTL		ctl;

	if (relmap_cxt != NULL)
		MemoryContextReset(relmap_cxt);
	else
	{
		relmap_cxt = AllocSetContextCreate(TopMemoryContext,
										   "decoderbufs_apply relation map",
										   ALLOCSET_DEFAULT_SIZES);
		CacheRegisterRelcacheCallback(relmap_invalidate_cb, (Datum) 0);
	}
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(ApplyRelation);
	ctl.hcxt = relmap_cxt;
	relmap = hash_create("decoderbufs_apply relation map", 128, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* A name in a RELATION message must be valid in the database's encoding. */
static void
check_name(const char *name)
{
	if (!pg_verify_mbstr(GetDatabaseEncoding(), name, strlen(name), true))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the source described a relation with a name that is not valid in encoding \"%s\"",
						GetDatabaseEncodingName())));
}

/*
 * Record a RELATION message: the remote description replaces the old one
 * and the local side will be rebuilt.
 */
void
apply_relmap_update(Decoderbufs__RelationInfo *info)
{
	ApplyRelation *rel;
	bool		found;
	MemoryContext old;

	check_name(info->schema_name);
	check_name(info->table_name);
	for (int i = 0; i < info->n_columns; i++)
		check_name(info->columns[i]->name);

	rel = hash_search(relmap, &info->relation_oid, HASH_ENTER, &found);
	if (!found)
	{
		/*
		 * All but the key start zeroed: the invalidation callback reads
		 * local_relid before the local side is first built.
		 */
		memset((char *) rel + offsetof(ApplyRelation, remote_valid), 0,
			   sizeof(ApplyRelation) - offsetof(ApplyRelation, remote_valid));
		rel->cxt = AllocSetContextCreate(relmap_cxt, "remote relation",
										 ALLOCSET_SMALL_SIZES);
		rel->local_cxt = AllocSetContextCreate(relmap_cxt, "local relation",
											   ALLOCSET_SMALL_SIZES);
		rel->local_generation = 0;
	}
	else
		MemoryContextReset(rel->cxt);
	rel->local_valid = false;
	rel->remote_valid = true;

	old = MemoryContextSwitchTo(rel->cxt);
	rel->schema_name = pstrdup(info->schema_name);
	rel->table_name = pstrdup(info->table_name);
	rel->replident = info->replica_identity[0];
	rel->ncolumns = info->n_columns;
	rel->columns = palloc0(sizeof(ApplyRemoteColumn) * Max(1, info->n_columns));
	rel->key_columns = palloc(sizeof(int) * Max(1, info->n_columns));
	rel->nkeys = 0;
	for (int i = 0; i < info->n_columns; i++)
	{
		Decoderbufs__ColumnInfo *c = info->columns[i];

		rel->columns[i].name = pstrdup(c->name);
		rel->columns[i].typid = (Oid) c->type_oid;
		rel->columns[i].typmod = c->typmod;
		rel->columns[i].type_name = pstrdup(c->type_name);
		rel->columns[i].is_key = c->is_key;
		if (c->is_key)
			rel->key_columns[rel->nkeys++] = i;
	}
	MemoryContextSwitchTo(old);
}

/*
 * The relation a row names, which must have been described before.
 */
ApplyRelation *
apply_relmap_get(uint32 remote_oid)
{
	ApplyRelation *rel = hash_search(relmap, &remote_oid, HASH_FIND, NULL);

	if (rel == NULL || !rel->remote_valid)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the source sent a row of relation %u before describing it",
						remote_oid),
				 errhint("The source must run the decoderbufs plugin in compact mode.")));
	return rel;
}

/* The conflict policy of a source table: its own, else the subscription's. */
ApplyPolicy
apply_table_policy(ApplySubscription *sub, const char *schema, const char *table)
{
	ListCell   *lc;

	foreach(lc, sub->table_policies)
	{
		ApplyTablePolicy *tp = lfirst(lc);

		if (strcmp(tp->schema_name, schema) == 0 &&
			strcmp(tp->table_name, table) == 0)
			return tp->policy;
	}
	return sub->policy;
}

/* A built-in type exists with the same OID on every server. */
static bool
is_builtin_type(Oid typid)
{
	return typid < FirstGenbkiObjectId;
}

static void
map_column(ApplyRelation *rel, int i, Relation localrel, ApplyTableConfig *tc)
{
	ApplyRemoteColumn *rc = &rel->columns[i];
	ApplyColumnMap *cm = &rel->colmap[i];
	TupleDesc	desc = RelationGetDescr(localrel);
	Form_pg_attribute att = NULL;
	const char *local_name = apply_target_column(tc, rc->name);
	Oid			fn;

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute cand = TupleDescAttr(desc, a);

		if (!cand->attisdropped && strcmp(NameStr(cand->attname), local_name) == 0)
		{
			att = cand;
			break;
		}
	}
	if (att == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("target relation \"%s.%s\" has no column \"%s\"",
						get_namespace_name(RelationGetNamespace(localrel)),
						RelationGetRelationName(localrel), local_name),
				 errdetail("The source sends column \"%s\" of type %s of table \"%s.%s\".",
						   rc->name, rc->type_name,
						   rel->schema_name, rel->table_name),
				 errhint("Add the column to the target table, or map the source column to another one with set_table_options(column_map => ...); the worker retries and resumes at this transaction.")));

	/* the target computes its generated columns itself */
	if (att->attgenerated)
	{
		cm->local_attnum = 0;
		return;
	}
	cm->local_attnum = att->attnum;
	cm->local_typid = att->atttypid;
	cm->local_typmod = att->atttypmod;
	cm->same_type = (att->atttypid == rc->typid &&
					 (att->atttypmod == rc->typmod || att->atttypmod < 0));
	getTypeInputInfo(att->atttypid, &fn, &cm->input_ioparam);
	fmgr_info_cxt(fn, &cm->input_fn, rel->local_cxt);
	cm->has_remote_output = is_builtin_type(rc->typid);
	if (cm->has_remote_output)
	{
		char		typtype = get_typtype(rc->typid);
		bool		isvarlena;

		/* the same on every server: it must exist here, and hold values */
		if (typtype == '\0' || typtype == TYPTYPE_PSEUDO)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("the source describes column \"%s\" of table \"%s.%s\" with type OID %u, which is no built-in data type",
							rc->name, rel->schema_name, rel->table_name, rc->typid),
					 errdetail("The source names the type %s.", rc->type_name)));

		getTypeOutputInfo(rc->typid, &fn, &isvarlena);
		fmgr_info_cxt(fn, &cm->remote_output_fn, rel->local_cxt);
		getTypeBinaryInputInfo(rc->typid, &fn, &cm->remote_recv_ioparam);
		if (OidIsValid(fn))
			fmgr_info_cxt(fn, &cm->remote_recv_fn, rel->local_cxt);
	}
}

/*
 * No two source columns may go to one local column: the source describing
 * a column twice, or a column_map sending two columns to the same one.
 */
static void
check_distinct_targets(ApplyRelation *rel, Relation localrel)
{
	int			natts = RelationGetDescr(localrel)->natts;
	int		   *source = palloc(sizeof(int) * (natts + 1));

	memset(source, -1, sizeof(int) * (natts + 1));
	for (int i = 0; i < rel->ncolumns; i++)
	{
		AttrNumber	a = rel->colmap[i].local_attnum;

		if (a == 0)
			continue;
		if (source[a] >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("source columns \"%s\" and \"%s\" of table \"%s.%s\" both go to column \"%s\" of target relation \"%s\"",
							rel->columns[source[a]].name, rel->columns[i].name,
							rel->schema_name, rel->table_name,
							NameStr(TupleDescAttr(RelationGetDescr(localrel), a - 1)->attname),
							RelationGetRelationName(localrel)),
					 errhint("Map one of them to another column with set_table_options(column_map => ...), or leave it out with columns => ...; the worker retries and resumes at this transaction.")));
		source[a] = i;
	}
	pfree(source);
}

/* Defaults of local columns the source does not send. */
static void
collect_defaults(ApplyRelation *rel, Relation localrel)
{
	TupleDesc	desc = RelationGetDescr(localrel);
	bool	   *sent = palloc0(sizeof(bool) * (desc->natts + 1));

	for (int i = 0; i < rel->ncolumns; i++)
		sent[rel->colmap[i].local_attnum] = true;

	rel->ndefaults = 0;
	rel->default_attnums = palloc(sizeof(AttrNumber) * Max(1, desc->natts));
	rel->default_exprs = palloc(sizeof(Expr *) * Max(1, desc->natts));
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		Node	   *def;

		if (att->attisdropped || att->attgenerated || sent[att->attnum])
			continue;
		def = build_column_default(localrel, att->attnum);
		if (def == NULL)
			continue;
		rel->default_attnums[rel->ndefaults] = att->attnum;
		rel->default_exprs[rel->ndefaults] = expression_planner((Expr *) def);
		rel->ndefaults++;
	}
}

/*
 * Build the local side of rel if needed: find the table, map its columns,
 * pick the lookup index.  Called inside a transaction.
 */
void
apply_relmap_open_local(ApplyRelation *rel, ApplySubscription *sub)
{
	Oid			nspid;
	Relation	localrel;
	MemoryContext old;
	const char *target_schema;
	const char *target_table;
	ApplyTableConfig *tc;
	ApplyTableSync *ts;

	if (rel->local_valid)
		return;

	MemoryContextReset(rel->local_cxt);
	rel->local_generation++;
	rel->acl_checked = 0;
	rel->ignored = (strcmp(rel->schema_name, APPLY_SCHEMA_NAME) == 0);
	if (rel->ignored)
	{
		rel->local_valid = true;
		return;
	}

	tc = apply_table_config(sub, rel->schema_name, rel->table_name);
	apply_target_table(sub, rel->schema_name, rel->table_name,
					   &target_schema, &target_table);
	ts = apply_table_sync(sub, rel->schema_name, rel->table_name);
	rel->sync_lsn = ts ? ts->sync_lsn : InvalidXLogRecPtr;
	nspid = get_namespace_oid(target_schema, true);
	rel->local_relid = OidIsValid(nspid) ?
		get_relname_relid(target_table, nspid) : InvalidOid;
	if (!OidIsValid(rel->local_relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("target relation \"%s.%s\" does not exist",
						target_schema, target_table),
				 (strcmp(target_schema, rel->schema_name) != 0 ||
				  strcmp(target_table, rel->table_name) != 0) ?
				 errdetail("The subscription maps source table \"%s.%s\" to it.",
						   rel->schema_name, rel->table_name) : 0,
				 errhint("Create the table on the target, or exclude it from the subscription; the worker retries and resumes at this transaction.")));

	localrel = table_open(rel->local_relid, AccessShareLock);
	if (localrel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target relation \"%s.%s\" is not a table",
						target_schema, target_table),
				 errdetail("Rows are applied to plain tables only; a partitioned table receives them through its partitions, which must exist on the target under the same names.")));

	old = MemoryContextSwitchTo(rel->local_cxt);
	rel->colmap = palloc0(sizeof(ApplyColumnMap) * Max(1, rel->ncolumns));
	for (int i = 0; i < rel->ncolumns; i++)
		map_column(rel, i, localrel, tc);
	check_distinct_targets(rel, localrel);
	collect_defaults(rel, localrel);
	rel->lookup_index = RelationGetReplicaIndex(localrel);
	if (!OidIsValid(rel->lookup_index))
		rel->lookup_index = RelationGetPrimaryKeyIndex(localrel);
	rel->nlookup_attnums = 0;
	if (OidIsValid(rel->lookup_index))
	{
		Relation	idx = index_open(rel->lookup_index, AccessShareLock);

		rel->nlookup_attnums = IndexRelationGetNumberOfKeyAttributes(idx);
		rel->lookup_attnums = palloc(sizeof(AttrNumber) * rel->nlookup_attnums);
		for (int k = 0; k < rel->nlookup_attnums; k++)
			rel->lookup_attnums[k] = idx->rd_index->indkey.values[k];
		index_close(idx, AccessShareLock);
	}
	rel->policy = apply_table_policy(sub, rel->schema_name, rel->table_name);
	if (ts == NULL)
		apply_copy_note_streamed_table(sub, rel->schema_name, rel->table_name);
	MemoryContextSwitchTo(old);

	table_close(localrel, AccessShareLock);
	rel->local_valid = true;
}
