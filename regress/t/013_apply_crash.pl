# 013_apply_crash.pl - exactly-once under crashes and restarts.
#
# A stream of small transactions (pgbench: inserts into a keyed table and a
# table with no unique key, a counter update, a delete) and large
# transactions run on the source while the target is hurt:
#  (a) the apply worker is killed with SIGKILL in the middle of a large
#      transaction, several times (the postmaster then restarts the whole
#      target: restart_after_crash is on);
#  (b) the target's postmaster is killed with SIGKILL while applying, and
#      started again;
#  (c) the source is restarted (fast, then immediate) while the worker
#      waits and while it streams;
#  (d) the source stays down for a while: the worker retries with backoff,
#      shows waiting_retry and the connection error, and catches up once the
#      source is back;
#  (e) configuration changes restart the worker, once per change.
# After each, the target must equal the source exactly: every committed row
# once, none lost, none twice (the table without a key would show a
# duplicate as an extra row; the keyed ones would stop the worker with a
# conflict under the fail policy).  The origin's remote LSN, read only once
# the local WAL holding it is flushed, never goes backwards.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use DbufsTest;

my $source = new_node('source');
my $target = new_node('target', apply => 1,
	conf => [ 'decoderbufs_apply.restart_delay_min = 100',
			  'decoderbufs_apply.restart_delay_max = 1000',
			  'decoderbufs_apply.receive_timeout = 10s',
			  # a killed worker restarts the target instead of stopping it
			  'restart_after_crash = on' ]);

my $schema = q{
	CREATE TABLE keyed (id bigint PRIMARY KEY, sz int NOT NULL, v text);
	CREATE TABLE nokey (seq bigint NOT NULL, sz int NOT NULL, v text);
	CREATE TABLE big (id bigint PRIMARY KEY, batch int NOT NULL, pad text);
	CREATE TABLE counter (id int PRIMARY KEY, n bigint NOT NULL);
	INSERT INTO counter VALUES (1, 0);
};
$source->safe_psql('postgres', $schema . 'CREATE SEQUENCE tag;');
$target->safe_psql('postgres', $schema . 'CREATE EXTENSION decoderbufs_apply;');
# The precheck rightly rejects nokey, a table without a key whose UPDATEs
# and DELETEs could not be applied; here it has no key on purpose (a row
# applied twice shows as an extra row) and only ever gets INSERTs.
subscribe($target, 'crash', $source, precheck => 'false');
my $slot = 'dbufs_crash';
my $origin = $target->safe_psql('postgres',
	"SELECT sub_origin_name FROM decoderbufs_apply.subscription WHERE sub_name = 'crash'");

sub src { return $source->safe_psql('postgres', $_[0]); }
sub tgt { return $target->safe_psql('postgres', $_[0]); }

sub worker_pid
{
	return tgt("SELECT pid FROM decoderbufs_apply.subscription_status WHERE subscription = 'crash'");
}

sub wait_streaming
{
	my ($not_pid) = @_;
	$not_pid //= 0;
	poll_until($target, qq{SELECT state = 'streaming' AND pid IS NOT NULL AND pid <> $not_pid
		FROM decoderbufs_apply.subscription_status WHERE subscription = 'crash'})
	  or die 'the apply worker did not come back';
}

