/*-------------------------------------------------------------------------
 *
 * apply.h
 *		Shared declarations of the decoderbufs_apply extension.
 *
 * Process structure: one launcher per cluster (registered at startup by
 * shared_preload_libraries) starts one manager per database that has the
 * extension; a manager starts one apply worker per enabled subscription and
 * restarts it with backoff after errors.  An apply worker streams the
 * subscription's slot from the source with libpq and applies each remote
 * transaction in one local transaction.
 *
 * Files, by concept:
 *	apply_main.c	_PG_init, GUCs, shared-memory hooks
 *	shmem.c			shared state: worker slots, database list, statistics
 *	launcher.c		the launcher and the per-database managers
 *	catalog.c		reading subscriptions from the extension's tables
 *	stream.c		the replication connection (libpq): connect, slot, stream
 *	selection.c		which source tables (and their columns) a subscription takes
 *	mapping.c		source names to target names; per-table settings
 *	copy.c			the initial copy: coordinator and copy helpers
 *	copy_load.c		the initial copy's bulk loader (indexes built at the end)
 *	sequences.c		sequence values follow the source
 *	precheck.c		checks of a source and target before subscribing
 *	worker.c		the apply worker: main loop, transactions, progress
 *	spool.c			streamed transactions kept in temporary files until they end
 *	decode.c		RowMessage values to Datums
 *	relmap.c		remote relations to local ones, column mapping
 *	apply_exec.c	executor-level insert, update, delete, truncate
 *	conflict.c		conflict detection, policies, last_update_wins' order,
 *					the conflict log, resolve_conflict()
 *	tombstone.c		what last_update_wins remembers of deleted rows
 *	sqlapi.c		C parts of the SQL API (slots, wakeups, status)
 *	retry.c			the retry policy: error classes, limits, the failed state
 *	verify.c		verify(): source and target compared by key ranges and hashes
 *	fuzz.c			the fuzz harness: messages through the worker, undone
 *
 * Copyright (c) 2026, decoderbufs authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef DECODERBUFS_APPLY_H
#define DECODERBUFS_APPLY_H

#include "postgres.h"

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq-fe.h"
#include "nodes/pg_list.h"
#include "nodes/parsenodes.h"
#include "nodes/primnodes.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/relcache.h"

#include "decoderbufs.pb-c.h"

#define APPLY_EXTENSION_NAME	"decoderbufs_apply"
#define APPLY_SCHEMA_NAME		"decoderbufs_apply"
#define APPLY_LIBRARY_NAME		"decoderbufs_apply"
#define APPLY_ADMIN_ROLE		"decoderbufs_apply_admin"

#define APPLY_MAX_ERROR_LEN		1024
#define APPLY_MAX_COPY_WORKERS	8
#define APPLY_QUALIFIED_NAME_LEN	(2 * NAMEDATALEN + 8)

/* Microseconds and days between the PostgreSQL epoch (2000) and 1970. */
#define APPLY_UNIX_EPOCH_OFFSET_USECS	INT64CONST(946684800000000)
#define APPLY_UNIX_EPOCH_OFFSET_DAYS	10957

typedef struct ApplyContext ApplyContext;

/* GUCs (apply_main.c) */
extern int	apply_max_subscriptions;
extern int	apply_restart_delay_min;
extern int	apply_restart_delay_max;
extern int	apply_receive_timeout;
extern int	apply_feedback_interval;
extern int	apply_batch_size;
extern int	apply_naptime;
extern int	apply_copy_parallelism;
extern int	apply_sequence_sync_interval;
extern int	apply_heartbeat_interval;
extern int	apply_tombstone_retention;
extern int	apply_retry_connection_timeout;
extern int	apply_retry_apply_timeout;

/* ---- conflicts ---- */

/*
 * Conflict types, PostgreSQL 18's names.  The order is that of the status
 * view's counters; the origin conflicts came later, hence last.
 */
typedef enum ApplyConflictType
{
	APPLY_CONFLICT_INSERT_EXISTS,
	APPLY_CONFLICT_UPDATE_MISSING,
	APPLY_CONFLICT_UPDATE_EXISTS,
	APPLY_CONFLICT_DELETE_MISSING,
	APPLY_CONFLICT_UPDATE_ORIGIN_DIFFERS,
	APPLY_CONFLICT_DELETE_ORIGIN_DIFFERS,
	APPLY_NUM_CONFLICT_TYPES
} ApplyConflictType;

