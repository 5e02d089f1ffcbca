/*-------------------------------------------------------------------------
 *
 * table_settings.c
 *		The per-table options row-filter, columns and operations.
 *
 * Each occurrence of one of these options configures the tables that one
 * pattern matches: its value is "<table pattern>: <setting>", the pattern in
 * the syntax of include-tables entries (common/dbufs_table_pattern.c), read
 * up to the colon.  They may be given any number of times; for a relation,
 * the first occurrence of an option whose pattern matches applies, and the
 * others of that option are ignored.
 *
 * The settings are parsed here once per decoding session, as far as that is
 * possible without a table: column names are split and case-folded,
 * operation names checked, and a row filter's expression parsed into a raw
 * parse tree (row_filter.c).  What depends on the table - whether the
 * columns exist, the filter's meaning - is resolved when a relation is first
 * decoded, and cached with it (relcache.c).
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include "parser/scansup.h"
#include "utils/varlena.h"

/* The names of the operations, as the option operations spells them. */
static const struct
{
	const char *name;
	int			bit;
}			operation_names[] = {
	{"insert", DBUFS_OP_INSERT},
	{"update", DBUFS_OP_UPDATE},
	{"delete", DBUFS_OP_DELETE},
	{"truncate", DBUFS_OP_TRUNCATE},
};

/* The setting with the spaces around it removed. */
static char *
trim_setting(const char *s)
{
	const char *end;

	while (scanner_isspace(*s))
		s++;
	end = s + strlen(s);
	while (end > s && scanner_isspace(end[-1]))
		end--;
	return pnstrdup(s, end - s);
}

/*
 * Split a comma-separated list of identifiers (unquoted ones folded to lower
 * case, quoted ones kept), as the setting of columns and operations.
 * Returns a list of names, or reports the error.
 */
static List *
split_names(const DbufsTableSetting *setting, const char *what)
{
	char	   *copy = pstrdup(setting->setting);
	List	   *names;

	if (!SplitIdentifierString(copy, ',', &names))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
						setting->value, setting->option),
				 errdetail("The part after the colon is not a comma-separated list of %s.",
						   what),
				 errhint("Names follow SQL identifier rules: unquoted ones are folded to lower case, double-quoted ones are kept as they are.")));
	return names;
}

/* columns: the names of the columns to send, at least one, no repeats. */
static void
parse_columns(DbufsTableSetting *setting)
{
	ListCell   *lc;

	setting->columns = split_names(setting, "column names");
	if (setting->columns == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
						setting->value, setting->option),
				 errdetail("The column list is empty."),
				 errhint("List the columns to send after the colon, as in \"public.orders: id, total\".")));
	foreach(lc, setting->columns)
	{
		const char *name = lfirst(lc);

		for (ListCell *prev = list_head(setting->columns); prev != lc;
			 prev = lnext(setting->columns, prev))
		{
			if (strcmp(lfirst(prev), name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
								setting->value, setting->option),
						 errdetail("Column \"%s\" is listed more than once.",
								   name)));
		}
	}
}

/* operations: a set of insert, update, delete and truncate; may be empty. */
static void
parse_operations(DbufsTableSetting *setting)
{
	List	   *names = split_names(setting, "operation names");
	ListCell   *lc;

	setting->operations = 0;
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		int			i;

		for (i = 0; i < lengthof(operation_names); i++)
		{
			if (strcmp(operation_names[i].name, name) == 0)
				break;
		}
		if (i == lengthof(operation_names))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
							setting->value, setting->option),
					 errdetail("Unrecognized operation \"%s\".", name),
					 errhint("Valid operations are insert, update, delete and truncate.")));
		setting->operations |= operation_names[i].bit;
	}
}

/*
 * Parse one occurrence of a per-table option.  "option" is its name, for
 * errors.
 */
DbufsTableSetting *
dbufs_table_setting_parse(DbufsTableSettingKind kind, const char *option,
						  const char *value)
{
	DbufsTableSetting *setting = palloc0(sizeof(DbufsTableSetting));
	const char *rest;

	setting->option = option;
	setting->pattern = dbufs_table_pattern_parse_one(option, value, &rest);
	setting->value = pstrdup(value);
	setting->setting = trim_setting(rest);

	switch (kind)
	{
		case DBUFS_SETTING_ROW_FILTER:
			dbufs_row_filter_parse(setting);
			break;
		case DBUFS_SETTING_COLUMNS:
			parse_columns(setting);
			break;
		case DBUFS_SETTING_OPERATIONS:
			parse_operations(setting);
			break;
	}
	return setting;
}

/*
 * The setting that applies to schema.table: the first one of the list whose
 * pattern matches, or NULL.
 */
DbufsTableSetting *
dbufs_table_setting_lookup(List *settings, const char *schema,
						   const char *table)
{
	ListCell   *lc;

	foreach(lc, settings)
	{
		DbufsTableSetting *setting = lfirst(lc);

		if (dbufs_table_pattern_match(setting->pattern, schema, table))
			return setting;
	}
	return NULL;
}
