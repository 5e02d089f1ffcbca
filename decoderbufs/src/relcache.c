/*-------------------------------------------------------------------------
 *
 * relcache.c
 *		Per-relation metadata cache of the decoderbufs plugin.
 *
 * Everything the plugin needs to know about a relation to encode its rows -
 * quoted names, per-column type, output function, encoding and format_type
 * text, replica identity key columns, whether include/exclude-tables
 * selects it, which of its columns and operations are sent and its row
 * filter ready to run (the per-table options, table_settings.c and
 * row_filter.c), and the parts of its messages that are the same on every
 * row, already in wire format - is looked up once and kept in a hash table
 * keyed by relation OID.  Relcache and type/namespace syscache
 * invalidations (which logical decoding replays at the right point of the
 * WAL) mark entries invalid, and the next row of that relation rebuilds its
 * entry.  So there are no catalog lookups per column per row.
 *
 * The invalidation callbacks can only be registered, never removed, so they
 * are registered once per backend and check whether a cache exists.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include "access/genam.h"
#include "access/xact.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

static HTAB *relation_cache = NULL;
static HTAB *origin_cache = NULL;
static bool callbacks_registered = false;

typedef struct OriginCacheEntry
{
	RepOriginId origin_id;		/* hash key */
	char		name[NAMEDATALEN * 2];
} OriginCacheEntry;

static void
relcache_invalidate_cb(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	DbufsRelation *entry;

	if (relation_cache == NULL)
		return;
	if (OidIsValid(relid))
	{
		entry = hash_search(relation_cache, &relid, HASH_FIND, NULL);
		if (entry != NULL)
			entry->valid = false;
		return;
	}
	hash_seq_init(&status, relation_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

/* A type or schema changed: names and output functions may be stale. */
static void
syscache_invalidate_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	relcache_invalidate_cb(arg, InvalidOid);
}

/*
 * The session's cache context is going away, also when an error ends the
 * session without a shutdown callback: forget the caches, so that the
 * invalidation callbacks never touch freed memory.
 */
static void
relcache_forget_cb(void *arg)
{
	relation_cache = NULL;
	origin_cache = NULL;
}

/*
 * Create the cache for a decoding session.  It lives in state->cache_cxt.
 */
void
dbufs_relcache_init(DbufsState *state)
{
	HASHCTL		ctl;
	MemoryContextCallback *forget;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(DbufsRelation);
	ctl.hcxt = state->cache_cxt;
	relation_cache = hash_create("decoderbufs relation cache", 128, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	ctl.keysize = sizeof(RepOriginId);
	ctl.entrysize = sizeof(OriginCacheEntry);
	ctl.hcxt = state->cache_cxt;
	origin_cache = hash_create("decoderbufs origin cache", 16, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	forget = MemoryContextAlloc(state->cache_cxt, sizeof(MemoryContextCallback));
	forget->func = relcache_forget_cb;
	forget->arg = NULL;
	MemoryContextRegisterResetCallback(state->cache_cxt, forget);

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(relcache_invalidate_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(TYPEOID, syscache_invalidate_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, syscache_invalidate_cb, (Datum) 0);
		callbacks_registered = true;
	}
}

/* Forget the cache; its memory goes with the session's context. */
void
dbufs_relcache_shutdown(void)
{
	relation_cache = NULL;
	origin_cache = NULL;
}

/*
 * The index whose columns are the relation's key: the replica identity
 * index (DEFAULT with a primary key, or USING INDEX), else for FULL the
 * primary key, which lets a consumer look rows up quickly.
 */
static Oid
key_index_of(Relation rel)
{
	Oid			idx;

	(void) RelationGetIndexList(rel);	/* fills rd_replidindex, rd_pkindex */
	idx = rel->rd_replidindex;
	if (!OidIsValid(idx) && rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL)
		idx = rel->rd_pkindex;
	return idx;
}

/* The attribute numbers of the key index's columns (none if no index). */
static Bitmapset *
key_attnums_of(Oid indexoid)
{
	HeapTuple	tup;
	Form_pg_index index;
	Bitmapset  *attnums = NULL;

	if (!OidIsValid(indexoid))
		return NULL;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	index = (Form_pg_index) GETSTRUCT(tup);
	for (int k = 0; k < index->indnkeyatts; k++)
	{
		if (index->indkey.values[k] > 0)
			attnums = bms_add_member(attnums, index->indkey.values[k]);
	}
	ReleaseSysCache(tup);
	return attnums;
}

/*
 * Flag the key columns among those sent.  key_columns lists them in column
 * order, not in index order: that is the order in which the RELATION
 * message flags them, so it is the order a compact consumer expects the
 * values of an old key in.
 */
static void
mark_key_columns(DbufsRelation *entry, Bitmapset *key_attnums)
{
	entry->nkeys = 0;
	entry->key_columns = palloc(sizeof(int) * Max(entry->ncolumns, 1));
	for (int c = 0; c < entry->ncolumns; c++)
	{
		entry->columns[c].is_key = bms_is_member(entry->columns[c].attnum,
												 key_attnums);
		if (entry->columns[c].is_key)
			entry->key_columns[entry->nkeys++] = c;
	}
}

/*
 * The columns the option columns selects for the relation (by attnum - 1),
 * or NULL to send them all.  A name the table does not have, or a key
 * column left out while UPDATE or DELETE are sent (their old rows are
 * identified by the key), is an error.
 */
static bool *
selected_columns(DbufsRelation *entry, TupleDesc desc,
				 const DbufsTableSetting *setting, Bitmapset *key_attnums)
{
	bool	   *selected;
	ListCell   *lc;
	int			x;

	if (setting == NULL)
		return NULL;
	selected = palloc0(sizeof(bool) * desc->natts);
	foreach(lc, setting->columns)
	{
		const char *name = lfirst(lc);
		int			i;

		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped && att->attnum > 0 &&
				strcmp(NameStr(att->attname), name) == 0)
				break;
		}
		if (i == desc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
							setting->value, setting->option),
					 errdetail("Table \"%s.%s\" has no column \"%s\".",
							   entry->schema_name, entry->table_name, name)));
		selected[i] = true;
	}

	if ((entry->operations & (DBUFS_OP_UPDATE | DBUFS_OP_DELETE)) == 0)
		return selected;
	x = -1;
	while ((x = bms_next_member(key_attnums, x)) >= 0)
	{
		if (!selected[x - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
							setting->value, setting->option),
					 errdetail("Key column \"%s\" of table \"%s.%s\" is not in the list, and UPDATE and DELETE messages need the key to identify their row.",
							   NameStr(TupleDescAttr(desc, x - 1)->attname),
							   entry->schema_name, entry->table_name),
					 errhint("Add the table's replica identity columns to the list, or send only inserts and truncates of the table with option \"operations\".")));
	}
	return selected;
}