typedef enum ApplyPolicy
{
	APPLY_POLICY_FAIL,
	APPLY_POLICY_IGNORE,
	APPLY_POLICY_OVERWRITE,
	APPLY_POLICY_LAST_UPDATE_WINS
} ApplyPolicy;

/* What a policy did with a conflict (conflict_log.decision). */
typedef enum ApplyDecision
{
	APPLY_DECISION_APPLIED,		/* the remote change took effect */
	APPLY_DECISION_SKIPPED,		/* the local state stays */
	APPLY_DECISION_ERROR		/* the transaction stops */
} ApplyDecision;

extern const char *const apply_conflict_names[APPLY_NUM_CONFLICT_TYPES];
extern const char *apply_policy_name(ApplyPolicy policy);
extern ApplyPolicy apply_policy_from_name(const char *name);

/* ---- shared state (shmem.c) ---- */

typedef enum ApplyWorkerState
{
	APPLY_STATE_STOPPED,
	APPLY_STATE_STARTING,
	APPLY_STATE_CONNECTING,
	APPLY_STATE_COPYING,
	APPLY_STATE_STREAMING,
	APPLY_STATE_WAITING_RETRY,
	APPLY_STATE_DISABLED,
	APPLY_STATE_FAILED			/* the retry policy gave up (retry.c) */
} ApplyWorkerState;

/* What kind of error stopped a worker (retry.c). */
typedef enum ApplyErrorClass
{
	APPLY_ERROR_CONNECTION,		/* reaching or talking to the source */
	APPLY_ERROR_APPLY,			/* applying on this server */
	APPLY_NUM_ERROR_CLASSES
} ApplyErrorClass;

/* One copy helper of a subscription (copy.c). */
typedef struct ApplyCopyHelper
{
	pid_t		pid;			/* 0 when not running */
	bool		failed;			/* exited with an error */
	char		table[APPLY_QUALIFIED_NAME_LEN];	/* being copied, or "" */
	uint64		rows;			/* of that table so far */
	uint64		bytes;
} ApplyCopyHelper;

/* Status and counters of one subscription, kept across worker restarts. */
typedef struct ApplyWorkerSlot
{
	bool		in_use;
	Oid			dbid;
	int32		subid;
	pid_t		pid;			/* apply worker, 0 if none */
	ApplyWorkerState state;
	bool		restart_requested;	/* configuration changed */
	bool		hold;			/* being dropped: do not run a worker */

	XLogRecPtr	received_lsn;	/* latest WAL position heard of */
	XLogRecPtr	applied_lsn;	/* end of the last applied remote commit */
	XLogRecPtr	flushed_lsn;	/* last position reported as flushed */
	TimestampTz last_receive_time;
	TimestampTz last_applied_commit_time;	/* remote commit time */
	TimestampTz last_applied_time;	/* when we applied it */
	TimestampTz last_source_time;	/* send time of the latest message */

	/* heartbeats (heartbeat.c); all 0 while they are off */
	TimestampTz heartbeat_source_time;	/* source's clock when the last one
										 * that came back was written */
	TimestampTz heartbeat_receive_time; /* our clock when it came back */
	TimestampTz heartbeat_expected_time;	/* the one in flight was written,
											 * or the next is due */
	char		heartbeat_error[APPLY_MAX_ERROR_LEN];	/* last failure, "" once
														 * one comes back */

	uint64		n_inserted;
	uint64		n_updated;
	uint64		n_deleted;
	uint64		n_truncated;
	uint64		n_transactions;
	uint64		n_conflicts[APPLY_NUM_CONFLICT_TYPES];

	int			retry_count;
	TimestampTz next_start_time;
	char		source_system_id[32];	/* IDENTIFY_SYSTEM's systemid */
	TimeLineID	source_timeline;
	char		last_error[APPLY_MAX_ERROR_LEN];
	char		last_error_hint[APPLY_MAX_ERROR_LEN];
	char		last_error_context[APPLY_MAX_ERROR_LEN];	/* relation, column, LSN */
	TimestampTz last_error_time;
	int			last_error_sqlstate;	/* of last_error, 0 if none */

	/*
	 * The retry policy (retry.c): the class of last_error, and per class the
	 * first error since the worker last made progress (0 if none).
	 */
	ApplyErrorClass last_error_class;
	TimestampTz first_failure_time[APPLY_NUM_ERROR_CLASSES];
	TimestampTz retry_until;	/* the subscription fails if its errors go on
								 * past this; 0: not failing, or no limit */

	/* the initial copy (copy.c) */
	char		copy_snapshot[64];	/* exported snapshot the helpers import */
	XLogRecPtr	copy_sync_lsn;	/* its consistent point */
	int			copy_tables_done;
	int			copy_tables_total;
	uint64		copy_rows;		/* of tables finished in this run */
	uint64		copy_bytes;
	TimestampTz copy_start_time;
	ApplyCopyHelper copy_helpers[APPLY_MAX_COPY_WORKERS];

	/* a verify() holding the worker at a source position (verify.c) */
	pid_t		verify_pid;		/* the verifying backend, 0 if none */
	Latch	   *verify_latch;	/* its latch, set when the worker pauses */
	XLogRecPtr	verify_lsn;		/* apply nothing committed at or after it */
	XLogRecPtr	verify_paused_lsn;	/* the barrier the worker waits at, or 0 */
	bool		verify_gave_up; /* the worker waited too long and went on */

	/* streamed transactions (worker.c, spool.c) */
	uint64		n_streamed;		/* streamed transactions applied */
	uint64		n_stream_aborted;	/* streamed transactions the source
									 * aborted */
	uint64		spooled_bytes;	/* written to spool files, in all */
	int			spool_txns;		/* transactions being spooled now */
	uint64		spool_bytes;	/* in their spool files */
} ApplyWorkerSlot;

