/*-------------------------------------------------------------------------
 *
 * dbufs_pb_alloc.h
 *		A protobuf-c allocator backed by PostgreSQL memory contexts.
 *
 * Shared by the decoderbufs plugin and the decoderbufs_apply extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DBUFS_PB_ALLOC_H
#define DBUFS_PB_ALLOC_H

#include <protobuf-c/protobuf-c.h>

/*
 * Allocates in CurrentMemoryContext.  An allocation that cannot be served
 * (absurd sizes in a malformed message) fails softly, so that unpacking
 * returns NULL instead of raising an out-of-memory error.
 */
extern ProtobufCAllocator dbufs_pb_allocator;

#endif							/* DBUFS_PB_ALLOC_H */
