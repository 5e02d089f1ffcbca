/*-------------------------------------------------------------------------
 *
 * decoderbufs.h
 *		Shared declarations of the decoderbufs logical decoding output plugin.
 *
 * The plugin is split by concept: decoderbufs.c holds the callbacks, which
 * stay thin and call into options.c (parsing the plugin options),
 * relcache.c (per-relation and per-type metadata, invalidated on catalog
 * change), datum.c (one column value to a DatumMessage), message.c
 * (building RowMessages), wire.c (their protobuf encoding), output.c
 * (framing: one message per write, batches, debug text), table_filter.c
 * (include/exclude lists), table_settings.c (the per-table options
 * row-filter, columns and operations), row_filter.c (row filter
 * expressions: checked, planned and evaluated), stream.c (transactions
 * streamed while in progress, option stream-changes) and pb_json.c
 * (rendering any message as JSON, for debug mode and SQL inspection).
 *
 * Copyright (c) 2026, decoderbufs authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef DECODERBUFS_H
#define DECODERBUFS_H

#include "postgres.h"

#include "access/htup.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "nodes/pg_list.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/reorderbuffer.h"
#include "utils/relcache.h"

#include "dbufs_table_pattern.h"
#include "decoderbufs.pb-c.h"

/* Version of the wire format this plugin speaks (option proto-version). */
#define DBUFS_PROTO_VERSION			1

/* PostgreSQL 17 replaced ReorderBufferTupleBuf by a plain HeapTuple. */
#if PG_VERSION_NUM >= 170000
#define DBUFS_CHANGE_TUPLE(t)	(t)
#else
#define DBUFS_CHANGE_TUPLE(t)	((t) ? &(t)->tuple : NULL)
#endif

/* Microseconds and days between the PostgreSQL epoch (2000) and 1970. */
#define DBUFS_UNIX_EPOCH_OFFSET_USECS	INT64CONST(946684800000000)
#define DBUFS_UNIX_EPOCH_OFFSET_DAYS	10957

/* Operations, as bits: which ones the operations option lets through. */
#define DBUFS_OP_INSERT		0x01
#define DBUFS_OP_UPDATE		0x02
#define DBUFS_OP_DELETE		0x04
#define DBUFS_OP_TRUNCATE	0x08
#define DBUFS_OP_ALL		0x0F

/* The per-table options, "<table pattern>: <setting>" (table_settings.c). */
typedef enum DbufsTableSettingKind
{
	DBUFS_SETTING_ROW_FILTER,
	DBUFS_SETTING_COLUMNS,
	DBUFS_SETTING_OPERATIONS
} DbufsTableSettingKind;

/* One occurrence of a per-table option, parsed. */
typedef struct DbufsTableSetting
{
	const char *option;			/* the option's name, for errors */
	char	   *value;			/* the whole value given, for errors */
	DbufsTablePattern *pattern; /* the tables it applies to */
	char	   *setting;		/* what follows the colon, trimmed */
	/* row-filter: the expression's raw parse tree, and the text parsed */
	Node	   *filter_raw;
	char	   *filter_source;
	/* columns: the column names (char *), case folded as identifiers */
	List	   *columns;
	/* operations: DBUFS_OP_* bits */
	int			operations;
} DbufsTableSetting;

/* Parsed plugin options; see options.c for names, defaults and meaning. */
typedef struct DbufsOptions
{
	int			proto_version;
	bool		debug_mode;
	bool		compact;
	int			batch_size;		/* bytes; 0 disables batching */
	bool		only_local;
	List	   *include_tables; /* of DbufsTablePattern */
	List	   *exclude_tables; /* of DbufsTablePattern */
	List	   *row_filters;	/* of DbufsTableSetting, in the order given */
	List	   *column_lists;	/* of DbufsTableSetting */
	List	   *operation_lists;	/* of DbufsTableSetting */
	bool		include_lsn;
	bool		include_xid64;
	bool		include_origin;
	bool		include_names;
	bool		include_key_flags;
	bool		include_type_info;
	bool		exact_values;
	bool		binary_values;
	bool		include_truncate;
	bool		include_messages;
	bool		skip_empty_xacts;
	bool		stream_changes; /* stream transactions in progress */
} DbufsOptions;

/*
 * How the plugin encodes values of one type.  The choice follows Debezium's
 * plugin so that its connector reads every value the way it expects.
 */
typedef enum DbufsEncoding
{
	DBUFS_ENC_BOOL,
	DBUFS_ENC_INT2,
	DBUFS_ENC_INT4,
	DBUFS_ENC_INT8,
	DBUFS_ENC_OID,
	DBUFS_ENC_FLOAT4,
	DBUFS_ENC_FLOAT8,
	DBUFS_ENC_MONEY,
	DBUFS_ENC_TIMESTAMP,		/* also timestamptz */
	DBUFS_ENC_DATE,
	DBUFS_ENC_TIME,
	DBUFS_ENC_TIMETZ,
	DBUFS_ENC_BYTEA,
	DBUFS_ENC_POINT,
	DBUFS_ENC_TEXT,				/* text, varchar, bpchar: no output call */
	DBUFS_ENC_UUID,				/* uuid_out()'s text, written in place */
	DBUFS_ENC_STRING,			/* output function text in datum_string */
	DBUFS_ENC_OTHER				/* output function text in datum_bytes */
} DbufsEncoding;

