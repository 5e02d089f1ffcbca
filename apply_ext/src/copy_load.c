/*-------------------------------------------------------------------------
 *
 * copy_load.c
 *		The initial copy's bulk loader: a binary COPY stream from the source
 *		loaded into a target table that is empty, its indexes built once at
 *		the end.
 *
 * COPY FROM inserts each row into every index of the table as it goes.
 * Into a table that holds no rows when its copy starts, it is cheaper to
 * insert the rows alone and then build each index with one sort, as CREATE
 * INDEX does (reindex_relation): in the copy benchmark (a table with a
 * primary key) the row-by-row index insertions were a fifth of the
 * target's CPU, the sorted build costs about half that.
 *
 * The loader reads the binary COPY format (a header, then per row a field
 * count and per field its length and bytes), calls each column's receive
 * function, evaluates the defaults of the target columns the source does
 * not send, checks NOT NULL and CHECK constraints row by row, and inserts
 * the rows in batches with table_multi_insert() and a BulkInsertState, as
 * COPY FROM does.  Unique and exclusion constraints are checked when the
 * indexes are built: a violation raises its usual error there, and the
 * table's copy transaction rolls back as it would on the first clash.
 *
 * While the indexes lack the copied rows nobody else may insert into the
 * table, so the caller holds a lock that keeps writers out until commit
 * (ShareRowExclusiveLock, or AccessExclusiveLock after a truncate); readers
 * go on until the indexes are rebuilt, which locks each index exclusively.
 * The caller loads this way only when the result is that of COPY FROM:
 * binary format and a table that is empty in its copy transaction, and
 * apply_copy_load_supported() for the rest.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "commands/copy.h"
#include "catalog/pg_trigger.h"
#include "commands/progress.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "port/pg_bswap.h"
#include "rewrite/rewriteHandler.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

/* Rows and input bytes buffered for one table_multi_insert(), as COPY FROM. */
#define LOAD_BATCH_ROWS			1000
#define LOAD_BATCH_BYTES		65535

/* The input buffer's first size; it grows to hold the largest field. */
#define LOAD_INPUT_SIZE			65536

/* The binary COPY format's signature, its first 11 bytes. */
static const char BinarySignature[11] = "PGCOPY\n\377\r\n\0";

/* One table's load. */
typedef struct CopyLoad
{
	Relation	rel;
	copy_data_source_cb read;

	/* input: buf[pos..len) not yet parsed; one byte spare at the end */
	char	   *buf;
	int			size;
	int			pos;
	int			len;
	uint64		bytes;			/* read from the stream so far */

	/* the columns the stream carries, in its order */
	int			nfields;
	AttrNumber *attnums;
	FmgrInfo   *recv_fns;		/* by attribute number - 1 */
	Oid		   *recv_ioparams;

	/* target columns the stream does not carry, with a default */
	int			ndefaults;
	AttrNumber *default_attnums;
	ExprState **default_exprs;

	/* for the error context */
	uint64		row;
	const char *column;
	bool		inserting;		/* in table_multi_insert() */
} CopyLoad;

/* Would an INSERT trigger of the table fire in this session? */
static bool
insert_trigger_fires(TriggerDesc *trigdesc)
{
	if (trigdesc == NULL)
		return false;
	for (int i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *trig = &trigdesc->triggers[i];

		if (!TRIGGER_FOR_INSERT(trig->tgtype))
			continue;
		/* as TriggerEnabled() in trigger.c */
		if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		{
			if (trig->tgenabled == TRIGGER_FIRES_ON_REPLICA ||
				trig->tgenabled == TRIGGER_FIRES_ALWAYS)
				return true;
		}
		else if (trig->tgenabled == TRIGGER_FIRES_ON_ORIGIN ||
				 trig->tgenabled == TRIGGER_FIRES_ALWAYS)
			return true;
	}
	return false;
}

/* The attribute numbers of the columns the stream carries. */
static AttrNumber *
stream_attnums(Relation rel, List *attnames)
{
	AttrNumber *attnums = palloc(sizeof(AttrNumber) * Max(1, list_length(attnames)));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, attnames)
	{
		const char *name = strVal(lfirst(lc));
		int			attnum = attnameAttNum(rel, name, false);

		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							name, RelationGetRelationName(rel))));
		attnums[n++] = attnum;
	}
	return attnums;
}

static bool
carried(AttrNumber *attnums, int n, AttrNumber attnum)
{
	for (int i = 0; i < n; i++)
		if (attnums[i] == attnum)
			return true;
	return false;
}

/*
 * The planned default expressions of the columns the stream does not
 * carry, as COPY FROM finds them; *volatile_found tells whether one is
 * volatile other than by nextval().
 */
