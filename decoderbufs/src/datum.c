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
 * With binary-values (our consumer, compact mode) some built-in types go
 * instead as their binary send format in datum_binary: exact, and cheaper
 * to produce and to read than text.
 *
 * NULL sets no datum; an unchanged TOAST value (not in the WAL) sets
 * datum_missing; an empty string is a set, empty datum_string.
 *
 * Values are written straight into the message being built, in protobuf
 * wire format (wire.c), without building DatumMessage structs or copying
 * text values out of their varlena first.
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
#include "utils/uuid.h"

#include "dbufs_binary_types.h"

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
		case UUIDOID:
			return DBUFS_ENC_UUID;
		case NUMERICOID:
		case CHAROID:
		case JSONOID:
		case JSONBOID:
		case XMLOID:
		case BITOID:
		case VARBITOID:
		case INTERVALOID:
			return DBUFS_ENC_STRING;
		default:
			return DBUFS_ENC_OTHER;
	}
}

/*
 * May values of this type go in datum_binary, as their binary send format?
 * The list is shared with the apply side (common/dbufs_binary_types.h).
 */
bool
dbufs_binary_ok_for_type(Oid typid)
{
	return dbufs_binary_type(typid);
}

/* Field numbers of DatumMessage's oneof datum and our extra fields. */
#define DATUM_INT32		3
#define DATUM_INT64		4
#define DATUM_FLOAT		5
#define DATUM_DOUBLE	6
#define DATUM_BOOL		7
#define DATUM_STRING	8
#define DATUM_BYTES		9
#define DATUM_POINT		10
#define DATUM_MISSING	11
#define DATUM_EXACT		20
#define DATUM_BINARY	22

static inline void
put_int64(StringInfo buf, int field, int64 v)
{
	dbufs_wire_tag(buf, field, DBUFS_WIRE_VARINT);
	dbufs_wire_varint(buf, (uint64) v);
}

/* int32 is sign-extended to 64 bits on the wire, as protobuf-c does */
static inline void
put_int32(StringInfo buf, int32 v)
{
	put_int64(buf, DATUM_INT32, (int64) v);
}

static inline void
put_cstring(StringInfo buf, int field, const char *s)
{
	dbufs_wire_bytes(buf, field, s, strlen(s));
}

/*
 * Timestamps go as microseconds since 1970 with +-infinity as the int64
 * extremes, Debezium's convention.  A finite value whose shifted form would
 * reach the extremes (years after 294246) goes as text.
 */
static void
encode_timestamp(StringInfo buf, DbufsColumn *col, Datum value)
{
	Timestamp	ts = DatumGetTimestamp(value);

	if (TIMESTAMP_NOT_FINITE(ts))
		put_int64(buf, DATUM_INT64, ts);
	else if (ts >= PG_INT64_MAX - DBUFS_UNIX_EPOCH_OFFSET_USECS)
		put_cstring(buf, DATUM_STRING, OutputFunctionCall(&col->output_fn, value));
	else
		put_int64(buf, DATUM_INT64, ts + DBUFS_UNIX_EPOCH_OFFSET_USECS);
}

/* Dates go as days since 1970; +-infinity as the text Debezium parses. */
static void
encode_date(StringInfo buf, Datum value)
{
	DateADT		d = DatumGetDateADT(value);

	if (DATE_IS_NOBEGIN(d))
		put_cstring(buf, DATUM_STRING, "-infinity");
	else if (DATE_IS_NOEND(d))
		put_cstring(buf, DATUM_STRING, "infinity");
	else
		put_int32(buf, d + DBUFS_UNIX_EPOCH_OFFSET_DAYS);
}

/* A varlena's bytes as they are, without copying them out first. */
static void
encode_varlena(StringInfo buf, int field, Datum value)
{
	struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));

	dbufs_wire_bytes(buf, field, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
}

static void
encode_point(StringInfo buf, Datum value)
{
	Point	   *p = DatumGetPointP(value);

	/* Point is two required doubles: 2 x (1 tag byte + 8 bytes) */
	dbufs_wire_tag(buf, DATUM_POINT, DBUFS_WIRE_LEN);
	dbufs_wire_varint(buf, 18);
	dbufs_wire_double(buf, 1, p->x);
	dbufs_wire_double(buf, 2, p->y);
}

/*
 * uuid's text, written in place: the same characters as uuid_out(), which
 * builds them one appendStringInfoChar() at a time into a copy.
 */
