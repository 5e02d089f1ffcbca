# 032_heartbeat.pl - heartbeats through the source and lag in seconds.
#
# With decoderbufs_apply.heartbeat_interval = 200ms: heartbeats come back on
# an idle source, as non-transactional logical messages of a known form, on
# one connection kept open; lag_seconds is small and grows while the worker
# is stuck or stopped; the slot moves on while the subscription's tables
# are idle and another database of the source is busy, with heartbeats and
# without (keepalives alone do it too); a subscription acts only on the
# heartbeats naming its slot; a heartbeat that cannot be written leaves
# replication running, with one WARNING and its hint; a closed heartbeat
# connection is opened again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use DbufsTest;

my $source = new_node('source');
my $target = new_node('target', apply => 1,
	conf => [ 'decoderbufs_apply.heartbeat_interval = 200ms' ]);

sub src { return $source->safe_psql('postgres', $_[0]); }
sub tgt { return $target->safe_psql('postgres', $_[0]); }

# One column (or expression) of a subscription's status row.
sub st
{
	my ($sub, $expr) = @_;
	return tgt("SET TimeZone = 'UTC'; SELECT $expr FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'");
}

sub st_until
{
	my ($sub, $cond, $secs) = @_;
	return poll_until($target,
		"SELECT $cond FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'", $secs);
}

sub set_interval
{
	my ($value) = @_;
	tgt("ALTER SYSTEM SET decoderbufs_apply.heartbeat_interval = '$value'");
	$target->reload;
	poll_until($target, "SELECT current_setting('decoderbufs_apply.heartbeat_interval') = '$value'")
	  or die "the target did not take heartbeat_interval = $value";
}

# Wait until a subscription's last heartbeat stays the same for a second:
# none is written or in flight any more.
sub wait_heartbeats_quiet
{
	my ($sub) = @_;
	my $deadline = time() + 60;
	my $last = st($sub, 'last_heartbeat');
	while (time() < $deadline)
	{
		usleep(1_000_000);
		my $now = st($sub, 'last_heartbeat');
		return 1 if $now eq $last;
		$last = $now;
	}
	return 0;
}

sub slot_lsns
{
	my ($slot) = @_;
	return split /\|/, src("SELECT confirmed_flush_lsn, restart_lsn FROM pg_replication_slots WHERE slot_name = '$slot'");
}

my $schema = q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	CREATE TABLE t2 (id int PRIMARY KEY, v text);
	CREATE TABLE t3 (id int PRIMARY KEY, v text);
};
src($schema);
tgt($schema . 'CREATE EXTENSION decoderbufs_apply;');
# a slot that watches what is written on the source, messages included
src("SELECT pg_create_logical_replication_slot('watch', 'test_decoding')");

subscribe($target, 'hb', $source, tables => q{ARRAY['public.t']});

# ---- heartbeats come back on an idle source ----
ok(st_until('hb', "last_heartbeat > clock_timestamp() - interval '5 s'"),
	'heartbeats come back on an idle source');
my $first = st('hb', 'last_heartbeat');
ok(st_until('hb', "last_heartbeat > '$first'"), 'and keep coming');
ok(st_until('hb', 'lag_seconds IS NOT NULL AND lag_seconds >= 0 AND lag_seconds < 2'),
	'lag_seconds is small and not NULL on an idle source');
ok(st_until('hb', 'heartbeat_lag_seconds IS NOT NULL AND heartbeat_lag_seconds < 2 AND heartbeat_error IS NULL'),
	'heartbeat_lag_seconds is small, heartbeat_error NULL');
is(st('hb', 'state'), 'streaming', 'the subscription streams');

my $messages = src(q{
	SELECT string_agg(data, E'\n') FROM pg_logical_slot_peek_changes('watch', NULL, NULL)
	WHERE data LIKE 'message:%'});
like($messages,
	qr/^message: transactional: 0 prefix: decoderbufs_apply\.heartbeat, sz: \d+ content:slot=dbufs_hb subscription=hb time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/m,
	'a heartbeat is a non-transactional logical message naming the slot, the subscription and the source time');
