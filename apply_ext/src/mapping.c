/*-------------------------------------------------------------------------
 *
 * mapping.c
 *		Source names to target names, and the per-table settings.
 *
 * A source table goes to the target table of the same schema and name,
 * unless its table_config row names another table (target_schema,
 * target_table) or its schema is mapped (schema_map).  A source column goes
 * to the target column of the same name unless column_map renames it.  The
 * settings were read with the subscription (catalog.c); nothing here reads
 * the catalog.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

/* The settings of the source table schema.table, or NULL. */
ApplyTableConfig *
apply_table_config(ApplySubscription *sub, const char *schema,
				   const char *table)
{
	ListCell   *lc;

	foreach(lc, sub->table_configs)
	{
		ApplyTableConfig *tc = lfirst(lc);

		if (strcmp(tc->schema_name, schema) == 0 &&
			strcmp(tc->table_name, table) == 0)
			return tc;
	}
	return NULL;
}

/* Where the rows of the source table schema.table go. */
void
apply_target_table(ApplySubscription *sub, const char *schema,
				   const char *table, const char **target_schema,
				   const char **target_table)
{
	ApplyTableConfig *tc = apply_table_config(sub, schema, table);
	ListCell   *lc;

	*target_schema = schema;
	*target_table = table;
	foreach(lc, sub->schema_maps)
	{
		ApplySchemaMap *m = lfirst(lc);

		if (strcmp(m->source_schema, schema) == 0)
			*target_schema = m->target_schema;
	}
	if (tc != NULL && tc->target_schema != NULL)
		*target_schema = tc->target_schema;
	if (tc != NULL && tc->target_table != NULL)
		*target_table = tc->target_table;
}

/* The target column a source column goes to. */
const char *
apply_target_column(ApplyTableConfig *tc, const char *column)
{
	ListCell   *lc;

	if (tc == NULL)
		return column;
	foreach(lc, tc->column_map)
	{
		ApplyColumnRename *r = lfirst(lc);

		if (strcmp(r->source, column) == 0)
			return r->target;
	}
	return column;
}

/* Is a source column replicated (the table's column selection)? */
bool
apply_column_selected(ApplyTableConfig *tc, const char *column)
{
	ListCell   *lc;

	if (tc == NULL || tc->columns == NIL)
		return true;
	foreach(lc, tc->columns)
	{
		if (strcmp(lfirst(lc), column) == 0)
			return true;
	}
	return false;
}

/* The initial-copy state of a source table, or NULL if it has none. */
ApplyTableSync *
apply_table_sync(ApplySubscription *sub, const char *schema, const char *table)
{
	ListCell   *lc;

	foreach(lc, sub->table_syncs)
	{
		ApplyTableSync *ts = lfirst(lc);

		if (strcmp(ts->schema_name, schema) == 0 &&
			strcmp(ts->table_name, table) == 0)
			return ts;
	}
	return NULL;
}
