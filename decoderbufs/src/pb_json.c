/*-------------------------------------------------------------------------
 *
 * pb_json.c
 *		Rendering any protobuf-c message as JSON, driven by its descriptor.
 *
 * Used by debug-mode (one JSON line per message) and by the SQL function
 * decoderbufs_to_json().  Because it walks the generated descriptors, new
 * fields of the .proto show up without changes here.
 *
 * Field names are the .proto names; only fields present on the wire are
 * shown, so NULL (no datum), empty (a set, empty datum) and unchanged TOAST
 * (datum_missing) look different.  64-bit integers are JSON numbers (jsonb
 * keeps them exactly); NaN and infinities, which JSON lacks, are strings;
 * enum values are their names; bytes are text when they are valid in the
 * server encoding and hold no control characters, else "\x<hex>", and always
 * hex for a bytea column.
 *
 *-------------------------------------------------------------------------
 */
#include "decoderbufs.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/json.h"

static void append_message(StringInfo out, const ProtobufCMessage *msg);

static void
append_double(StringInfo out, double v, int digits)
{
	if (isnan(v))
		appendStringInfoString(out, "\"NaN\"");
	else if (isinf(v))
		appendStringInfoString(out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else
		appendStringInfo(out, "%.*g", digits, v);
}

static bool
bytes_are_text(const ProtobufCBinaryData *b)
{
	for (size_t i = 0; i < b->len; i++)
	{
		unsigned char c = b->data[i];

		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return false;
	}
	return pg_verifymbstr((const char *) b->data, (int) b->len, true);
}

static void
append_bytes(StringInfo out, const ProtobufCBinaryData *b, bool force_hex)
{
	static const char hex[] = "0123456789abcdef";

	if (!force_hex && bytes_are_text(b))
	{
		escape_json(out, pnstrdup((const char *) b->data, b->len));
		return;
	}
	appendStringInfoString(out, "\"\\\\x");
	for (size_t i = 0; i < b->len; i++)
	{
		appendStringInfoChar(out, hex[b->data[i] >> 4]);
		appendStringInfoChar(out, hex[b->data[i] & 0xF]);
	}
	appendStringInfoChar(out, '"');
}

/* A DatumMessage whose column is bytea: show its bytes as hex. */
static bool
is_bytea_datum(const ProtobufCMessage *msg)
{
	const Decoderbufs__DatumMessage *d;

	if (msg->descriptor != &decoderbufs__datum_message__descriptor)
		return false;
	d = (const Decoderbufs__DatumMessage *) msg;
	return d->has_column_type && d->column_type == BYTEAOID;
}

/* Append one value of a field; p points at its storage. */
static void
append_value(StringInfo out, const ProtobufCFieldDescriptor *f,
			 const void *p, const ProtobufCMessage *parent)
{
	switch (f->type)
	{
		case PROTOBUF_C_TYPE_INT32:
		case PROTOBUF_C_TYPE_SINT32:
		case PROTOBUF_C_TYPE_SFIXED32:
			appendStringInfo(out, "%d", *(const int32_t *) p);
			break;
		case PROTOBUF_C_TYPE_UINT32:
		case PROTOBUF_C_TYPE_FIXED32:
			appendStringInfo(out, "%u", *(const uint32_t *) p);
			break;
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
			appendStringInfo(out, INT64_FORMAT, (int64) *(const int64_t *) p);
			break;
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
			appendStringInfo(out, UINT64_FORMAT, (uint64) *(const uint64_t *) p);
			break;
		case PROTOBUF_C_TYPE_FLOAT:
			append_double(out, *(const float *) p, 9);
			break;
		case PROTOBUF_C_TYPE_DOUBLE:
			append_double(out, *(const double *) p, 17);
			break;
		case PROTOBUF_C_TYPE_BOOL:
			appendStringInfoString(out, *(const protobuf_c_boolean *) p ? "true" : "false");
			break;
		case PROTOBUF_C_TYPE_ENUM:
			{
				const ProtobufCEnumValue *ev =
					protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *) p);

				if (ev)
					escape_json(out, ev->name);
				else
					appendStringInfo(out, "%d", *(const int *) p);
			}
			break;
		case PROTOBUF_C_TYPE_STRING:
			escape_json(out, *(char *const *) p);
			break;
		case PROTOBUF_C_TYPE_BYTES:
			append_bytes(out, (const ProtobufCBinaryData *) p,
						 is_bytea_datum(parent));
			break;
		case PROTOBUF_C_TYPE_MESSAGE:
			append_message(out, *(ProtobufCMessage *const *) p);
			break;
	}
}

static size_t
field_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type)
	{
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
			return sizeof(int64_t);
		case PROTOBUF_C_TYPE_DOUBLE:
			return sizeof(double);
		case PROTOBUF_C_TYPE_BOOL:
			return sizeof(protobuf_c_boolean);
		case PROTOBUF_C_TYPE_STRING:
		case PROTOBUF_C_TYPE_MESSAGE:
			return sizeof(void *);
		case PROTOBUF_C_TYPE_BYTES:
			return sizeof(ProtobufCBinaryData);
		default:
			return sizeof(int32_t);
	}
}

/* Is a non-repeated field present in msg? */
static bool
field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *) msg;
	const void *p = base + f->offset;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *) (base + f->quantifier_offset) == f->id;
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(void *const *) p != NULL;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	return *(const protobuf_c_boolean *) (base + f->quantifier_offset);
}

static void
append_message(StringInfo out, const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	const char *base = (const char *) msg;
	bool		first = true;

	appendStringInfoChar(out, '{');
	for (unsigned i = 0; i < desc->n_fields; i++)
	{
		const ProtobufCFieldDescriptor *f = &desc->fields[i];

		if (f->label == PROTOBUF_C_LABEL_REPEATED)
		{
			size_t		n = *(const size_t *) (base + f->quantifier_offset);
			const char *arr = *(char *const *) (base + f->offset);

			if (n == 0)
				continue;
			appendStringInfoString(out, first ? "" : ",");
			escape_json(out, f->name);
			appendStringInfoString(out, ":[");
			for (size_t k = 0; k < n; k++)
			{
				if (k > 0)
					appendStringInfoChar(out, ',');
				append_value(out, f, arr + k * field_size(f), msg);
			}
			appendStringInfoChar(out, ']');
		}
		else
		{
			if (!field_present(msg, f))
				continue;
			appendStringInfoString(out, first ? "" : ",");
			escape_json(out, f->name);
			appendStringInfoChar(out, ':');
			append_value(out, f, base + f->offset, msg);
		}
		first = false;
	}
	appendStringInfoChar(out, '}');
}

/*
 * Append msg as one JSON object to out.
 */
void
dbufs_json_append_message(StringInfo out, const ProtobufCMessage *msg)
{
	append_message(out, msg);
}
