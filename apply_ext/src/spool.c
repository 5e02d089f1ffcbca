/*-------------------------------------------------------------------------
 *
 * spool.c
 *		Streamed transactions kept in temporary files until they end.
 *
 * With the subscription option streaming, the source sends a big
 * transaction in blocks while it is still in progress (the plugin's
 * stream-changes, see README.md "Streamed transactions").  The worker
 * appends each change of a block, as the RowMessage bytes it received, to a
 * temporary file of that transaction (BufFile, kept across the worker's
 * local transactions, deleted when the worker exits), and at STREAM_COMMIT
 * reads them back to apply them as any other transaction's (worker.c).
 * Several transactions can be open at once, each with its own file.
 *
 * A file is a sequence of records: a 4-byte length, then the message.  Per
 * file, memory holds the offset of the first record of each subtransaction
 * seen: when a subtransaction aborts, the file's logical end moves back to
 * that record, forgetting its changes and those of every later
 * subtransaction (all of which are its own children, or what followed it
 * while it was open); later writes overwrite them.  A STREAM_ABORT of the
 * top-level transaction closes the file.  Memory stays flat whatever the
 * size of the transaction: one buffer per open file and one entry per
 * subtransaction.
 *
 * The files do not survive the worker: a restart starts streaming again
 * from the replication origin's progress, which never moves past a
 * transaction the worker has not applied, and the source sends every
 * unfinished transaction again from its first change (see worker.c).
 *
 * Copyright (c) 2026, decoderbufs authors
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "storage/buffile.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

/* Past this many subtransactions, a spool finds them through a hash table. */
#define SPOOL_SUBXACT_HASH_MIN	32

/* Where a subtransaction's first record is. */
typedef struct SpoolSubxact
{
	TransactionId xid;
	int			fileno;
	off_t		offset;
	uint64		bytes;			/* of the file before it */
} SpoolSubxact;

/* An entry of a spool's hash table of subtransactions. */
typedef struct SpoolSubxactEnt
{
	TransactionId xid;			/* hash key */
	int			index;			/* in ApplySpool.subxacts */
} SpoolSubxactEnt;

struct ApplySpool
{
	TransactionId xid;			/* hash key: the top-level transaction */
	BufFile    *file;
	int			end_fileno;		/* logical end: where the next record goes */
	off_t		end_offset;
	bool		at_end;			/* the file's position is the logical end */
	uint64		bytes;			/* up to the logical end */
	TransactionId last_subxact; /* of the last record written */
	int			nsubxacts;
	int			maxsubxacts;
	SpoolSubxact *subxacts;		/* in the order they were first seen */
	HTAB	   *subxact_hash;	/* xid to index in subxacts, once there are
								 * many */

	/* reading back (apply_spool_read) */
	uint64		read_bytes;
};

static HTAB *spools = NULL;
static MemoryContext SpoolContext = NULL;
static int	nopen = 0;
static uint64 open_bytes = 0;
static uint64 total_bytes = 0;

