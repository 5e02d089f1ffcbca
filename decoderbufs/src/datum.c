/*-------------------------------------------------------------------------
 *
 * datum.c
 *		Encoding of one column value as a DatumMessage.
 *
 * The typed field used for each type is Debezium's choice (so its connector
 * reads our values unchanged): integers, floats, bool, money, date/time types
 * and point in typed fields; numeric, text-like types, json, xml, bit strings,
 * uuid and interval as their text in datum_string; bytea raw in datum_bytes;
 * everything else (arrays, enums, domains, composites, ranges, network and
 * geometric types, user types...) as its text in datum_bytes.
 *
 * Where Debezium's encoding cannot hold a value we fix it without breaking
 * its readers: date +-infinity (an integer overflow in Debezium) and finite
 * timestamps too large for microseconds since 1970 are sent as text in
 * datum_string.  timetz as a double loses its zone; with exact-values the
 * exact text goes along in datum_exact.  Text output depends on session
 * settings, which decoderbufs.c pins for the decoding session (DateStyle,
 * IntervalStyle, extra_float_digits), so every value round-trips exactly.
 *
 * NULL sets no datum; an unchanged TOAST value (not in the WAL) sets
 * datum_missing; an empty string is a set, empty datum_string.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/cash.h"
#include "utils/date.h"
#include "utils/geo_decls.h"
#include "utils/timestamp.h"

/*
 * The encoding of a type, by its exact OID: a domain or array over a typed
 * type is sent as text, as Debezium does.
 */
DbufsEncoding
dbufs_encoding_for_type(Oid typid)
{
	switch (typid)
	{
		case BOOLOID:
			return DBUFS_ENC_BOOL;
		case INT2OID:
			return DBUFS_ENC_INT2;
		case INT4OID:
			return DBUFS_ENC_INT4;
		case INT8OID:
			return DBUFS_ENC_INT8;
		case OIDOID:
			return DBUFS_ENC_OID;
		case FLOAT4OID:
			return DBUFS_ENC_FLOAT4;
		case FLOAT8OID:
			return DBUFS_ENC_FLOAT8;
		case CASHOID:
			return DBUFS_ENC_MONEY;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return DBUFS_ENC_TIMESTAMP;
		case DATEOID:
			return DBUFS_ENC_DATE;
		case TIMEOID:
			return DBUFS_ENC_TIME;
		case TIMETZOID:
			return DBUFS_ENC_TIMETZ;
		case BYTEAOID:
			return DBUFS_ENC_BYTEA;
		case POINTOID:
			return DBUFS_ENC_POINT;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return DBUFS_ENC_TEXT;
		case NUMERICOID:
		case CHAROID:
		case JSONOID:
		case JSONBOID:
		case XMLOID:
		case BITOID:
		case VARBITOID:
		case UUIDOID:
		case INTERVALOID:
			return DBUFS_ENC_STRING;
		default:
			return DBUFS_ENC_OTHER;
	}
}

static void
set_string(Decoderbufs__DatumMessage *msg, char *s)
{
	msg->datum_string = s;
	msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_STRING;
}

static void
set_int64(Decoderbufs__DatumMessage *msg, int64 v)
{
	msg->datum_int64 = v;
	msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_INT64;
}

/*
 * Timestamps go as microseconds since 1970 with +-infinity as the int64
 * extremes, Debezium's convention.  A finite value whose shifted form would
 * reach the extremes (years after 294246) goes as text.
 */
static void
encode_timestamp(Decoderbufs__DatumMessage *msg, DbufsColumn *col,
				 Datum value)
{
	Timestamp	ts = DatumGetTimestamp(value);

	if (TIMESTAMP_NOT_FINITE(ts))
		set_int64(msg, ts);
	else if (ts >= PG_INT64_MAX - DBUFS_UNIX_EPOCH_OFFSET_USECS)
		set_string(msg, OutputFunctionCall(&col->output_fn, value));
	else
		set_int64(msg, ts + DBUFS_UNIX_EPOCH_OFFSET_USECS);
}

/* Dates go as days since 1970; +-infinity as the text Debezium parses. */
static void
encode_date(Decoderbufs__DatumMessage *msg, Datum value)
{
	DateADT		d = DatumGetDateADT(value);

	if (DATE_IS_NOBEGIN(d))
		set_string(msg, pstrdup("-infinity"));
	else if (DATE_IS_NOEND(d))
		set_string(msg, pstrdup("infinity"));
	else
	{
		msg->datum_int32 = d + DBUFS_UNIX_EPOCH_OFFSET_DAYS;
		msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_INT32;
	}
}

