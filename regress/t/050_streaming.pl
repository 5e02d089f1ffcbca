# 050_streaming.pl - big transactions streamed while in progress.
#
# The source decodes with logical_decoding_work_mem = 64kB, so a
# transaction of more than a few hundred rows reaches the subscription
# (option streaming, on by default) in blocks before it ends; the worker
# spools them and applies them at the commit.
#  (1) rows leave the source before the commit: while a transaction of
#      200,000 rows is still open, the worker has spooled it (status view,
#      and a temporary file on the target); nothing of it is applied before
#      the commit, everything after;
#  (2) savepoints: what a ROLLBACK TO undoes (after it was spooled) never
#      arrives, what was released does; a streamed transaction that aborts
#      leaves nothing;
#  (3) two streamed transactions at once, with small transactions committing
#      between their blocks;
#  (4) kill -9 of the worker and of the target's postmaster, each while a
#      streamed transaction is still open on the source, and while the
#      worker applies one after its commit; kill -9 of the source's
#      postmaster while a streamed transaction is open there (the crash
#      aborts it), and while it sends committed transactions in blocks:
#      afterwards nothing is lost and nothing is applied twice (a table
#      without a unique key shows any duplicate), no spool is left, and the
#      slot is intact;
#  (5) a streamed transaction made under a replication origin on the source
#      (as an apply worker's there would be) is filtered out by only_local;
#  (6) a streamed transaction that fails to apply (a conflict under the
#      policy fail) is logged with its commit LSN, fails again at every
#      retry (sent again in full each time), and skip_transaction() steps
#      over it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use DbufsTest;

my $source = new_node('source', conf => [ 'logical_decoding_work_mem = 64kB' ]);
my $target = new_node('target', apply => 1,
	conf => [ 'decoderbufs_apply.restart_delay_min = 100',
			  'decoderbufs_apply.restart_delay_max = 1000',
			  'decoderbufs_apply.receive_timeout = 10s',
			  # a killed worker restarts the target instead of stopping it
			  'restart_after_crash = on' ]);

my $schema = q{
	CREATE TABLE big (id bigint PRIMARY KEY, batch int NOT NULL, pad text);
	CREATE TABLE nokey (seq bigint NOT NULL, batch int NOT NULL, v text);
	CREATE TABLE small (id bigint PRIMARY KEY, v text);
};
$source->safe_psql('postgres', $schema . 'CREATE SEQUENCE tag;');
$target->safe_psql('postgres', $schema . 'CREATE EXTENSION decoderbufs_apply;');
# nokey has no key on purpose (a row applied twice shows as an extra row)
# and only ever gets INSERTs; the precheck would reject it.
subscribe($target, 'st', $source, precheck => 'false');
my $slot = 'dbufs_st';

sub src { return $source->safe_psql('postgres', $_[0]); }
sub tgt { return $target->safe_psql('postgres', $_[0]); }
sub st { return status($target, 'st', $_[0]); }

sub st_until
{
	my ($cond, $secs) = @_;
	return poll_until($target,
		"SELECT $cond FROM decoderbufs_apply.subscription_status WHERE subscription = 'st'",
		$secs);
}

sub wait_streaming
{
	my ($not_pid) = @_;
	$not_pid //= 0;
	st_until("state = 'streaming' AND pid IS NOT NULL AND pid <> $not_pid")
	  or die 'the apply worker did not come back';
}

my %digest = (
	big => 'SELECT count(*), count(DISTINCT id), sum(id), md5(string_agg(t::text, \',\' ORDER BY id)) FROM big t',
	nokey => 'SELECT count(*), count(DISTINCT seq), sum(seq), md5(string_agg(t::text, \',\' ORDER BY seq, batch, v)) FROM nokey t',
	small => 'SELECT count(*), md5(string_agg(t::text, \',\' ORDER BY id)) FROM small t',
);

sub check_equal
{
	my ($case) = @_;
	wait_for_sync($source, $slot);
	for my $t (sort keys %digest)
	{
		is(tgt($digest{$t}), src($digest{$t}), "$case: $t equals the source");
	}
	is(tgt('SELECT count(*) - count(DISTINCT seq) FROM nokey'), '0',
		"$case: no row of the table without a key arrived twice");
}

# Rows of a batch into both tables, in the session $bg.
my $batch = 0;
sub insert_rows
{
	my ($bg, $rows, $b) = @_;
	$b //= $batch;
	$bg->query_safe(qq{
		INSERT INTO big SELECT nextval('tag'), $b, repeat('b', 60) FROM generate_series(1, $rows);
		INSERT INTO nokey SELECT nextval('tag'), $b, 'n' FROM generate_series(1, $rows / 4)});
}