/* Set up the table of open spools; once per worker. */
static void
spool_init(void)
{
	HASHCTL		ctl;

	SpoolContext = AllocSetContextCreate(TopMemoryContext,
										 "decoderbufs_apply spool",
										 ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(TransactionId);
	ctl.entrysize = sizeof(ApplySpool);
	ctl.hcxt = SpoolContext;
	spools = hash_create("decoderbufs_apply spools", 16, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
spool_close(ApplySpool *spool)
{
	nopen--;
	open_bytes -= spool->bytes;
	if (spool->file != NULL)
		BufFileClose(spool->file);
	if (spool->subxacts != NULL)
		pfree(spool->subxacts);
	if (spool->subxact_hash != NULL)
		hash_destroy(spool->subxact_hash);
	hash_search(spools, &spool->xid, HASH_REMOVE, NULL);
}

/*
 * The spool of top-level transaction xid, for a STREAM_START: a new one for
 * its first block (replacing any left over: a new decoding session sends
 * the transaction again from its start), else the one of its earlier
 * blocks, which must exist.
 */
ApplySpool *
apply_spool_open(TransactionId xid, bool first)
{
	ApplySpool *spool;
	bool		found;
	MemoryContext old;

	if (spools == NULL)
		spool_init();
	spool = hash_search(spools, &xid, first ? HASH_ENTER : HASH_FIND, &found);
	if (!first)
	{
		if (spool == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("the source continued streamed transaction %u, whose start this worker did not receive",
							xid)));
		return spool;
	}
	if (found)
	{
		spool_close(spool);
		spool = hash_search(spools, &xid, HASH_ENTER, NULL);
	}

	memset((char *) spool + sizeof(TransactionId), 0,
		   sizeof(ApplySpool) - sizeof(TransactionId));
	spool->last_subxact = xid;
	spool->at_end = true;
	/* a temporary file that outlives the local transactions */
	old = MemoryContextSwitchTo(SpoolContext);
	spool->file = BufFileCreateTemp(true);
	MemoryContextSwitchTo(old);
	nopen++;
	return spool;
}

/*
 * The index of subtransaction subxact in spool->subxacts, or -1.  A few are
 * searched, many are hashed: a transaction can have millions (a loop with
 * an exception block per row).
 */
static int
find_subxact(ApplySpool *spool, TransactionId subxact)
{
	SpoolSubxactEnt *ent;

	if (spool->subxact_hash == NULL)
	{
		for (int i = spool->nsubxacts - 1; i >= 0; i--)
		{
			if (spool->subxacts[i].xid == subxact)
				return i;
		}
		return -1;
	}
	ent = hash_search(spool->subxact_hash, &subxact, HASH_FIND, NULL);
	return ent != NULL ? ent->index : -1;
}

/* Enter subxacts[index] in the hash table, creating it when it is time. */
static void
hash_subxact(ApplySpool *spool, int index)
{
	SpoolSubxactEnt *ent;

	if (spool->subxact_hash == NULL)
	{
		HASHCTL		ctl;

		if (spool->nsubxacts < SPOOL_SUBXACT_HASH_MIN)
			return;
		ctl.keysize = sizeof(TransactionId);
		ctl.entrysize = sizeof(SpoolSubxactEnt);
		ctl.hcxt = SpoolContext;
		spool->subxact_hash = hash_create("decoderbufs_apply spool subtransactions",
										  2 * SPOOL_SUBXACT_HASH_MIN, &ctl,
										  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		/* the ones before this one too */
		for (int i = 0; i < index; i++)
		{
			ent = hash_search(spool->subxact_hash, &spool->subxacts[i].xid,
							  HASH_ENTER, NULL);
			ent->index = i;
		}
	}
	ent = hash_search(spool->subxact_hash, &spool->subxacts[index].xid,
					  HASH_ENTER, NULL);
	ent->index = index;
}

/* Remember where subtransaction subxact of spool starts, if it is new. */
static void
note_subxact(ApplySpool *spool, TransactionId subxact)
{
	SpoolSubxact *s;

	if (subxact == spool->last_subxact)
		return;
	spool->last_subxact = subxact;
	if (subxact == spool->xid || find_subxact(spool, subxact) >= 0)
		return;
	if (spool->nsubxacts == spool->maxsubxacts)
	{
		spool->maxsubxacts = Max(16, spool->maxsubxacts * 2);
		if (spool->subxacts == NULL)
			spool->subxacts = MemoryContextAlloc(SpoolContext,
												 sizeof(SpoolSubxact) * spool->maxsubxacts);
		else
			spool->subxacts = repalloc(spool->subxacts,
									   sizeof(SpoolSubxact) * spool->maxsubxacts);
	}
	s = &spool->subxacts[spool->nsubxacts++];
	s->xid = subxact;
	s->fileno = spool->end_fileno;
	s->offset = spool->end_offset;
	s->bytes = spool->bytes;
	hash_subxact(spool, spool->nsubxacts - 1);
}

/*
 * Append one received message, a change of (sub)transaction subxact, to
 * the spool.
 */
void
apply_spool_write(ApplySpool *spool, TransactionId subxact,
				  const uint8 *data, size_t len)
{
	uint32		reclen = (uint32) len;

	if (len > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the source sent a change of %zu bytes", len)));
	note_subxact(spool, subxact);
	if (!spool->at_end)
	{
		if (BufFileSeek(spool->file, spool->end_fileno, spool->end_offset,
						SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not seek in the spool file of streamed transaction %u: %m",
							spool->xid)));
		spool->at_end = true;
	}
	BufFileWrite(spool->file, (void *) &reclen, sizeof(reclen));
	BufFileWrite(spool->file, (void *) data, len);
	BufFileTell(spool->file, &spool->end_fileno, &spool->end_offset);
	spool->bytes += sizeof(reclen) + len;
	open_bytes += sizeof(reclen) + len;
	total_bytes += sizeof(reclen) + len;
}

/*
 * STREAM_ABORT: forget subtransaction subxact of top-level transaction xid
 * and everything after it, or the whole transaction if subxact is xid.
 * Returns whether the whole transaction ended.  An unknown transaction or
 * subtransaction has nothing to forget.
 */
bool
apply_spool_abort(TransactionId xid, TransactionId subxact)
{
	ApplySpool *spool;
	SpoolSubxact *s;
	int			i;

	if (spools == NULL)
		return subxact == xid;
	spool = hash_search(spools, &xid, HASH_FIND, NULL);
	if (subxact == xid)
	{
		if (spool != NULL)
			spool_close(spool);
		return true;
	}
	if (spool == NULL || (i = find_subxact(spool, subxact)) < 0)
		return false;

	s = &spool->subxacts[i];
	open_bytes -= spool->bytes - s->bytes;
	spool->bytes = s->bytes;
	spool->end_fileno = s->fileno;
	spool->end_offset = s->offset;
	spool->at_end = false;
	spool->last_subxact = InvalidTransactionId;
	/* it and every later one are gone */
	if (spool->subxact_hash != NULL)
	{
		for (int k = i; k < spool->nsubxacts; k++)
			hash_search(spool->subxact_hash, &spool->subxacts[k].xid,
						HASH_REMOVE, NULL);
	}
	spool->nsubxacts = i;
	return false;
}

/*
 * STREAM_COMMIT: the spool of top-level transaction xid, to read back with
 * apply_spool_read() and then close with apply_spool_close(); NULL if none
 * was started (nothing of the transaction was sent).
 */
ApplySpool *
apply_spool_take(TransactionId xid)
{
	ApplySpool *spool;

	if (spools == NULL)
		return NULL;
	spool = hash_search(spools, &xid, HASH_FIND, NULL);
	if (spool == NULL)
		return NULL;
	if (BufFileSeek(spool->file, 0, 0, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not seek in the spool file of streamed transaction %u: %m",
						xid)));
	spool->at_end = false;
	spool->read_bytes = 0;
	return spool;
}

/* Read exactly len bytes of the spool, which must be there. */
static void
read_exact(ApplySpool *spool, void *buf, size_t len)
{
	size_t		got = BufFileRead(spool->file, buf, len);

	if (got != len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the spool file of streamed transaction %u: read only %zu of %zu bytes",
						spool->xid, got, len)));
}