static void
encode_bytea(Decoderbufs__DatumMessage *msg, Datum value)
{
	struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));

	msg->datum_bytes.data = (uint8_t *) VARDATA_ANY(v);
	msg->datum_bytes.len = VARSIZE_ANY_EXHDR(v);
	msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_BYTES;
}

static void
encode_point(Decoderbufs__DatumMessage *msg, Datum value)
{
	Point	   *p = DatumGetPointP(value);
	Decoderbufs__Point *dp = palloc(sizeof(Decoderbufs__Point));

	decoderbufs__point__init(dp);
	dp->x = p->x;
	dp->y = p->y;
	msg->datum_point = dp;
	msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_POINT;
}

static void
encode_other(Decoderbufs__DatumMessage *msg, DbufsColumn *col, Datum value)
{
	char	   *s = OutputFunctionCall(&col->output_fn, value);

	msg->datum_bytes.data = (uint8_t *) s;
	msg->datum_bytes.len = strlen(s);
	msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_BYTES;
}

/* Set the oneof datum of msg from a non-NULL, detoastable value. */
static void
encode_value(Decoderbufs__DatumMessage *msg, DbufsColumn *col, Datum value,
			 const DbufsOptions *opts)
{
	switch (col->encoding)
	{
		case DBUFS_ENC_BOOL:
			msg->datum_bool = DatumGetBool(value);
			msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_BOOL;
			break;
		case DBUFS_ENC_INT2:
			msg->datum_int32 = DatumGetInt16(value);
			msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_INT32;
			break;
		case DBUFS_ENC_INT4:
			msg->datum_int32 = DatumGetInt32(value);
			msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_INT32;
			break;
		case DBUFS_ENC_INT8:
			set_int64(msg, DatumGetInt64(value));
			break;
		case DBUFS_ENC_OID:
			set_int64(msg, (int64) DatumGetObjectId(value));
			break;
		case DBUFS_ENC_FLOAT4:
			msg->datum_float = DatumGetFloat4(value);
			msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_FLOAT;
			break;
		case DBUFS_ENC_FLOAT8:
			msg->datum_double = DatumGetFloat8(value);
			msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_DOUBLE;
			break;
		case DBUFS_ENC_MONEY:
			set_int64(msg, DatumGetCash(value));
			break;
		case DBUFS_ENC_TIMESTAMP:
			encode_timestamp(msg, col, value);
			break;
		case DBUFS_ENC_DATE:
			encode_date(msg, value);
			break;
		case DBUFS_ENC_TIME:
			set_int64(msg, DatumGetTimeADT(value));
			break;
		case DBUFS_ENC_TIMETZ:
			{
				TimeTzADT  *tz = DatumGetTimeTzADTP(value);

				/* Debezium's UTC-equivalent microseconds; loses the zone */
				msg->datum_double = (double) (tz->time + (tz->zone * 1000000.0));
				msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_DOUBLE;
				if (opts->exact_values)
					msg->datum_exact = OutputFunctionCall(&col->output_fn, value);
			}
			break;
		case DBUFS_ENC_BYTEA:
			encode_bytea(msg, value);
			break;
		case DBUFS_ENC_POINT:
			encode_point(msg, value);
			break;
		case DBUFS_ENC_TEXT:
			set_string(msg, TextDatumGetCString(value));
			break;
		case DBUFS_ENC_STRING:
			set_string(msg, OutputFunctionCall(&col->output_fn, value));
			break;
		case DBUFS_ENC_OTHER:
			encode_other(msg, col, value);
			break;
	}
}

/*
 * Fill msg with the value of column col.  The caller has initialised msg
 * and set its name and type fields as the output mode wants.
 */
void
dbufs_datum_encode(Decoderbufs__DatumMessage *msg, DbufsColumn *col,
				   Datum value, bool isnull, const DbufsOptions *opts)
{
	if (isnull)
		return;
	if (col->is_varlena && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value)))
	{
		/* unchanged TOAST value: the WAL does not have it */
		msg->datum_missing = true;
		msg->datum_case = DECODERBUFS__DATUM_MESSAGE__DATUM_DATUM_MISSING;
		return;
	}
	encode_value(msg, col, value, opts);
}