# Open a transaction in a new session and insert a first part of a batch.
sub open_txn
{
	my ($rows) = @_;
	my $bg = $source->background_psql('postgres');
	$batch++;
	$bg->query_safe('BEGIN');
	insert_rows($bg, $rows);
	return $bg;
}

wait_streaming();
is(st('streaming'), 't', 'streaming is on by default');
src("INSERT INTO small VALUES (0, 'first')");
check_equal('initial');

# ---- (1) rows leave the source before the commit ----
my $spooled_before = st('spooled_bytes');
my $bg = open_txn(200000);
ok(st_until("spool_transactions = 1 AND spool_bytes > 10000000"),
	'(1) the open transaction is spooled on the target while the source has not committed it');
ok(tgt("SELECT count(*) > 0 FROM pg_ls_tmpdir()"),
	'(1) in a temporary file');
is(tgt("SELECT count(*) FROM big WHERE batch = $batch"), '0', '(1) none of its rows is applied yet');
insert_rows($bg, 1000);
$bg->query_safe('COMMIT');
$bg->quit;
check_equal('(1) after the commit');
is(tgt("SELECT count(*) FROM big WHERE batch = $batch"), '201000', '(1) all its rows are applied');
ok(st('spooled_bytes') > $spooled_before + 10000000, '(1) spooled_bytes counts what was spooled');
is(st('spool_transactions') . '/' . st('spool_bytes'), '0/0', '(1) no spool is left');
is(st('streamed_transactions'), '1', '(1) one streamed transaction applied');
is(tgt('SELECT count(*) FROM pg_ls_tmpdir()'), '0', '(1) the spool file is gone');

# ---- (2) savepoints, and a streamed transaction that aborts ----
$bg = open_txn(30000);
my $b = $batch;
ok(st_until('spool_bytes > 1000000'), '(2) a transaction is spooled');
my $spool = st('spool_bytes');
$bg->query_safe('SAVEPOINT a');
$bg->query_safe("INSERT INTO big SELECT nextval('tag'), -$b, repeat('r', 60) FROM generate_series(1, 30000)");
$bg->query_safe("INSERT INTO nokey SELECT nextval('tag'), -$b, 'r' FROM generate_series(1, 5000)");
ok(st_until("spool_bytes > $spool + 1500000"), '(2) a subtransaction is spooled');
$bg->query_safe('ROLLBACK TO a');
insert_rows($bg, 20000);
$bg->query_safe('SAVEPOINT b');
insert_rows($bg, 20000);
$bg->query_safe('RELEASE b');
ok(st_until('spool_bytes > 3000000'), '(2) what follows is spooled');
$spool = st('spool_bytes');
$bg->query_safe('SAVEPOINT c');
$bg->query_safe('SAVEPOINT d');
$bg->query_safe("INSERT INTO nokey SELECT nextval('tag'), -$b, 'r' FROM generate_series(1, 30000)");
$bg->query_safe('RELEASE d');
ok(st_until("spool_bytes > $spool + 500000"), '(2) nested subtransactions are spooled');
$bg->query_safe('ROLLBACK TO c');
insert_rows($bg, 1000);
$bg->query_safe('COMMIT');
$bg->quit;
check_equal('(2) savepoints');
is(tgt("SELECT count(*) FROM big WHERE batch = -$b") . '/' . tgt("SELECT count(*) FROM nokey WHERE batch = -$b"),
	'0/0', '(2) nothing rolled back to a savepoint arrives');
is(tgt("SELECT count(*) FROM big WHERE batch = $b"), '71000', '(2) everything else does');

# many subtransactions (an exception block per iteration, past the spool's
# hash threshold), every third rolled back after its rows went out
$batch++;
src(qq{DO \$\$ BEGIN FOR i IN 1..60 LOOP
	BEGIN
		INSERT INTO big SELECT nextval('tag'), CASE WHEN i % 3 = 0 THEN -$batch ELSE $batch END,
			repeat('s', 60) FROM generate_series(1, 2000);
		IF i % 3 = 0 THEN RAISE EXCEPTION 'undo'; END IF;
	EXCEPTION WHEN raise_exception THEN NULL;
	END;
END LOOP; END \$\$});
check_equal('(2) many subtransactions');
is(tgt("SELECT count(*) FROM big WHERE batch = $batch") . '/' . tgt("SELECT count(*) FROM big WHERE batch = -$batch"),
	'80000/0', '(2) of 60 subtransactions, the 40 kept arrive and the 20 rolled back do not');

my $aborts = st('streamed_aborts');
$bg = open_txn(50000);
ok(st_until('spool_bytes > 2000000'), '(2) a transaction that will abort is spooled');
$bg->query_safe('ROLLBACK');
$bg->quit;
src("INSERT INTO small VALUES (1, 'after the abort')");
ok(st_until("streamed_aborts = $aborts + 1 AND spool_transactions = 0"),
	'(2) its STREAM_ABORT drops the spool');