/* A database whose manager the launcher keeps running. */
typedef struct ApplyDbSlot
{
	Oid			dbid;			/* InvalidOid when free */
	pid_t		manager_pid;
	Latch	   *manager_latch;
	bool		manager_wanted;
} ApplyDbSlot;

typedef struct ApplySharedState
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	bool		rescan_databases;
	int			ndbs;
	ApplyDbSlot *dbs;			/* apply_max_subscriptions entries */
	ApplyWorkerSlot *workers;	/* apply_max_subscriptions entries */
} ApplySharedState;

extern ApplySharedState *ApplyShared;

extern Size apply_shmem_size(void);
extern void apply_shmem_request(void);
extern void apply_shmem_startup(void);
extern ApplyWorkerSlot *apply_slot_for_subscription(Oid dbid, int32 subid,
													bool create);
extern void apply_slot_release(Oid dbid, int32 subid);
extern void apply_request_database(Oid dbid);
extern void apply_wake_launcher(void);
extern void apply_wake_manager(Oid dbid);
extern void apply_slot_record_error(ApplyWorkerSlot *slot, ErrorData *edata,
									bool waiting);

/* ---- catalog (catalog.c) ---- */

typedef enum ApplyExistingData
{
	APPLY_EXISTING_ERROR,		/* refuse to copy into a non-empty table */
	APPLY_EXISTING_TRUNCATE,	/* empty it first */
	APPLY_EXISTING_KEEP			/* keep its rows; conflicts by policy */
} ApplyExistingData;

typedef struct ApplySubscription
{
	int32		id;
	char	   *name;
	Oid			owner;
	bool		enabled;
	char	   *conninfo;
	char	   *slot_name;
	char	   *origin_name;
	ApplyPolicy policy;
	bool		only_local;
	bool		replica_role;	/* session_replication_role = replica */
	char	   *include_tables; /* plugin option value, NULL for all */
	char	   *include_schemas;	/* the same, from schemas => */
	char	   *exclude_tables; /* plugin option value, NULL for none */
	XLogRecPtr	skip_lsn;
	bool		copy_data;
	ApplyExistingData existing_data;
	int			copy_parallelism;	/* 0: decoderbufs_apply.copy_parallelism */
	char	   *sequences;		/* pattern list, NULL for none */
	bool		disable_on_error;	/* an apply error disables it */
	int			retry_connection_timeout;	/* seconds, -1: forever;
											 * APPLY_RETRY_USE_SETTING */
	int			retry_apply_timeout;	/* the same */
	List	   *table_policies; /* of ApplyTablePolicy */
	List	   *table_configs;	/* of ApplyTableConfig */
	List	   *schema_maps;	/* of ApplySchemaMap */
	List	   *table_syncs;	/* of ApplyTableSync */
	bool		streaming;		/* receive big transactions while in
								 * progress */
} ApplySubscription;