static List *
stream_defaults(Relation rel, AttrNumber *attnums, int nfields,
				List **default_attnums, bool *volatile_found)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *exprs = NIL;

	*default_attnums = NIL;
	*volatile_found = false;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Expr	   *defexpr;

		if (att->attisdropped || att->attgenerated ||
			carried(attnums, nfields, att->attnum))
			continue;
		defexpr = (Expr *) build_column_default(rel, att->attnum);
		if (defexpr == NULL)
			continue;
		defexpr = expression_planner(defexpr);
		if (contain_volatile_functions_not_nextval((Node *) defexpr))
			*volatile_found = true;
		exprs = lappend(exprs, defexpr);
		*default_attnums = lappend_int(*default_attnums, att->attnum);
	}
	return exprs;
}

/*
 * May the table be loaded here instead of by COPY FROM, with the same
 * result?  Not if an INSERT trigger fires (row or statement level), if a
 * column is generated and stored (COPY FROM computes it), if the table is
 * a partition (its partition constraint) or if a default expression is
 * volatile (COPY FROM then inserts row by row, each row seeing the ones
 * before).  Whether the table is empty is the caller's to check.
 */
bool
apply_copy_load_supported(Relation rel, List *attnames)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *default_attnums;
	bool		volatile_found;
	AttrNumber *attnums;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition)
		return false;
	if (insert_trigger_fires(rel->trigdesc))
		return false;
	if (desc->constr != NULL && desc->constr->has_generated_stored)
		return false;
	attnums = stream_attnums(rel, attnames);
	(void) stream_defaults(rel, attnums, list_length(attnames),
						   &default_attnums, &volatile_found);
	return !volatile_found;
}

static void
load_error_callback(void *arg)
{
	CopyLoad   *ld = arg;

	if (ld->row == 0 || ld->inserting)
		errcontext("COPY %s", RelationGetRelationName(ld->rel));
	else if (ld->column != NULL)
		errcontext("COPY %s, line " UINT64_FORMAT ", column %s",
				   RelationGetRelationName(ld->rel), ld->row, ld->column);
	else
		errcontext("COPY %s, line " UINT64_FORMAT,
				   RelationGetRelationName(ld->rel), ld->row);
}

/*
 * Make n bytes of input available at buf + pos; false if the stream ends
 * first.
 */
static bool
input_ensure(CopyLoad *ld, int n)
{
	int			avail = ld->len - ld->pos;

	if (avail >= n)
		return true;
	if (ld->pos > 0)
	{
		memmove(ld->buf, ld->buf + ld->pos, avail);
		ld->pos = 0;
		ld->len = avail;
	}
	if (n >= ld->size)
	{
		if ((Size) n >= MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("field of %d bytes in the COPY data is too large", n)));
		ld->size = (int) Min((Size) n * 2, MaxAllocSize);
		ld->buf = repalloc(ld->buf, ld->size);
	}
	while (ld->len < n)
	{
		int			got = ld->read(ld->buf + ld->len, n - ld->len,
								   ld->size - 1 - ld->len);

		if (got <= 0)
			return false;
		ld->len += got;
		ld->bytes += got;
	}
	return true;
}

static bool
read_int16(CopyLoad *ld, int16 *val)
{
	uint16		v;

	if (!input_ensure(ld, sizeof(v)))
		return false;
	memcpy(&v, ld->buf + ld->pos, sizeof(v));
	ld->pos += sizeof(v);
	*val = (int16) pg_ntoh16(v);
	return true;
}

static bool
read_int32(CopyLoad *ld, int32 *val)
{
	uint32		v;

	if (!input_ensure(ld, sizeof(v)))
		return false;
	memcpy(&v, ld->buf + ld->pos, sizeof(v));
	ld->pos += sizeof(v);
	*val = (int32) pg_ntoh32(v);
	return true;
}

static void
unexpected_eof(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
			 errmsg("unexpected EOF in COPY data")));
}

/* The binary format's header, as COPY FROM checks it. */
static void
read_header(CopyLoad *ld)
{
	int32		flags;
	int32		extension;

	if (!input_ensure(ld, sizeof(BinarySignature)) ||
		memcmp(ld->buf + ld->pos, BinarySignature, sizeof(BinarySignature)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("COPY file signature not recognized")));
	ld->pos += sizeof(BinarySignature);
	if (!read_int32(ld, &flags))
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("invalid COPY file header (missing flags)")));
	if ((flags & (1 << 16)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("invalid COPY file header (WITH OIDS)")));
	flags &= ~(1 << 16);
	if ((flags >> 16) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("unrecognized critical flags in COPY file header")));
	if (!read_int32(ld, &extension) || extension < 0)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("invalid COPY file header (missing length)")));
	while (extension > 0)
	{
		int			n = Min(extension, ld->size - 1);

		if (!input_ensure(ld, n))
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("invalid COPY file header (wrong length)")));
		ld->pos += n;
		extension -= n;
	}
}

