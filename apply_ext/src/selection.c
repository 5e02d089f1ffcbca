/*-------------------------------------------------------------------------
 *
 * selection.c
 *		Which source tables a subscription takes, and their columns.
 *
 * A subscription selects tables with include lists (tables =>, as
 * [schema.]table patterns, and schemas =>) and an exclude list, with the
 * plugin's pattern rules (common/dbufs_table_pattern.c): the same lists go
 * to the source's plugin, which sends only the selected tables' changes.
 * The initial copy and the precheck list the selected tables on the source
 * with apply_source_tables().  The extension's own schema is never taken.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "dbufs_table_pattern.h"

#include "utils/builtins.h"

/* Does the subscription take the source table schema.table? */
bool
apply_table_selected(ApplySubscription *sub, const char *schema,
					 const char *table)
{
	List	   *include = NIL;
	List	   *exclude = NIL;

	if (strcmp(schema, APPLY_SCHEMA_NAME) == 0)
		return false;
	if (sub->include_tables && sub->include_tables[0])
		include = dbufs_table_patterns_parse("include-tables", sub->include_tables);
	if (sub->include_schemas && sub->include_schemas[0])
		include = list_concat(include,
							  dbufs_table_patterns_parse("include-tables",
														 sub->include_schemas));
	if (sub->exclude_tables && sub->exclude_tables[0])
		exclude = dbufs_table_patterns_parse("exclude-tables", sub->exclude_tables);

	if (include != NIL && !dbufs_table_patterns_match(include, schema, table))
		return false;
	return !dbufs_table_patterns_match(exclude, schema, table);
}

/*
 * The source's permanent plain tables (partitions included, partitioned
 * parents not: their rows live in the partitions) that the subscription
 * selects, in name order.  conn is a normal connection; when it runs in the
 * copy's snapshot, so does the list.
 */
List *
apply_source_tables(PGconn *conn, ApplySubscription *sub)
{
	PGresult   *res;
	List	   *result = NIL;

	res = apply_stream_query(conn,
							 "SELECT n.nspname, c.relname, c.oid, c.relreplident, "
							 "  CASE c.relreplident "
							 "    WHEN 'f' THEN true "
							 "    WHEN 'd' THEN EXISTS (SELECT FROM pg_catalog.pg_index i "
							 "                          WHERE i.indrelid = c.oid AND i.indisprimary) "
							 "    WHEN 'i' THEN EXISTS (SELECT FROM pg_catalog.pg_index i "
							 "                          WHERE i.indrelid = c.oid AND i.indisreplident) "
							 "    ELSE false END, "
							 "  c.reltuples::bigint "
							 "FROM pg_catalog.pg_class c "
							 "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
							 "WHERE c.relkind = 'r' AND c.relpersistence = 'p' "
							 "  AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
							 "  AND n.nspname !~ '^pg_(toast|temp_)' "
							 "ORDER BY 1, 2",
							 0, NULL, "list the source's tables");
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *schema = PQgetvalue(res, i, 0);
		const char *table = PQgetvalue(res, i, 1);
		ApplySourceTable *t;

		if (!apply_table_selected(sub, schema, table))
			continue;
		t = palloc(sizeof(ApplySourceTable));
		t->schema_name = pstrdup(schema);
		t->table_name = pstrdup(table);
		t->relid = (Oid) strtoul(PQgetvalue(res, i, 2), NULL, 10);
		t->replident = PQgetvalue(res, i, 3)[0];
		t->has_key = PQgetvalue(res, i, 4)[0] == 't';
		t->approx_rows = strtoll(PQgetvalue(res, i, 5), NULL, 10);
		result = lappend(result, t);
	}
	PQclear(res);
	return result;
}

/*
 * The columns of a source table that hold data (not dropped, not
 * generated), in column order, with their replica identity membership.
 */
List *
apply_source_columns(PGconn *conn, Oid relid)
{
	PGresult   *res;
	List	   *result = NIL;
	char		relid_text[16];
	const char *params[1];

	snprintf(relid_text, sizeof(relid_text), "%u", relid);
	params[0] = relid_text;
	res = apply_stream_query(conn,
							 "SELECT a.attname, a.atttypid, a.atttypmod, "
							 "  pg_catalog.format_type(a.atttypid, a.atttypmod), "
							 "  coalesce(a.attnum = ANY (i.indkey::int2[]), false) "
							 "FROM pg_catalog.pg_attribute a "
							 "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
							 "LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid "
							 "  AND CASE c.relreplident WHEN 'd' THEN i.indisprimary "
							 "                          WHEN 'i' THEN i.indisreplident "
							 "                          ELSE false END "
							 "WHERE a.attrelid = $1::pg_catalog.oid AND a.attnum > 0 "
							 "  AND NOT a.attisdropped AND a.attgenerated = '' "
							 "ORDER BY a.attnum",
							 1, params, "list the columns of a source table");
	for (int i = 0; i < PQntuples(res); i++)
	{
		ApplySourceColumn *c = palloc(sizeof(ApplySourceColumn));

		c->name = pstrdup(PQgetvalue(res, i, 0));
		c->typid = (Oid) strtoul(PQgetvalue(res, i, 1), NULL, 10);
		c->typmod = (int32) strtol(PQgetvalue(res, i, 2), NULL, 10);
		c->type_name = pstrdup(PQgetvalue(res, i, 3));
		c->is_key = PQgetvalue(res, i, 4)[0] == 't';
		result = lappend(result, c);
	}
	PQclear(res);
	return result;
}