/* Cached facts about one column of a relation. */
typedef struct DbufsColumn
{
	AttrNumber	attnum;			/* 1-based attribute number in the tuple */
	char	   *name;			/* attname */
	char	   *quoted_name;	/* quote_identifier(attname) */
	Oid			typid;
	int32		typmod;
	bool		not_null;
	bool		is_key;			/* member of the replica identity key */
	bool		is_varlena;
	int16		typlen;			/* attlen and attbyval, to compare values */
	bool		typbyval;
	DbufsEncoding encoding;
	FmgrInfo	output_fn;		/* valid for encodings that call it */
	bool		binary_ok;		/* may go in datum_binary */
	FmgrInfo	send_fn;		/* valid if binary_ok */
	Decoderbufs__TypeInfo typeinfo; /* format_type text, prebuilt */
	char	   *name_type_wire; /* DatumMessage column_name and column_type
								 * fields, encoded (default mode) */
	int			name_type_wire_len;
} DbufsColumn;

/* A row filter prepared for one relation (row_filter.c). */
typedef struct DbufsRowFilter DbufsRowFilter;

/* Cached facts about one relation, built on first use, dropped on change. */
typedef struct DbufsRelation
{
	Oid			relid;			/* hash key */
	bool		valid;
	bool		filtered_out;	/* excluded by include/exclude-tables */
	bool		relation_sent;	/* compact mode: RELATION message sent */
	char		replident;
	int			operations;		/* DBUFS_OP_* bits sent (option operations) */
	DbufsRowFilter *row_filter; /* option row-filter; NULL if none */
	char	   *schema_name;
	char	   *table_name;
	char	   *qualified_name; /* quote_qualified_identifier */
	int			ncolumns;		/* the columns sent: all, or those of the
								 * option columns */
	DbufsColumn *columns;
	int			nkeys;
	int		   *key_columns;	/* indexes into columns[], in column order */
	StringInfoData typeinfo_wire;	/* RowMessage.new_typeinfo of all
									 * columns, encoded */
	MemoryContext cxt;			/* holds everything above */
} DbufsRelation;

/* Per-decoding-session state, ctx->output_plugin_private. */
typedef struct DbufsState
{
	DbufsOptions opts;
	MemoryContext change_cxt;	/* reset after every callback */
	MemoryContext cache_cxt;	/* relation cache lifetime */
	bool		txn_begun;		/* BEGIN written for the current txn, or
								 * STREAM_START for the current stream block */
	StringInfoData batch;		/* batched mode: pending RowBatch bytes */
	bool		in_stream;		/* between stream_start and stream_stop */
} DbufsState;

/*
 * The tuples of one change, already in wire format (see wire.c): the
 * RowMessage.new_tuple and old_tuple fields as message.c encodes them from
 * the column values, and the relation's cached new_typeinfo fields.
 */
typedef struct DbufsTuples
{
	StringInfoData new_tuple;
	StringInfoData old_tuple;
	const char *typeinfo;		/* NULL if not sent */
	int			typeinfo_len;

	/*
	 * The old tuple as encoded, so that the new tuple can reuse the encoding
	 * of values that did not change (message.c): its values by attnum - 1,
	 * and where each column's value bytes are in old_tuple (by index in
	 * DbufsRelation.columns, length -1 if the column was not sent).
	 */
	Datum	   *old_values;
	bool	   *old_nulls;
	int		   *old_value_off;
	int		   *old_value_len;
} DbufsTuples;

/* A tuple's values by attnum - 1, as heap_deform_tuple() leaves them. */
typedef struct DbufsRowValues
{
	Datum	   *values;			/* NULL: no tuple */
	bool	   *nulls;
} DbufsRowValues;

/* Protobuf wire types (wire.c). */
#define DBUFS_WIRE_VARINT	0
#define DBUFS_WIRE_FIXED64	1
#define DBUFS_WIRE_LEN		2
#define DBUFS_WIRE_FIXED32	5

/* options.c */
extern void dbufs_options_parse(DbufsOptions *opts, List *options);

/* table_filter.c */
extern bool dbufs_table_selected(const DbufsOptions *opts,
								 const char *schema, const char *table);

/* table_settings.c */
extern DbufsTableSetting *dbufs_table_setting_parse(DbufsTableSettingKind kind,
													const char *option,
													const char *value);
extern DbufsTableSetting *dbufs_table_setting_lookup(List *settings,
													 const char *schema,
													 const char *table);

/* row_filter.c */
extern void dbufs_row_filter_parse(DbufsTableSetting *setting);
extern DbufsRowFilter *dbufs_row_filter_build(const DbufsTableSetting *setting,
											  DbufsRelation *entry,
											  Relation rel,
											  Bitmapset *identity_attnums);