/*
 * One field: its length, then its bytes given to the column's receive
 * function straight from the input buffer (with a terminating zero byte
 * put in place for the call, as array_recv() does for its elements).
 */
static Datum
read_field(CopyLoad *ld, AttrNumber attnum, bool *isnull)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(ld->rel), attnum - 1);
	FmgrInfo   *flinfo = &ld->recv_fns[attnum - 1];
	Oid			ioparam = ld->recv_ioparams[attnum - 1];
	StringInfoData buf;
	int32		size;
	char		saved;
	Datum		result;

	ld->column = NameStr(att->attname);
	if (!read_int32(ld, &size))
		unexpected_eof();
	if (size == -1)
	{
		*isnull = true;
		return ReceiveFunctionCall(flinfo, NULL, ioparam, att->atttypmod);
	}
	if (size < 0)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("invalid field size")));
	if (!input_ensure(ld, size))
		unexpected_eof();

	buf.data = ld->buf + ld->pos;
	buf.len = size;
	buf.maxlen = size + 1;
	buf.cursor = 0;
	saved = buf.data[size];
	buf.data[size] = '\0';
	result = ReceiveFunctionCall(flinfo, &buf, ioparam, att->atttypmod);
	if (buf.cursor != buf.len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("incorrect binary data format")));
	buf.data[size] = saved;
	ld->pos += size;
	*isnull = false;
	return result;
}

/*
 * The next row into values and nulls (every attribute), in the current
 * memory context; false at the end of the data.
 */
static bool
read_row(CopyLoad *ld, ExprContext *econtext, Datum *values, bool *nulls)
{
	int			natts = RelationGetDescr(ld->rel)->natts;
	int16		nfields;

	ld->row++;
	ld->column = NULL;
	if (!read_int16(ld, &nfields))
	{
		if (ld->len > ld->pos)
			unexpected_eof();
		return false;			/* the stream ended without a trailer */
	}
	if (nfields == -1)
	{
		/* the trailer: nothing may follow it */
		if (input_ensure(ld, 1))
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("received copy data after EOF marker")));
		return false;
	}
	if (nfields != ld->nfields)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("row field count is %d, expected %d",
						(int) nfields, ld->nfields)));

	memset(values, 0, sizeof(Datum) * natts);
	memset(nulls, true, sizeof(bool) * natts);
	for (int i = 0; i < ld->nfields; i++)
	{
		AttrNumber	attnum = ld->attnums[i];

		values[attnum - 1] = read_field(ld, attnum, &nulls[attnum - 1]);
	}
	ld->column = NULL;
	for (int i = 0; i < ld->ndefaults; i++)
	{
		AttrNumber	attnum = ld->default_attnums[i];

		values[attnum - 1] = ExecEvalExpr(ld->default_exprs[i], econtext,
										  &nulls[attnum - 1]);
	}
	return true;
}

/* Set up the receive functions and the defaults. */
static void
load_columns(CopyLoad *ld, List *attnames)
{
	TupleDesc	desc = RelationGetDescr(ld->rel);
	List	   *default_attnums;
	List	   *default_exprs;
	bool		volatile_found;
	ListCell   *lc1;
	ListCell   *lc2;
	int			n = 0;

	ld->nfields = list_length(attnames);
	ld->attnums = stream_attnums(ld->rel, attnames);
	ld->recv_fns = palloc0(sizeof(FmgrInfo) * Max(1, desc->natts));
	ld->recv_ioparams = palloc0(sizeof(Oid) * Max(1, desc->natts));
	for (int i = 0; i < ld->nfields; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, ld->attnums[i] - 1);
		Oid			func;

		getTypeBinaryInputInfo(att->atttypid, &func,
							   &ld->recv_ioparams[att->attnum - 1]);
		fmgr_info(func, &ld->recv_fns[att->attnum - 1]);
	}

	default_exprs = stream_defaults(ld->rel, ld->attnums, ld->nfields,
									&default_attnums, &volatile_found);
	Assert(!volatile_found);
	ld->ndefaults = list_length(default_exprs);
	ld->default_attnums = palloc(sizeof(AttrNumber) * Max(1, ld->ndefaults));
	ld->default_exprs = palloc(sizeof(ExprState *) * Max(1, ld->ndefaults));
	forboth(lc1, default_exprs, lc2, default_attnums)
	{
		ld->default_exprs[n] = ExecInitExpr((Expr *) lfirst(lc1), NULL);
		ld->default_attnums[n++] = lfirst_int(lc2);
	}
}

/* Build every index of the table from its rows, checking uniqueness. */
static void
build_indexes(Relation rel)
{
	ReindexParams params = {0};

	CommandCounterIncrement();
#if PG_VERSION_NUM >= 170000
	(void) reindex_relation(NULL, RelationGetRelid(rel),
							REINDEX_REL_CHECK_CONSTRAINTS, &params);
#else
	(void) reindex_relation(RelationGetRelid(rel),
							REINDEX_REL_CHECK_CONSTRAINTS, &params);
#endif
}

