/*-------------------------------------------------------------------------
 *
 * sequences.c
 *		The values of a subscription's sequences follow the source.
 *
 * Logical decoding does not carry sequence changes: rows arrive with the
 * source's ids while the target's sequences stay where they were, so after
 * a failover the target would hand out ids the source already used.  A
 * subscription's "sequences" setting selects source sequences with
 * [schema.]name patterns (the syntax of the table lists); each goes to the
 * target sequence its name maps to, as a table's would (schema_map,
 * table_config).  apply_sequences_sync() reads their values on the source
 * and setval()s the target sequences to them.  It runs at the end of the
 * initial copy, every decoderbufs_apply.sequence_sync_interval in the apply
 * worker (between remote transactions), and on demand through
 * sync_sequences().
 *
 * A target sequence never moves backwards: if the value it would hand out
 * next is already past the source's next one, in the direction it counts
 * (two-way setups, or ids handed out after a failover), it is kept and
 * reported as target_ahead.  A target sequence that is missing, counts the
 * other way, cannot hold the source's value, or whose source sequence the
 * source user may not read, is skipped with a WARNING and reported.  The
 * subscription's owner sets the values and needs the UPDATE privilege on
 * the target sequences; without it the sync fails with an ERROR naming the
 * sequence.
 *
 * All the work on the source and every decision are done before the first
 * setval(), which no rollback undoes: an error (source unreachable, a
 * missing privilege) leaves every sequence as it was.  In the apply worker
 * such an error restarts the worker like any other, and the next periodic
 * sync comes one interval after it streams again, so replication still
 * goes on between failing attempts.
 *
 * Like PostgreSQL's own sequences, the values read are those of nextval()
 * calls made so far, committed or not, and a sync is a snapshot of them:
 * ids handed out on the source after the last sync are unknown to the
 * target until the next one.
 *
 * Copyright (c) 2026, decoderbufs authors
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_sequence.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "dbufs_table_pattern.h"

PG_FUNCTION_INFO_V1(apply_sql_sync_sequences);

/* Source sequences whose values one query reads. */
#define SEQUENCES_PER_QUERY		100

/* Sequences named per reason in the summary's detail. */
#define SEQUENCES_NAMED_MAX		10

typedef enum SeqAction
{
	SEQ_UPDATED,				/* setval() to the source's value */
	SEQ_UNCHANGED,				/* already where the source is */
	SEQ_TARGET_AHEAD,			/* past the source: kept */
	SEQ_MISSING,				/* no such sequence on the target */
	SEQ_UNREADABLE,				/* no SELECT privilege on the source */
	SEQ_OUT_OF_RANGE,			/* source value outside the target's bounds */
	SEQ_DIRECTION_MISMATCH,		/* one counts up, the other down */
	SEQ_DUPLICATE_TARGET,		/* another source sequence maps there too */
	SEQ_NUM_ACTIONS
} SeqAction;

/* The action column of sync_sequences(). */
static const char *const seq_action_names[SEQ_NUM_ACTIONS] = {
	"updated",
	"unchanged",
	"target_ahead",
	"missing",
	"unreadable",
	"out_of_range",
	"direction_mismatch",
	"duplicate_target"
};

/* Why a sequence was skipped, in the summary's detail. */
static const char *const seq_action_reasons[SEQ_NUM_ACTIONS] = {
	NULL,
	NULL,
	"Kept because the target is ahead",
	"Missing on the target",
	"Not readable by the source user",
	"Source value outside the target sequence's range",
	"Counting in the other direction on the target",
	"Target already follows another source sequence"
};

/* One selected source sequence and what the sync does with it. */
typedef struct SeqSync
{
	char	   *schema;			/* on the source */
	char	   *name;
	int64		increment;
	bool		readable;		/* by the source user (SELECT privilege) */
	int64		source_value;	/* last_value on the source */
	bool		source_called;	/* is_called on the source */
	const char *target_schema;
	const char *target_name;
	Oid			target_relid;
	bool		target_read;	/* target_before is known */
	int64		target_before;	/* last_value on the target */
	bool		target_called;
	int64		target_after;
	SeqAction	action;
} SeqSync;

/* For the error context. */
typedef struct SeqSyncState
{
	ApplySubscription *sub;
	SeqSync    *current;
} SeqSyncState;

