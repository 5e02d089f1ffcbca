/*-------------------------------------------------------------------------
 *
 * dbufs_table_pattern.c
 *		Table-name patterns, shared by the plugin (include-tables,
 *		exclude-tables) and the apply extension (which tables a subscription
 *		selects on the source, for the initial copy).
 *
 * A list is comma-separated; each entry is [schema.]table with SQL
 * identifier rules: unquoted parts are folded to lower case and may use the
 * wildcards * (any run of characters) and ? (one character); double-quoted
 * parts keep their case and match literally.  An entry without a schema
 * matches the table in every schema.
 *
 * The plugin's per-table options (row-filter, columns, operations) begin
 * their value with one such pattern followed by a colon, which
 * dbufs_table_pattern_parse_one() reads.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "parser/scansup.h"

#include "dbufs_table_pattern.h"

/*
 * Read one identifier starting at *p into a glob pattern: quoted text is
 * escaped so that it matches literally.  An unquoted identifier also ends
 * at a colon when stop_at_colon is set.  Returns NULL at a syntax error
 * (including a zero-length quoted name).
 */
static char *
read_identifier(const char **p, bool stop_at_colon)
{
	StringInfoData buf;
	const char *s = *p;

	initStringInfo(&buf);
	if (*s == '"')
	{
		s++;
		for (;;)
		{
			if (*s == '\0')
				return NULL;	/* unterminated quote */
			if (*s == '"')
			{
				if (s[1] != '"')
					break;
				s++;
			}
			if (*s == '*' || *s == '?' || *s == '\\')
				appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, *s);
			s++;
		}
		s++;					/* closing quote */
		if (buf.len == 0)
			return NULL;		/* "" names nothing, as in SQL */
	}
	else
	{
		const char *start = s;
		char	   *folded;

		while (*s != '\0' && *s != '.' && *s != ',' && !scanner_isspace(*s) &&
			   *s != '"' && !(stop_at_colon && *s == ':'))
			s++;
		if (s == start)
			return NULL;
		folded = downcase_identifier(start, s - start, false, false);
		appendStringInfoString(&buf, folded);
	}
	*p = s;
	return buf.data;
}

static void
skip_spaces(const char **p)
{
	while (scanner_isspace(**p))
		(*p)++;
}

/*
 * Parse the value of a table-list option.  "option" names it in errors.
 */
List *
dbufs_table_patterns_parse(const char *option, const char *value)
{
	List	   *result = NIL;
	const char *p = value;

	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("decoderbufs option \"%s\" requires a value", option)));

	for (;;)
	{
		DbufsTablePattern *pat = palloc0(sizeof(DbufsTablePattern));
		char	   *first;

		skip_spaces(&p);
		first = read_identifier(&p, false);
		if (first == NULL)
			goto syntax_error;
		if (*p == '.')
		{
			p++;
			pat->schema = first;
			pat->table = read_identifier(&p, false);
			if (pat->table == NULL)
				goto syntax_error;
		}
		else
			pat->table = first;
		result = lappend(result, pat);

		skip_spaces(&p);
		if (*p == '\0')
			break;
		if (*p != ',')
			goto syntax_error;
		p++;
	}
	return result;

syntax_error:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
					value, option),
			 errdetail("Syntax error at or near position %d.",
					   (int) (p - value) + 1),
			 errhint("Give a comma-separated list of [schema.]table names; unquoted names may use the wildcards * and ?.")));
	return NIL;					/* keep compiler quiet */
}

/*
 * Read the one table pattern that begins the value of a per-table option
 * ("<pattern>: <setting>"), up to the colon that ends it; a colon inside a
 * quoted name is part of the name.  Returns the pattern and sets *rest to
 * what follows the colon.  "option" names the option in errors.
 */
DbufsTablePattern *
dbufs_table_pattern_parse_one(const char *option, const char *value,
							  const char **rest)
{
	DbufsTablePattern *pat = palloc0(sizeof(DbufsTablePattern));
	const char *p = value;
	char	   *first;

	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("decoderbufs option \"%s\" requires a value", option)));

	skip_spaces(&p);
	first = read_identifier(&p, true);
	if (first == NULL)
		goto syntax_error;
	if (*p == '.')
	{
		p++;
		pat->schema = first;
		pat->table = read_identifier(&p, true);
		if (pat->table == NULL)
			goto syntax_error;
	}
	else
		pat->table = first;
	skip_spaces(&p);
	if (*p != ':')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
						value, option),
				 errdetail("A colon was expected after the table pattern, at position %d.",
						   (int) (p - value) + 1),
				 errhint("Write the value as \"<table pattern>: <setting>\", where the pattern is one [schema.]table name.")));
	*rest = p + 1;
	return pat;

syntax_error:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value \"%s\" for decoderbufs option \"%s\"",
					value, option),
			 errdetail("Syntax error in the table pattern at or near position %d.",
					   (int) (p - value) + 1),
			 errhint("Write the value as \"<table pattern>: <setting>\", where the pattern is one [schema.]table name; unquoted names may use the wildcards * and ?.")));
	return NULL;				/* keep compiler quiet */
}

/* Glob match with *, ? and backslash escapes. */
static bool
glob_match(const char *pat, const char *str)
{
	while (*pat)
	{
		if (*pat == '*')
		{
			while (*pat == '*')
				pat++;
			if (*pat == '\0')
				return true;
			for (; *str; str++)
				if (glob_match(pat, str))
					return true;
			return false;
		}
		if (*str == '\0')
			return false;
		if (*pat == '?')
		{
			pat++;
			str++;
			continue;
		}
		if (*pat == '\\' && pat[1] != '\0')
			pat++;
		if (*pat != *str)
			return false;
		pat++;
		str++;
	}
	return *str == '\0';
}

/* Does one pattern match schema.table? */
bool
dbufs_table_pattern_match(const DbufsTablePattern *pat, const char *schema,
						  const char *table)
{
	return (pat->schema == NULL || glob_match(pat->schema, schema)) &&
		glob_match(pat->table, table);
}

/* Does any pattern of the list match schema.table? */
bool
dbufs_table_patterns_match(List *patterns, const char *schema, const char *table)
{
	ListCell   *lc;

	foreach(lc, patterns)
	{
		if (dbufs_table_pattern_match(lfirst(lc), schema, table))
			return true;
	}
	return false;
}