/*
 * Load the binary COPY stream that read gives into rel, whose columns
 * attnames it carries, then build rel's indexes.  The caller holds a lock
 * that keeps writers out and has checked apply_copy_load_supported() and
 * that rel is empty.  Returns the number of rows loaded.
 */
uint64
apply_copy_load(Relation rel, List *attnames, copy_data_source_cb read)
{
	MemoryContext loadcxt;
	MemoryContext batchcxt;
	MemoryContext oldcxt;
	CopyLoad   *ld;
	EState	   *estate;
	ExprContext *econtext;
	ResultRelInfo *rri;
	TupleTableSlot **slots;
	BulkInsertState bistate;
	ErrorContextCallback errcallback;
	CommandId	mycid = GetCurrentCommandId(true);
	int			ti_options = 0;
	bool		check_constraints = RelationGetDescr(rel)->constr != NULL;
	int			nbuffered = 0;
	int			buffered_bytes = 0;
	uint64		processed = 0;
	const int	progress_index[] = {
		PROGRESS_COPY_COMMAND,
		PROGRESS_COPY_TYPE
	};
	int64		progress_vals[] = {
		PROGRESS_COPY_COMMAND_FROM,
		PROGRESS_COPY_TYPE_CALLBACK
	};

	loadcxt = AllocSetContextCreate(CurrentMemoryContext,
									"decoderbufs_apply copy load",
									ALLOCSET_DEFAULT_SIZES);
	batchcxt = AllocSetContextCreate(loadcxt,
									 "decoderbufs_apply copy batch",
									 ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(loadcxt);

	ld = palloc0(sizeof(CopyLoad));
	ld->rel = rel;
	ld->read = read;
	ld->size = LOAD_INPUT_SIZE;
	ld->buf = palloc(ld->size);
	load_columns(ld, attnames);

	estate = CreateExecutorState();
	econtext = GetPerTupleExprContext(estate);
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	slots = palloc0(sizeof(TupleTableSlot *) * LOAD_BATCH_ROWS);
	bistate = GetBulkInsertState();

	/*
	 * A table without a page has no free space to find: do not ask the free
	 * space map for it at every page filled (no one else inserts meanwhile).
	 */
	if (RelationGetNumberOfBlocks(rel) == 0)
		ti_options |= TABLE_INSERT_SKIP_FSM;

	pgstat_progress_start_command(PROGRESS_COMMAND_COPY, RelationGetRelid(rel));
	pgstat_progress_update_multi_param(2, progress_index, progress_vals);

	errcallback.callback = load_error_callback;
	errcallback.arg = ld;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	read_header(ld);
	for (;;)
	{
		TupleTableSlot *slot;
		uint64		bytes_before = ld->bytes - (ld->len - ld->pos);
		bool		more;

		CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(estate);
		if (slots[nbuffered] == NULL)
			slots[nbuffered] = table_slot_create(rel, NULL);
		slot = slots[nbuffered];

		/* values live until their batch is inserted */
		MemoryContextSwitchTo(batchcxt);
		ExecClearTuple(slot);
		more = read_row(ld, econtext, slot->tts_values, slot->tts_isnull);
		if (more)
		{
			ExecStoreVirtualTuple(slot);
			if (check_constraints)
				ExecConstraints(rri, slot, estate);
			nbuffered++;
			buffered_bytes += (int) (ld->bytes - (ld->len - ld->pos) - bytes_before);
		}

		if (nbuffered > 0 &&
			(!more || nbuffered == LOAD_BATCH_ROWS ||
			 buffered_bytes >= LOAD_BATCH_BYTES))
		{
			ld->inserting = true;
			table_multi_insert(rel, slots, nbuffered, mycid, ti_options, bistate);
			ld->inserting = false;
			for (int i = 0; i < nbuffered; i++)
				ExecClearTuple(slots[i]);
			processed += nbuffered;
			nbuffered = 0;
			buffered_bytes = 0;
			MemoryContextReset(batchcxt);
			pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED, processed);
			pgstat_progress_update_param(PROGRESS_COPY_BYTES_PROCESSED, ld->bytes);
		}
		MemoryContextSwitchTo(loadcxt);
		if (!more)
			break;
	}
	error_context_stack = errcallback.previous;

	FreeBulkInsertState(bistate);
	table_finish_bulk_insert(rel, ti_options);
	for (int i = 0; i < LOAD_BATCH_ROWS && slots[i] != NULL; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	FreeExecutorState(estate);
	pgstat_progress_end_command();

	build_indexes(rel);

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(loadcxt);
	return processed;
}
