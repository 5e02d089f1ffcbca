/*-------------------------------------------------------------------------
 *
 * row_filter.c
 *		Row filters (option row-filter): a SQL boolean expression over a
 *		table's columns that decides which of its changes are sent.
 *
 * The expression is parsed once per decoding session, when the options are
 * read: raw_parser() on "SELECT WHERE <expression>", and anything but one
 * plain expression is rejected (a second statement, a FROM, GROUP BY,
 * ORDER BY... would otherwise slip in), as are subqueries, before they could
 * open a table.  When a relation the option applies to is first decoded,
 * and again after any change to it, the expression is analyzed against that
 * relation (transformExpr() with the relation as the only range table
 * entry), coerced to boolean and checked: only columns, constants, built-in
 * types, operators and collations, and immutable built-in functions, as
 * PostgreSQL's publication row filters allow, since the filter runs in the
 * decoding process under a historic snapshot of the catalog and must give
 * the same answer whenever the WAL is decoded.  It is then planned
 * (expression_planner()) and compiled (ExecInitExpr()) and kept with the
 * relation's cache entry (relcache.c), with the slots and the expression
 * context it is evaluated in: no catalog lookups happen per row.
 *
 * The semantics are PostgreSQL 15's pgoutput row filters.  A NULL result is
 * false.  An INSERT is sent if its new row matches, a DELETE if its old row
 * does.  An UPDATE is checked on the old row and on the new one: both match,
 * UPDATE; only the new one, it is sent as an INSERT of the new row; only the
 * old one, as a DELETE of the old row; neither, nothing.  The old row is the
 * old tuple logged for the replica identity (key columns under DEFAULT and
 * USING INDEX, all columns under FULL); an UPDATE that does not change the
 * key logs none, and then the key's values are those of the new row, so the
 * new row alone decides.  Hence a filter on a column outside the replica
 * identity cannot decide an UPDATE or DELETE unless the identity is FULL:
 * that is an error when the first UPDATE or DELETE of the table that the
 * option operations lets through is decoded.
 *
 * Unchanged TOAST values of an UPDATE are not in the WAL; the new row holds
 * pointers to the stored values, which cannot be read while decoding.  The
 * old row has them when the identity logs them (FULL always; key columns
 * whenever they are stored out of line), and they are taken from it to
 * evaluate the new row and to send it when the UPDATE becomes an INSERT.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include "access/transam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"

/* The text parsed: the expression follows this. */
#define FILTER_PREFIX		"SELECT WHERE "
#define FILTER_PREFIX_LEN	((int) sizeof(FILTER_PREFIX) - 1)

#define FILTER_HINT \
	"A row filter may use the table's columns, constants, built-in types, operators and collations, and immutable built-in functions: it is evaluated while decoding, against the catalog as it was when the row was written."

/* The row filter of one relation, ready to run; in the entry's context. */
struct DbufsRowFilter
{
	const DbufsTableSetting *setting;
	ExprState  *exprstate;
	ExprContext *econtext;		/* per-row memory, reset after each row */
	TupleTableSlot *old_slot;	/* virtual slots the rows are deformed into */
	TupleTableSlot *new_slot;
	int			natts;

	/* a column the filter uses outside the replica identity, or 0 */
	AttrNumber	bad_attnum;
	char	   *bad_column;
	bool		has_identity;	/* the table has replica identity columns */

	/* varlena columns the filter uses, to refuse unchanged TOAST values */
	int			nused_varlena;
	AttrNumber *used_varlena;

	/* all varlena columns, and room to note those taken from the old row */
	int			nvarlena;
	AttrNumber *varlena;
	int			nsubst;
	AttrNumber *subst;
	Datum	   *subst_saved;

	/* for the error context of an evaluation */
	const char *schema_name;
	const char *table_name;
};

/*
 * Report an error in the row filter of setting; for table schema.table if
 * not NULL.  charpos is where in the expression (1-based characters), or 0.
 */
