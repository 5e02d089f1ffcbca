/*-------------------------------------------------------------------------
 *
 * tombstone.c
 *		What last_update_wins remembers of deleted rows.
 *
 * A deleted row leaves nothing to compare a later-arriving change with: an
 * UPDATE older than the delete would find no row and could not tell "deleted
 * after this update" from "never here".  So under last_update_wins every
 * delete of a table's row leaves a tombstone in decoderbufs_apply.tombstone:
 * the table, the row's key, and - through the tombstone row's own xmin,
 * which is the deleting transaction - the delete's commit timestamp and
 * origin, read like a row's (conflict.c).  An INSERT or UPDATE that finds no
 * row, and a DELETE that finds none, compare themselves with the key's
 * tombstone: older changes are discarded, newer ones applied.
 *
 * Tombstones come from two places:
 *	- the apply worker, for the deletes it applies (and for a DELETE that
 *	  finds no row, which still tells when the row was deleted), in the
 *	  applying transaction;
 *	- a trigger, decoderbufs_apply_tombstone (AFTER DELETE FOR EACH ROW),
 *	  for deletes made on this server.  The worker creates it on each table
 *	  it applies under last_update_wins, at the end of the first remote
 *	  transaction that touches the table, when it can take the lock at once
 *	  (else at a later transaction).  Deletes made before that are not
 *	  remembered; TRUNCATE leaves no tombstones.
 *
 * Keys are stored binary: the image of each key column's value, as stored,
 * so that session settings (client_encoding, DateStyle, TimeZone) do not
 * change them; values that are equal but stored differently (numeric 1.0
 * and 1.00) are different keys.  Tombstones older than
 * decoderbufs_apply.tombstone_retention are purged by the workers; a change
 * older than a purged tombstone that arrives after it is purged is applied
 * as if the row had never been deleted.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tupmacs.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(apply_sql_tombstone_trigger);

#define TOMBSTONE_TABLE		"tombstone"
#define TOMBSTONE_TRIGGER	"decoderbufs_apply_tombstone"

/* Columns of decoderbufs_apply.tombstone */
#define Anum_tombstone_relid		1
#define Anum_tombstone_key			2
#define Anum_tombstone_key_tuple	3
#define Anum_tombstone_deleted_at	4
#define Anum_tombstone_node			5
#define Anum_tombstone_sub_name		6

/* Tables whose trigger this worker has made sure of. */
static List *triggers_checked = NIL;
static TimestampTz last_purge = 0;

static Oid
tombstone_relid(void)
{
	Oid			nspid = get_namespace_oid(APPLY_SCHEMA_NAME, false);
	Oid			relid = get_relname_relid(TOMBSTONE_TABLE, nspid);

	if (!OidIsValid(relid))
		elog(ERROR, "table %s.%s is missing", APPLY_SCHEMA_NAME, TOMBSTONE_TABLE);
	return relid;
}

/*
 * Append the image of a non-NULL value: its bytes as stored (detoasted, and
 * without the varlena header), after a 4-byte length.  Equal values have
 * equal images on one server whatever the session's settings; the images
 * are not meant to be compared between servers of other architectures.
 */
void
apply_append_datum_image(StringInfo buf, Datum value, Form_pg_attribute att)
{
	char		byval[sizeof(Datum)];
	const char *data;
	uint32		len;
	uint32		netlen;

	if (att->attbyval)
	{
		store_att_byval(byval, value, att->attlen);
		data = byval;
		len = att->attlen;
	}
	else if (att->attlen == -1)
	{
		struct varlena *v = PG_DETOAST_DATUM_PACKED(value);

		data = VARDATA_ANY(v);
		len = VARSIZE_ANY_EXHDR(v);
	}
	else if (att->attlen == -2)
	{
		data = DatumGetCString(value);
		len = strlen(data);
	}
	else
	{
		data = DatumGetPointer(value);
		len = att->attlen;
	}
	netlen = pg_hton32(len);
	appendBinaryStringInfo(buf, (char *) &netlen, 4);
	appendBinaryStringInfo(buf, data, len);
}

/*
 * The binary key of a row: the images of its key columns attnums[] in slot.
 * NULL if a key column is NULL (such a row has no key to remember).
 */
static bytea *
key_bytes(TupleDesc desc, int nkeys, AttrNumber *attnums, TupleTableSlot *slot)
{
	StringInfoData buf;

	slot_getallattrs(slot);
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	for (int k = 0; k < nkeys; k++)
	{
		int			a = attnums[k] - 1;

		if (slot->tts_isnull[a])
			return NULL;
		apply_append_datum_image(&buf, slot->tts_values[a], TupleDescAttr(desc, a));
	}
	SET_VARSIZE(buf.data, buf.len);
	return (bytea *) buf.data;
}