static void
sequence_error_callback(void *arg)
{
	SeqSyncState *state = (SeqSyncState *) arg;
	SeqSync    *s = state->current;

	if (s == NULL)
		errcontext("synchronizing the sequences of decoderbufs_apply subscription \"%s\"",
				   state->sub->name);
	else
		errcontext("synchronizing sequence \"%s.%s\" of decoderbufs_apply subscription \"%s\" to target sequence \"%s.%s\"",
				   s->schema, s->name, state->sub->name,
				   s->target_schema, s->target_name);
}

/*
 * Append schema.name for the source, always quoted: the source may be a
 * release whose reserved words this server does not know.
 */
static void
append_source_name(StringInfo buf, const char *schema, const char *name)
{
	const char *parts[2] = {schema, name};

	for (int i = 0; i < 2; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, '.');
		appendStringInfoChar(buf, '"');
		for (const char *p = parts[i]; *p; p++)
		{
			if (*p == '"')
				appendStringInfoChar(buf, '"');
			appendStringInfoChar(buf, *p);
		}
		appendStringInfoChar(buf, '"');
	}
}

/*
 * The source sequences the subscription selects, in name order, with their
 * values.  The sequences themselves are read, which needs the SELECT
 * privilege on the source (pg_sequences.last_value is NULL both without it
 * and whenever is_called is false: never used, or set with setval(...,
 * false), which pg_dump and reseeding scripts do); the others are returned
 * as not readable.  A sequence dropped on the source between the listing
 * and the reading fails the reading query: an ERROR, and the next sync
 * goes through.  The extension's own schema is never taken.
 */
static List *
read_source_sequences(PGconn *conn, ApplySubscription *sub)
{
	List	   *patterns = dbufs_table_patterns_parse("sequences", sub->sequences);
	List	   *result = NIL;
	List	   *readable = NIL;
	PGresult   *res;
	ListCell   *lc;

	res = apply_stream_query(conn,
							 "SELECT n.nspname, c.relname, s.seqincrement, "
							 "  coalesce(pg_catalog.has_sequence_privilege(c.oid, 'SELECT'), false) "
							 "FROM pg_catalog.pg_class c "
							 "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
							 "JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid "
							 "WHERE c.relkind = 'S' AND c.relpersistence <> 't' "
							 "  AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
							 "  AND n.nspname !~ '^pg_(toast|temp_)' "
							 "ORDER BY 1, 2",
							 0, NULL, "list the source's sequences");
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *schema = PQgetvalue(res, i, 0);
		const char *name = PQgetvalue(res, i, 1);
		SeqSync    *s;

		if (strcmp(schema, APPLY_SCHEMA_NAME) == 0 ||
			!dbufs_table_patterns_match(patterns, schema, name))
			continue;
		s = palloc0(sizeof(SeqSync));
		s->schema = pstrdup(schema);
		s->name = pstrdup(name);
		s->increment = strtoi64(PQgetvalue(res, i, 2), NULL, 10);
		s->readable = PQgetvalue(res, i, 3)[0] == 't';
		apply_target_table(sub, s->schema, s->name,
						   &s->target_schema, &s->target_name);
		result = lappend(result, s);
		if (s->readable)
			readable = lappend(readable, s);
		else
			s->action = SEQ_UNREADABLE;
	}
	PQclear(res);

	/* their values, a batch of sequences per query */
	lc = list_head(readable);
	while (lc != NULL)
	{
		SeqSync    *batch[SEQUENCES_PER_QUERY];
		StringInfoData sql;
		int			n = 0;

		initStringInfo(&sql);
		for (; lc != NULL && n < SEQUENCES_PER_QUERY; lc = lnext(readable, lc))
		{
			SeqSync    *s = lfirst(lc);

			appendStringInfo(&sql, "%sSELECT %d, last_value, is_called FROM ",
							 n > 0 ? " UNION ALL " : "", n);
			append_source_name(&sql, s->schema, s->name);
			batch[n++] = s;
		}
		res = apply_stream_query(conn, sql.data, 0, NULL,
								 "read the values of the source's sequences");
		for (int i = 0; i < PQntuples(res); i++)
		{
			int			k = atoi(PQgetvalue(res, i, 0));

			if (k < 0 || k >= n)
				continue;		/* cannot happen */
			batch[k]->source_value = strtoi64(PQgetvalue(res, i, 1), NULL, 10);
			batch[k]->source_called = PQgetvalue(res, i, 2)[0] == 't';
		}
		PQclear(res);
		pfree(sql.data);
	}
	return result;
}

/*
 * A target sequence's last_value and is_called, read from its page as
 * nextval() leaves them (sequence changes are not MVCC).  Reading needs no
 * SELECT privilege: the UPDATE privilege checked before lets the owner call
 * nextval() and setval() anyway.
 */