/* Per-table shaping (table_config), keyed by the source's names. */
typedef struct ApplyTableConfig
{
	char	   *schema_name;
	char	   *table_name;
	char	   *target_schema;	/* NULL: schema mapping, else the same */
	char	   *target_table;	/* NULL: the same */
	List	   *columns;		/* source column names (char *); NIL: all */
	List	   *column_map;		/* of ApplyColumnRename */
	List	   *operations;		/* of char *; NIL: all */
	char	   *row_filter;		/* SQL expression, or NULL */
} ApplyTableConfig;

typedef struct ApplyColumnRename
{
	char	   *source;
	char	   *target;
} ApplyColumnRename;

typedef struct ApplySchemaMap
{
	char	   *source_schema;
	char	   *target_schema;
} ApplySchemaMap;

/* A table's initial copy state (table_sync). */
typedef struct ApplyTableSync
{
	char	   *schema_name;
	char	   *table_name;
	char		state;			/* 'w'aiting, 'c'opying, 'r'eady */
	XLogRecPtr	sync_lsn;		/* apply changes committed at or after */
} ApplyTableSync;

typedef struct ApplyTablePolicy
{
	char	   *schema_name;
	char	   *table_name;
	ApplyPolicy policy;
} ApplyTablePolicy;

extern List *apply_catalog_enabled_subscriptions(void);
extern ApplySubscription *apply_catalog_get_subscription(int32 subid,
														 bool missing_ok);
extern void apply_catalog_clear_skip_lsn(int32 subid);
extern void apply_catalog_stop_subscription(int32 subid, bool disable,
											const char *error_class,
											ErrorData *edata);
extern List *apply_catalog_table_syncs(int32 subid);
extern bool apply_extension_installed(void);

/* ---- the retry policy (retry.c) ---- */

/* A subscription's retry timeout that is NULL: the setting's applies. */
#define APPLY_RETRY_USE_SETTING		(-2)

typedef enum ApplyRetryDecision
{
	APPLY_RETRY_AGAIN,			/* the manager restarts the worker */
	APPLY_RETRY_FAIL,			/* the subscription is failed */
	APPLY_RETRY_DISABLE			/* disable_on_error disables it */
} ApplyRetryDecision;

extern const char *apply_error_class_name(ApplyErrorClass cls);
extern ApplyErrorClass apply_error_class(ErrorData *edata,
										 bool talking_to_source,
										 bool *permanent);
extern ApplyRetryDecision apply_retry_note_failure(ApplyWorkerSlot *slot,
												   ApplySubscription *sub,
												   ErrorData *edata,
												   ApplyErrorClass cls,
												   bool permanent);
extern void apply_retry_progress_locked(ApplyWorkerSlot *slot, bool applied);
extern void apply_retry_reset_locked(ApplyWorkerSlot *slot);
extern bool apply_retry_stop_subscription(ApplyWorkerSlot *slot,
										  ApplySubscription *sub,
										  ErrorData *edata,
										  ApplyErrorClass cls,
										  bool permanent,
										  ApplyRetryDecision decision);

/* ---- replication connection (stream.c) ---- */

extern PGconn *apply_stream_connect(const char *conninfo, const char *appname,
									bool replication);
extern void apply_stream_disconnect(PGconn *conn);
extern void apply_stream_check_password(PGconn *conn, bool must_use_password);
extern char *apply_stream_identify(PGconn *conn, TimeLineID *timeline);
extern PGresult *apply_stream_exec(PGconn *conn, const char *query);
extern PGresult *apply_stream_exec_params(PGconn *conn, const char *query,
										  int nparams,
										  const char *const *values);
extern PGresult *apply_stream_collect_result(PGconn *conn);
extern PGresult *apply_stream_query(PGconn *conn, const char *query,
									int nparams, const char *const *values,
									const char *what);
extern XLogRecPtr apply_stream_create_slot(PGconn *conn, const char *slot_name);
extern XLogRecPtr apply_stream_create_snapshot_slot(PGconn *conn,
													const char *slot_name,
													char **snapshot_name);
extern void apply_stream_drop_slot(PGconn *conn, const char *slot_name);
extern void apply_stream_start(PGconn *conn, ApplySubscription *sub,
							   XLogRecPtr startpoint);