static void
pg_attribute_noreturn()
filter_error(const DbufsTableSetting *setting, const char *schema,
			 const char *table, int sqlerrcode, int charpos,
			 const char *message, const char *hint)
{
	StringInfoData where;

	initStringInfo(&where);
	appendStringInfoString(&where, "In the row filter");
	if (table != NULL)
		appendStringInfo(&where, " for table \"%s.%s\"", schema, table);
	if (charpos > 0)
		appendStringInfo(&where, ", at character %d", charpos);

	ereport(ERROR,
			(errcode(sqlerrcode),
			 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
					setting->value, setting->option),
			 errdetail("%s: %s.", where.data, message),
			 errhint("%s", hint)));
}

/* Position in the expression of a parse location (bytes into the source). */
static int
location_charpos(const DbufsTableSetting *setting, int location)
{
	if (location < FILTER_PREFIX_LEN)
		return 0;
	return pg_mbstrlen_with_len(setting->filter_source, location) + 1 -
		FILTER_PREFIX_LEN;
}

/*
 * In a PG_CATCH block: report the error being handled (from the parser) as
 * an error of the option, keeping its SQLSTATE, message and hint.
 */
static void
pg_attribute_noreturn()
rethrow_as_filter_error(const DbufsTableSetting *setting, const char *schema,
						const char *table, MemoryContext cxt)
{
	ErrorData  *edata;
	int			charpos = 0;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY)
		PG_RE_THROW();
	FlushErrorState();

	/* a cursor position counts characters from 1 in the source */
	if (edata->cursorpos > FILTER_PREFIX_LEN)
		charpos = edata->cursorpos - FILTER_PREFIX_LEN;
	filter_error(setting, schema, table, edata->sqlerrcode, charpos,
				 edata->message,
				 edata->hint ? edata->hint :
				 "A row filter is a SQL boolean expression over the table's columns, such as \"total > 100 AND region = 'eu'\".");
}

/* Find the first subquery of a raw parse tree. */
static bool
find_sublink_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SubLink))
	{
		*(Node **) context = node;
		return true;
	}
	return raw_expression_tree_walker(node, find_sublink_walker, context);
}

/*
 * Parse the expression of a row-filter setting into setting->filter_raw, or
 * report why it is not one plain SQL expression.  No catalog access: this
 * runs when the options are read.
 */
void
dbufs_row_filter_parse(DbufsTableSetting *setting)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorContextCallback *outer_context = error_context_stack;
	List	   *stmts = NIL;
	RawStmt    *raw;
	SelectStmt *select;
	Node	   *sublink = NULL;

	if (setting->setting[0] == '\0')
		filter_error(setting, NULL, NULL, ERRCODE_INVALID_PARAMETER_VALUE, 0,
					 "the expression is empty",
					 "Write a SQL boolean expression over the table's columns after the colon, such as \"public.orders: total > 100\".");

	setting->filter_source = psprintf(FILTER_PREFIX "%s", setting->setting);
	PG_TRY();
	{
		/*
		 * Without the callers' error context callbacks, which may turn the
		 * error's position in our text into one in their own query (those
		 * of SQL functions do); PG_CATCH puts them back.
		 */
		error_context_stack = NULL;
		stmts = raw_parser(setting->filter_source, RAW_PARSE_DEFAULT);
		error_context_stack = outer_context;
	}
	PG_CATCH();
	{
		rethrow_as_filter_error(setting, NULL, NULL, cxt);
	}
	PG_END_TRY();

	/* exactly "SELECT WHERE <expression>", nothing more */
	raw = list_length(stmts) == 1 ? linitial_node(RawStmt, stmts) : NULL;
	select = (raw != NULL && IsA(raw->stmt, SelectStmt)) ?
		(SelectStmt *) raw->stmt : NULL;
	if (select == NULL || select->op != SETOP_NONE ||
		select->whereClause == NULL || select->targetList != NIL ||
		select->fromClause != NIL || select->intoClause != NULL ||
		select->distinctClause != NIL || select->groupClause != NIL ||
		select->groupDistinct || select->havingClause != NULL ||
		select->windowClause != NIL || select->valuesLists != NIL ||
		select->sortClause != NIL || select->limitOffset != NULL ||
		select->limitCount != NULL || select->lockingClause != NIL ||
		select->withClause != NULL)
		filter_error(setting, NULL, NULL, ERRCODE_SYNTAX_ERROR, 0,
					 "the text after the colon is not one SQL expression",
					 "Write one SQL boolean expression, with nothing after it, such as \"public.orders: total > 100\".");

	if (find_sublink_walker(select->whereClause, &sublink))
		filter_error(setting, NULL, NULL, ERRCODE_FEATURE_NOT_SUPPORTED,
					 location_charpos(setting, ((SubLink *) sublink)->location),
					 "subqueries are not allowed", FILTER_HINT);

	setting->filter_raw = select->whereClause;
}