# Every column compared as a whole: count, distinct keys, sums and a digest
# of the ordered row set.
my %digest = (
	keyed => 'SELECT count(*), count(DISTINCT id), sum(id), sum(sz), md5(string_agg(t::text, \',\' ORDER BY id)) FROM keyed t',
	nokey => 'SELECT count(*), count(DISTINCT seq), sum(seq), sum(sz), md5(string_agg(t::text, \',\' ORDER BY seq, sz, v)) FROM nokey t',
	big => 'SELECT count(*), count(DISTINCT id), sum(id), md5(string_agg(t::text, \',\' ORDER BY id)) FROM big t',
	counter => 'SELECT n FROM counter',
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

# The origin's remote LSN, once the local WAL that holds it is flushed, so
# that a crash cannot take back what we read.  Must never go backwards.
my @origin_lsns;
sub record_origin_lsn
{
	my ($when) = @_;
	my ($lsn, $insert) = split /\|/, tgt(qq{
		SELECT coalesce(s.remote_lsn, '0/0'), pg_current_wal_insert_lsn()
		FROM pg_replication_origin o
		LEFT JOIN pg_replication_origin_status s ON s.local_id = o.roident
		WHERE o.roname = '$origin'});
	poll_until($target, "SELECT pg_current_wal_flush_lsn() >= '$insert'", 30)
	  or die 'the target does not flush its WAL';
	push @origin_lsns, [ $when, $lsn ];
}

sub lsn_cmp
{
	my ($x, $y) = @_;
	my ($xh, $xl) = map { hex } split m{/}, $x;
	my ($yh, $yl) = map { hex } split m{/}, $y;
	return $xh <=> $yh || $xl <=> $yl;
}

# Small transactions of random size, from two clients, until stopped.
my $script = $source->basedir . '/small.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
\set sz random(1, 30)
BEGIN;
INSERT INTO keyed SELECT nextval('tag'), :sz, repeat('k', :sz) FROM generate_series(1, :sz);
INSERT INTO nokey SELECT nextval('tag'), :sz, 'client ' || :client_id FROM generate_series(1, :sz);
UPDATE counter SET n = n + 1 WHERE id = 1;
DELETE FROM keyed WHERE id = (SELECT min(id) FROM keyed WHERE sz = :sz);
COMMIT;
});
my ($pgbench, $pgbench_out);
sub start_small
{
	$pgbench_out = '';
	$pgbench = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-j', '2', '-R', '100', '-T', '300', '-f', $script,
		  '-h', $source->host, '-p', $source->port, 'postgres' ],
		'>', \$pgbench_out, '2>&1');
}
# Stop the stream; a transaction cut short aborts, so what committed is
# what the source has.  Wait until its sessions are gone.
sub stop_small
{
	$pgbench->signal('TERM');
	$pgbench->finish;
	poll_until($source, "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'pgbench'", 30)
	  or die 'pgbench sessions linger';
}

# One large transaction on the source (rows in a keyed table and in the
# table without a key); returns once it committed.
my $batch = 0;
sub large_txn
{
	my ($rows) = @_;
	$batch++;
	src(qq{BEGIN;
		INSERT INTO big SELECT nextval('tag'), $batch, repeat('b', 40) FROM generate_series(1, $rows);
		INSERT INTO nokey SELECT nextval('tag'), 0, 'large $batch' FROM generate_series(1, $rows);
		COMMIT});
}