/*
 * The next message of the spool, into buf (reset first); false after the
 * last.
 */
bool
apply_spool_read(ApplySpool *spool, StringInfo buf)
{
	uint32		reclen;

	if (spool->read_bytes >= spool->bytes)
		return false;
	read_exact(spool, &reclen, sizeof(reclen));
	if (reclen > spool->bytes - spool->read_bytes - sizeof(reclen))
		elog(ERROR, "spool file of streamed transaction %u is corrupt",
			 spool->xid);
	resetStringInfo(buf);
	enlargeStringInfo(buf, reclen);
	read_exact(spool, buf->data, reclen);
	buf->len = reclen;
	buf->data[reclen] = '\0';
	spool->read_bytes += sizeof(reclen) + reclen;
	return true;
}

/* The transaction is applied (or skipped): delete its spool. */
void
apply_spool_close(ApplySpool *spool)
{
	if (spool != NULL)
		spool_close(spool);
}

/* Forget every spool (the fuzz harness starts afresh at each call). */
void
apply_spool_reset(void)
{
	HASH_SEQ_STATUS status;
	ApplySpool *spool;

	if (spools == NULL)
		return;
	hash_seq_init(&status, spools);
	while ((spool = hash_seq_search(&status)) != NULL)
		spool_close(spool);
	total_bytes = 0;
}

/* Is any streamed transaction open, i.e. started and not ended? */
bool
apply_spool_any_open(void)
{
	return nopen > 0;
}

/* Figures for the status view. */
void
apply_spool_stats(int *ntxns, uint64 *bytes_open, uint64 *bytes_total)
{
	*ntxns = nopen;
	*bytes_open = open_bytes;
	*bytes_total = total_bytes;
}