static void
fill_column(DbufsColumn *col, Form_pg_attribute att, MemoryContext cxt)
{
	Oid			outfn;
	bool		isvarlena;

	col->attnum = att->attnum;
	col->name = pstrdup(NameStr(att->attname));
	col->quoted_name = pstrdup(quote_identifier(col->name));
	col->typid = att->atttypid;
	col->typmod = att->atttypmod;
	col->not_null = att->attnotnull;
	col->is_key = false;
	col->is_varlena = (att->attlen == -1);
	col->typlen = att->attlen;
	col->typbyval = att->attbyval;
	col->encoding = dbufs_encoding_for_type(att->atttypid);
	getTypeOutputInfo(att->atttypid, &outfn, &isvarlena);
	fmgr_info_cxt(outfn, &col->output_fn, cxt);
	col->binary_ok = dbufs_binary_ok_for_type(att->atttypid);
	if (col->binary_ok)
	{
		Oid			sendfn;

		getTypeBinaryOutputInfo(att->atttypid, &sendfn, &isvarlena);
		fmgr_info_cxt(sendfn, &col->send_fn, cxt);
	}

	decoderbufs__type_info__init(&col->typeinfo);
	col->typeinfo.modifier =
		format_type_extended(att->atttypid, att->atttypmod,
							 FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_ALLOW_INVALID);
	col->typeinfo.value_optional = !att->attnotnull;

	/*
	 * The first two fields of the column's DatumMessage in default mode,
	 * column_name and column_type, are the same on every row: encode them
	 * once.
	 */
	{
		StringInfoData wire;

		initStringInfo(&wire);
		dbufs_wire_bytes(&wire, 1, col->quoted_name, strlen(col->quoted_name));
		dbufs_wire_tag(&wire, 2, DBUFS_WIRE_VARINT);
		dbufs_wire_varint(&wire, (uint64) (int64) col->typid);
		col->name_type_wire = wire.data;
		col->name_type_wire_len = wire.len;
	}
}

