/*-------------------------------------------------------------------------
 *
 * retry.c
 *		The retry policy: which errors are retried for how long, and what
 *		stops a subscription (the failed state, disable_on_error).
 *
 * An apply worker that fails exits and its manager starts it again with
 * backoff (launcher.c).  Before it exits, the worker classifies its error:
 *
 *	connection	the worker could not reach or talk to the source: libpq
 *				failures, errors the source reported over the connection
 *				(a slot in use, too many connections, an administrator's
 *				shutdown), a silent source; these heal by themselves
 *	apply		everything else: what went wrong applying the remote data on
 *				this server (a missing table or column, a constraint, a type,
 *				a conflict under the fail policy, a privilege, a file the
 *				target cannot write); these need someone to fix the cause
 *
 * Each class has its own clock, kept in the subscription's shared slot: it
 * starts at the first error of that class in a run of errors and stops when
 * the worker makes progress (any message from the source after it started
 * streaming stops the connection clock; a remote transaction applied stops
 * both).  An error that comes when its class's clock has run longer than
 * the class's limit (decoderbufs_apply.retry_connection_timeout and
 * retry_apply_timeout, or the subscription's own) makes the subscription
 * failed: the catalog records when and the error, so no worker runs for it
 * again, across server restarts too, until enable_subscription(), or a
 * change to its configuration, resumes it.  With disable_on_error, the
 * first apply error disables the subscription instead.  A replication slot
 * missing on the source fails the subscription at once: no retry can bring
 * it back, and nothing here creates it again.
 *
 * The clocks live in shared memory only: a server restart starts them
 * again (the failed state itself is in the catalog).
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include "access/xact.h"
#include "utils/timestamp.h"

/* GUCs, in seconds; -1: retry forever */
int			apply_retry_connection_timeout = 86400;
int			apply_retry_apply_timeout = 1800;

const char *
apply_error_class_name(ApplyErrorClass cls)
{
	return cls == APPLY_ERROR_CONNECTION ? "connection" : "apply";
}

/*
 * The class of an error the worker met; talking_to_source says that it was
 * connecting to the source or starting the stream.  *permanent is set when
 * retrying cannot help: the subscription's slot does not exist.
 */
ApplyErrorClass
apply_error_class(ErrorData *edata, bool talking_to_source, bool *permanent)
{
	int			code = edata->sqlerrcode;

	*permanent = talking_to_source && code == ERRCODE_UNDEFINED_OBJECT;
	if (talking_to_source)
		return APPLY_ERROR_CONNECTION;
	/* a message we cannot decode will not decode better on another try */
	if (code == ERRCODE_PROTOCOL_VIOLATION)
		return APPLY_ERROR_APPLY;
	if (ERRCODE_TO_CATEGORY(code) == ERRCODE_CONNECTION_EXCEPTION)
		return APPLY_ERROR_CONNECTION;
	return APPLY_ERROR_APPLY;
}

/* The limit of a class for a subscription, in seconds; -1: none. */
static int
retry_limit(ApplySubscription *sub, ApplyErrorClass cls)
{
	int			own = (cls == APPLY_ERROR_CONNECTION) ?
		sub->retry_connection_timeout : sub->retry_apply_timeout;

	if (own != APPLY_RETRY_USE_SETTING)
		return own;
	return (cls == APPLY_ERROR_CONNECTION) ?
		apply_retry_connection_timeout : apply_retry_apply_timeout;
}

/*
 * Note an error of the worker in its slot, with its class, and decide what
 * follows: another try, or the subscription stops.  Starts the class's
 * clock at its first error and sets retry_until, when the subscription
 * fails if its errors go on.
 */
ApplyRetryDecision
apply_retry_note_failure(ApplyWorkerSlot *slot, ApplySubscription *sub,
						 ErrorData *edata, ApplyErrorClass cls,
						 bool permanent)
{
	TimestampTz now = GetCurrentTimestamp();
	int			limit = retry_limit(sub, cls);
	ApplyRetryDecision decision = APPLY_RETRY_AGAIN;
	TimestampTz first;

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	slot->last_error_class = cls;
	if (slot->first_failure_time[cls] == 0)
		slot->first_failure_time[cls] = now;
	first = slot->first_failure_time[cls];
	slot->retry_until = (limit < 0) ? 0 :
		TimestampTzPlusMilliseconds(first, (int64) limit * 1000);
	if (cls == APPLY_ERROR_APPLY && sub->disable_on_error)
		decision = APPLY_RETRY_DISABLE;
	else if (permanent || (limit >= 0 && now >= slot->retry_until))
		decision = APPLY_RETRY_FAIL;
	LWLockRelease(ApplyShared->lock);
	return decision;
}

