/*-------------------------------------------------------------------------
 *
 * decode.c
 *		Turning the DatumMessages of a row into local Datums.
 *
 * Values arrive as the plugin encodes them (see decoderbufs/src/datum.c):
 * typed fields for integers, floats, bool, money, date/time types and
 * point; the binary send format for numeric, uuid, interval and other
 * built-in types without OIDs inside; text for everything else; raw bytes
 * for bytea.  When the local
 * column has the source's type, typed values become Datums directly, with
 * no text round trip; text values go through the local type's input
 * function (which also covers enums, domains, composites and arrays, whose
 * OIDs differ between servers).  When the types differ, the value is
 * converted through text: the source type's output, the local type's input.
 * A value the local type does not accept is an error naming the column
 * (through the worker's error context).
 *
 * Nothing from the source is trusted: text must be valid in the database's
 * encoding (the source's bytes bypass the client encoding checks), binary
 * values are taken only for the types the plugin sends so and must be read
 * to their last byte, and typed values must be in their type's range.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/cash.h"
#include "utils/date.h"
#include "utils/geo_decls.h"
#include "utils/timestamp.h"

#include "dbufs_binary_types.h"

static void
bad_encoding(ApplyRemoteColumn *rc, const char *field)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("unexpected %s value for column \"%s\" of type %s",
					field, rc->name, rc->type_name),
			 errdetail("The source's plugin does not encode this type that way.")));
}

/* Text from the source must be valid in the database's encoding, no NUL. */
static void
check_text(const char *s, int len)
{
	(void) pg_verify_mbstr(GetDatabaseEncoding(), s, len, false);
}

static Datum
timestamp_from_unix_usecs(int64 v)
{
	Timestamp	ts;

	if (v == PG_INT64_MAX)
		TIMESTAMP_NOEND(ts);
	else if (v == PG_INT64_MIN)
		TIMESTAMP_NOBEGIN(ts);
	else
	{
		ts = v - APPLY_UNIX_EPOCH_OFFSET_USECS;
		if (!IS_VALID_TIMESTAMP(ts))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range: " INT64_FORMAT " microseconds since 1970", v)));
	}
	return TimestampGetDatum(ts);
}

/* A typed (non-text) value as a Datum of the remote column's type. */
static Datum
typed_value(Decoderbufs__DatumMessage *d, ApplyRemoteColumn *rc)
{
	switch (d->datum_case)
	{
		case DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_INT32:
			if (rc->typid == INT4OID)
				return Int32GetDatum(d->datum_int32);
			if (rc->typid == INT2OID)
			{
				if (d->datum_int32 < PG_INT16_MIN || d->datum_int32 > PG_INT16_MAX)
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("smallint out of range: %d", d->datum_int32)));
				return Int16GetDatum((int16) d->datum_int32);
			}
			if (rc->typid == DATEOID)
			{
				DateADT		date = d->datum_int32 - APPLY_UNIX_EPOCH_OFFSET_DAYS;

				if (!IS_VALID_DATE(date))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("date out of range: %d days since 1970", d->datum_int32)));
				return DateADTGetDatum(date);
			}
			bad_encoding(rc, "int32");
			break;
		case DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_INT64:
			switch (rc->typid)
			{
				case INT8OID:
				case CASHOID:
					return Int64GetDatum(d->datum_int64);
				case OIDOID:
					if (d->datum_int64 < 0 || d->datum_int64 > PG_UINT32_MAX)
						ereport(ERROR,
								(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
								 errmsg("OID out of range: " INT64_FORMAT, d->datum_int64)));
					return ObjectIdGetDatum((Oid) d->datum_int64);
				case TIMEOID:
					if (d->datum_int64 < 0 || d->datum_int64 > USECS_PER_DAY)
						ereport(ERROR,
								(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
								 errmsg("time out of range: " INT64_FORMAT " microseconds", d->datum_int64)));
					return TimeADTGetDatum(d->datum_int64);
				case TIMESTAMPOID:
				case TIMESTAMPTZOID:
					return timestamp_from_unix_usecs(d->datum_int64);
			}
			bad_encoding(rc, "int64");
			break;
		case DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_FLOAT:
			if (rc->typid == FLOAT4OID)
				return Float4GetDatum(d->datum_float);
			bad_encoding(rc, "float");
			break;
		case DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_DOUBLE:
			if (rc->typid == FLOAT8OID)
				return Float8GetDatum(d->datum_double);
			/* timetz comes with its exact text; the double alone is lossy */
			bad_encoding(rc, "double");
			break;
		case DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_BOOL:
			if (rc->typid == BOOLOID)
				return BoolGetDatum(d->datum_bool);
			bad_encoding(rc, "bool");
			break;
		case DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_POINT:
			if (rc->typid == POINTOID && d->datum_point != NULL)
			{
				Point	   *p = palloc(sizeof(Point));

				p->x = d->datum_point->x;
				p->y = d->datum_point->y;
				return PointPGetDatum(p);
			}
			bad_encoding(rc, "point");
			break;
		default:
			break;
	}
	bad_encoding(rc, "unknown");
	return (Datum) 0;
}

static Datum
from_text(ApplyColumnMap *cm, char *text)
{
	return InputFunctionCall(&cm->input_fn, text, cm->input_ioparam,
							 cm->local_typmod);
}

