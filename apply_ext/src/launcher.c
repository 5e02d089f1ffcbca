/*-------------------------------------------------------------------------
 *
 * launcher.c
 *		The launcher (one per cluster) and the managers (one per database
 *		with the extension), which keep the apply workers running.
 *
 * The launcher connects to no database.  At start it asks for a manager in
 * every database that accepts connections; a manager that finds no
 * extension in its database leaves at once and is not started again until
 * the extension asks for it (CREATE EXTENSION and every SQL API call do).
 *
 * A manager reads the enabled subscriptions of its database and keeps one
 * apply worker running for each.  A worker that failed is started again
 * after a delay that doubles from decoderbufs_apply.restart_delay_min up to
 * restart_delay_max, but not later than when the retry policy would fail
 * the subscription (retry.c); a subscription the retry policy failed is not
 * started again.  A worker whose subscription was disabled, dropped or
 * changed is stopped (and, if changed, started again at once).  Managers
 * and the launcher sleep on their latch and are woken by the SQL API.
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "libpq/pqsignal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* ---- shared helpers ---- */

/*
 * Start a dynamic background worker of this library running function, with
 * its argument and an int in bgw_extra; with notify, this process's latch
 * is set when it starts and stops.  NULL if no worker slot is free.
 */
BackgroundWorkerHandle *
apply_start_bgworker(const char *function, const char *name, const char *type,
					 Datum arg, int extra, bool notify)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext old;
	bool		ok;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, APPLY_LIBRARY_NAME);
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
	worker.bgw_main_arg = arg;
	memcpy(worker.bgw_extra, &extra, sizeof(int));
	worker.bgw_notify_pid = notify ? MyProcPid : 0;

	/* the handle outlives the transaction we may be in */
	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(old);
	return ok ? handle : NULL;
}

static bool
handle_alive(BackgroundWorkerHandle *handle)
{
	pid_t		pid;

	return handle != NULL &&
		GetBackgroundWorkerPid(handle, &pid) != BGWH_STOPPED;
}

static void
wait_latch(long timeout_ms)
{
	int			rc;

	rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
				   timeout_ms, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/* ---- launcher ---- */

/* Ask for a manager in every database that accepts connections. */
static void
request_all_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *dbids = NIL;
	ListCell   *lc;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
			dbids = lappend_oid(dbids, db->oid);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	foreach(lc, dbids)
		apply_request_database(lfirst_oid(lc));
}

void
apply_launcher_main(Datum main_arg)
{
	BackgroundWorkerHandle **handles;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	handles = MemoryContextAllocZero(TopMemoryContext,
									 sizeof(BackgroundWorkerHandle *) * apply_max_subscriptions);

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	ApplyShared->launcher_pid = MyProcPid;
	ApplyShared->launcher_latch = MyLatch;
	LWLockRelease(ApplyShared->lock);

	request_all_databases();

	for (;;)
	{
		for (int i = 0; i < apply_max_subscriptions; i++)
		{
			ApplyDbSlot *d = &ApplyShared->dbs[i];
			Oid			dbid;
			bool		wanted;
			pid_t		pid;

			LWLockAcquire(ApplyShared->lock, LW_SHARED);
			dbid = d->dbid;
			wanted = d->manager_wanted;
			pid = d->manager_pid;
			LWLockRelease(ApplyShared->lock);

			if (!OidIsValid(dbid) || !wanted || handle_alive(handles[i]))
				continue;
			/* a manager started by an earlier launcher may still run */
			if (pid != 0 && kill(pid, 0) == 0)
				continue;
			if (handles[i] != NULL)
				pfree(handles[i]);
			handles[i] = apply_start_bgworker("apply_manager_main",
											  "decoderbufs_apply manager",
											  "decoderbufs_apply manager",
											  ObjectIdGetDatum(dbid), 0, true);
		}
		wait_latch(apply_naptime);
	}
}

/* ---- manager ---- */

typedef struct ManagedWorker
{
	int32		subid;
	int			slotno;
	BackgroundWorkerHandle *handle;
	bool		terminating;	/* we stopped it on purpose */
} ManagedWorker;

static ManagedWorker *managed = NULL;

static void
leave_database(void)
{
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		ApplyDbSlot *d = &ApplyShared->dbs[i];

		if (d->dbid == MyDatabaseId)
		{
			d->dbid = InvalidOid;
			d->manager_pid = 0;
			d->manager_latch = NULL;
			d->manager_wanted = false;
		}
	}
	LWLockRelease(ApplyShared->lock);
}