check_equal('(2) abort');
is(tgt("SELECT count(*) FROM big WHERE batch = $batch"), '0', '(2) nothing of it arrives');

# ---- (3) two streamed transactions at once, small ones in between ----
my $bg1 = open_txn(20000);
my $b1 = $batch;
my $bg2 = open_txn(20000);
my $b2 = $batch;
src("INSERT INTO small VALUES (2, 'between')");
insert_rows($bg1, 20000, $b1);
src("INSERT INTO small VALUES (3, 'between')");
insert_rows($bg2, 20000, $b2);
ok(st_until('spool_transactions = 2'), '(3) two transactions are spooled at once');
src("INSERT INTO small VALUES (4, 'between')");
ok(poll_until($target, "SELECT count(*) = 4 FROM small WHERE id BETWEEN 1 AND 4"),
	'(3) small transactions are applied while the big ones are open');
is(tgt("SELECT count(*) FROM big WHERE batch IN ($b1, $b2)"), '0', '(3) the big ones are not');
$bg2->query_safe('COMMIT');
$bg2->quit;
ok(poll_until($target, "SELECT count(*) = 40000 FROM big WHERE batch = $b2"),
	'(3) the one committed first is applied first');
is(tgt("SELECT count(*) FROM big WHERE batch = $b1"), '0', '(3) the other is still spooled');
insert_rows($bg1, 1000, $b1);
$bg1->query_safe('COMMIT');
$bg1->quit;
check_equal('(3) interleaved');

# ---- (4) kill -9 of the worker and of the target ----
sub kill_worker
{
	my $pid = st('pid');
	kill 'KILL', $pid;
	wait_streaming($pid);
}

sub kill_target
{
	my @children = split /\n/,
	  tgt('SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()');

	$target->kill9;
	# the orphaned processes notice the postmaster's death and exit; only
	# then can a new postmaster take over the data directory
	my $deadline = time() + 60;
	usleep(100_000) while (grep { kill 0, $_ } @children) && time() < $deadline;
	$target->start;
	wait_streaming();
}