/*
 * A ParseState whose only range table entry is rel, visible by its name,
 * for transformExpr().  addRangeTableEntryForRelation() would do, but it
 * insists (in assert-enabled builds) that the relation be locked, and
 * decoding must not lock user tables: it reads them as the historic catalog
 * describes them, and a lock could wait for a transaction that waits for
 * this very decoding (synchronous replication).  So the entry is built here
 * the same way, without the lock.
 */
static ParseState *
make_filter_pstate(const DbufsTableSetting *setting, Relation rel)
{
	ParseState *pstate = make_parsestate(NULL);
	TupleDesc	desc = RelationGetDescr(rel);
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	ParseNamespaceItem *nsitem = palloc0(sizeof(ParseNamespaceItem));
	ParseNamespaceColumn *nscolumns;

	pstate->p_sourcetext = setting->filter_source;

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = AccessShareLock;
	rte->eref = makeAlias(RelationGetRelationName(rel), NIL);
	rte->inh = false;
	rte->inFromCl = true;
	rte->lateral = false;

	nscolumns = palloc0(sizeof(ParseNamespaceColumn) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		/* a dropped column keeps its place, with an empty name */
		rte->eref->colnames = lappend(rte->eref->colnames,
									  makeString(pstrdup(att->attisdropped ? "" :
														 NameStr(att->attname))));
		if (att->attisdropped)
			continue;
		nscolumns[i].p_varno = 1;
		nscolumns[i].p_varattno = att->attnum;
		nscolumns[i].p_vartype = att->atttypid;
		nscolumns[i].p_vartypmod = att->atttypmod;
		nscolumns[i].p_varcollid = att->attcollation;
		nscolumns[i].p_varnosyn = 1;
		nscolumns[i].p_varattnosyn = att->attnum;
	}

#if PG_VERSION_NUM >= 160000
	nsitem->p_perminfo = addRTEPermissionInfo(&pstate->p_rteperminfos, rte);
	nsitem->p_perminfo->requiredPerms = ACL_SELECT;
#else
	rte->requiredPerms = ACL_SELECT;
#endif
	pstate->p_rtable = list_make1(rte);

	nsitem->p_names = rte->eref;
	nsitem->p_rte = rte;
	nsitem->p_rtindex = 1;
	nsitem->p_nscolumns = nscolumns;
	nsitem->p_rel_visible = true;
	nsitem->p_cols_visible = true;
	nsitem->p_lateral_only = false;
	nsitem->p_lateral_ok = true;
	addNSItemToQuery(pstate, nsitem, false, true, true);
	return pstate;
}

/* What check_filter_walker() needs, and the function it found unsafe. */
typedef struct FilterCheck
{
	const DbufsTableSetting *setting;
	const DbufsRelation *entry;
	Oid			bad_function;
} FilterCheck;

