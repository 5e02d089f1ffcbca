/*-------------------------------------------------------------------------
 *
 * dbufs_table_pattern.h
 *		Table-name patterns ([schema.]table with * and ? wildcards), shared
 *		by the plugin and the apply extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBUFS_TABLE_PATTERN_H
#define DBUFS_TABLE_PATTERN_H

#include "nodes/pg_list.h"

typedef struct DbufsTablePattern
{
	char	   *schema;			/* NULL matches any schema */
	char	   *table;
} DbufsTablePattern;

/* Parse a comma-separated list; "option" names the plugin option in errors. */
extern List *dbufs_table_patterns_parse(const char *option, const char *value);
extern bool dbufs_table_patterns_match(List *patterns, const char *schema,
									   const char *table);

/* One pattern ending at ':', which begins the value of a per-table option. */
extern DbufsTablePattern *dbufs_table_pattern_parse_one(const char *option,
														const char *value,
														const char **rest);
extern bool dbufs_table_pattern_match(const DbufsTablePattern *pat,
									  const char *schema, const char *table);

#endif							/* DBUFS_TABLE_PATTERN_H */