# Wait until the worker applies batch $b: the target's big table grows
# (uncommitted rows take space too) while none of its rows is visible.
sub wait_mid_apply
{
	my ($b, $size_before) = @_;
	return poll_until($target,
		"SELECT pg_relation_size('big') > $size_before + 2000000
		 AND NOT EXISTS (SELECT FROM big WHERE batch = $b)", 60);
}

for my $killer ([ 'worker', \&kill_worker ], [ 'target', \&kill_target ])
{
	my ($who, $kill) = @$killer;

	# while the transaction is open on the source
	$bg = open_txn(50000);
	ok(st_until('spool_bytes > 2000000'), "(4) $who: a transaction is being spooled");
	$kill->();
	insert_rows($bg, 50000);
	$bg->query_safe('COMMIT');
	$bg->quit;
	check_equal("(4) $who killed while the transaction is open");
	is(tgt("SELECT count(*) FROM big WHERE batch = $batch"), '100000',
		"(4) $who: the whole transaction is applied, once");

	# while the worker applies it
	my $size = tgt("SELECT pg_relation_size('big')");
	$bg = open_txn(250000);
	$bg->query_safe('COMMIT');
	$bg->quit;
	ok(wait_mid_apply($batch, $size), "(4) $who: the transaction is being applied");
	$kill->();
	check_equal("(4) $who killed while the transaction is applied");
	is(tgt("SELECT count(*) FROM big WHERE batch = $batch"), '250000',
		"(4) $who: the whole transaction is applied, once");
}
ok($target->log_contains(qr/background worker "decoderbufs_apply worker" \(PID \d+\) was terminated by signal 9/),
	'(4) the postmaster saw the worker killed');

# kill -9 of the source's postmaster; its orphaned backends and walsenders
# notice and exit, then it starts again
sub kill_source
{
	my @children = split /\n/,
	  src('SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()');

	$source->kill9;
	my $deadline = time() + 60;
	usleep(100_000) while (grep { kill 0, $_ } @children) && time() < $deadline;
	ok(!(grep { kill 0, $_ } @children), '(4) source: its processes exit');
	$source->start;
}

sub no_spool_left
{
	my ($case) = @_;
	ok(st_until('spool_transactions = 0 AND spool_bytes = 0'), "$case: no spool is open");
	ok(poll_until($target, 'SELECT count(*) = 0 FROM pg_ls_tmpdir()'), "$case: no spool file is left");
	is(src(qq{SELECT slot_type || ' ' || temporary FROM pg_replication_slots WHERE slot_name = '$slot'}),
		'logical false', "$case: the subscription's slot is intact");
}

# while a streamed transaction is open on the source: the crash ends it
# without an abort record.  The new decoding session finds it aborted at
# its first catalog lookup and sends nothing of it, or streams some again
# and ends it with STREAM_ABORT at the next running-transactions record
# (here: a checkpoint's); either way no spool stays open
my $log_off = -s $target->logfile;
$bg = open_txn(50000);
ok(st_until('spool_transactions = 1 AND spool_bytes > 2000000'), '(4) source: a transaction is being spooled');
my $pid = st('pid');
kill_source();
eval { $bg->quit; };
wait_streaming($pid);
src('CHECKPOINT');
src("INSERT INTO small VALUES (7, 'after the source''s crash')");
check_equal('(4) source killed while a streamed transaction is open');
is(src("SELECT count(*) FROM big WHERE batch = $batch") . '/' . tgt("SELECT count(*) FROM big WHERE batch = $batch"),
	'0/0', '(4) source: nothing of the transaction the crash ended, on either side');
no_spool_left('(4) source killed while a transaction is open');

# while the source sends a committed transaction in blocks: the worker was
# stopped while it committed, so that the source decodes (and streams) it
# from the start when the worker is back
tgt("SELECT decoderbufs_apply.disable_subscription('st')");
st_until("pid IS NULL AND state = 'disabled'") or die 'the worker does not stop';
$batch++;
src(qq{BEGIN;
	INSERT INTO big SELECT nextval('tag'), $batch, repeat('c', 60) FROM generate_series(1, 300000);
	INSERT INTO nokey SELECT nextval('tag'), $batch, 'c' FROM generate_series(1, 75000);
	COMMIT});
src("INSERT INTO small VALUES (8, 'after the committed one')");
tgt("SELECT decoderbufs_apply.enable_subscription('st', precheck => false)");
ok(st_until('spool_transactions = 1 AND spool_bytes > 4000000', 60),
	'(4) source: the committed transaction is being streamed to the worker');
is(tgt("SELECT count(*) FROM big WHERE batch = $batch"), '0', '(4) source: none of it is applied yet');
$pid = st('pid');
kill_source();
wait_streaming($pid);
check_equal('(4) source killed while it streams a committed transaction');
is(tgt("SELECT count(*) FROM big WHERE batch = $batch") . '/' . tgt("SELECT count(*) FROM nokey WHERE batch = $batch"),
	'300000/75000', '(4) source: the whole transaction is applied, once');
no_spool_left('(4) source killed while it streams');
ok(!$target->log_contains(qr/PANIC|was terminated by signal/, $log_off), '(4) source: no crash on the target');

# ---- (5) a streamed transaction under a replication origin ----
src("SELECT pg_replication_origin_create('elsewhere')");
$bg = $source->background_psql('postgres');
$batch++;
$bg->query_safe("SELECT pg_replication_origin_session_setup('elsewhere')");
$bg->query_safe('BEGIN');
insert_rows($bg, 30000);
$bg->query_safe('COMMIT');
$bg->quit;
src("INSERT INTO small VALUES (5, 'after the origin''s')");
ok(poll_until($target, 'SELECT count(*) = 1 FROM small WHERE id = 5'), '(5) later rows arrive');
is(tgt("SELECT count(*) FROM big WHERE batch = $batch"), '0',
	'(5) a transaction made under another origin is left out (only_local)');

# ---- (6) a streamed transaction that fails, stepped over ----
tgt("INSERT INTO big VALUES (-1, 0, 'local')");
$bg = open_txn(30000);
$bg->query_safe("INSERT INTO big VALUES (-1, $batch, 'remote')");
$bg->query_safe('COMMIT');
$bg->quit;
ok(poll_until($target, "SELECT count(*) > 0 FROM decoderbufs_apply.conflict_log
	WHERE sub_name = 'st' AND conflict_type = 'insert_exists' AND resolution = 'fail'"),
	'(6) the streamed transaction fails on a conflict, which is logged');
my $lsn = tgt("SELECT remote_commit_lsn FROM decoderbufs_apply.conflict_log
	WHERE sub_name = 'st' ORDER BY id DESC LIMIT 1");
like(st('last_error_context'), qr/committed at \Q$lsn\E/, '(6) the error names its commit LSN');
ok(st_until('retry_count >= 2'), '(6) it fails again at the retry');
tgt("SELECT decoderbufs_apply.skip_transaction('st', '$lsn')");
src("INSERT INTO small VALUES (6, 'after the skip')");
ok(poll_until($target, 'SELECT count(*) = 1 FROM small WHERE id = 6'), '(6) after skip_transaction() it goes on');
is(tgt("SELECT count(*) FROM big WHERE batch = $batch"), '0', '(6) nothing of the skipped transaction is applied');
is(tgt('SELECT sub_skip_lsn IS NULL FROM decoderbufs_apply.subscription'), 't', '(6) the skip is cleared');

is(st('state'), 'streaming', 'the worker streams on');
done_testing();
