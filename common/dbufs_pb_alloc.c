/*-------------------------------------------------------------------------
 *
 * dbufs_pb_alloc.c
 *		A protobuf-c allocator backed by PostgreSQL memory contexts.
 *
 * protobuf-c calls malloc/free by default; unpacked messages then live
 * outside any memory context and leak on error.  This allocator puts them in
 * CurrentMemoryContext, so resetting the caller's context frees them (and
 * individual frees are skipped).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "dbufs_pb_alloc.h"

static void *
dbufs_pb_alloc(void *allocator_data, size_t size)
{
	/* the common case, many small pieces per message: the fast path */
	if (size <= 8192)
		return palloc(Max(size, 1));
	if (size > MaxAllocHugeSize)
		return NULL;
	return MemoryContextAllocExtended(CurrentMemoryContext, size,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

/*
 * Nothing to do: what protobuf-c allocates goes with the caller's memory
 * context, which is reset once the message is used.
 */
static void
dbufs_pb_free(void *allocator_data, void *pointer)
{
}

ProtobufCAllocator dbufs_pb_allocator = {
	.alloc = dbufs_pb_alloc,
	.free = dbufs_pb_free,
	.allocator_data = NULL
};