static void
build_entry(DbufsState *state, DbufsRelation *entry, Relation rel)
{
	const DbufsOptions *opts = &state->opts;
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext oldcxt;
	Bitmapset  *key_attnums;
	DbufsTableSetting *columns = NULL;
	DbufsTableSetting *operations = NULL;
	DbufsTableSetting *row_filter = NULL;
	bool	   *selected;

	/* also frees the previous row filter and its expression context */
	if (entry->cxt == NULL)
		entry->cxt = AllocSetContextCreate(state->cache_cxt,
										   "decoderbufs relation entry",
										   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(entry->cxt);
	entry->row_filter = NULL;
	oldcxt = MemoryContextSwitchTo(entry->cxt);

	entry->replident = rel->rd_rel->relreplident;
	entry->schema_name = get_namespace_name(RelationGetNamespace(rel));
	entry->table_name = pstrdup(RelationGetRelationName(rel));
	entry->qualified_name = quote_qualified_identifier(entry->schema_name,
													   entry->table_name);
	entry->filtered_out = !dbufs_table_selected(opts, entry->schema_name,
												entry->table_name);

	/* the per-table options: the first setting whose pattern matches */
	entry->operations = DBUFS_OP_ALL;
	if (!entry->filtered_out)
	{
		columns = dbufs_table_setting_lookup(opts->column_lists,
											 entry->schema_name,
											 entry->table_name);
		operations = dbufs_table_setting_lookup(opts->operation_lists,
												entry->schema_name,
												entry->table_name);
		row_filter = dbufs_table_setting_lookup(opts->row_filters,
												entry->schema_name,
												entry->table_name);
		if (operations != NULL)
			entry->operations = operations->operations;
	}

	key_attnums = key_attnums_of(key_index_of(rel));
	selected = selected_columns(entry, desc, columns, key_attnums);
	entry->columns = palloc0(sizeof(DbufsColumn) * desc->natts);
	entry->ncolumns = 0;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attnum <= 0)
			continue;
		if (selected != NULL && !selected[i])
			continue;
		fill_column(&entry->columns[entry->ncolumns++], att, entry->cxt);
	}
	mark_key_columns(entry, key_attnums);

	/* new_typeinfo is the same on every row too */
	initStringInfo(&entry->typeinfo_wire);
	for (int c = 0; c < entry->ncolumns; c++)
		dbufs_wire_typeinfo(&entry->typeinfo_wire,
							entry->columns[c].typeinfo.modifier,
							entry->columns[c].typeinfo.value_optional);

	/*
	 * The key index is the replica identity index (the columns a filter may
	 * use), except under FULL, where it may use every column anyway.
	 */
	if (row_filter != NULL)
		entry->row_filter = dbufs_row_filter_build(row_filter, entry, rel,
												   key_attnums);

	MemoryContextSwitchTo(oldcxt);
	entry->relation_sent = false;
	entry->valid = true;
}

/*
 * The cache entry of a relation, built or rebuilt as needed.
 */
DbufsRelation *
dbufs_relcache_get(DbufsState *state, Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	DbufsRelation *entry;
	bool		found;

	entry = hash_search(relation_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		entry->cxt = NULL;
		entry->row_filter = NULL;
		entry->valid = false;
	}
	if (!entry->valid)
		build_entry(state, entry, rel);
	return entry;
}

/*
 * Name of a replication origin, looked up once per session.  An origin that
 * no longer exists is reported by number.  The callbacks of a transaction's
 * changes run in a transaction; the end of a streamed one (STREAM_COMMIT)
 * does not: the lookup then has one of its own.
 */
const char *
dbufs_origin_name(RepOriginId origin_id)
{
	OriginCacheEntry *entry;
	bool		found;

	entry = hash_search(origin_cache, &origin_id, HASH_FIND, &found);
	if (!found)
	{
		char	   *name;
		bool		own_xact = !IsTransactionOrTransactionBlock();
		MemoryContext cxt = CurrentMemoryContext;
		char		buf[sizeof(entry->name)];

		if (own_xact)
			StartTransactionCommand();
		if (replorigin_by_oid(origin_id, true, &name))
			strlcpy(buf, name, sizeof(buf));
		else
			snprintf(buf, sizeof(buf), "%u", origin_id);
		if (own_xact)
		{
			AbortCurrentTransaction();
			MemoryContextSwitchTo(cxt);
		}
		entry = hash_search(origin_cache, &origin_id, HASH_ENTER, &found);
		strlcpy(entry->name, buf, sizeof(entry->name));
	}
	return entry->name;
}