/* check_functions_in_node() callback: user-defined or not immutable? */
static bool
unsafe_function_checker(Oid func_id, void *context)
{
	if (func_id >= FirstNormalObjectId ||
		func_volatile(func_id) != PROVOLATILE_IMMUTABLE)
	{
		*(Oid *) context = func_id;
		return true;
	}
	return false;
}

/*
 * Check an analyzed filter expression: the nodes PostgreSQL allows in a
 * publication's row filter (check_simple_rowfilter_expr_walker()), with
 * built-in types, operators, collations and immutable functions only.
 */
static bool
check_filter_walker(Node *node, FilterCheck *check)
{
	const char *problem = NULL;

	if (node == NULL)
		return false;

	switch (nodeTag(node))
	{
		case T_Var:
			if (((Var *) node)->varattno < 0)
				problem = "system columns are not allowed";
			else if (((Var *) node)->varattno == 0)
				problem = "whole-row references are not allowed";
			break;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			if (((OpExpr *) node)->opno >= FirstNormalObjectId)
				problem = psprintf("operator %s is user-defined",
								   format_operator(((OpExpr *) node)->opno));
			break;
		case T_ScalarArrayOpExpr:
			if (((ScalarArrayOpExpr *) node)->opno >= FirstNormalObjectId)
				problem = psprintf("operator %s is user-defined",
								   format_operator(((ScalarArrayOpExpr *) node)->opno));
			break;
		case T_RowCompareExpr:
			{
				ListCell   *lc;

				foreach(lc, ((RowCompareExpr *) node)->opnos)
				{
					if (lfirst_oid(lc) >= FirstNormalObjectId)
					{
						problem = psprintf("operator %s is user-defined",
										   format_operator(lfirst_oid(lc)));
						break;
					}
				}
			}
			break;
		case T_Const:
		case T_FuncExpr:
		case T_BoolExpr:
		case T_RelabelType:
		case T_CollateExpr:
		case T_CaseExpr:
		case T_CaseTestExpr:
		case T_ArrayExpr:
		case T_RowExpr:
		case T_CoalesceExpr:
		case T_MinMaxExpr:
		case T_XmlExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_List:
			break;
		case T_SubLink:
			problem = "subqueries are not allowed";
			break;
		case T_Aggref:
		case T_WindowFunc:
		case T_GroupingFunc:
			problem = "aggregate and window functions are not allowed";
			break;
		default:
			problem = "only columns, constants, built-in operators, types and collations, and immutable built-in functions are allowed";
			break;
	}

	if (problem == NULL && !IsA(node, List))
	{
		if (exprType(node) >= FirstNormalObjectId)
			problem = psprintf("type %s is user-defined",
							   format_type_be(exprType(node)));
		else if (check_functions_in_node(node, unsafe_function_checker,
										 &check->bad_function))
			problem = psprintf(check->bad_function >= FirstNormalObjectId ?
							   "function %s is user-defined" :
							   "function %s is not immutable",
							   format_procedure(check->bad_function));
		else if (exprCollation(node) >= FirstNormalObjectId ||
				 exprInputCollation(node) >= FirstNormalObjectId)
			problem = "user-defined collations are not allowed";
	}

	if (problem != NULL)
		filter_error(check->setting, check->entry->schema_name,
					 check->entry->table_name, ERRCODE_FEATURE_NOT_SUPPORTED,
					 location_charpos(check->setting, exprLocation(node)),
					 problem, FILTER_HINT);

	return expression_tree_walker(node, check_filter_walker, check);
}

/*
 * Prepare the row filter of setting for relation rel, whose cache entry is
 * being built in the current memory context (which then holds everything
 * the filter needs).  identity_attnums are the columns of the replica
 * identity index, if any.  Errors in the expression are reported here;
 * a column outside the replica identity is only noted, for
 * dbufs_row_filter_apply() to report at the first UPDATE or DELETE.
 */
