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
 * AddressSanitizer builds (make check-asan) give each piece a malloc block
 * of its own instead, freed by a reset callback of the same context: the
 * lifetime is the same, but ASan sees the bounds of every unpacked field and
 * any use after the context's reset, which it cannot inside a palloc chunk
 * (the server's allocator is not instrumented).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "dbufs_pb_alloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define DBUFS_PB_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DBUFS_PB_MALLOC 1
#endif
#endif

#ifdef DBUFS_PB_MALLOC

/* Reset callback: frees one malloc block. */
static void
dbufs_pb_release(void *arg)
{
	free(arg);
}

/*
 * One malloc block per piece, released when CurrentMemoryContext is reset
 * or deleted.  The callback record itself is palloc'd in that context.
 */
static void *
dbufs_pb_alloc(void *allocator_data, size_t size)
{
	MemoryContextCallback *cb;
	void	   *p;

	if (size > MaxAllocHugeSize)
		return NULL;
	p = malloc(Max(size, 1));
	if (p == NULL)
		return NULL;
	cb = palloc(sizeof(MemoryContextCallback));
	cb->func = dbufs_pb_release;
	cb->arg = p;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return p;
}

#else							/* !DBUFS_PB_MALLOC */

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

#endif							/* DBUFS_PB_MALLOC */

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