static void
encode_uuid(StringInfo buf, Datum value)
{
	static const char hex[] = "0123456789abcdef";
	pg_uuid_t  *uuid = DatumGetUUIDP(value);
	char	   *p;

	dbufs_wire_tag(buf, DATUM_STRING, DBUFS_WIRE_LEN);
	dbufs_wire_varint(buf, 2 * UUID_LEN + 4);
	enlargeStringInfo(buf, 2 * UUID_LEN + 4);
	p = buf->data + buf->len;
	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid->data[i] >> 4];
		*p++ = hex[uuid->data[i] & 0x0F];
	}
	buf->len = p - buf->data;
	*p = '\0';
}

/* Append the oneof datum (and datum_exact) of a non-NULL, present value. */
static void
encode_value(StringInfo buf, DbufsColumn *col, Datum value,
			 const DbufsOptions *opts)
{
	switch (col->encoding)
	{
		case DBUFS_ENC_BOOL:
			dbufs_wire_tag(buf, DATUM_BOOL, DBUFS_WIRE_VARINT);
			appendStringInfoCharMacro(buf, DatumGetBool(value) ? 1 : 0);
			break;
		case DBUFS_ENC_INT2:
			put_int32(buf, DatumGetInt16(value));
			break;
		case DBUFS_ENC_INT4:
			put_int32(buf, DatumGetInt32(value));
			break;
		case DBUFS_ENC_INT8:
			put_int64(buf, DATUM_INT64, DatumGetInt64(value));
			break;
		case DBUFS_ENC_OID:
			put_int64(buf, DATUM_INT64, (int64) DatumGetObjectId(value));
			break;
		case DBUFS_ENC_FLOAT4:
			dbufs_wire_float(buf, DATUM_FLOAT, DatumGetFloat4(value));
			break;
		case DBUFS_ENC_FLOAT8:
			dbufs_wire_double(buf, DATUM_DOUBLE, DatumGetFloat8(value));
			break;
		case DBUFS_ENC_MONEY:
			put_int64(buf, DATUM_INT64, DatumGetCash(value));
			break;
		case DBUFS_ENC_TIMESTAMP:
			encode_timestamp(buf, col, value);
			break;
		case DBUFS_ENC_DATE:
			encode_date(buf, value);
			break;
		case DBUFS_ENC_TIME:
			put_int64(buf, DATUM_INT64, DatumGetTimeADT(value));
			break;
		case DBUFS_ENC_TIMETZ:
			{
				TimeTzADT  *tz = DatumGetTimeTzADTP(value);

				/* Debezium's UTC-equivalent microseconds; loses the zone */
				dbufs_wire_double(buf, DATUM_DOUBLE,
								  (double) (tz->time + (tz->zone * 1000000.0)));
				if (opts->exact_values)
					put_cstring(buf, DATUM_EXACT,
								OutputFunctionCall(&col->output_fn, value));
			}
			break;
		case DBUFS_ENC_BYTEA:
			encode_varlena(buf, DATUM_BYTES, value);
			break;
		case DBUFS_ENC_POINT:
			encode_point(buf, value);
			break;
		case DBUFS_ENC_TEXT:
			/* the text itself: it has no NUL, so strlen() would agree */
			encode_varlena(buf, DATUM_STRING, value);
			break;
		case DBUFS_ENC_UUID:
			encode_uuid(buf, value);
			break;
		case DBUFS_ENC_STRING:
			put_cstring(buf, DATUM_STRING,
						OutputFunctionCall(&col->output_fn, value));
			break;
		case DBUFS_ENC_OTHER:
			put_cstring(buf, DATUM_BYTES,
						OutputFunctionCall(&col->output_fn, value));
			break;
	}
}

/*
 * Append the value fields of a DatumMessage for column col: nothing for
 * NULL, datum_missing for an unchanged TOAST value, else the oneof datum
 * (and datum_exact where it applies).  The caller writes the name and type
 * fields before and the key flag after, as the output mode wants.
 */
void
dbufs_datum_encode(StringInfo buf, DbufsColumn *col, Datum value,
				   bool isnull, const DbufsOptions *opts)
{
	if (isnull)
		return;
	if (col->is_varlena && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value)))
	{
		/* unchanged TOAST value: the WAL does not have it */
		dbufs_wire_tag(buf, DATUM_MISSING, DBUFS_WIRE_VARINT);
		appendStringInfoCharMacro(buf, 1);
		return;
	}
	if (opts->binary_values && col->binary_ok)
	{
		bytea	   *b = SendFunctionCall(&col->send_fn, value);

		dbufs_wire_bytes(buf, DATUM_BINARY, VARDATA(b), VARSIZE(b) - VARHDRSZ);
		return;
	}
	encode_value(buf, col, value, opts);
}