unlike($messages, qr/transactional: 1/, 'no heartbeat is transactional');
my $hb_lsn = src(q{
	SELECT max(lsn) FROM pg_logical_slot_peek_changes('watch', NULL, NULL)
	WHERE data LIKE 'message:%'});
src("SELECT pg_drop_replication_slot('watch')");
ok(poll_until($source,
	"SELECT confirmed_flush_lsn >= '$hb_lsn' FROM pg_replication_slots WHERE slot_name = 'dbufs_hb'"),
	'the slot moves past the heartbeats on an idle source');

my $hb_pid = src(q{SELECT pid FROM pg_stat_activity WHERE application_name = 'hb heartbeat'});
like($hb_pid, qr/^\d+$/, 'one heartbeat connection on the source, named after the subscription');
$first = st('hb', 'last_heartbeat');
ok(st_until('hb', "last_heartbeat > '$first'"), 'another heartbeat comes back');
is(src(q{SELECT pid FROM pg_stat_activity WHERE application_name = 'hb heartbeat'}), $hb_pid,
	'on the same connection, kept open');

# ---- replication as usual ----
src("INSERT INTO t VALUES (1, 'one'), (2, 'two')");
wait_for_sync($source, 'dbufs_hb');
is(table_rows($target, 't'), "(1,one)\n(2,two)", 'rows replicate with heartbeats on');

# ---- lag grows while the worker is stuck, and comes back down ----
my $locker = $target->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
src("INSERT INTO t VALUES (3, 'blocked')");
ok(st_until('hb', 'lag_seconds > 1.5'),
	'lag_seconds grows while the worker waits for a lock on the target');
is(st('hb', 'state'), 'streaming', 'the worker is still streaming');
$locker->query_safe('COMMIT');
$locker->quit;
wait_for_sync($source, 'dbufs_hb');
is(table_rows($target, 't'), "(1,one)\n(2,two)\n(3,blocked)", 'the row waiting for the lock is applied');
ok(st_until('hb', 'lag_seconds < 1'), 'lag_seconds comes back down');

# ---- the slot moves on while another database of the source is busy ----
src('CREATE DATABASE busy');
$source->safe_psql('busy', 'CREATE TABLE b (id int, pad text)');

# Write WAL in database busy only; the slot (of database postgres) must move
# past it: confirmed_flush_lsn up to its end, restart_lsn past its start.
sub busy_elsewhere
{
	my ($what) = @_;
	my $start = src('SELECT pg_current_wal_lsn()');
	for my $round (1 .. 5)
	{
		$source->safe_psql('busy',
			"INSERT INTO b SELECT g, repeat('x', 400) FROM generate_series(1, 5000) g");
	}
	src('CHECKPOINT');		# logs the running transactions: a restart point
	my $end = src('SELECT pg_current_wal_lsn()');
	is(src("SELECT pg_wal_lsn_diff('$end', '$start') > 2000000"), 't',
		"$what: database busy wrote megabytes of WAL");
	ok(poll_until($source,
		"SELECT confirmed_flush_lsn >= '$end' AND restart_lsn > '$start'
		 FROM pg_replication_slots WHERE slot_name = 'dbufs_hb'"),
		"$what: confirmed_flush_lsn and restart_lsn move past the other database's WAL")
	  or diag(join(' ', 'start', $start, 'end', $end, 'slot', slot_lsns('dbufs_hb')));
}
busy_elsewhere('with heartbeats');
ok(st_until('hb', 'lag_seconds < 2'), 'with heartbeats: lag_seconds is small');

set_interval('0');
ok(st_until('hb', 'last_heartbeat IS NULL AND heartbeat_lag_seconds IS NULL'),
	'heartbeat_interval = 0: the heartbeat columns are NULL');
ok(poll_until($source, q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'hb heartbeat'}),
	'heartbeat_interval = 0: the heartbeat connection is closed');
