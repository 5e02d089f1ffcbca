/*-------------------------------------------------------------------------
 *
 * message.c
 *		Building RowMessages: transaction boundaries, rows, TRUNCATE,
 *		logical messages and (compact mode) relation metadata.
 *
 * Default mode produces exactly Debezium's messages: every message carries
 * transaction_id and commit_time, rows carry the quoted table name, every
 * datum its quoted column name and type OID, and new tuples their TypeInfo.
 * Our extra fields are added only when their option asks for them.
 *
 * Compact mode (our consumer) sends a RELATION message before a relation's
 * first row; rows then carry the relation OID and values only, in the
 * relation's column order, and the old key of DEFAULT/INDEX identity holds
 * the key columns only, also in column order (the order in which the
 * RELATION message flags them with is_key, whatever the index's order).
 * Transaction-level fields (xid, commit time, origin, LSNs) are on BEGIN
 * and COMMIT (and STREAM_COMMIT) only.
 *
 * Tuples are encoded straight into wire format (wire.c, datum.c); the rest
 * of a message is a Decoderbufs__RowMessage struct that wire.c packs.  All
 * memory comes from the per-change context, reset by the caller.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include "access/transam.h"
#include "access/htup_details.h"
#include "utils/datum.h"

/* Commit timestamp as Debezium sends it: microseconds since 1970. */
static uint64
commit_time_unix_usecs(ReorderBufferTXN *txn)
{
	return (uint64) (txn->xact_time.commit_time + DBUFS_UNIX_EPOCH_OFFSET_USECS);
}

/*
 * The 64-bit form of a transaction id being decoded.  Decoded transactions
 * are always within 2^31 of the next xid (the slot holds back wraparound),
 * so the epoch is the current one, or the previous one for a larger xid.
 */
uint64
dbufs_message_full_xid(TransactionId xid)
{
	FullTransactionId next = ReadNextFullTransactionId();
	uint32		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next))
		epoch--;
	return ((uint64) epoch << 32) | xid;
}

/*
 * Initialise msg for an operation of transaction txn (which may be NULL for
 * a non-transactional message).  Transaction-level fields go on every
 * message in default mode, on BEGIN/COMMIT only in compact mode.
 */
void
dbufs_message_init(Decoderbufs__RowMessage *msg, ReorderBufferTXN *txn,
				   Decoderbufs__Op op, const DbufsOptions *opts)
{
	bool		txn_fields;

	decoderbufs__row_message__init(msg);
	msg->op = op;
	msg->has_op = true;

	txn_fields = (txn != NULL) &&
		(!opts->compact || op == DECODERBUFS__OP__BEGIN ||
		 op == DECODERBUFS__OP__COMMIT || op == DECODERBUFS__OP__STREAM_COMMIT);
	if (!txn_fields)
		return;

	msg->transaction_id = txn->xid;
	msg->has_transaction_id = true;
	msg->commit_time = commit_time_unix_usecs(txn);
	msg->has_commit_time = true;
	if (opts->include_xid64)
	{
		msg->xid64 = dbufs_message_full_xid(txn->xid);
		msg->has_xid64 = true;
	}
	if (opts->include_origin && txn->origin_id != InvalidRepOriginId)
	{
		msg->origin = (char *) dbufs_origin_name(txn->origin_id);
		msg->origin_lsn = txn->origin_lsn;
		msg->has_origin_lsn = true;
	}
}

/* Name the relation a row belongs to, as the mode wants. */
void
dbufs_message_set_relation(Decoderbufs__RowMessage *msg, DbufsRelation *rel,
						   const DbufsOptions *opts)
{
	if (opts->compact)
	{
		msg->relation_oid = rel->relid;
		msg->has_relation_oid = true;
		return;
	}
	msg->table = rel->qualified_name;
	if (opts->include_names)
	{
		msg->schema_name = rel->schema_name;
		msg->table_name = rel->table_name;
		msg->relation_oid = rel->relid;
		msg->has_relation_oid = true;
	}
}

/* Field numbers of RowMessage's tuples and DatumMessage's key flag. */
#define ROW_NEW_TUPLE	5
#define ROW_OLD_TUPLE	6
#define DATUM_IS_KEY	21

/*
 * Can the new tuple reuse the old tuple's encoding of column c?  Only if the
 * old tuple sent it and the value is the same, bit for bit: then the
 * encoding is the same, since it depends on nothing but the value, the
 * column and the options.  An UPDATE under REPLICA IDENTITY FULL sends every
 * column twice and usually changes few, so this saves most of its output
 * function calls (jsonb and numeric text, the costliest).
 */
static bool
same_as_old(DbufsTuples *tuples, DbufsColumn *col, int c,
			Datum value, bool isnull)
{
	int			i = col->attnum - 1;

	if (tuples->old_values == NULL || tuples->old_value_len[c] < 0)
		return false;
	if (isnull || tuples->old_nulls[i])
		return false;
	return datumIsEqual(tuples->old_values[i], value, col->typbyval,
						col->typlen);
}