DbufsRowFilter *
dbufs_row_filter_build(const DbufsTableSetting *setting, DbufsRelation *entry,
					   Relation rel, Bitmapset *identity_attnums)
{
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext tmp;
	ErrorContextCallback *outer_context = error_context_stack;
	TupleDesc	desc = RelationGetDescr(rel);
	DbufsRowFilter *filter = palloc0(sizeof(DbufsRowFilter));
	ParseState *pstate;
	Node	   *expr = NULL;
	Bitmapset  *used = NULL;
	FilterCheck check;
	int			x;

	filter->setting = setting;
	filter->schema_name = entry->schema_name;
	filter->table_name = entry->table_name;
	filter->natts = desc->natts;
	filter->has_identity = !bms_is_empty(identity_attnums);

	/* parse analysis and planning leave garbage: do them aside */
	tmp = AllocSetContextCreate(cxt, "decoderbufs row filter build",
								ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(tmp);

	pstate = make_filter_pstate(setting, rel);
	PG_TRY();
	{
		/* as in dbufs_row_filter_parse() */
		error_context_stack = NULL;
		expr = transformExpr(pstate, copyObject(setting->filter_raw),
							 EXPR_KIND_WHERE);
		expr = coerce_to_boolean(pstate, expr, "row-filter");
		assign_expr_collations(pstate, expr);
		error_context_stack = outer_context;
	}
	PG_CATCH();
	{
		rethrow_as_filter_error(setting, entry->schema_name,
								entry->table_name, tmp);
	}
	PG_END_TRY();

	check.setting = setting;
	check.entry = entry;
	check.bad_function = InvalidOid;
	(void) check_filter_walker(expr, &check);

	/* the columns it uses: outside the identity, and varlena ones */
	pull_varattnos(expr, 1, &used);
	MemoryContextSwitchTo(cxt);
	filter->used_varlena = palloc(sizeof(AttrNumber) * desc->natts);
	x = -1;
	while ((x = bms_next_member(used, x)) >= 0)
	{
		AttrNumber	attnum = x + FirstLowInvalidHeapAttributeNumber;
		Form_pg_attribute att;

		if (attnum <= 0)
			continue;
		att = TupleDescAttr(desc, attnum - 1);
		if (entry->replident != REPLICA_IDENTITY_FULL &&
			filter->bad_attnum == InvalidAttrNumber &&
			!bms_is_member(attnum, identity_attnums))
		{
			filter->bad_attnum = attnum;
			filter->bad_column = pstrdup(NameStr(att->attname));
		}
		if (att->attlen == -1)
			filter->used_varlena[filter->nused_varlena++] = attnum;
	}

	/* every varlena column, for unchanged TOAST values of an UPDATE */
	filter->varlena = palloc(sizeof(AttrNumber) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && att->attlen == -1)
			filter->varlena[filter->nvarlena++] = att->attnum;
	}
	filter->subst = palloc(sizeof(AttrNumber) * Max(filter->nvarlena, 1));
	filter->subst_saved = palloc(sizeof(Datum) * Max(filter->nvarlena, 1));

	/* plan and compile it; the ExprState points into the plan: keep both */
	MemoryContextSwitchTo(tmp);
	expr = (Node *) expression_planner((Expr *) expr);
	MemoryContextSwitchTo(cxt);
	expr = copyObject(expr);
	filter->exprstate = ExecInitExpr((Expr *) expr, NULL);
	filter->econtext = CreateStandaloneExprContext();
	desc = CreateTupleDescCopy(desc);
	filter->old_slot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	filter->new_slot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);

	MemoryContextDelete(tmp);
	return filter;
}

/* The error context of an evaluation: which option, which table. */
static void
filter_eval_error_callback(void *arg)
{
	DbufsRowFilter *filter = arg;

	errcontext("decoderbufs option \"%s\" value \"%s\", on a row of table \"%s.%s\"",
			   filter->setting->option, filter->setting->value,
			   filter->schema_name, filter->table_name);
}