static void
read_target_state(Relation seqrel, int64 *last_value, bool *is_called)
{
	Buffer		buf = ReadBuffer(seqrel, 0);
	Page		page;
	ItemId		lp;
	HeapTupleData tuple;
	Form_pg_sequence_data seq;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	lp = PageGetItemId(page, FirstOffsetNumber);
	if (!ItemIdIsNormal(lp))
		elog(ERROR, "sequence \"%s\" has no tuple", RelationGetRelationName(seqrel));
	tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
	tuple.t_len = ItemIdGetLength(lp);
	seq = (Form_pg_sequence_data) GETSTRUCT(&tuple);
	*last_value = seq->last_value;
	*is_called = seq->is_called;
	UnlockReleaseBuffer(buf);
}

/* The value nextval() would return next (saturated at the int64 limits). */
static int64
next_value(int64 last_value, bool is_called, int64 increment)
{
	int64		next;

	if (!is_called)
		return last_value;
	if (pg_add_s64_overflow(last_value, increment, &next))
		return increment > 0 ? PG_INT64_MAX : PG_INT64_MIN;
	return next;
}

/*
 * Find a readable source sequence's target sequence, check the owner's
 * privilege, and decide what to do with it; nothing is changed yet.
 * Runs as the subscription's owner.
 */
static void
plan_sequence(ApplySubscription *sub, SeqSync *s, List **targets)
{
	RangeVar   *rv = makeRangeVar(pstrdup(s->target_schema),
								  pstrdup(s->target_name), -1);
	Oid			relid;
	Relation	seqrel;
	HeapTuple	tup;
	Form_pg_sequence seqform;
	int64		increment,
				minvalue,
				maxvalue,
				source_next,
				target_next;

	/* setval()'s lock, taken now so that the sequence cannot go away */
	relid = RangeVarGetRelid(rv, RowExclusiveLock, true);
	if (!OidIsValid(relid) || get_rel_relkind(relid) != RELKIND_SEQUENCE)
	{
		s->action = SEQ_MISSING;
		ereport(WARNING,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("target sequence \"%s.%s\" of decoderbufs_apply subscription \"%s\" does not exist",
						s->target_schema, s->target_name, sub->name),
				 OidIsValid(relid) ?
				 errdetail("\"%s.%s\" is not a sequence; source sequence \"%s.%s\" is not synchronized.",
						   s->target_schema, s->target_name, s->schema, s->name) :
				 errdetail("Source sequence \"%s.%s\" is not synchronized.",
						   s->schema, s->name),
				 errhint("Create the sequence on the target, or leave it out of the subscription's sequences.")));
		return;
	}
	s->target_relid = relid;

	if (pg_class_aclcheck(relid, sub->owner, ACL_UPDATE) != ACLCHECK_OK)
	{
		char	   *owner = GetUserNameFromId(sub->owner, false);

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for sequence \"%s.%s\"",
						s->target_schema, s->target_name),
				 errdetail("decoderbufs_apply subscription \"%s\" sets its sequences as its owner, role \"%s\", which needs the UPDATE privilege on them.",
						   sub->name, owner),
				 errhint("GRANT UPDATE ON SEQUENCE %s TO %s;",
						 quote_qualified_identifier(s->target_schema, s->target_name),
						 quote_identifier(owner))));
	}

	seqrel = relation_open(relid, NoLock);
	read_target_state(seqrel, &s->target_before, &s->target_called);
	relation_close(seqrel, NoLock);
	s->target_read = true;
	s->target_after = s->target_before;

	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", relid);
	seqform = (Form_pg_sequence) GETSTRUCT(tup);
	increment = seqform->seqincrement;
	minvalue = seqform->seqmin;
	maxvalue = seqform->seqmax;
	ReleaseSysCache(tup);

	if (list_member_oid(*targets, relid))
	{
		s->action = SEQ_DUPLICATE_TARGET;
		ereport(WARNING,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("target sequence \"%s.%s\" of decoderbufs_apply subscription \"%s\" follows more than one source sequence",
						s->target_schema, s->target_name, sub->name),
				 errdetail("Source sequence \"%s.%s\" is not synchronized.",
						   s->schema, s->name),
				 errhint("Map each selected source sequence to a sequence of its own.")));
		return;
	}
	*targets = lappend_oid(*targets, relid);

	if ((increment > 0) != (s->increment > 0))
	{
		s->action = SEQ_DIRECTION_MISMATCH;
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("target sequence \"%s.%s\" of decoderbufs_apply subscription \"%s\" counts %s, source sequence \"%s.%s\" counts %s",
						s->target_schema, s->target_name, sub->name,
						increment > 0 ? "up" : "down",
						s->schema, s->name, s->increment > 0 ? "up" : "down"),
				 errdetail("The sequence is not synchronized."),
				 errhint("Give both sequences an increment of the same sign.")));
		return;
	}

	source_next = next_value(s->source_value, s->source_called, s->increment);
	target_next = next_value(s->target_before, s->target_called, increment);
	if (target_next == source_next)
		s->action = SEQ_UNCHANGED;
	else if (increment > 0 ? target_next > source_next : target_next < source_next)
		s->action = SEQ_TARGET_AHEAD;
	else if (s->source_value < minvalue || s->source_value > maxvalue)
	{
		s->action = SEQ_OUT_OF_RANGE;
		ereport(WARNING,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value " INT64_FORMAT " of source sequence \"%s.%s\" is out of the bounds of target sequence \"%s.%s\" (" INT64_FORMAT ".." INT64_FORMAT ")",
						s->source_value, s->schema, s->name,
						s->target_schema, s->target_name, minvalue, maxvalue),
				 errdetail("decoderbufs_apply subscription \"%s\" does not synchronize the sequence.",
						   sub->name),
				 errhint("Give the target sequence the source's MINVALUE and MAXVALUE.")));
	}
	else
	{
		s->action = SEQ_UPDATED;
		s->target_after = s->source_value;
	}
}