/*
 * The worker made progress: with applied, it applied a remote transaction
 * (both clocks stop), else it heard from the source while streaming (the
 * connection clock stops).  Caller holds ApplyShared->lock exclusively.
 */
void
apply_retry_progress_locked(ApplyWorkerSlot *slot, bool applied)
{
	slot->first_failure_time[APPLY_ERROR_CONNECTION] = 0;
	if (applied)
		slot->first_failure_time[APPLY_ERROR_APPLY] = 0;
	if (slot->first_failure_time[slot->last_error_class] == 0)
		slot->retry_until = 0;
}

/* The clocks start again: the configuration changed or it was resumed. */
void
apply_retry_reset_locked(ApplyWorkerSlot *slot)
{
	for (int c = 0; c < APPLY_NUM_ERROR_CLASSES; c++)
		slot->first_failure_time[c] = 0;
	slot->retry_until = 0;
	if (slot->state == APPLY_STATE_FAILED)
		slot->state = APPLY_STATE_STOPPED;
}

/* Log that the subscription stopped, why, and what resumes it. */
static void
report_stop(ApplySubscription *sub, ErrorData *edata, ApplyErrorClass cls,
			bool permanent, ApplyRetryDecision decision)
{
	int			limit = retry_limit(sub, cls);

	if (decision == APPLY_RETRY_DISABLE)
		ereport(WARNING,
				(errmsg("decoderbufs_apply subscription \"%s\" is disabled because of an error",
						sub->name),
				 errdetail("Its disable_on_error option is on, and applying failed: %s",
						   edata->message),
				 errhint("Fix the cause, then enable the subscription with decoderbufs_apply.enable_subscription().")));
	else if (permanent)
		ereport(WARNING,
				(errmsg("decoderbufs_apply subscription \"%s\" has failed and is not retried any more",
						sub->name),
				 errdetail("Its replication slot \"%s\" does not exist on the source, and retrying cannot bring it back: %s",
						   sub->slot_name, edata->message),
				 errhint("The changes made on the source since the slot was dropped cannot be replicated. Create the subscription again (with copy_data => true to copy the tables anew), or create the slot on the source again, repair the tables, and call decoderbufs_apply.enable_subscription().")));
	else
		ereport(WARNING,
				(errmsg("decoderbufs_apply subscription \"%s\" has failed and is not retried any more",
						sub->name),
				 errdetail("Its %s errors went on for longer than retry_%s_timeout (%d s); the last one: %s",
						   apply_error_class_name(cls), apply_error_class_name(cls),
						   limit, edata->message),
				 errhint("Fix the cause, then resume the subscription with decoderbufs_apply.enable_subscription(); a change made with alter_subscription() resumes it too.")));
}

/*
 * The subscription stops for good (decision FAIL or DISABLE): record it in
 * the catalog in a transaction of its own, then log it.  Runs in the
 * worker's error path, after the failed transaction was aborted.  Returns
 * false if the catalog could not be written: the worker then retries as
 * for any error, and decides again at its next failure.
 */
bool
apply_retry_stop_subscription(ApplyWorkerSlot *slot, ApplySubscription *sub,
							  ErrorData *edata, ApplyErrorClass cls,
							  bool permanent, ApplyRetryDecision decision)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		StartTransactionCommand();
		apply_catalog_stop_subscription(sub->id,
										decision == APPLY_RETRY_DISABLE,
										apply_error_class_name(cls), edata);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	if (!ok)
		return false;

	LWLockAcquire(ApplyShared->lock, LW_EXCLUSIVE);
	slot->state = (decision == APPLY_RETRY_DISABLE) ?
		APPLY_STATE_DISABLED : APPLY_STATE_FAILED;
	slot->retry_until = 0;
	slot->next_start_time = 0;
	LWLockRelease(ApplyShared->lock);
	report_stop(sub, edata, cls, permanent, decision);
	return true;
}
