/*-------------------------------------------------------------------------
 *
 * table_filter.c
 *		The include-tables and exclude-tables options.
 *
 * The pattern syntax and matching are in common/dbufs_table_pattern.c.  A
 * relation is decoded when include-tables is empty or one of its entries
 * matches, and no entry of exclude-tables matches.  The decision is cached
 * per relation (relcache.c), so patterns are matched once per relation, not
 * once per row.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

/*
 * Is the relation schema.table selected by include-tables / exclude-tables?
 */
bool
dbufs_table_selected(const DbufsOptions *opts, const char *schema,
					 const char *table)
{
	if (opts->include_tables != NIL &&
		!dbufs_table_patterns_match(opts->include_tables, schema, table))
		return false;
	return !dbufs_table_patterns_match(opts->exclude_tables, schema, table);
}