static bool
is_text_type(Oid typid)
{
	return typid == TEXTOID || typid == VARCHAROID || typid == BPCHAROID;
}

/* Convert one value to the local column's type. */
static Datum
decode_value(Decoderbufs__DatumMessage *d, ApplyRemoteColumn *rc,
			 ApplyColumnMap *cm)
{
	Datum		v;

	if (d->datum_exact != NULL)
	{
		check_text(d->datum_exact, strlen(d->datum_exact));
		return from_text(cm, d->datum_exact);
	}

	switch (d->datum_case)
	{
		case DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_STRING:
			check_text(d->datum_string, strlen(d->datum_string));
			if (cm->same_type && is_text_type(rc->typid))
				return CStringGetTextDatum(d->datum_string);
			return from_text(cm, d->datum_string);

		case DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_BYTES:
			if (rc->typid == BYTEAOID)
			{
				bytea	   *b = palloc(VARHDRSZ + d->datum_bytes.len);

				SET_VARSIZE(b, VARHDRSZ + d->datum_bytes.len);
				/* an empty value has no data pointer (memcpy wants one) */
				if (d->datum_bytes.len > 0)
					memcpy(VARDATA(b), d->datum_bytes.data, d->datum_bytes.len);
				v = PointerGetDatum(b);
				if (cm->local_typid == BYTEAOID)
					return v;
				return from_text(cm, OutputFunctionCall(&cm->remote_output_fn, v));
			}
			/* the text output of any other type */
			check_text((char *) d->datum_bytes.data, (int) d->datum_bytes.len);
			return from_text(cm, pnstrdup((char *) d->datum_bytes.data,
										  d->datum_bytes.len));

		case DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_BINARY:
			{
				StringInfoData buf;

				/*
				 * A built-in type's binary format, read in place by its
				 * receive function (those of the types sent this way read
				 * fixed-size fields, no terminated strings), to its end.
				 */
				if (!dbufs_binary_type(rc->typid) || !cm->has_remote_output ||
					!OidIsValid(cm->remote_recv_fn.fn_oid))
					bad_encoding(rc, "binary");
				buf.data = (char *) d->datum_binary.data;
				buf.len = buf.maxlen = (int) d->datum_binary.len;
				buf.cursor = 0;

				/*
				 * With the local column's typmod, which is valid (the
				 * source's is not to be trusted, and a receive function
				 * may not expect a bad one); a value of another type gets
				 * it from the local input function.
				 */
				v = ReceiveFunctionCall(&cm->remote_recv_fn, &buf,
										cm->remote_recv_ioparam,
										cm->same_type ? cm->local_typmod : -1);
				if (buf.cursor != buf.len)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
							 errmsg("incorrect binary data format in the value of column \"%s\" of type %s",
									rc->name, rc->type_name),
							 errdetail("%d bytes of %d were read.", buf.cursor, buf.len)));
			}
			if (cm->same_type)
				return v;
			return from_text(cm, OutputFunctionCall(&cm->remote_output_fn, v));

		default:
			v = typed_value(d, rc);
			if (cm->same_type)
				return v;
			if (!cm->has_remote_output)
				bad_encoding(rc, "typed");
			return from_text(cm, OutputFunctionCall(&cm->remote_output_fn, v));
	}
}

/*
 * Decode the datums of a row into the local relation's layout.  With
 * key_only, datums are the remote key columns in key order (an old key of
 * DEFAULT or INDEX identity); else all remote columns in order.
 */
void
apply_decode_tuple(ApplyRelation *rel, TupleDesc localdesc,
				   Decoderbufs__DatumMessage **datums, int ndatums,
				   bool key_only, ApplyTupleData *out)
{
	int			expected = key_only ? rel->nkeys : rel->ncolumns;

	if (ndatums != expected)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the source sent %d values for relation \"%s.%s\", which has %d %s",
						ndatums, rel->schema_name, rel->table_name, expected,
						key_only ? "key columns" : "columns")));

	out->natts = localdesc->natts;
	out->values = palloc0(sizeof(Datum) * out->natts);
	out->nulls = palloc(sizeof(bool) * out->natts);
	out->present = palloc0(sizeof(bool) * out->natts);
	out->unchanged = palloc0(sizeof(bool) * out->natts);
	memset(out->nulls, true, sizeof(bool) * out->natts);

	for (int i = 0; i < ndatums; i++)
	{
		int			col = key_only ? rel->key_columns[i] : i;
		ApplyRemoteColumn *rc = &rel->columns[col];
		ApplyColumnMap *cm = &rel->colmap[col];
		Decoderbufs__DatumMessage *d = datums[i];
		int			a = cm->local_attnum - 1;

		if (cm->local_attnum == 0)
			continue;			/* generated locally */
		if (MyApplyContext)
			MyApplyContext->current_column = rc->name;
		out->present[a] = true;
		if (d->datum_case == DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_MISSING)
		{
			out->unchanged[a] = true;
			continue;
		}
		if (d->datum_case == DECODERBUFS__DATUM_MESSAGE__DATUM__NOT_SET &&
			d->datum_exact == NULL)
			continue;			/* NULL */
		out->values[a] = decode_value(d, rc, cm);
		out->nulls[a] = false;
	}
	if (MyApplyContext)
		MyApplyContext->current_column = NULL;
}