/* Deform tuple into a slot, whose values the message is then built from. */
static void
store_tuple(TupleTableSlot *slot, TupleDesc desc, HeapTuple tuple)
{
	ExecClearTuple(slot);
	heap_deform_tuple(tuple, desc, slot->tts_values, slot->tts_isnull);
	ExecStoreVirtualTuple(slot);
}

/* An all-NULL row: the missing old row of a table without identity. */
static void
store_nulls(TupleTableSlot *slot, int natts)
{
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * natts);
	ExecStoreVirtualTuple(slot);
}

/*
 * Does the row in slot match?  A NULL result does not.  A value the filter
 * uses must be in the row: an unchanged TOAST value is not, and reading it
 * from the table is not possible while decoding.
 */
static bool
row_matches(DbufsRowFilter *filter, TupleTableSlot *slot)
{
	ExprContext *econtext = filter->econtext;
	Datum		result;
	bool		isnull;

	for (int i = 0; i < filter->nused_varlena; i++)
	{
		int			a = filter->used_varlena[i] - 1;

		if (!slot->tts_isnull[a] &&
			VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(slot->tts_values[a])))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("decoderbufs option \"%s\" cannot evaluate its filter on table \"%s.%s\"",
							filter->setting->option, filter->schema_name,
							filter->table_name),
					 errdetail("The value of column \"%s\" is an unchanged TOAST value, which the WAL does not hold.",
							   NameStr(TupleDescAttr(slot->tts_tupleDescriptor, a)->attname)),
					 errhint("Set REPLICA IDENTITY FULL on the table, so that the old row holds every value.")));
	}

	econtext->ecxt_scantuple = slot;
	result = ExecEvalExprSwitchContext(filter->exprstate, econtext, &isnull);
	ResetExprContext(econtext);
	return !isnull && DatumGetBool(result);
}

/*
 * For an UPDATE: take the new row's unchanged TOAST values from the old row
 * where it has them, noting which, so that they can be put back.
 */
static void
fill_unchanged_toast(DbufsRowFilter *filter)
{
	TupleTableSlot *oldslot = filter->old_slot;
	TupleTableSlot *newslot = filter->new_slot;

	filter->nsubst = 0;
	for (int i = 0; i < filter->nvarlena; i++)
	{
		int			a = filter->varlena[i] - 1;

		if (newslot->tts_isnull[a] || oldslot->tts_isnull[a])
			continue;
		if (VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(newslot->tts_values[a])) &&
			!VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(oldslot->tts_values[a])))
		{
			filter->subst[filter->nsubst] = a;
			filter->subst_saved[filter->nsubst++] = newslot->tts_values[a];
			newslot->tts_values[a] = oldslot->tts_values[a];
		}
	}
}

/* Undo fill_unchanged_toast(): an UPDATE is sent as it was logged. */
static void
restore_unchanged_toast(DbufsRowFilter *filter)
{
	for (int i = 0; i < filter->nsubst; i++)
		filter->new_slot->tts_values[filter->subst[i]] = filter->subst_saved[i];
	filter->nsubst = 0;
}

/* The filter uses a column that the old row of an UPDATE or DELETE lacks. */
static void
pg_attribute_noreturn()
report_identity_error(DbufsRelation *rel, DbufsRowFilter *filter)
{
	const char *identity;

	switch (rel->replident)
	{
		case REPLICA_IDENTITY_NOTHING:
			identity = "NOTHING";
			break;
		case REPLICA_IDENTITY_INDEX:
			identity = "USING INDEX";
			break;
		default:
			identity = filter->has_identity ? "DEFAULT" :
				"DEFAULT (without a primary key)";
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
			 errmsg("decoderbufs option \"%s\" cannot filter UPDATE and DELETE of table \"%s.%s\" on column \"%s\", which is not in its replica identity",
					filter->setting->option, rel->schema_name, rel->table_name,
					filter->bad_column),
			 filter->has_identity ?
			 errdetail("The table's REPLICA IDENTITY is %s: the old row of an UPDATE or DELETE holds only the replica identity columns, so the filter \"%s\" cannot be evaluated on it.",
					   identity, filter->setting->value) :
			 errdetail("The table's REPLICA IDENTITY is %s: an UPDATE or DELETE logs no old row, so the filter \"%s\" cannot be evaluated on it.",
					   identity, filter->setting->value),
			 errhint("Set REPLICA IDENTITY FULL on the table, or filter only on replica identity columns.")));
}

