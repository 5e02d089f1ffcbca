/*-------------------------------------------------------------------------
 *
 * apply_main.c
 *		Module entry point of decoderbufs_apply: settings, shared memory,
 *		and the launcher's registration.
 *
 * The extension only works when preloaded: its workers and shared memory
 * must exist from server start.  Without shared_preload_libraries the SQL
 * functions raise an error that says so (see sqlapi.c).
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

int			apply_max_subscriptions = 16;
int			apply_restart_delay_min = 1000;
int			apply_restart_delay_max = 60000;
int			apply_receive_timeout = 60000;
int			apply_feedback_interval = 1000;
int			apply_batch_size = 65536;
int			apply_naptime = 10000;
int			apply_copy_parallelism = 2;
int			apply_sequence_sync_interval = 60000;
int			apply_heartbeat_interval = 10000;
int			apply_tombstone_retention = 86400;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
apply_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	apply_shmem_request();
}

static void
apply_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	apply_shmem_startup();
}

static void
define_settings(void)
{
	DefineCustomIntVariable("decoderbufs_apply.max_subscriptions",
							"Maximum number of subscriptions in the cluster.",
							"Sizes shared memory; each subscription also needs a background worker slot (max_worker_processes).",
							&apply_max_subscriptions,
							16, 1, 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.restart_delay_min",
							"Delay before restarting a failed apply worker the first time.",
							"The delay doubles after every further failure, up to restart_delay_max.",
							&apply_restart_delay_min,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.restart_delay_max",
							"Longest delay between restarts of a failing apply worker.",
							NULL,
							&apply_restart_delay_max,
							60000, 10, 24 * 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.retry_connection_timeout",
							"How long a subscription is retried while it cannot reach or talk to its source.",
							"From the first connection error after the worker last made progress; then the subscription fails. -1 retries forever, 0 fails at the first error. A subscription's retry_connection_timeout overrides it.",
							&apply_retry_connection_timeout,
							86400, -1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.retry_apply_timeout",
							"How long a subscription is retried while applying fails on this server.",
							"From the first apply error after the worker last applied a transaction; then the subscription fails. -1 retries forever, 0 fails at the first error. A subscription's retry_apply_timeout overrides it.",
							&apply_retry_apply_timeout,
							1800, -1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.receive_timeout",
							"Time without any message from the source after which the connection is considered dead.",
							"The worker asks the source for a keepalive at half this time. 0 disables the timeout.",
							&apply_receive_timeout,
							60000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.feedback_interval",
							"Longest time between progress reports to the source.",
							NULL,
							&apply_feedback_interval,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.batch_size",
							"Size in bytes of the batches the source's plugin packs rows into.",
							"Passed to the decoderbufs plugin as its batch-size option.",
							&apply_batch_size,
							65536, 256, 64 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.naptime",
							"How often the launcher and managers look for work when not woken up.",
							NULL,
							&apply_naptime,
							10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.copy_parallelism",
							"How many tables a subscription's initial copy copies at once.",
							"Each takes a background worker on this server and a connection to the source; a subscription's copy_parallelism overrides it.",
							&apply_copy_parallelism,
							2, 1, APPLY_MAX_COPY_WORKERS,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.sequence_sync_interval",
							"How often an apply worker sets its subscription's sequences to the source's values.",
							"Only subscriptions with sequences selected; between remote transactions. 0 disables the periodic sync (sync_sequences() still works).",
							&apply_sequence_sync_interval,
							60000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.heartbeat_interval",
							"How often an apply worker writes a heartbeat through its source, to measure lag end to end.",
							"A non-transactional logical message written on the source that comes back through the subscription's slot. 0 disables heartbeats.",
							&apply_heartbeat_interval,
							10000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("decoderbufs_apply.tombstone_retention",
							"How long last_update_wins remembers a deleted row.",
							"A change older than a delete that arrives after its tombstone is purged brings the row back: keep it longer than any node may lag or stay disconnected.",
							&apply_tombstone_retention,
							86400, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	MarkGUCPrefixReserved("decoderbufs_apply");
}

static void
register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, APPLY_LIBRARY_NAME);
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "apply_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "decoderbufs_apply launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "decoderbufs_apply launcher");
	RegisterBackgroundWorker(&worker);
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	define_settings();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = apply_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = apply_shmem_startup_hook;

	register_launcher();
}