/* The key columns as a JSON object of text values, for people to read. */
static char *
key_json(TupleDesc desc, int nkeys, AttrNumber *attnums, TupleTableSlot *slot)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int k = 0; k < nkeys; k++)
	{
		int			a = attnums[k] - 1;
		Form_pg_attribute att = TupleDescAttr(desc, a);
		Oid			outfn;
		bool		isvarlena;

		getTypeOutputInfo(att->atttypid, &outfn, &isvarlena);
		if (k)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, NameStr(att->attname));
		appendStringInfoString(&buf, ": ");
		escape_json(&buf, OidOutputFunctionCall(outfn, slot->tts_values[a]));
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * Upsert a tombstone, as the user owning the tombstone table (the
 * extension's owner): the deleting session may not write it itself.
 */
static void
write_tombstone(Oid relid, bytea *key, const char *keyjson,
				TimestampTz deleted_at, uint64 node, const char *sub_name)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[6] = {OIDOID, BYTEAOID, JSONBOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Oid			save_userid;
	int			save_sec;
	Oid			owner;
	HeapTuple	tup;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(tombstone_relid()));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for the tombstone table");
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = PointerGetDatum(key);
	values[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(keyjson));
	values[3] = TimestampTzGetDatum(deleted_at);
	values[4] = node ? CStringGetTextDatum(apply_node_text(node)) : (Datum) 0;
	nulls[4] = node ? ' ' : 'n';
	values[5] = sub_name ? CStringGetTextDatum(sub_name) : (Datum) 0;
	nulls[5] = sub_name ? ' ' : 'n';

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	if (plan == NULL)
	{
		SPIPlanPtr	p;

		p = SPI_prepare("INSERT INTO decoderbufs_apply.tombstone "
						"(relid, key, key_tuple, deleted_at, node, sub_name) "
						"VALUES ($1, $2, $3, $4, $5, $6) "
						"ON CONFLICT (relid, key) DO UPDATE SET "
						"key_tuple = excluded.key_tuple, deleted_at = excluded.deleted_at, "
						"node = excluded.node, sub_name = excluded.sub_name",
						6, types);
		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare the tombstone upsert: %s",
				 SPI_result_code_string(SPI_result));
		plan = p;
	}
	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write a tombstone");
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * The tombstone of the key in keyslot (the lookup-index columns of a row of
 * rel), if any, with its version in v.  The version is that of the
 * transaction that wrote the tombstone, the delete's; where its commit
 * timestamp is no longer kept, the stored time and node stand in.
 */
bool
apply_tombstone_find(ApplyContext *actx, Relation rel, ApplyRelation *arel,
					 TupleTableSlot *keyslot, ApplyRowVersion *v)
{
	bytea	   *key;
	Relation	trel;
	SysScanDesc scan;
	ScanKeyData skey[2];
	HeapTuple	tup;
	Snapshot	snap;
	bool		found = false;

	if (!OidIsValid(arel->lookup_index))
		return false;
	key = key_bytes(RelationGetDescr(rel), arel->nlookup_attnums,
					arel->lookup_attnums, keyslot);
	if (key == NULL)
		return false;

	trel = table_open(tombstone_relid(), AccessShareLock);
	ScanKeyInit(&skey[0], Anum_tombstone_relid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(RelationGetRelid(rel)));
	ScanKeyInit(&skey[1], Anum_tombstone_key, BTEqualStrategyNumber,
				F_BYTEAEQ, PointerGetDatum(key));
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(trel, RelationGetPrimaryKeyIndex(trel), true,
							  snap, 2, skey);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		found = true;
		apply_xmin_version(actx, HeapTupleHeaderGetRawXmin(tup->t_data), v);
		if (!v->known)
		{
			bool		isnull;
			Datum		d;

			d = heap_getattr(tup, Anum_tombstone_deleted_at,
							 RelationGetDescr(trel), &isnull);
			v->known = true;
			v->commit_time = DatumGetTimestampTz(d);
			d = heap_getattr(tup, Anum_tombstone_node, RelationGetDescr(trel),
							 &isnull);
			v->node = isnull ? 0 : strtou64(TextDatumGetCString(d), NULL, 10);
		}
		v->tombstone = true;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(trel, AccessShareLock);
	return found;
}

/*
 * Remember that the remote transaction being applied deleted the key in
 * keyslot.
 */
void
apply_tombstone_write(ApplyContext *actx, Relation rel, ApplyRelation *arel,
					  TupleTableSlot *keyslot)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bytea	   *key;

	if (!OidIsValid(arel->lookup_index))
		return;
	key = key_bytes(desc, arel->nlookup_attnums, arel->lookup_attnums, keyslot);
	if (key == NULL)
		return;
	write_tombstone(RelationGetRelid(rel), key,
					key_json(desc, arel->nlookup_attnums, arel->lookup_attnums, keyslot),
					actx->remote_commit_time, apply_remote_node(actx),
					actx->sub->name);
}

/*
 * Make sure the trigger that remembers local deletes is on table relid.
 * Creating it needs a SHARE ROW EXCLUSIVE lock: only if it is free at once,
 * so that the apply never waits for the application's writers (nor
 * deadlocks with them).  Returns whether the trigger is there.
 */