extern void apply_stream_send_feedback(PGconn *conn, XLogRecPtr write,
									   XLogRecPtr flush, XLogRecPtr apply,
									   bool request_reply);
extern void apply_stream_report_error(int elevel, PGconn *conn,
									  const char *what);

/* ---- selection (selection.c) ---- */

/* A table on the source. */
typedef struct ApplySourceTable
{
	char	   *schema_name;
	char	   *table_name;
	Oid			relid;			/* on the source */
	char		replident;		/* d, n, f, i */
	bool		has_key;		/* a primary key or replica identity index */
	int64		approx_rows;	/* reltuples, -1 if unknown */
} ApplySourceTable;

/* A column of a table on the source. */
typedef struct ApplySourceColumn
{
	char	   *name;
	Oid			typid;
	int32		typmod;
	char	   *type_name;		/* format_type() on the source */
	bool		is_key;			/* in the replica identity */
} ApplySourceColumn;

extern bool apply_table_selected(ApplySubscription *sub, const char *schema,
								 const char *table);
extern List *apply_source_tables(PGconn *conn, ApplySubscription *sub);
extern List *apply_source_columns(PGconn *conn, Oid relid);

/* ---- names and per-table settings (mapping.c) ---- */

extern ApplyTableConfig *apply_table_config(ApplySubscription *sub,
											const char *schema,
											const char *table);
extern void apply_target_table(ApplySubscription *sub, const char *schema,
							   const char *table, const char **target_schema,
							   const char **target_table);
extern const char *apply_target_column(ApplyTableConfig *tc,
									   const char *column);
extern bool apply_column_selected(ApplyTableConfig *tc, const char *column);
extern ApplyTableSync *apply_table_sync(ApplySubscription *sub,
										const char *schema,
										const char *table);

/* ---- the initial copy (copy.c) ---- */

extern void apply_copy_run(ApplyContext *actx, PGconn *repl_conn);
extern void apply_copy_note_streamed_table(ApplySubscription *sub,
										   const char *schema,
										   const char *table);
extern PGDLLEXPORT void apply_copy_helper_main(Datum main_arg);

/* ---- the initial copy's bulk loader (copy_load.c) ---- */

extern bool apply_copy_load_supported(Relation rel, List *attnames);
extern uint64 apply_copy_load(Relation rel, List *attnames,
							  int (*read) (void *outbuf, int minread, int maxread));

/* ---- sequences (sequences.c) ---- */

extern int	apply_sequences_sync(ApplySubscription *sub, PGconn *conn);

/* ---- heartbeats (heartbeat.c) ---- */

extern long apply_heartbeat_when_due(ApplyContext *actx,
									 XLogRecPtr received_lsn,
									 bool between_txns);
extern void apply_heartbeat_receive(ApplyContext *actx,
									Decoderbufs__RowMessage *msg);

/* ---- relation mapping (relmap.c) ---- */

/* A column of a remote relation, as its RELATION message describes it. */
typedef struct ApplyRemoteColumn
{
	char	   *name;
	Oid			typid;			/* on the source */
	int32		typmod;
	char	   *type_name;		/* format_type() on the source */
	bool		is_key;
} ApplyRemoteColumn;

/* How to turn a remote column's values into a local column's Datums. */
typedef struct ApplyColumnMap
{
	AttrNumber	local_attnum;	/* 1-based; 0 if the column is ignored */
	Oid			local_typid;
	int32		local_typmod;
	bool		same_type;		/* local and remote types are the same */
	FmgrInfo	input_fn;		/* local type's input function */
	Oid			input_ioparam;
	FmgrInfo	remote_output_fn;	/* remote builtin type's output */
	FmgrInfo	remote_recv_fn; /* remote builtin type's receive */
	Oid			remote_recv_ioparam;
	bool		has_remote_output;	/* remote type is built in */
} ApplyColumnMap;