/*
 * Apply the row filter of rel to a change: returns the operation to send
 * (op itself, INSERT or DELETE for an UPDATE moving into or out of the
 * filter) or DECODERBUFS__OP__UNKNOWN to send nothing, and in oldv and newv
 * the values of the old and new tuple to send (values NULL: none).  Those
 * are deformed into the filter's slots and valid until its next row.
 */
Decoderbufs__Op
dbufs_row_filter_apply(DbufsRelation *rel, TupleDesc desc, Decoderbufs__Op op,
					   HeapTuple oldtuple, HeapTuple newtuple,
					   DbufsRowValues *oldv, DbufsRowValues *newv)
{
	DbufsRowFilter *filter = rel->row_filter;
	ErrorContextCallback errcallback;
	bool		old_match;
	bool		new_match;
	Decoderbufs__Op result;

	Assert(desc->natts == filter->natts);
	if (op != DECODERBUFS__OP__INSERT && filter->bad_attnum != InvalidAttrNumber)
		report_identity_error(rel, filter);

	oldv->values = NULL;
	newv->values = NULL;
	if (oldtuple != NULL)
	{
		store_tuple(filter->old_slot, desc, oldtuple);
		oldv->values = filter->old_slot->tts_values;
		oldv->nulls = filter->old_slot->tts_isnull;
	}
	if (newtuple != NULL)
	{
		store_tuple(filter->new_slot, desc, newtuple);
		newv->values = filter->new_slot->tts_values;
		newv->nulls = filter->new_slot->tts_isnull;
	}

	errcallback.callback = filter_eval_error_callback;
	errcallback.arg = filter;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	switch (op)
	{
		case DECODERBUFS__OP__INSERT:
			result = row_matches(filter, filter->new_slot) ? op :
				DECODERBUFS__OP__UNKNOWN;
			break;
		case DECODERBUFS__OP__DELETE:
			/* no old row (no identity): a filter without columns decides */
			if (oldtuple == NULL)
				store_nulls(filter->old_slot, filter->natts);
			result = row_matches(filter, filter->old_slot) ? op :
				DECODERBUFS__OP__UNKNOWN;
			break;
		case DECODERBUFS__OP__UPDATE:
			if (oldtuple == NULL)
			{
				/* the key did not change: the new row has the old key */
				result = row_matches(filter, filter->new_slot) ? op :
					DECODERBUFS__OP__UNKNOWN;
				break;
			}
			fill_unchanged_toast(filter);
			old_match = row_matches(filter, filter->old_slot);
			new_match = row_matches(filter, filter->new_slot);
			if (old_match && new_match)
			{
				restore_unchanged_toast(filter);
				result = DECODERBUFS__OP__UPDATE;
			}
			else if (new_match)
			{
				/* the new row, with what the old one had of its TOAST */
				oldv->values = NULL;
				result = DECODERBUFS__OP__INSERT;
			}
			else if (old_match)
			{
				newv->values = NULL;
				result = DECODERBUFS__OP__DELETE;
			}
			else
				result = DECODERBUFS__OP__UNKNOWN;
			break;
		default:
			elog(ERROR, "unexpected operation %d", (int) op);
			result = DECODERBUFS__OP__UNKNOWN;	/* keep compiler quiet */
	}

	error_context_stack = errcallback.previous;
	return result;
}