/* Become this database's manager, unless another one is alive. */
static bool
register_manager(void)
{
	bool		ok = true;

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		ApplyDbSlot *d = &ApplyShared->dbs[i];

		if (d->dbid != MyDatabaseId)
			continue;
		if (d->manager_pid != 0 && d->manager_pid != MyProcPid &&
			kill(d->manager_pid, 0) == 0)
			ok = false;
		else
		{
			d->manager_pid = MyProcPid;
			d->manager_latch = MyLatch;
		}
	}
	LWLockRelease(ApplyShared->lock);
	return ok;
}

static void
manager_on_exit(int code, Datum arg)
{
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		ApplyDbSlot *d = &ApplyShared->dbs[i];

		if (d->dbid == MyDatabaseId && d->manager_pid == MyProcPid)
		{
			d->manager_pid = 0;
			d->manager_latch = NULL;
		}
	}
	LWLockRelease(ApplyShared->lock);
}

static ManagedWorker *
managed_for(int32 subid)
{
	for (int i = 0; i < apply_max_subscriptions; i++)
		if (managed[i].subid == subid && managed[i].handle != NULL)
			return &managed[i];
	return NULL;
}

/* Backoff delay after the n-th failure in a row. */
static long
restart_delay(int failures)
{
	long		delay = apply_restart_delay_min;

	for (int i = 1; i < failures && delay < apply_restart_delay_max; i++)
		delay *= 2;
	return Min(delay, (long) apply_restart_delay_max);
}

/*
 * A worker stopped: if it failed, schedule its restart with backoff, no
 * later than the retry policy's deadline, so that a subscription whose
 * errors go on fails on time.  A failed subscription stays failed.
 */
static void
reap_worker(ManagedWorker *mw)
{
	ApplyWorkerSlot *s = &ApplyShared->workers[mw->slotno];

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	if (s->state == APPLY_STATE_WAITING_RETRY && !mw->terminating)
	{
		s->retry_count++;
		s->next_start_time = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														 restart_delay(s->retry_count));
		if (s->retry_until != 0 && s->retry_until < s->next_start_time)
			s->next_start_time = s->retry_until;
	}
	else if (mw->terminating || s->state != APPLY_STATE_WAITING_RETRY)
	{
		s->next_start_time = 0;
		if (s->state != APPLY_STATE_FAILED)
			s->state = APPLY_STATE_STOPPED;
	}
	LWLockRelease(ApplyShared->lock);
	pfree(mw->handle);
	mw->handle = NULL;
	mw->subid = 0;
	mw->terminating = false;
}

static void
start_apply_worker(ApplySubscription *sub)
{
	ApplyWorkerSlot *s;
	int			slotno;
	ManagedWorker *mw = NULL;
	char		name[BGW_MAXLEN];

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	s = apply_slot_for_subscription(MyDatabaseId, sub->id, true);
	if (s == NULL)
	{
		LWLockRelease(ApplyShared->lock);
		ereport(WARNING,
				(errmsg("no room for decoderbufs_apply subscription \"%s\"", sub->name),
				 errhint("Increase decoderbufs_apply.max_subscriptions.")));
		return;
	}
	if (s->hold || (s->next_start_time != 0 && GetCurrentTimestamp() < s->next_start_time))
	{
		LWLockRelease(ApplyShared->lock);
		return;					/* still backing off */
	}
	/* the new worker reads the configuration as it is now */
	s->restart_requested = false;
	slotno = s - ApplyShared->workers;
	s->state = APPLY_STATE_STARTING;
	LWLockRelease(ApplyShared->lock);

	for (int i = 0; i < apply_max_subscriptions; i++)
		if (managed[i].handle == NULL)
		{
			mw = &managed[i];
			break;
		}
	Assert(mw != NULL);
	snprintf(name, sizeof(name), "decoderbufs_apply worker");
	mw->handle = apply_start_bgworker("apply_worker_main", name, name,
									  Int32GetDatum(slotno), 0, true);
	if (mw->handle == NULL)
	{
		LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
		s->state = APPLY_STATE_WAITING_RETRY;
		strlcpy(s->last_error, "no background worker slot free (max_worker_processes)",
				sizeof(s->last_error));
		strlcpy(s->last_error_hint, "Increase max_worker_processes.",
				sizeof(s->last_error_hint));
		s->last_error_context[0] = '\0';
		s->last_error_time = GetCurrentTimestamp();
		s->next_start_time = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														 apply_restart_delay_min);
		LWLockRelease(ApplyShared->lock);
		return;
	}
	mw->subid = sub->id;
	mw->slotno = slotno;
	mw->terminating = false;
}