# Wait until the worker is inside a large transaction: the target's big
# table has grown (uncommitted rows take space too) while the rows of the
# latest large transaction are not visible yet.
sub wait_mid_apply
{
	my ($size_before) = @_;
	return poll_until($target,
		"SELECT pg_relation_size('big') > $size_before + 400000
		 AND NOT EXISTS (SELECT FROM big WHERE batch = $batch)", 60);
}

wait_streaming();
src("INSERT INTO keyed VALUES (0, 0, 'first')");
check_equal('initial');
record_origin_lsn('initial');

# ---- (a) SIGKILL of the apply worker, several times ----
is(tgt("SELECT pid FROM pg_stat_activity WHERE backend_type = 'decoderbufs_apply worker'"),
	worker_pid(), 'the status view shows the worker\'s PID');
start_small();
my $kills = 0;
for my $round (1 .. 3)
{
	my $size = tgt("SELECT pg_relation_size('big')");
	large_txn(100000);
	if (!wait_mid_apply($size))
	{
		diag("round $round: the large transaction was not seen being applied");
		next;
	}
	my $pid = worker_pid();
	next unless $pid;
	kill 'KILL', $pid;
	$kills++;
	# the postmaster restarts everything: wait for a new worker
	wait_streaming($pid);
	record_origin_lsn("after worker kill $round");
}
is($kills, 3, '(a) the worker was killed three times in the middle of a large transaction');
ok($target->log_contains(qr/background worker "decoderbufs_apply worker" \(PID \d+\) was terminated by signal 9/),
	'(a) the postmaster saw the worker killed');
stop_small();
check_equal('(a) worker killed');
record_origin_lsn('(a) synced');

# ---- (b) SIGKILL of the target's postmaster while applying ----
start_small();
my $size = tgt("SELECT pg_relation_size('big')");
large_txn(100000);
ok(wait_mid_apply($size), '(b) the large transaction is being applied');
my @children = split /\n/, tgt('SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()');
$target->kill9;
# the orphaned processes notice the postmaster's death and exit; only then
# can a new postmaster take over the data directory
my $deadline = time() + 60;
usleep(100_000) while (grep { kill 0, $_ } @children) && time() < $deadline;
ok(!(grep { kill 0, $_ } @children), '(b) the processes of the killed target exit');
$source->safe_psql('postgres', 'INSERT INTO keyed VALUES (-1, 0, \'while the target is down\')');
$target->start;
wait_streaming();
record_origin_lsn('(b) restarted');
stop_small();
check_equal('(b) target postmaster killed');
record_origin_lsn('(b) synced');

# ---- (c) the source restarts while the worker waits, then while it streams ----
$source->restart;			# fast
src("INSERT INTO keyed VALUES (-2, 0, 'after a fast restart of an idle source')");
check_equal('(c) fast restart of the source while idle');
record_origin_lsn('(c) idle restart');

start_small();
$size = tgt("SELECT pg_relation_size('big')");
large_txn(100000);
ok(wait_mid_apply($size), '(c) the large transaction is being streamed');
$source->stop('immediate');
$pgbench->finish;			# fails: its server is gone
$source->start;
check_equal('(c) immediate restart of the source while streaming');
record_origin_lsn('(c) streaming restart');

# ---- (d) the source stays down; the worker retries with backoff ----
start_small();
usleep(500_000);
$source->stop('fast');
$pgbench->finish;
# sample the status: retry_count rises, and the delay before the next
# start (next_retry - last_error_time) doubles up to restart_delay_max
my (%delay_at, $st, $state, $count, $delay, $error);
$deadline = time() + 30;
while (time() < $deadline)
{
	$st = tgt(q{SELECT state, retry_count,
		round(extract(epoch FROM next_retry - last_error_time) * 1000), last_error
		FROM decoderbufs_apply.subscription_status});
	($state, $count, $delay, $error) = split /\|/, $st, 4;
	# between the worker's error and the manager's new schedule, next_retry
	# still holds the previous (past) one: only a schedule after the error
	# counts
	$delay_at{$count} = $delay if $state eq 'waiting_retry' && $delay ne '' && $delay > 0;
	last if $count >= 7 && $state eq 'waiting_retry';
	usleep(50_000);
}
cmp_ok($count, '>=', 7, '(d) the worker keeps retrying while the source is down');
is($state, 'waiting_retry', '(d) the status says waiting_retry');
like($error, qr/^could not connect to the source: connection to server .* failed: /,
	'(d) last_error shows the connection failure');
# the delay doubles from restart_delay_min (100 ms) up to restart_delay_max
# (1000 ms); measured from the error to the planned restart, so a little more
my @counts = sort { $a <=> $b } keys %delay_at;
diag('(d) delays by retry: ' . join(', ', map { "$_ => $delay_at{$_}" } @counts));
my $off = '';
for my $n (@counts)
{
	my $expected = 100 * 2**($n - 1);
	$expected = 1000 if $expected > 1000;
	$off .= "retry $n: $delay_at{$n} ms, expected $expected; "
	  if $delay_at{$n} < $expected - 10 || $delay_at{$n} > $expected + 400;
}
cmp_ok(scalar(@counts), '>=', 4, '(d) the delay was seen at several retries');
is($off, '', '(d) the restart delay doubles from restart_delay_min up to restart_delay_max');
$source->start;
# retry_count goes back to 0 with the first transaction applied
src("INSERT INTO keyed VALUES (-3, 0, 'after the source came back')");
check_equal('(d) the source was down for a while');
is(tgt(q{SELECT state || '/' || retry_count FROM decoderbufs_apply.subscription_status}),
	'streaming/0', '(d) streaming again, retry_count back to 0');
record_origin_lsn('(d) synced');

# ---- (e) a configuration change restarts the worker once ----
# alter_subscription() asks for a restart; the manager stops the worker and
# starts one new worker, which must not be stopped again for the same
# request.
my $log_off = -s $target->logfile;
for my $i (1 .. 5)
{
	my $pid = worker_pid();
	tgt("SELECT decoderbufs_apply.alter_subscription('crash', conflict_policy => 'fail')");
	wait_streaming($pid);
	src("INSERT INTO keyed VALUES (-10 - $i, 0, 'after restart $i')");
	wait_for_sync($source, $slot);
}
my $stops = () = slurp_file($target->logfile, $log_off) =~
  /terminating background worker "decoderbufs_apply worker" due to administrator command/g;
is($stops, 5, '(e) five restart requests stop the worker five times');
check_equal('(e) restarts on configuration changes');

# ---- the origin's progress ----
my $backwards = '';
for my $i (1 .. $#origin_lsns)
{
	my ($w0, $l0) = @{ $origin_lsns[ $i - 1 ] };
	my ($w1, $l1) = @{ $origin_lsns[$i] };
	$backwards .= "$w0 $l0 -> $w1 $l1; " if lsn_cmp($l1, $l0) < 0;
}
is($backwards, '', 'the origin\'s remote LSN never went backwards');
diag(join(', ', map { "$_->[0]: $_->[1]" } @origin_lsns));
is(lsn_cmp($origin_lsns[-1][1], $origin_lsns[0][1]), 1, 'and it advanced');

$target->stop;
$source->stop;
done_testing();
