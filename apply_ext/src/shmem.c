/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		Shared state of decoderbufs_apply: one slot per subscription with
 *		its status and counters, and the databases that need a manager.
 *
 * A subscription keeps its slot while it exists, so counters and the last
 * error survive worker restarts (not server restarts).  Everything is
 * protected by one LWLock; the fields are small and updates rare enough
 * (per remote transaction, not per row) for that to be cheap.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

ApplySharedState *ApplyShared = NULL;

Size
apply_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(ApplySharedState));

	size = add_size(size, mul_size(apply_max_subscriptions, sizeof(ApplyDbSlot)));
	size = add_size(size, mul_size(apply_max_subscriptions, sizeof(ApplyWorkerSlot)));
	return size;
}

void
apply_shmem_request(void)
{
	RequestAddinShmemSpace(apply_shmem_size());
	RequestNamedLWLockTranche(APPLY_EXTENSION_NAME, 1);
}

void
apply_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ApplyShared = ShmemInitStruct(APPLY_EXTENSION_NAME, apply_shmem_size(), &found);
	if (!found)
	{
		char	   *p = (char *) ApplyShared;

		memset(ApplyShared, 0, apply_shmem_size());
		ApplyShared->lock = &(GetNamedLWLockTranche(APPLY_EXTENSION_NAME))->lock;
		p += MAXALIGN(sizeof(ApplySharedState));
		ApplyShared->dbs = (ApplyDbSlot *) p;
		p += apply_max_subscriptions * sizeof(ApplyDbSlot);
		ApplyShared->workers = (ApplyWorkerSlot *) p;
		ApplyShared->rescan_databases = true;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The slot of a subscription; with create, take a free one if it has none.
 * Returns NULL if there is none (and, with create, none free).  Caller
 * holds ApplyShared->lock exclusively when create is true.
 */
ApplyWorkerSlot *
apply_slot_for_subscription(Oid dbid, int32 subid, bool create)
{
	ApplyWorkerSlot *free_slot = NULL;

	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		ApplyWorkerSlot *s = &ApplyShared->workers[i];

		if (s->in_use && s->dbid == dbid && s->subid == subid)
			return s;
		if (!s->in_use && free_slot == NULL)
			free_slot = s;
	}
	if (!create || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(ApplyWorkerSlot));
	free_slot->in_use = true;
	free_slot->dbid = dbid;
	free_slot->subid = subid;
	free_slot->state = APPLY_STATE_STOPPED;
	return free_slot;
}

/* Forget a dropped subscription's slot. */
void
apply_slot_release(Oid dbid, int32 subid)
{
	ApplyWorkerSlot *s;

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	s = apply_slot_for_subscription(dbid, subid, false);
	if (s != NULL)
		s->in_use = false;
	LWLockRelease(ApplyShared->lock);
}

/*
 * Ask the launcher to keep a manager running for database dbid.
 */
void
apply_request_database(Oid dbid)
{
	ApplyDbSlot *free_slot = NULL;
	bool		known = false;

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		ApplyDbSlot *d = &ApplyShared->dbs[i];

		if (d->dbid == dbid)
		{
			d->manager_wanted = true;
			known = true;
			break;
		}
		if (!OidIsValid(d->dbid) && free_slot == NULL)
			free_slot = d;
	}
	if (!known && free_slot != NULL)
	{
		free_slot->dbid = dbid;
		free_slot->manager_pid = 0;
		free_slot->manager_wanted = true;
	}
	LWLockRelease(ApplyShared->lock);
	apply_wake_launcher();
}

void
apply_wake_launcher(void)
{
	Latch	   *latch;

	LWLockAcquire(ApplyShared->lock, LW_SHARED);
	latch = ApplyShared->launcher_latch;
	LWLockRelease(ApplyShared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/* Wake the manager of database dbid, if it runs. */
void
apply_wake_manager(Oid dbid)
{
	Latch	   *latch = NULL;

	LWLockAcquire(ApplyShared->lock, LW_SHARED);
	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		if (ApplyShared->dbs[i].dbid == dbid)
			latch = ApplyShared->dbs[i].manager_latch;
	}
	LWLockRelease(ApplyShared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * Keep an error for the status view: message, hint, context and when;
 * with waiting, the subscription's state becomes waiting_retry.
 */
void
apply_slot_record_error(ApplyWorkerSlot *slot, ErrorData *edata, bool waiting)
{
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	strlcpy(slot->last_error, edata->message ? edata->message : "unknown error",
			sizeof(slot->last_error));
	strlcpy(slot->last_error_hint, edata->hint ? edata->hint : "",
			sizeof(slot->last_error_hint));
	strlcpy(slot->last_error_context, edata->context ? edata->context : "",
			sizeof(slot->last_error_context));
	slot->last_error_time = GetCurrentTimestamp();
	slot->last_error_sqlstate = edata->sqlerrcode;
	if (waiting)
		slot->state = APPLY_STATE_WAITING_RETRY;
	LWLockRelease(ApplyShared->lock);
}
