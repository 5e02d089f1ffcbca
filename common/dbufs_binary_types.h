/*-------------------------------------------------------------------------
 *
 * dbufs_binary_types.h
 *		The built-in types whose values may travel in their binary send
 *		format (DatumMessage.datum_binary), shared by the plugin, which
 *		sends them so, and the apply extension, which takes no others.
 *
 * Only types whose format is stable across server versions and holds no
 * OIDs (unlike arrays, records and ranges), where it saves text formatting
 * and parsing.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBUFS_BINARY_TYPES_H
#define DBUFS_BINARY_TYPES_H

#include "catalog/pg_type.h"

static inline bool
dbufs_binary_type(Oid typid)
{
	switch (typid)
	{
		case NUMERICOID:
		case UUIDOID:
		case INTERVALOID:
		case TIMETZOID:
		case INETOID:
		case CIDROID:
		case MACADDROID:
		case MACADDR8OID:
		case BITOID:
		case VARBITOID:
		case LINEOID:
		case LSEGOID:
		case BOXOID:
		case PATHOID:
		case POLYGONOID:
		case CIRCLEOID:
			return true;
		default:
			return false;
	}
}

#endif							/* DBUFS_BINARY_TYPES_H */