# the worker reports the positions of the source's keepalives as flushed
# when nothing is pending, so the slot does not depend on heartbeats
busy_elsewhere('without heartbeats');
ok(st_until('hb', 'lag_seconds = 0'), 'without heartbeats: lag_seconds is 0 when caught up');
src("INSERT INTO t VALUES (4, 'no heartbeats')");
wait_for_sync($source, 'dbufs_hb');
is(st('hb', 'inserted'), '4', 'without heartbeats: rows replicate');

set_interval('200ms');
ok(st_until('hb', "last_heartbeat > clock_timestamp() - interval '5 s'"),
	'heartbeats come back when turned on again');

# ---- a subscription acts only on the heartbeats of its slot ----
subscribe($target, 'hb2', $source, tables => q{ARRAY['public.t2']});
ok(st_until('hb2', "last_heartbeat > clock_timestamp() - interval '5 s'"),
	'a second subscription of the same source has heartbeats too');
set_interval('1h');
ok(wait_heartbeats_quiet('hb') && wait_heartbeats_quiet('hb2'),
	'heartbeat_interval = 1h: no heartbeat comes back any more');
my $emit = sub {
	my ($transactional, $prefix, $content) = @_;
	src("SELECT pg_logical_emit_message($transactional, '$prefix', '$content')");
};
$emit->('false', 'decoderbufs_apply.heartbeat', 'slot=dbufs_hb2 subscription=hb2 time=2001-01-01T00:00:00.000000Z');
$emit->('false', 'decoderbufs_apply.heartbeat', 'slot=dbufs_hb subscription=hb time=2002-02-02T00:00:00.000000Z');
# not heartbeats of hb: transactional, another prefix, a bad time, no slot
$emit->('true', 'decoderbufs_apply.heartbeat', 'slot=dbufs_hb subscription=hb time=2003-03-03T00:00:00.000000Z');
$emit->('false', 'decoderbufs_apply.other', 'slot=dbufs_hb subscription=hb time=2004-04-04T00:00:00.000000Z');
$emit->('false', 'decoderbufs_apply.heartbeat', 'slot=dbufs_hb time=2005-05-05T25:00:00.000000Z');
$emit->('false', 'decoderbufs_apply.heartbeat', 'time=2006-06-06T00:00:00.000000Z');
wait_for_sync($source, 'dbufs_hb');
wait_for_sync($source, 'dbufs_hb2');
is(st('hb', 'last_heartbeat'), '2002-02-02 00:00:00+00',
	'a subscription takes the heartbeat naming its slot and ignores the others\'');
is(st('hb2', 'last_heartbeat'), '2001-01-01 00:00:00+00',
	'the other subscription takes its own');
is(st('hb', 'lag_seconds > 3600 * 24 * 365'), 't', 'lag_seconds follows the heartbeat');
is(st('hb', 'state') . ' ' . st('hb2', 'state'), 'streaming streaming',
	'messages that are not heartbeats of a subscription do not disturb it');
set_interval('200ms');
ok(st_until('hb', "last_heartbeat > clock_timestamp() - interval '5 s' AND lag_seconds < 2")
	  && st_until('hb2', "last_heartbeat > clock_timestamp() - interval '5 s' AND lag_seconds < 2"),
	'with heartbeats again, both are back to a small lag');

# ---- lag grows while the worker is stopped ----
tgt("SELECT decoderbufs_apply.disable_subscription('hb2')");
ok(st_until('hb2', "state IN ('disabled', 'stopped') AND lag_seconds > 1"),
	'lag_seconds grows while a subscription is disabled');
tgt("SELECT decoderbufs_apply.enable_subscription('hb2')");
ok(st_until('hb2', "state = 'streaming' AND lag_seconds < 2"),
	'and comes back down once it streams again');

# ---- a heartbeat that cannot be written ----
# the subscription's source user may not run pg_logical_emit_message
src(q{
	CREATE ROLE hb_user LOGIN REPLICATION;
	DO $$
	DECLARE f regprocedure;
	BEGIN
		FOR f IN SELECT oid FROM pg_proc WHERE proname = 'pg_logical_emit_message' LOOP
			EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
		END LOOP;
	END $$;
});
my $log_off = -s $target->logfile;
(my $conn = $source->connstr('postgres') . ' user=hb_user') =~ s/'/''/g;
tgt("SELECT decoderbufs_apply.create_subscription('hbpriv', '$conn', tables => ARRAY['public.t3'])");
ok(poll_until($target, q{SELECT count(*) = 1 FROM decoderbufs_apply.subscription_status
	WHERE subscription = 'hbpriv' AND state = 'streaming' AND heartbeat_error IS NOT NULL}),
	'without the privilege the worker streams, with heartbeat_error set');