/* Stop the workers of subscriptions no longer enabled, and changed ones. */
static void
stop_unwanted(List *subs)
{
	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		ManagedWorker *mw = &managed[i];
		bool		wanted = false;
		bool		restart;
		ListCell   *lc;

		if (mw->handle == NULL || mw->terminating)
			continue;
		foreach(lc, subs)
			if (((ApplySubscription *) lfirst(lc))->id == mw->subid)
				wanted = true;
		/* a restart request is served once: by stopping this worker */
		LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
		restart = ApplyShared->workers[mw->slotno].restart_requested ||
			ApplyShared->workers[mw->slotno].hold;
		ApplyShared->workers[mw->slotno].restart_requested = false;
		LWLockRelease(ApplyShared->lock);
		if (!wanted || restart)
		{
			TerminateBackgroundWorker(mw->handle);
			mw->terminating = true;
		}
	}
}

/* Free the shared slots of subscriptions that no longer exist. */
static void
release_dropped_slots(void)
{
	List	   *gone = NIL;
	ListCell   *lc;

	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		ApplyWorkerSlot *s = &ApplyShared->workers[i];

		if (s->in_use && s->dbid == MyDatabaseId && s->pid == 0 &&
			managed_for(s->subid) == NULL &&
			apply_catalog_get_subscription(s->subid, true) == NULL)
			gone = lappend_int(gone, s->subid);
	}
	foreach(lc, gone)
		apply_slot_release(MyDatabaseId, lfirst_int(lc));
}

/* One round of the manager: reconcile running workers with the catalog. */
static bool
manage_once(void)
{
	List	   *subs;
	ListCell   *lc;

	for (int i = 0; i < apply_max_subscriptions; i++)
		if (managed[i].handle != NULL && !handle_alive(managed[i].handle))
			reap_worker(&managed[i]);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!apply_extension_installed())
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		return false;
	}
	subs = apply_catalog_enabled_subscriptions();
	stop_unwanted(subs);
	foreach(lc, subs)
	{
		ApplySubscription *sub = lfirst(lc);

		if (managed_for(sub->id) == NULL)
			start_apply_worker(sub);
	}
	release_dropped_slots();
	PopActiveSnapshot();
	CommitTransactionCommand();

	/* disabled subscriptions show as such */
	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		ApplyWorkerSlot *s = &ApplyShared->workers[i];

		if (s->in_use && s->dbid == MyDatabaseId && s->pid == 0 &&
			managed_for(s->subid) == NULL && s->state == APPLY_STATE_STOPPED)
			s->state = APPLY_STATE_DISABLED;
	}
	LWLockRelease(ApplyShared->lock);
	return true;
}

/* Sleep until woken, the naptime passes, or a backoff delay ends. */
static long
next_wakeup_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		ms = apply_naptime;

	LWLockAcquire(ApplyShared->lock, LW_SHARED);
	for (int i = 0; i < apply_max_subscriptions; i++)
	{
		ApplyWorkerSlot *s = &ApplyShared->workers[i];

		if (s->in_use && s->dbid == MyDatabaseId && s->next_start_time > now)
			ms = Min(ms, (long) ((s->next_start_time - now) / 1000) + 1);
	}
	LWLockRelease(ApplyShared->lock);
	return ms;
}

void
apply_manager_main(Datum main_arg)
{
	Oid			dbid = DatumGetObjectId(main_arg);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	before_shmem_exit(manager_on_exit, (Datum) 0);

	managed = MemoryContextAllocZero(TopMemoryContext,
									 sizeof(ManagedWorker) * apply_max_subscriptions);
	if (!register_manager())
		proc_exit(0);			/* another manager serves this database */

	for (;;)
	{
		if (!manage_once())
		{
			/* no extension here (any more): stop our workers and leave */
			for (int i = 0; i < apply_max_subscriptions; i++)
				if (managed[i].handle != NULL)
					TerminateBackgroundWorker(managed[i].handle);
			leave_database();
			proc_exit(0);
		}
		wait_latch(next_wakeup_ms());
	}
}