/*
 * Encode a tuple as the new_tuple (old = false) or old_tuple fields of a
 * RowMessage, into tuples; the old tuple, if any, first.  With key_only
 * (compact mode, old key of DEFAULT/INDEX identity) only the key columns
 * are sent, in column order.  In default mode the new tuple's type
 * information, cached per relation, goes along.
 */
void
dbufs_message_encode_tuple(DbufsState *state, DbufsTuples *tuples,
						   DbufsRelation *rel, TupleDesc desc,
						   HeapTuple tuple, bool old, bool key_only)
{
	DbufsRowValues row;

	/* deform once; values are indexed by attnum - 1 */
	row.values = palloc(sizeof(Datum) * desc->natts);
	row.nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tuple, desc, row.values, row.nulls);
	dbufs_message_encode_values(state, tuples, rel, &row, old, key_only);
}

/*
 * dbufs_message_encode_tuple() for a tuple already deformed (the row
 * filter's).  Only the relation's columns are sent: all of them, or those
 * the option columns selects.
 */
void
dbufs_message_encode_values(DbufsState *state, DbufsTuples *tuples,
							DbufsRelation *rel, const DbufsRowValues *row,
							bool old, bool key_only)
{
	const DbufsOptions *opts = &state->opts;
	int			n = key_only ? rel->nkeys : rel->ncolumns;
	StringInfo	buf = old ? &tuples->old_tuple : &tuples->new_tuple;
	int			field = old ? ROW_OLD_TUPLE : ROW_NEW_TUPLE;
	Datum	   *values = row->values;
	bool	   *nulls = row->nulls;

	if (old)
	{
		tuples->old_values = values;
		tuples->old_nulls = nulls;
		tuples->old_value_off = palloc(sizeof(int) * rel->ncolumns);
		tuples->old_value_len = palloc(sizeof(int) * rel->ncolumns);
		for (int c = 0; c < rel->ncolumns; c++)
			tuples->old_value_len[c] = -1;
	}

	for (int i = 0; i < n; i++)
	{
		int			c = key_only ? rel->key_columns[i] : i;
		DbufsColumn *col = &rel->columns[c];
		Datum		value = values[col->attnum - 1];
		bool		isnull = nulls[col->attnum - 1];
		int			start = dbufs_wire_begin_nested(buf, field);
		int			value_start;

		/* DatumMessage fields in number order: name, type, datum, is_key */
		if (!opts->compact)
			appendBinaryStringInfoNT(buf, col->name_type_wire,
									 col->name_type_wire_len);
		value_start = buf->len - start;
		if (!old && same_as_old(tuples, col, c, value, isnull))
			appendBinaryStringInfoNT(buf,
									 tuples->old_tuple.data + tuples->old_value_off[c],
									 tuples->old_value_len[c]);
		else
			dbufs_datum_encode(buf, col, value, isnull, opts);
		if (old)
			tuples->old_value_len[c] = buf->len - start - value_start;
		if (opts->include_key_flags && col->is_key)
		{
			dbufs_wire_tag(buf, DATUM_IS_KEY, DBUFS_WIRE_VARINT);
			appendStringInfoCharMacro(buf, 1);
		}
		start = dbufs_wire_end_nested(buf, start);
		if (old)
			tuples->old_value_off[c] = start + value_start;
	}

	if (!old && opts->include_type_info && !opts->compact)
	{
		tuples->typeinfo = rel->typeinfo_wire.data;
		tuples->typeinfo_len = rel->typeinfo_wire.len;
	}
}

/*
 * Turn msg into the RELATION message describing rel (compact mode).
 */
void
dbufs_message_build_relation(Decoderbufs__RowMessage *msg, DbufsRelation *rel)
{
	Decoderbufs__RelationInfo *info = palloc(sizeof(Decoderbufs__RelationInfo));
	Decoderbufs__ColumnInfo *cols = palloc(sizeof(Decoderbufs__ColumnInfo) * rel->ncolumns);
	char		replident[2] = {rel->replident, '\0'};

	decoderbufs__relation_info__init(info);
	info->relation_oid = rel->relid;
	info->schema_name = rel->schema_name;
	info->table_name = rel->table_name;
	info->replica_identity = pstrdup(replident);
	info->n_columns = rel->ncolumns;
	info->columns = palloc(sizeof(Decoderbufs__ColumnInfo *) * rel->ncolumns);
	for (int i = 0; i < rel->ncolumns; i++)
	{
		DbufsColumn *col = &rel->columns[i];

		decoderbufs__column_info__init(&cols[i]);
		cols[i].name = col->name;
		cols[i].type_oid = col->typid;
		cols[i].typmod = col->typmod;
		cols[i].type_name = col->typeinfo.modifier;
		cols[i].is_key = col->is_key;
		cols[i].not_null = col->not_null;
		info->columns[i] = &cols[i];
	}
	msg->relation = info;
	msg->relation_oid = rel->relid;
	msg->has_relation_oid = true;
}