extern Decoderbufs__Op dbufs_row_filter_apply(DbufsRelation *rel,
											  TupleDesc desc,
											  Decoderbufs__Op op,
											  HeapTuple oldtuple,
											  HeapTuple newtuple,
											  DbufsRowValues *oldv,
											  DbufsRowValues *newv);

/* relcache.c */
extern void dbufs_relcache_init(DbufsState *state);
extern void dbufs_relcache_shutdown(void);
extern DbufsRelation *dbufs_relcache_get(DbufsState *state, Relation rel);
extern const char *dbufs_origin_name(RepOriginId origin_id);

/* wire.c; the smallest pieces are inline, they are in every value */
extern int	dbufs_wire_end_nested_long(StringInfo buf, int start);

/* Append the varint encoding of v. */
static inline void
dbufs_wire_varint(StringInfo buf, uint64 v)
{
	char	   *p;

	if (buf->len + 10 >= buf->maxlen)
		enlargeStringInfo(buf, 10);
	p = buf->data + buf->len;
	while (v >= 0x80)
	{
		*p++ = (char) ((v & 0x7F) | 0x80);
		v >>= 7;
	}
	*p++ = (char) v;
	buf->len = p - buf->data;
	*p = '\0';
}

static inline void
dbufs_wire_tag(StringInfo buf, int field, int wiretype)
{
	dbufs_wire_varint(buf, ((uint64) field << 3) | wiretype);
}

/*
 * Start a length-delimited field whose length is not known yet: write the
 * tag and reserve one byte for the length, enough for the common case
 * (under 128 bytes).  Returns where its contents start.
 */
static inline int
dbufs_wire_begin_nested(StringInfo buf, int field)
{
	dbufs_wire_tag(buf, field, DBUFS_WIRE_LEN);
	appendStringInfoCharMacro(buf, '\0');
	return buf->len;
}

/*
 * Write the length of the field begun at start.  Returns where its contents
 * start now: later than start if a longer length had to be made room for.
 */
static inline int
dbufs_wire_end_nested(StringInfo buf, int start)
{
	int			len = buf->len - start;

	if (len < 0x80)
	{
		buf->data[start - 1] = (char) len;
		return start;
	}
	return dbufs_wire_end_nested_long(buf, start);
}

extern void dbufs_wire_bytes(StringInfo buf, int field, const char *data,
							 size_t len);
extern void dbufs_wire_fixed64(StringInfo buf, int field, uint64 v);
extern void dbufs_wire_fixed32(StringInfo buf, int field, uint32 v);
extern void dbufs_wire_double(StringInfo buf, int field, double v);
extern void dbufs_wire_float(StringInfo buf, int field, float v);
extern void dbufs_wire_typeinfo(StringInfo buf, const char *modifier,
								bool value_optional);
extern void dbufs_wire_row_message(StringInfo buf,
								   const Decoderbufs__RowMessage *msg,
								   const DbufsTuples *tuples);

/* datum.c */
extern DbufsEncoding dbufs_encoding_for_type(Oid typid);
extern bool dbufs_binary_ok_for_type(Oid typid);
extern void dbufs_datum_encode(StringInfo buf, DbufsColumn *col, Datum value,
							   bool isnull, const DbufsOptions *opts);

/* message.c */
extern uint64 dbufs_message_full_xid(TransactionId xid);
extern void dbufs_message_init(Decoderbufs__RowMessage *msg,
							   ReorderBufferTXN *txn, Decoderbufs__Op op,
							   const DbufsOptions *opts);
extern void dbufs_message_set_relation(Decoderbufs__RowMessage *msg,
									   DbufsRelation *rel,
									   const DbufsOptions *opts);
extern void dbufs_message_encode_tuple(DbufsState *state, DbufsTuples *tuples,
									   DbufsRelation *rel, TupleDesc desc,
									   HeapTuple tuple, bool old,
									   bool key_only);
extern void dbufs_message_encode_values(DbufsState *state, DbufsTuples *tuples,
										DbufsRelation *rel,
										const DbufsRowValues *row, bool old,
										bool key_only);
extern void dbufs_message_build_relation(Decoderbufs__RowMessage *msg,
										 DbufsRelation *rel);

/* output.c */
extern void dbufs_output_message(LogicalDecodingContext *ctx,
								 Decoderbufs__RowMessage *msg,
								 const DbufsTuples *tuples,
								 bool last_write);
extern void dbufs_output_flush(LogicalDecodingContext *ctx, bool last_write);

/* stream.c */
extern void dbufs_stream_register(OutputPluginCallbacks *cb);
extern void dbufs_stream_write_start(LogicalDecodingContext *ctx,
									 ReorderBufferTXN *txn);

/* pb_json.c */
extern void dbufs_json_append_message(StringInfo out,
									  const ProtobufCMessage *msg);

#endif							/* DECODERBUFS_H */
