/*-------------------------------------------------------------------------
 *
 * relcache.c
 *		Per-relation metadata cache of the decoderbufs plugin.
 *
 * Everything the plugin needs to know about a relation to encode its rows -
 * quoted names, per-column type, output function, encoding and format_type
 * text, replica identity key columns, and whether include/exclude-tables
 * selects it, and the parts of its messages that are the same on every row,
 * already in wire format - is looked up once and kept in a hash table keyed by relation
 * OID.  Relcache and type/namespace syscache invalidations (which logical
 * decoding replays at the right point of the WAL) mark entries invalid, and
 * the next row of that relation rebuilds its entry.  So there are no catalog
 * lookups per column per row.
 *
 * The invalidation callbacks can only be registered, never removed, so they
 * are registered once per backend and check whether a cache exists.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include "access/genam.h"
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

/*
 * Flag the columns of the key index.  key_columns lists them in column
 * order, not in index order: that is the order in which the RELATION
 * message flags them, so it is the order a compact consumer expects the
 * values of an old key in.
 */
static void
mark_key_columns(DbufsRelation *entry, Oid indexoid)
{
	HeapTuple	tup;
	Form_pg_index index;

	entry->nkeys = 0;
	if (!OidIsValid(indexoid))
		return;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	index = (Form_pg_index) GETSTRUCT(tup);

	for (int k = 0; k < index->indnkeyatts; k++)
	{
		AttrNumber	attnum = index->indkey.values[k];

		for (int c = 0; c < entry->ncolumns; c++)
		{
			if (entry->columns[c].attnum == attnum)
			{
				entry->columns[c].is_key = true;
				break;
			}
		}
	}
	ReleaseSysCache(tup);

	entry->key_columns = palloc(sizeof(int) * entry->ncolumns);
	for (int c = 0; c < entry->ncolumns; c++)
	{
		if (entry->columns[c].is_key)
			entry->key_columns[entry->nkeys++] = c;
	}
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
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext oldcxt;

	if (entry->cxt == NULL)
		entry->cxt = AllocSetContextCreate(state->cache_cxt,
										   "decoderbufs relation entry",
										   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(entry->cxt);
	oldcxt = MemoryContextSwitchTo(entry->cxt);

	entry->replident = rel->rd_rel->relreplident;
	entry->schema_name = get_namespace_name(RelationGetNamespace(rel));
	entry->table_name = pstrdup(RelationGetRelationName(rel));
	entry->qualified_name = quote_qualified_identifier(entry->schema_name,
													   entry->table_name);
	entry->filtered_out = !dbufs_table_selected(&state->opts,
												entry->schema_name,
												entry->table_name);

	entry->columns = palloc0(sizeof(DbufsColumn) * desc->natts);
	entry->ncolumns = 0;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attnum <= 0)
			continue;
		fill_column(&entry->columns[entry->ncolumns++], att, entry->cxt);
	}
	mark_key_columns(entry, key_index_of(rel));

	/* new_typeinfo is the same on every row too */
	initStringInfo(&entry->typeinfo_wire);
	for (int c = 0; c < entry->ncolumns; c++)
		dbufs_wire_typeinfo(&entry->typeinfo_wire,
							entry->columns[c].typeinfo.modifier,
							entry->columns[c].typeinfo.value_optional);

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
		entry->valid = false;
	}
	if (!entry->valid)
		build_entry(state, entry, rel);
	return entry;
}

/*
 * Name of a replication origin, looked up once per session.  An origin that
 * no longer exists is reported by number.
 */
const char *
dbufs_origin_name(RepOriginId origin_id)
{
	OriginCacheEntry *entry;
	bool		found;

	entry = hash_search(origin_cache, &origin_id, HASH_ENTER, &found);
	if (!found)
	{
		char	   *name;

		if (replorigin_by_oid(origin_id, true, &name))
			strlcpy(entry->name, name, sizeof(entry->name));
		else
			snprintf(entry->name, sizeof(entry->name), "%u", origin_id);
	}
	return entry->name;
}