static bool
ensure_trigger(ApplyContext *actx, Oid relid)
{
	Relation	tgrel;
	ScanKeyData skey[2];
	SysScanDesc scan;
	bool		exists;
	char	   *table;
	int			ret;

	for (int pass = 0; pass < 2; pass++)
	{
		tgrel = table_open(TriggerRelationId, AccessShareLock);
		ScanKeyInit(&skey[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(relid));
		ScanKeyInit(&skey[1], Anum_pg_trigger_tgname, BTEqualStrategyNumber,
					F_NAMEEQ, CStringGetDatum(TOMBSTONE_TRIGGER));
		scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL,
								  2, skey);
		exists = HeapTupleIsValid(systable_getnext(scan));
		systable_endscan(scan);
		table_close(tgrel, AccessShareLock);
		if (exists)
			return true;
		/* take the lock, then look again: another worker may have made it */
		if (pass == 0 && !ConditionalLockRelationOid(relid, ShareRowExclusiveLock))
			return false;
	}

	table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									   get_rel_name(relid));
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	/* ALWAYS: sessions in session_replication_role replica delete too */
	ret = SPI_execute(psprintf("CREATE TRIGGER %s AFTER DELETE ON %s FOR EACH ROW "
							   "EXECUTE FUNCTION %s._tombstone(); "
							   "ALTER TABLE %s ENABLE ALWAYS TRIGGER %s",
							   TOMBSTONE_TRIGGER, table, APPLY_SCHEMA_NAME,
							   table, TOMBSTONE_TRIGGER),
					  false, 0);
	PopActiveSnapshot();
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "could not create trigger %s on %s", TOMBSTONE_TRIGGER, table);
	SPI_finish();
	ereport(LOG,
			(errmsg("decoderbufs_apply subscription \"%s\" created trigger %s on table %s to remember its local deletes for last_update_wins",
					actx->sub->name, TOMBSTONE_TRIGGER, table)));
	return true;
}

/*
 * At the end of a remote transaction's changes, before its commit, with
 * every relation closed, as the worker's own user: create the delete
 * trigger on the last_update_wins tables that lack it, and purge old
 * tombstones now and then.
 */
void
apply_tombstone_end_of_xact(ApplyContext *actx, List *lww_relids)
{
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();
	int			every_ms = Min(apply_tombstone_retention, 60) * 1000;
	Oid			save_userid;
	int			save_sec;

	if (lww_relids == NIL &&
		(last_purge == 0 || !TimestampDifferenceExceeds(last_purge, now, every_ms)))
		return;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(actx->worker_user, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	foreach(lc, lww_relids)
	{
		Oid			relid = lfirst_oid(lc);

		if (list_member_oid(triggers_checked, relid))
			continue;
		if (ensure_trigger(actx, relid))
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			triggers_checked = lappend_oid(triggers_checked, relid);
			MemoryContextSwitchTo(old);
		}
	}

	/* purge, the first time once the worker has applied under the policy */
	if (last_purge == 0 ? lww_relids != NIL :
		TimestampDifferenceExceeds(last_purge, now, every_ms))
	{
		Oid			types[1] = {INT4OID};
		Datum		values[1] = {Int32GetDatum(apply_tombstone_retention)};

		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_execute_with_args("DELETE FROM decoderbufs_apply.tombstone "
								  "WHERE deleted_at < pg_catalog.now() - make_interval(secs => $1)",
								  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not purge tombstones");
		if (SPI_processed > 0)
			ereport(DEBUG1,
					(errmsg("decoderbufs_apply purged " UINT64_FORMAT " tombstones",
							SPI_processed)));
		PopActiveSnapshot();
		SPI_finish();
		last_purge = now;
	}
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * decoderbufs_apply._tombstone(): AFTER DELETE FOR EACH ROW trigger that
 * remembers a local delete.  In an apply worker it does nothing: the worker
 * records the deletes it applies itself, with the remote version.
 */
Datum
apply_sql_tombstone_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	Oid			indexoid;
	Relation	idx;
	int			nkeys;
	AttrNumber *attnums;
	bytea	   *key;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s._tombstone() must be an AFTER DELETE FOR EACH ROW trigger",
						APPLY_SCHEMA_NAME)));
	if (MyApplyContext != NULL)
		return PointerGetDatum(NULL);

	rel = trigdata->tg_relation;
	indexoid = RelationGetReplicaIndex(rel);
	if (!OidIsValid(indexoid))
		indexoid = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(indexoid))
		return PointerGetDatum(NULL);	/* no key: nothing to remember */

	idx = index_open(indexoid, AccessShareLock);
	nkeys = IndexRelationGetNumberOfKeyAttributes(idx);
	attnums = palloc(sizeof(AttrNumber) * nkeys);
	for (int k = 0; k < nkeys; k++)
		attnums[k] = idx->rd_index->indkey.values[k];
	index_close(idx, AccessShareLock);

	key = key_bytes(RelationGetDescr(rel), nkeys, attnums, trigdata->tg_trigslot);
	if (key != NULL)
		write_tombstone(RelationGetRelid(rel), key,
						key_json(RelationGetDescr(rel), nkeys, attnums,
								 trigdata->tg_trigslot),
						GetCurrentTimestamp(), apply_local_node(), NULL);
	return PointerGetDatum(NULL);
}