typedef struct ApplyRelation
{
	uint32		remote_oid;		/* hash key */
	bool		remote_valid;	/* a RELATION message was seen */
	char	   *schema_name;
	char	   *table_name;
	int			ncolumns;
	ApplyRemoteColumn *columns;
	int			nkeys;			/* remote key columns, in key order */
	int		   *key_columns;	/* indexes into columns[] */
	char		replident;

	/* the local side, rebuilt after local DDL */
	bool		local_valid;
	uint32		local_generation;	/* counts the rebuilds */
	bool		ignored;		/* extension's own tables */
	Oid			local_relid;
	ApplyColumnMap *colmap;		/* parallel to columns[] */
	Oid			lookup_index;	/* local index to find rows, or InvalidOid */
	int			nlookup_attnums;
	AttrNumber *lookup_attnums; /* the lookup index's key columns */
	ApplyPolicy policy;
	XLogRecPtr	sync_lsn;		/* skip changes committed before (copy) */
	int			ndefaults;		/* local columns the source does not send */
	AttrNumber *default_attnums;
	Expr	  **default_exprs;
	AclMode		acl_checked;	/* privileges already verified */
	MemoryContext cxt;			/* remote part */
	MemoryContext local_cxt;	/* local part */
} ApplyRelation;

/*
 * Are a relation's changes from the remote transaction committed at
 * commit_lsn applied?  Not those of transactions committed before the
 * snapshot its initial copy was taken in: the copy has their rows.
 */
static inline bool
apply_rel_synced(ApplyRelation *rel, XLogRecPtr commit_lsn)
{
	return rel->sync_lsn == InvalidXLogRecPtr || commit_lsn >= rel->sync_lsn;
}

extern ApplyPolicy apply_table_policy(ApplySubscription *sub,
									  const char *schema, const char *table);
extern void apply_relmap_init(void);
extern void apply_relmap_update(Decoderbufs__RelationInfo *info);
extern ApplyRelation *apply_relmap_get(uint32 remote_oid);
extern void apply_relmap_open_local(ApplyRelation *rel,
									ApplySubscription *sub);

/* ---- values (decode.c) ---- */

/* A decoded remote tuple in the local relation's layout. */
typedef struct ApplyTupleData
{
	int			natts;			/* of the local relation */
	Datum	   *values;
	bool	   *nulls;
	bool	   *present;		/* column sent by the source */
	bool	   *unchanged;		/* unchanged TOAST: keep the local value */
} ApplyTupleData;

extern void apply_decode_tuple(ApplyRelation *rel, TupleDesc localdesc,
							   Decoderbufs__DatumMessage **datums, int ndatums,
							   bool key_only, ApplyTupleData *out);

/* ---- applying (apply_exec.c) ---- */

extern void apply_exec_insert(ApplyContext *actx, ApplyRelation *rel,
							  Decoderbufs__RowMessage *msg);
extern void apply_exec_update(ApplyContext *actx, ApplyRelation *rel,
							  Decoderbufs__RowMessage *msg);
extern void apply_exec_delete(ApplyContext *actx, ApplyRelation *rel,
							  Decoderbufs__RowMessage *msg);
extern void apply_exec_truncate(ApplyContext *actx,
								Decoderbufs__RowMessage *msg);
extern void apply_exec_flush(ApplyContext *actx);
extern void apply_check_target_privileges(Relation rel, AclMode mode);
extern void apply_exec_end(ApplyContext *actx);
extern void apply_exec_forget(void);

/* ---- conflicts (conflict.c) ---- */

/*
 * Who last wrote a local row, or deleted a key (a tombstone), and when:
 * the commit timestamp and replication origin of the writing transaction
 * (track_commit_timestamp), and the node that origin stands for.
 */
typedef struct ApplyRowVersion
{
	bool		known;			/* commit timestamp data is available */
	bool		ours;			/* written by this subscription's source */
	bool		tombstone;		/* a deletion, not a row */
	TimestampTz commit_time;
	RepOriginId origin;			/* InvalidRepOriginId: made on this server */
	uint64		node;			/* system identifier; 0 if not known */
} ApplyRowVersion;

typedef struct ApplyConflict
{
	ApplyConflictType type;
	ApplyPolicy policy;
	ApplyDecision decision;
	Relation	rel;
	TupleTableSlot *remote;		/* may be NULL */
	TupleTableSlot *local;		/* may be NULL */
	TupleTableSlot *key;		/* the key searched for, may be NULL */
	ApplyRowVersion *local_version; /* of the local row or tombstone, or NULL */
	const char *error_detail;	/* an ERROR decision under another policy */
	const char *error_hint;
} ApplyConflict;

extern void apply_row_version(ApplyContext *actx, TupleTableSlot *slot,
							  ApplyRowVersion *v);
extern void apply_xmin_version(ApplyContext *actx, TransactionId xmin,
							   ApplyRowVersion *v);