/* One LOG line per sync: how many were set, unchanged, skipped and why. */
static void
log_summary(ApplySubscription *sub, List *seqs)
{
	int			counts[SEQ_NUM_ACTIONS] = {0};
	int			skipped = 0;
	StringInfoData detail;
	ListCell   *lc;

	foreach(lc, seqs)
		counts[((SeqSync *) lfirst(lc))->action]++;

	initStringInfo(&detail);
	for (int a = SEQ_TARGET_AHEAD; a < SEQ_NUM_ACTIONS; a++)
	{
		int			named = 0;

		if (counts[a] == 0)
			continue;
		skipped += counts[a];
		appendStringInfo(&detail, "%s%s: ", detail.len > 0 ? " " : "",
						 seq_action_reasons[a]);
		foreach(lc, seqs)
		{
			SeqSync    *s = lfirst(lc);

			if (s->action != a)
				continue;
			if (named < SEQUENCES_NAMED_MAX)
				appendStringInfo(&detail, "%s%s", named > 0 ? ", " : "",
								 quote_qualified_identifier(s->schema, s->name));
			named++;
		}
		if (named > SEQUENCES_NAMED_MAX)
			appendStringInfo(&detail, " and %d more", named - SEQUENCES_NAMED_MAX);
		appendStringInfoChar(&detail, '.');
	}

	/* a sync that found everything in place is not worth a line each time */
	ereport(counts[SEQ_UPDATED] > 0 || skipped > 0 ? LOG : DEBUG1,
			(errmsg("decoderbufs_apply subscription \"%s\" synchronized %d sequences: %d updated, %d unchanged, %d skipped",
					sub->name, list_length(seqs), counts[SEQ_UPDATED],
					counts[SEQ_UNCHANGED], skipped),
			 detail.len > 0 ? errdetail("%s", detail.data) : 0));
	pfree(detail.data);
}

/*
 * Synchronize the subscription's sequences in the current transaction and
 * return what was done with each (a List of SeqSync); *n_updated counts the
 * sequences set.  conn is a normal connection to the source, or NULL to
 * open one for the time of the call.
 */