is(st('hbpriv', 'heartbeat_error'), 'permission denied for function pg_logical_emit_message',
	'heartbeat_error says why');
my $pid = st('hbpriv', 'pid');
src("INSERT INTO t3 VALUES (1, 'without_heartbeats')");
wait_for_sync($source, 'dbufs_hbpriv');
is(table_rows($target, 't3'), '(1,without_heartbeats)', 'replication goes on');
is(st('hbpriv', 'pid') . ' ' . st('hbpriv', 'last_error IS NULL'), "$pid t",
	'the worker did not restart and has no error');
ok(st_until('hbpriv', 'last_heartbeat IS NULL AND lag_seconds < 1'),
	'no heartbeat; lag_seconds from commit times is small');
like(slurp_file($target->logfile, $log_off),
	qr/WARNING:  heartbeat of decoderbufs_apply subscription "hbpriv" failed: permission denied for function pg_logical_emit_message\n.*DETAIL:  Replication goes on\. Until a heartbeat comes back, lag_seconds is measured from commit times only\.\n.*HINT:  On the source: GRANT EXECUTE ON FUNCTION pg_catalog\.pg_logical_emit_message\(boolean, text, text(, boolean)?\) TO hb_user; or turn heartbeats off with decoderbufs_apply\.heartbeat_interval = 0\./,
	'a WARNING with the grant that is missing');
usleep(1_000_000);			# five more failed attempts
my @warnings = slurp_file($target->logfile, $log_off) =~
  /WARNING:  heartbeat of decoderbufs_apply subscription "hbpriv" failed/g;
is(scalar(@warnings), 1, 'the same failure is logged as a WARNING once, not every interval');

src('GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) TO hb_user')
  if src("SELECT to_regprocedure('pg_logical_emit_message(boolean, text, text, boolean)') IS NULL") eq 't';
src('GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text, boolean) TO hb_user')
  if src("SELECT to_regprocedure('pg_logical_emit_message(boolean, text, text, boolean)') IS NOT NULL") eq 't';
ok(st_until('hbpriv', "last_heartbeat > clock_timestamp() - interval '5 s' AND heartbeat_error IS NULL"),
	'after the GRANT, heartbeats come back');
like(slurp_file($target->logfile, $log_off),
	qr/LOG:  heartbeats of decoderbufs_apply subscription "hbpriv" work again/,
	'and the log says so');
is(st('hbpriv', 'pid'), $pid, 'still the same worker');

# ---- a closed heartbeat connection is opened again ----
$pid = st('hb', 'pid');
$log_off = -s $target->logfile;
$hb_pid = src(q{SELECT pid FROM pg_stat_activity WHERE application_name = 'hb heartbeat'});
src("SELECT pg_terminate_backend($hb_pid)");
ok(poll_until($source, qq{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'hb heartbeat' AND pid <> $hb_pid}),
	'a terminated heartbeat connection is replaced');
$first = st('hb', 'last_heartbeat');
ok(st_until('hb', "last_heartbeat > '$first'"), 'heartbeats come back on the new one');
is(st('hb', 'pid'), $pid, 'the worker did not restart');
unlike(slurp_file($target->logfile, $log_off), qr/WARNING:  heartbeat of decoderbufs_apply subscription "hb" failed/,
	'a connection closed while idle is replaced without a warning');
src("INSERT INTO t VALUES (5, 'after')");
wait_for_sync($source, 'dbufs_hb');
is(st('hb', 'inserted'), '5', 'and replicates');

unlike(slurp_file($target->logfile), qr/ERROR:.*heartbeat|TRAP|server process .* terminated/,
	'no error or crash about heartbeats in the target\'s log');

done_testing();