extern bool apply_lww_remote_wins(ApplyContext *actx, ApplyRowVersion *local,
								  TupleTableSlot *remote_row,
								  TupleTableSlot *local_row);
extern uint64 apply_local_node(void);
extern uint64 apply_remote_node(ApplyContext *actx);
extern char *apply_node_text(uint64 node);
extern void apply_conflict_note_source(ApplyContext *actx);
extern void apply_conflict_report(ApplyContext *actx, ApplyConflict *c);
extern void apply_conflict_insert_failed(ApplyContext *actx, Relation rel,
										 ApplyRelation *arel,
										 TupleTableSlot **slots, int nslots,
										 ErrorData *edata);
extern void apply_conflict_log_pending_failure(ApplyWorkerSlot *slot);

/* ---- tombstones (tombstone.c) ---- */

extern void apply_append_datum_image(StringInfo buf, Datum value,
									 Form_pg_attribute att);
extern bool apply_tombstone_find(ApplyContext *actx, Relation rel,
								 ApplyRelation *arel, TupleTableSlot *keyslot,
								 ApplyRowVersion *v);
extern void apply_tombstone_write(ApplyContext *actx, Relation rel,
								  ApplyRelation *arel, TupleTableSlot *keyslot);
extern void apply_tombstone_end_of_xact(ApplyContext *actx, List *lww_relids);

/* ---- the worker (worker.c) ---- */

struct ApplyContext
{
	ApplySubscription *sub;
	ApplyWorkerSlot *slot;
	XLogRecPtr	remote_commit_lsn;	/* of the transaction being applied */
	TimestampTz remote_commit_time;
	uint32		remote_xid;
	char	   *remote_origin;
	bool		skipping;		/* skip_transaction() matched */
	const char *current_op;		/* for error context */
	ApplyRelation *current_rel;
	const char *current_column;

	/* counters of the transaction being applied, added to shmem at commit */
	uint64		n_inserted;
	uint64		n_updated;
	uint64		n_deleted;
	uint64		n_truncated;
	uint64		n_conflicts[APPLY_NUM_CONFLICT_TYPES];

	Oid			apply_user;		/* the subscription's owner */
	bool		owner_is_superuser; /* else its connection needs a password */
	Oid			worker_user;	/* the worker's own (superuser) identity */
};

extern ApplyContext *MyApplyContext;

extern void apply_context_load(ApplyContext *actx, int32 subid,
							   MemoryContext cxt);
extern void apply_worker_session_settings(ApplySubscription *sub);
extern void apply_worker_stop_copy_helpers(ApplyWorkerSlot *slot);
extern void apply_worker_harness_feed(ApplyContext *actx, char **bufs,
									  int *lens, int nbufs);
extern void apply_worker_harness_reset(void);

extern BackgroundWorkerHandle *apply_start_bgworker(const char *function,
													const char *name,
													const char *type,
													Datum arg, int extra,
													bool notify);

/* ---- streamed transactions' spool files (spool.c) ---- */

typedef struct ApplySpool ApplySpool;

extern ApplySpool *apply_spool_open(TransactionId xid, bool first);
extern void apply_spool_write(ApplySpool *spool, TransactionId subxact,
							  const uint8 *data, size_t len);
extern bool apply_spool_abort(TransactionId xid, TransactionId subxact);
extern ApplySpool *apply_spool_take(TransactionId xid);
extern bool apply_spool_read(ApplySpool *spool, StringInfo buf);
extern void apply_spool_close(ApplySpool *spool);
extern bool apply_spool_any_open(void);
extern void apply_spool_reset(void);
extern void apply_spool_stats(int *ntxns, uint64 *bytes_open,
							  uint64 *bytes_total);

/* ---- verification (verify.c) ---- */

/* Send the source a status update; the worker's, for verify.c. */
typedef void (*ApplyFeedbackFn) (PGconn *conn, bool request_reply);

extern long apply_verify_barrier(ApplyContext *actx, PGconn *conn,
								 XLogRecPtr next_commit, XLogRecPtr received,
								 ApplyFeedbackFn feedback);

extern PGDLLEXPORT void apply_worker_main(Datum main_arg);
extern PGDLLEXPORT void apply_launcher_main(Datum main_arg);
extern PGDLLEXPORT void apply_manager_main(Datum main_arg);

#endif							/* DECODERBUFS_APPLY_H */
