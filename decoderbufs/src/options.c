/*-------------------------------------------------------------------------
 *
 * options.c
 *		Parsing of the decoderbufs plugin options.
 *
 * Options arrive as (name, value) pairs from START_REPLICATION ... (...) or
 * the variadic arguments of pg_logical_slot_get_changes().  Parsing is
 * table-driven: every option has one row below giving its kind and where
 * its value goes.  Unknown options and bad values are errors that name the
 * option, and so is an option given twice, except the per-table options
 * (row-filter, columns, operations: see table_settings.c), each occurrence
 * of which configures the tables of one pattern.  Debezium's own option
 * (debug-mode) keeps its meaning, including "no value means false".
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include "utils/builtins.h"
#include "utils/memutils.h"

typedef enum DbufsOptionKind
{
	DBUFS_OPT_BOOL,
	DBUFS_OPT_INT,
	DBUFS_OPT_TABLES,
	DBUFS_OPT_ROW_FILTER,		/* per-table options: a List of */
	DBUFS_OPT_COLUMNS,			/* DbufsTableSetting, one per occurrence */
	DBUFS_OPT_OPERATIONS
} DbufsOptionKind;

typedef struct DbufsOptionDef
{
	const char *name;
	DbufsOptionKind kind;
	size_t		offset;			/* of the field in DbufsOptions */
	int			min_value;		/* DBUFS_OPT_INT only */
	int			max_value;
	bool		null_means;		/* DBUFS_OPT_BOOL given without a value */
	bool		repeatable;		/* may be given more than once */
} DbufsOptionDef;

#define OPT(field) offsetof(DbufsOptions, field)

static const DbufsOptionDef option_defs[] = {
	{"debug-mode", DBUFS_OPT_BOOL, OPT(debug_mode), 0, 0, false},
	{"proto-version", DBUFS_OPT_INT, OPT(proto_version), 1, INT_MAX, false},
	{"compact", DBUFS_OPT_BOOL, OPT(compact), 0, 0, true},
	{"batch-size", DBUFS_OPT_INT, OPT(batch_size), 0, MaxAllocSize / 2, false},
	{"only-local", DBUFS_OPT_BOOL, OPT(only_local), 0, 0, true},
	{"include-tables", DBUFS_OPT_TABLES, OPT(include_tables), 0, 0, false},
	{"exclude-tables", DBUFS_OPT_TABLES, OPT(exclude_tables), 0, 0, false},
	{"row-filter", DBUFS_OPT_ROW_FILTER, OPT(row_filters), 0, 0, false, true},
	{"columns", DBUFS_OPT_COLUMNS, OPT(column_lists), 0, 0, false, true},
	{"operations", DBUFS_OPT_OPERATIONS, OPT(operation_lists), 0, 0, false, true},
	{"include-lsn", DBUFS_OPT_BOOL, OPT(include_lsn), 0, 0, true},
	{"include-xid64", DBUFS_OPT_BOOL, OPT(include_xid64), 0, 0, true},
	{"include-origin", DBUFS_OPT_BOOL, OPT(include_origin), 0, 0, true},
	{"include-names", DBUFS_OPT_BOOL, OPT(include_names), 0, 0, true},
	{"include-key-flags", DBUFS_OPT_BOOL, OPT(include_key_flags), 0, 0, true},
	{"include-type-info", DBUFS_OPT_BOOL, OPT(include_type_info), 0, 0, true},
	{"exact-values", DBUFS_OPT_BOOL, OPT(exact_values), 0, 0, true},
	{"binary-values", DBUFS_OPT_BOOL, OPT(binary_values), 0, 0, true},
	{"include-truncate", DBUFS_OPT_BOOL, OPT(include_truncate), 0, 0, true},
	{"include-messages", DBUFS_OPT_BOOL, OPT(include_messages), 0, 0, true},
	{"skip-empty-xacts", DBUFS_OPT_BOOL, OPT(skip_empty_xacts), 0, 0, true},
	{"stream-changes", DBUFS_OPT_BOOL, OPT(stream_changes), 0, 0, true},
};

#define NUM_OPTIONS lengthof(option_defs)

/* Smallest batch worth having: a batch must hold at least one small row. */
#define DBUFS_MIN_BATCH_SIZE	256

static const DbufsOptionDef *
find_option(const char *name)
{
	for (int i = 0; i < NUM_OPTIONS; i++)
	{
		if (strcmp(option_defs[i].name, name) == 0)
			return &option_defs[i];
	}
	return NULL;
}

/* The list of valid option names, for the hint of an unknown option. */
static char *
valid_option_names(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < NUM_OPTIONS; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", option_defs[i].name);
	return buf.data;
}

static void
parse_bool_option(const DbufsOptionDef *def, const char *value, bool *target)
{
	if (value == NULL)
		*target = def->null_means;
	else if (!parse_bool(value, target))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
						value, def->name),
				 errhint("Use a Boolean value such as true, false, on, off, 1 or 0.")));
}