static List *
sync_sequences(ApplySubscription *sub, PGconn *conn, int *n_updated)
{
	SeqSyncState state;
	ErrorContextCallback errcallback;
	List	   *seqs;
	char	   *source_user = NULL;
	List	   *targets = NIL;
	Oid			save_userid;
	int			save_sec_context;
	ListCell   *lc;

	Assert(IsTransactionState());

	state.sub = sub;
	state.current = NULL;
	errcallback.callback = sequence_error_callback;
	errcallback.arg = &state;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	/* everything from the source first */
	if (conn != NULL)
	{
		seqs = read_source_sequences(conn, sub);
		source_user = pstrdup(PQuser(conn));
	}
	else
	{
		PGconn	   *volatile own_conn = NULL;
		List	   *volatile result = NIL;
		char	   *volatile user = NULL;

		PG_TRY();
		{
			own_conn = apply_stream_connect(sub->conninfo, sub->name, false);
			/* the rule of the worker's connection, and of the caller's own */
			apply_stream_check_password(own_conn,
										!superuser_arg(sub->owner) || !superuser());
			result = read_source_sequences(own_conn, sub);
			user = pstrdup(PQuser(own_conn));
		}
		PG_FINALLY();
		{
			apply_stream_disconnect(own_conn);
		}
		PG_END_TRY();
		seqs = result;
		source_user = user;
	}

	/* then the decisions on the target, as the owner, before any change */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(sub->owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	foreach(lc, seqs)
	{
		SeqSync    *s = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		state.current = s;
		if (s->readable)
			plan_sequence(sub, s, &targets);
		else
			ereport(WARNING,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("decoderbufs_apply subscription \"%s\" cannot read source sequence \"%s.%s\"",
							sub->name, s->schema, s->name),
					 errdetail("The source user, \"%s\", has no SELECT privilege on it; target sequence \"%s.%s\" is not synchronized.",
							   source_user, s->target_schema, s->target_name),
					 errhint("On the source: GRANT SELECT ON SEQUENCE %s TO %s;",
							 quote_qualified_identifier(s->schema, s->name),
							 quote_identifier(source_user))));
	}

	/* and the changes */
	*n_updated = 0;
	foreach(lc, seqs)
	{
		SeqSync    *s = lfirst(lc);

		if (s->action != SEQ_UPDATED)
			continue;
		state.current = s;
		DirectFunctionCall3(setval3_oid,
							ObjectIdGetDatum(s->target_relid),
							Int64GetDatum(s->source_value),
							BoolGetDatum(s->source_called));
		(*n_updated)++;
	}
	SetUserIdAndSecContext(save_userid, save_sec_context);

	error_context_stack = errcallback.previous;
	log_summary(sub, seqs);
	return seqs;
}

/*
 * Set the target's sequences that the subscription selects to the source's
 * values (never backwards); returns how many were set.  conn is an open
 * normal connection to the source, or NULL to open (and close) one.  Runs
 * in the current transaction if there is one, else in one of its own; the
 * caller must not be applying a remote transaction.
 */
int
apply_sequences_sync(ApplySubscription *sub, PGconn *conn)
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	bool		own_xact = !IsTransactionState();
	int			n_updated = 0;

	if (sub->sequences == NULL || sub->sequences[0] == '\0')
		return 0;

	cxt = AllocSetContextCreate(CurrentMemoryContext,
								"decoderbufs_apply sequences",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	if (own_xact)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		MemoryContextSwitchTo(cxt);
	}
	(void) sync_sequences(sub, conn, &n_updated);
	if (own_xact)
		CommitTransactionCommand();
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	return n_updated;
}

/*
 * _sync_sequences(sub_id integer) RETURNS SETOF record: synchronize the
 * subscription's sequences now, in the caller's transaction, and return
 * what was done with each.  The API function sync_sequences(name) wraps it.
 * The values are set as the subscription's owner, so the caller must have
 * that role's privileges, as for every change to a subscription.
 */
Datum
apply_sql_sync_sequences(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ApplySubscription *sub;
	List	   *seqs;
	int			n_updated;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	sub = apply_catalog_get_subscription(PG_GETARG_INT32(0), false);
	if (!has_privs_of_role(GetUserId(), sub->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for decoderbufs_apply subscription \"%s\"",
						sub->name),
				 errdetail("A subscription sets its sequences as its owner; only its owner (or a member of that role) and superusers may synchronize them.")));
	if (sub->sequences == NULL || sub->sequences[0] == '\0')
	{
		ereport(NOTICE,
				(errmsg("decoderbufs_apply subscription \"%s\" selects no sequences",
						sub->name),
				 errhint("Select them with decoderbufs_apply.alter_subscription(name, sequences => ARRAY['public.*']).")));
		return (Datum) 0;
	}

	seqs = sync_sequences(sub, NULL, &n_updated);
	foreach(lc, seqs)
	{
		SeqSync    *s = lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {0};

		values[0] = CStringGetTextDatum(quote_qualified_identifier(s->schema, s->name));
		values[1] = CStringGetTextDatum(quote_qualified_identifier(s->target_schema,
																   s->target_name));
		nulls[2] = !s->readable;
		values[2] = Int64GetDatum(s->source_value);
		nulls[3] = nulls[4] = !s->target_read;
		values[3] = Int64GetDatum(s->target_before);
		values[4] = Int64GetDatum(s->target_after);
		values[5] = CStringGetTextDatum(seq_action_names[s->action]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