static void
parse_int_option(const DbufsOptionDef *def, const char *value, int *target)
{
	char	   *end;
	long		v;

	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("decoderbufs option \"%s\" requires a value", def->name)));
	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' ||
		v < def->min_value || v > def->max_value)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
						value, def->name),
				 errdetail("An integer between %d and %d is expected.",
						   def->min_value, def->max_value)));
	*target = (int) v;
}

/* The kind of DbufsTableSetting a per-table option makes. */
static DbufsTableSettingKind
setting_kind(DbufsOptionKind kind)
{
	switch (kind)
	{
		case DBUFS_OPT_ROW_FILTER:
			return DBUFS_SETTING_ROW_FILTER;
		case DBUFS_OPT_COLUMNS:
			return DBUFS_SETTING_COLUMNS;
		default:
			Assert(kind == DBUFS_OPT_OPERATIONS);
			return DBUFS_SETTING_OPERATIONS;
	}
}

/* Defaults that do not depend on other options. */
static void
set_defaults(DbufsOptions *opts)
{
	memset(opts, 0, sizeof(DbufsOptions));
	opts->proto_version = DBUFS_PROTO_VERSION;
	opts->include_type_info = true;
}

/*
 * Compact mode is for our own consumer: it needs LSNs, origins and exact
 * values, and wants TRUNCATE, messages and no empty transactions unless the
 * caller said otherwise.
 */
static void
apply_compact_defaults(DbufsOptions *opts, const bool *given)
{
	const DbufsOptionDef *def;

	opts->include_lsn = true;
	opts->include_xid64 = true;
	opts->include_origin = true;
	opts->exact_values = true;
	opts->include_type_info = false;

	def = find_option("include-truncate");
	if (!given[def - option_defs])
		opts->include_truncate = true;
	def = find_option("binary-values");
	if (!given[def - option_defs])
		opts->binary_values = true;
	def = find_option("include-messages");
	if (!given[def - option_defs])
		opts->include_messages = true;
	def = find_option("skip-empty-xacts");
	if (!given[def - option_defs])
		opts->skip_empty_xacts = true;
}

static void
check_combinations(const DbufsOptions *opts)
{
	if (opts->proto_version > DBUFS_PROTO_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("decoderbufs proto-version %d is not supported",
						opts->proto_version),
				 errdetail("This plugin speaks proto-version %d.",
						   DBUFS_PROTO_VERSION)));
	if (opts->batch_size > 0 && opts->batch_size < DBUFS_MIN_BATCH_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%d\" for decoderbufs option \"batch-size\"",
						opts->batch_size),
				 errdetail("A batch size is either 0 (no batching) or at least %d bytes.",
						   DBUFS_MIN_BATCH_SIZE)));
	if (opts->stream_changes && !opts->compact)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("decoderbufs option \"stream-changes\" requires option \"compact\""),
				 errdetail("Streamed transactions are sent in blocks interleaved with other transactions, which only a consumer of compact mode (such as decoderbufs_apply) keeps apart; Debezium's connector cannot read them."),
				 errhint("Turn \"compact\" on, or leave \"stream-changes\" off.")));
	if (opts->batch_size > 0 && opts->debug_mode)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("decoderbufs options \"batch-size\" and \"debug-mode\" cannot be used together"),
				 errdetail("Debug mode writes one line of text per message.")));
}

/*
 * Parse the list of DefElem options given to the plugin into *opts.
 */
void
dbufs_options_parse(DbufsOptions *opts, List *options)
{
	bool		given[NUM_OPTIONS] = {0};
	ListCell   *lc;

	set_defaults(opts);

	foreach(lc, options)
	{
		DefElem    *elem = lfirst(lc);
		const char *value;
		const DbufsOptionDef *def;
		char	   *target;

		Assert(elem->arg == NULL || IsA(elem->arg, String));
		value = elem->arg ? strVal(elem->arg) : NULL;

		def = find_option(elem->defname);
		if (def == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized decoderbufs option \"%s\"",
							elem->defname),
					 errhint("Valid options are: %s.", valid_option_names())));
		if (given[def - option_defs] && !def->repeatable)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("conflicting or redundant options"),
					 errdetail("Option \"%s\" is given more than once.",
							   def->name)));
		given[def - option_defs] = true;

		target = (char *) opts + def->offset;
		switch (def->kind)
		{
			case DBUFS_OPT_BOOL:
				parse_bool_option(def, value, (bool *) target);
				break;
			case DBUFS_OPT_INT:
				parse_int_option(def, value, (int *) target);
				break;
			case DBUFS_OPT_TABLES:
				*(List **) target = dbufs_table_patterns_parse(def->name, value);
				break;
			case DBUFS_OPT_ROW_FILTER:
			case DBUFS_OPT_COLUMNS:
			case DBUFS_OPT_OPERATIONS:
				*(List **) target =
					lappend(*(List **) target,
							dbufs_table_setting_parse(setting_kind(def->kind),
													  def->name, value));
				break;
		}
	}

	if (opts->compact)
		apply_compact_defaults(opts, given);
	check_combinations(opts);
}
