# 051_faults.pl - faults 013_apply_crash.pl and 014_apply_errors.pl do not
# cover, each followed by a check that the target equals the source: no row
# lost, none applied twice (tables without a unique key show a duplicate as
# an extra row).
#  (a) kill -9 of the SOURCE postmaster while the worker streams a large
#      transaction, and while it waits;
#  (b) kill -9 of the TARGET postmaster during an initial copy;
#  (c) the target's disk refuses writes: the directory and files of a
#      tablespace are made read-only.  A worker that must open the table's
#      files again (after a restart) fails with "could not open file", a
#      TRUNCATE (a new file) with "could not create file"; both name the
#      file and, in the context, the table.  The worker retries and, once
#      the permissions are back, resumes with nothing lost;
#  (d) the subscription's slot is dropped on the source: a clear error, the
#      subscription fails at once (it is not retried), nothing creates the
#      slot again (enable_subscription, a restart of the target); recovery
#      by creating the subscription again with copy_data;
#  (e) DDL on the target while the worker runs: a table dropped, a column
#      dropped, a column's type changed so that the values no longer fit:
#      a clear error naming table and column; after the fix the worker
#      resumes at the failed transaction;
#  (f) kill -9 of the SOURCE postmaster during an initial copy, with writes
#      on the source all along: while the copy's temporary slot waits for
#      its snapshot, and while two copy helpers read COPY TO STDOUT in the
#      exported snapshot.  The helpers and the worker stop with a connection
#      error, the worker retries, and the copy starts again from scratch in
#      a new snapshot.  Also once the source has sent all of the last table:
#      the helper loads it, then fails, with nothing left to copy;
#  (g) kill -9 of the apply worker (the copy's coordinator) during an
#      initial copy: the target restarts, the source drops the worker's
#      temporary slot, the copy starts again.
#  After (f) and (g): the tables equal the source (one without a key, one
#  with), every table is ready, and nothing of the copy is left: no
#  temporary slot or helper session on the source, no helper or helper
#  origin on the target; the subscription's own slot is intact.
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
			  'restart_after_crash = on' ]);

sub src { return $source->safe_psql('postgres', $_[0]); }
sub tgt { return $target->safe_psql('postgres', $_[0]); }

# the tablespace of (c), whose permissions the test takes away; given back
# at the end whatever happens, so that the test's files can be removed
my $tsdir = $target->basedir . '/ts_ro';
mkdir $tsdir or die "mkdir $tsdir: $!";
sub set_ro
{
	my ($ro) = @_;
	my @dirs = ($tsdir);
	while (my $d = shift @dirs)
	{
		chmod($ro ? 0500 : 0700, $d) if $d ne $tsdir;
		opendir(my $dh, $d) or die "opendir $d: $!";
		for my $f (grep { !/^\.\.?$/ } readdir $dh)
		{
			my $p = "$d/$f";
			if (-d $p) { push @dirs, $p; chmod(0700, $p) unless $ro; }
			else { chmod($ro ? 0400 : 0600, $p); }
		}
		closedir $dh;
	}
}
END { set_ro(0) if defined $tsdir && -d $tsdir; }

my $schema = q{
	CREATE TABLE keyed (id bigint PRIMARY KEY, v text);
	CREATE TABLE nokey (seq bigint NOT NULL, v text);
	CREATE TABLE big (id bigint PRIMARY KEY, batch int NOT NULL, pad text);
	CREATE TABLE marker (id int PRIMARY KEY);
	CREATE TABLE dropped (n int NOT NULL, v text);
	CREATE TABLE altered (id int PRIMARY KEY, a text, b int);
	CREATE TABLE copied (n bigint NOT NULL, v text);
	CREATE TABLE gone_t (id int PRIMARY KEY, v text);
};
src($schema . q{
	CREATE TABLE ts_t (id int PRIMARY KEY, v text);
	CREATE SEQUENCE tag;
	INSERT INTO copied SELECT g, 'before' FROM generate_series(1, 300000) g;
});
tgt($schema . qq{
	CREATE TABLESPACE ts_ro LOCATION '$tsdir';
	CREATE TABLE ts_t (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false) TABLESPACE ts_ro;
	CREATE EXTENSION decoderbufs_apply;
});
# nokey, dropped and copied have no key on purpose and only get INSERTs;
# the precheck would refuse them
subscribe($target, 'm', $source, precheck => 'false',
	tables => q{ARRAY['public.keyed', 'public.nokey', 'public.big', 'public.marker',
				'public.dropped', 'public.altered', 'public.ts_t']});
subscribe($target, 'gone', $source, tables => q{ARRAY['public.gone_t']});

sub wait_streaming
{
	my ($sub, $not_pid) = @_;
	$not_pid //= 0;
	return poll_until($target, qq{SELECT state = 'streaming' AND pid IS NOT NULL AND pid <> $not_pid
		FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'});
}

my %digest = (
	keyed => 'SELECT count(*), sum(id), md5(string_agg(t::text, \',\' ORDER BY id)) FROM keyed t',
	nokey => 'SELECT count(*), count(DISTINCT seq), sum(seq), md5(string_agg(t::text, \',\' ORDER BY seq, v)) FROM nokey t',
	big => 'SELECT count(*), sum(id), md5(string_agg(t::text, \',\' ORDER BY id)) FROM big t',
	marker => 'SELECT count(*), sum(id) FROM marker',
	dropped => 'SELECT count(*), md5(string_agg(t::text, \',\' ORDER BY n, v)) FROM dropped t',
	altered => 'SELECT count(*), md5(string_agg(t::text, \',\' ORDER BY id)) FROM altered t',
	ts_t => 'SELECT count(*), md5(string_agg(t::text, \',\' ORDER BY id)) FROM ts_t t',
);

sub check_equal
{
	my ($case) = @_;
	wait_for_sync($source, 'dbufs_m');
	for my $t (sort keys %digest)
	{
		is(tgt($digest{$t}), src($digest{$t}), "$case: $t equals the source");
	}
}

# Wait until subscription $sub failed at least $retries times with a
# last_error matching $re; returns last_error.
sub wait_for_error
{
	my ($sub, $re, $retries) = @_;
	my $deadline = time() + 60;
	my $err = '';
	while (time() < $deadline)
	{
		my ($ret, $out) = $target->psql('postgres',
			"SELECT retry_count || '|' || coalesce(last_error, '') || '|' || coalesce(last_error_context, '')
			 FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'");
		if ($ret == 0 && $out =~ /^(\d+)\|(.*)$/s)
		{
			$err = $2;
			return $err if $1 >= $retries && $err =~ $re;
		}
		usleep(100_000);
	}
	return $err;
}

# Kill a postmaster with SIGKILL and wait until its children are gone, so
# that it can be started again.
sub kill9_and_wait
{
	my ($node) = @_;
	my @children = split /\n/, $node->safe_psql('postgres',
		'SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()');
	$node->kill9;
	my $deadline = time() + 60;
	usleep(100_000) while (grep { kill 0, $_ } @children) && time() < $deadline;
	ok(!(grep { kill 0, $_ } @children), 'the processes of the killed ' . $node->name . ' exit');
}

# Wait until $node's log, from offset $off, matches $re.
sub wait_for_log
{
	my ($node, $re, $off) = @_;
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		return 1 if slurp_file($node->logfile, $off) =~ $re;
		usleep(100_000);
	}
	return 0;
}

# Small transactions on the source from two clients until stopped.
my $script = $source->basedir . '/small.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
\set sz random(1, 20)
BEGIN;
INSERT INTO keyed SELECT nextval('tag'), 'k' FROM generate_series(1, :sz);
INSERT INTO nokey SELECT nextval('tag'), 'client ' || :client_id FROM generate_series(1, :sz);
DELETE FROM keyed WHERE id = (SELECT min(id) FROM keyed);
COMMIT;
});
my $pgbench;
sub start_small
{
	my $out = '';
	$pgbench = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-j', '2', '-R', '100', '-T', '300', '-f', $script,
		  '-h', $source->host, '-p', $source->port, 'postgres' ],
		'>', \$out, '2>&1');
}

wait_streaming('m') or die 'm does not stream';
wait_streaming('gone') or die 'gone does not stream';
src(q{INSERT INTO keyed VALUES (0, 'first'); INSERT INTO ts_t VALUES (1, 'one');
	INSERT INTO altered VALUES (1, 'one', NULL); INSERT INTO dropped VALUES (0, 'zero')});
check_equal('start');

# ---- (a) kill -9 of the source: while the worker streams, and while it waits ----
start_small();
my $size = tgt("SELECT pg_relation_size('big')");
src(q{BEGIN;
	INSERT INTO big SELECT nextval('tag'), 1, repeat('b', 40) FROM generate_series(1, 100000);
	INSERT INTO nokey SELECT nextval('tag'), 'large' FROM generate_series(1, 100000);
	COMMIT});
ok(poll_until($target, "SELECT pg_relation_size('big') > $size + 400000
	AND NOT EXISTS (SELECT FROM big WHERE batch = 1)", 60),
	'(a) the worker is in the middle of the large transaction');
kill9_and_wait($source);
$pgbench->finish;			# its server is gone
$source->start;
check_equal('(a) source killed while streaming');

wait_streaming('m');
kill9_and_wait($source);
$source->start;
src(q{INSERT INTO keyed VALUES (-1, 'after the source was killed while the worker waited')});
check_equal('(a) source killed while the worker waited');
is(tgt(q{SELECT state || '/' || retry_count FROM decoderbufs_apply.subscription_status WHERE subscription = 'm'}),
	'streaming/0', '(a) the worker streams again, its retry_count back to 0');

# ---- (b) kill -9 of the target during an initial copy ----
# a trigger on the target slows the copy down, so that the kill comes in
# the middle of it
tgt(q{
	CREATE FUNCTION slow_copy() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF NEW.n % 10000 = 0 AND NEW.n <= 200000 THEN
			PERFORM pg_sleep(0.1);
		END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER slow_copy BEFORE INSERT ON copied FOR EACH ROW EXECUTE FUNCTION slow_copy();
	ALTER TABLE copied ENABLE ALWAYS TRIGGER slow_copy;
});
subscribe($target, 'c', $source, precheck => 'false', tables => q{ARRAY['public.copied']},
	copy_data => 'true');
src(q{INSERT INTO copied SELECT g, 'during the copy' FROM generate_series(300001, 300100) g});
ok(poll_until($target, q{SELECT state = 'copying' AND copy_rows > 20000
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'c'}, 60),
	'(b) the initial copy is under way');
kill9_and_wait($target);
src(q{INSERT INTO copied SELECT g, 'while the target is down' FROM generate_series(300101, 300200) g});
$target->start;
ok(poll_until($target, q{SELECT copy_tables_done = 1 AND state = 'streaming'
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'c'}, 120),
	'(b) the copy starts again and completes after the crash');
src(q{INSERT INTO copied SELECT g, 'after the copy' FROM generate_series(300201, 300300) g});
wait_for_sync($source, 'dbufs_c');
is(tgt('SELECT count(*), count(DISTINCT n), sum(n), md5(string_agg(v, \',\' ORDER BY n)) FROM copied'),
	src('SELECT count(*), count(DISTINCT n), sum(n), md5(string_agg(v, \',\' ORDER BY n)) FROM copied'),
	'(b) the copied table (no key) has every row once');
tgt(q{SELECT decoderbufs_apply.drop_subscription('c')});
check_equal('(b) target killed during a copy');

# ---- (c) the target's disk refuses writes ----
# (c1) open: a worker that starts anew must open the table's files
my $log_off = -s $target->logfile;
tgt('CHECKPOINT');			# nothing of the table left to write or sync
set_ro(1);
my $pid = tgt(q{SELECT pid FROM decoderbufs_apply.subscription_status WHERE subscription = 'm'});
tgt("SELECT pg_terminate_backend($pid)");
src(q{BEGIN; INSERT INTO marker VALUES (10); INSERT INTO ts_t VALUES (10, 'ten'); COMMIT;
	INSERT INTO marker VALUES (11)});
my $err = wait_for_error('m', qr/Permission denied/, 2);
like($err, qr{^could not open file "pg_tblspc/\d+/[^"]+": Permission denied\|.*relation "public\.ts_t"},
	'(c) the worker cannot open the table\'s file: the error names the file, the context the table');
is(tgt('SELECT count(*) FROM marker WHERE id >= 10'), '0',
	'(c) nothing of the failing transaction or later ones is applied');
set_ro(0);
check_equal('(c) files opened again once writable');
# (c2) create: TRUNCATE makes a new file in the read-only directory
tgt('CHECKPOINT');
set_ro(1);
src(q{BEGIN; INSERT INTO marker VALUES (20); TRUNCATE ts_t; INSERT INTO ts_t VALUES (20, 'twenty'); COMMIT;
	INSERT INTO marker VALUES (21)});
$err = wait_for_error('m', qr/could not create file/, 2);
like($err, qr{^could not create file "pg_tblspc/\d+/[^"]+": Permission denied\|.*"TRUNCATE" for relation "public\.ts_t"},
	'(c) TRUNCATE cannot create the new file: the error names it');
is(tgt('SELECT count(*) FROM marker WHERE id >= 20'), '0', '(c) nothing applied meanwhile');
is(tgt(q{SELECT last_error_class FROM decoderbufs_apply.subscription_status WHERE subscription = 'm'}),
	'apply', '(c) an apply error for the retry policy');
set_ro(0);
check_equal('(c) the directory writable again');
ok(!$target->log_contains(qr/PANIC/, $log_off), '(c) no PANIC on the target');

# ---- (d) the slot is dropped on the source ----
src(q{INSERT INTO gone_t VALUES (1, 'one')});
wait_for_sync($source, 'dbufs_gone');
$log_off = -s $target->logfile;
# the worker reconnects at once: terminate its walsender and drop the slot
# until the drop gets in first
my $dropped = 0;
for (1 .. 100)
{
	my ($ret) = $source->psql('postgres', q{
		SELECT pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots
		WHERE slot_name = 'dbufs_gone' AND active_pid IS NOT NULL;
		SELECT pg_drop_replication_slot('dbufs_gone')}, on_error_stop => 1);
	if ($ret == 0) { $dropped = 1; last; }
	usleep(50_000);
}
ok($dropped, '(d) the slot was dropped on the source');
src(q{INSERT INTO gone_t VALUES (2, 'two, while the slot is gone')});
ok(poll_until($target, q{SELECT state = 'failed' FROM decoderbufs_apply.subscription_status
	WHERE subscription = 'gone'}, 30), '(d) the subscription fails');
my ($last_error, $hint) = split /\|/, tgt(q{SELECT last_error, last_error_hint
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'gone'});
is($last_error, 'could not start replication on the source: ERROR:  replication slot "dbufs_gone" does not exist',
	'(d) last_error says the slot does not exist');
like($hint, qr/^The slot is gone from the source, with the changes it kept; nothing creates it again\./,
	'(d) the hint says what it means');
like(slurp_file($target->logfile, $log_off),
	qr/WARNING:  decoderbufs_apply subscription "gone" has failed and is not retried any more\n[^\n]*DETAIL:  Its replication slot "dbufs_gone" does not exist on the source, and retrying cannot bring it back/,
	'(d) the log says it failed for good, and why');
my $slot_count = q{SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%gone%'};
is(src($slot_count), '0', '(d) the slot stays absent');
# enable_subscription: the precheck refuses; without it the worker tries
# once more, fails again, and creates nothing
my ($ret, $out, $stderr) = $target->psql('postgres', q{SELECT decoderbufs_apply.enable_subscription('gone')});
like($stderr, qr/slot: dbufs_gone: replication slot "dbufs_gone" does not exist on the source/,
	'(d) enable_subscription()\'s precheck says the slot is missing');
tgt(q{SELECT decoderbufs_apply.enable_subscription('gone', precheck => false)});
ok(poll_until($target, q{SELECT state = 'failed' FROM decoderbufs_apply.subscription_status
	WHERE subscription = 'gone'}, 30), '(d) enabled without the precheck, it fails again');
my $tries = () = slurp_file($target->logfile, $log_off) =~
  /ERROR:  could not start replication on the source: ERROR:  replication slot "dbufs_gone" does not exist/g;
is($tries, 2, '(d) after exactly one more try');
$target->restart;
ok(!poll_until($target, q{SELECT pid IS NOT NULL OR state <> 'failed' FROM decoderbufs_apply.subscription_status
	WHERE subscription = 'gone'}, 3), '(d) after a restart of the target it is still failed');
is(src($slot_count), '0', '(d) and no slot was created on the source');
# recovery: the subscription again, copying the table anew
tgt(q{SELECT decoderbufs_apply.drop_subscription('gone')});
subscribe($target, 'gone', $source, tables => q{ARRAY['public.gone_t']},
	copy_data => 'true', existing_data => q{'truncate'});
ok(poll_until($target, q{SELECT state = 'streaming' AND copy_tables_done = 1
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'gone'}, 60),
	'(d) created again with copy_data, it copies and streams');
src(q{INSERT INTO gone_t VALUES (3, 'three')});
wait_for_sync($source, 'dbufs_gone');
is(table_rows($target, 'gone_t'), table_rows($source, 'gone_t'), '(d) the table equals the source again');

# ---- (e) DDL on the target while the worker runs ----
wait_streaming('m');
# (e1) a table dropped; the fix brings it back (here: the rows kept aside)
tgt(q{CREATE TABLE dropped_saved AS TABLE dropped; DROP TABLE dropped});
src(q{BEGIN; INSERT INTO marker VALUES (30); INSERT INTO dropped VALUES (1, 'one'); COMMIT;
	INSERT INTO marker VALUES (31)});
$err = wait_for_error('m', qr/dropped/, 2);
like($err, qr/^target relation "public\.dropped" does not exist\|processing remote data for decoderbufs_apply subscription "m" during "INSERT" for relation "public\.dropped" in transaction \d+ committed at /,
	'(e) a dropped table: the error and its context name it');
is(tgt('SELECT count(*) FROM marker WHERE id >= 30'), '0', '(e) nothing applied meanwhile');
tgt(q{ALTER TABLE dropped_saved RENAME TO dropped});
check_equal('(e) the dropped table is back');
# (e2) a column dropped; the rows before have no value in it
tgt(q{ALTER TABLE altered DROP COLUMN b});
src(q{BEGIN; INSERT INTO marker VALUES (40); INSERT INTO altered VALUES (2, 'two', 2); COMMIT;
	INSERT INTO marker VALUES (41)});
$err = wait_for_error('m', qr/no column/, 2);
like($err, qr/^target relation "public\.altered" has no column "b"\|.*relation "public\.altered"/,
	'(e) a dropped column: the error names the table and the column');
is(tgt('SELECT count(*) FROM marker WHERE id >= 40'), '0', '(e) nothing applied meanwhile');
tgt(q{ALTER TABLE altered ADD COLUMN b int});
check_equal('(e) the column is back');
# (e3) a type the values no longer fit
tgt(q{ALTER TABLE altered ALTER b TYPE smallint});
src(q{BEGIN; INSERT INTO marker VALUES (50); INSERT INTO altered VALUES (3, 'three', 100000); COMMIT;
	INSERT INTO marker VALUES (51)});
$err = wait_for_error('m', qr/out of range/, 2);
like($err, qr/^value "100000" is out of range for type smallint\|.*relation "public\.altered" column "b"/,
	'(e) a value the changed type does not take: the error names it, the context table and column');
is(tgt('SELECT count(*) FROM marker WHERE id >= 50'), '0', '(e) nothing applied meanwhile');
tgt(q{ALTER TABLE altered ALTER b TYPE int});
check_equal('(e) the type is wide enough again');

# ---- (f) kill -9 of the SOURCE during an initial copy ----
# Two tables of 30 MB, more than socket buffers hold, each copied by a
# helper of its own (slowed down on the target, so that the kill comes in
# the middle), while clients write to both on the source.  ck_nokey has no key: a row both copied and streamed,
# or copied twice, shows as an extra row.
src(q{
	CREATE TABLE ck_keyed (id bigint PRIMARY KEY, v text);
	CREATE TABLE ck_nokey (seq bigint NOT NULL, v text);
	CREATE SEQUENCE ck_tag START 1000000;
	INSERT INTO ck_keyed SELECT g, 'before ' || repeat('k', 150) FROM generate_series(1, 200000) g;
	INSERT INTO ck_nokey SELECT g, 'before ' || repeat('n', 150) FROM generate_series(1, 200000) g;
});
tgt(q{
	CREATE TABLE ck_keyed (id bigint PRIMARY KEY, v text);
	CREATE TABLE ck_nokey (seq bigint NOT NULL, v text);
	CREATE FUNCTION slow_ck() RETURNS trigger LANGUAGE plpgsql AS $$
	DECLARE
		n bigint := (to_jsonb(NEW) ->> TG_ARGV[0])::bigint;
	BEGIN
		IF n % 10000 = 0 AND n <= 200000 THEN
			PERFORM pg_sleep(0.1);
		END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER slow_ck BEFORE INSERT ON ck_keyed FOR EACH ROW EXECUTE FUNCTION slow_ck('id');
	CREATE TRIGGER slow_ck BEFORE INSERT ON ck_nokey FOR EACH ROW EXECUTE FUNCTION slow_ck('seq');
	ALTER TABLE ck_keyed ENABLE ALWAYS TRIGGER slow_ck;
	ALTER TABLE ck_nokey ENABLE ALWAYS TRIGGER slow_ck;
});
my $ck_script = $source->basedir . '/ck.sql';
PostgreSQL::Test::Utils::append_to_file($ck_script, q{
\set id random(1, 200000)
BEGIN;
INSERT INTO ck_keyed VALUES (nextval('ck_tag'), 'new');
UPDATE ck_keyed SET v = v || '+' WHERE id = :id;
DELETE FROM ck_keyed WHERE id = :id + 1;
INSERT INTO ck_nokey SELECT nextval('ck_tag'), 'client ' || :client_id FROM generate_series(1, 5);
COMMIT;
});
my $ck_pgbench;
sub start_ck_writes
{
	my $out = '';
	$ck_pgbench = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-j', '2', '-R', '50', '-T', '300', '-f', $ck_script,
		  '-h', $source->host, '-p', $source->port, 'postgres' ],
		'>', \$out, '2>&1');
}
sub stop_ck_writes
{
	$ck_pgbench->signal('TERM');
	$ck_pgbench->finish;
	poll_until($source, q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'pgbench'}, 30);
}

my %ck_digest = (
	ck_keyed => 'SELECT count(*), sum(id), md5(string_agg(t::text, \',\' ORDER BY id)) FROM ck_keyed t',
	ck_nokey => 'SELECT count(*), count(DISTINCT seq), sum(seq), md5(string_agg(t::text, \',\' ORDER BY seq, v)) FROM ck_nokey t',
);
my $copy_slots = q{SELECT string_agg(slot_name, ',') FROM pg_replication_slots WHERE slot_name LIKE '%\_copy\_%'};
my $helpers = q{SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'decoderbufs_apply copy'};

# Both tables of subscription $sub in the middle of their copy.
sub both_copying
{
	my ($sub) = @_;
	return poll_until($target, qq{SELECT count(*) = 2 FROM decoderbufs_apply.table_sync t
		JOIN decoderbufs_apply.subscription s USING (sub_id)
		WHERE s.sub_name = '$sub' AND t.state = 'copying'} . q{
		AND (SELECT copy_rows > 40000 FROM decoderbufs_apply.subscription_status
			 WHERE subscription = '} . $sub . q{')}, 60);
}

# After a copy interrupted by a kill: it completed, the worker streams, the
# tables equal the source, and nothing of the copy is left on either side.
sub check_copy
{
	my ($sub, $case) = @_;
	ok(poll_until($target, qq{SELECT state = 'streaming' AND copy_tables_done = 2
		FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'}, 120),
		"$case: the copy completes, the worker streams")
	  or diag(tgt(qq{SELECT state || ' ' || coalesce(last_error, '') FROM decoderbufs_apply.subscription_status
		WHERE subscription = '$sub'}));
	stop_ck_writes();
	wait_for_sync($source, "dbufs_$sub");
	for my $t (sort keys %ck_digest)
	{
		is(tgt($ck_digest{$t}), src($ck_digest{$t}), "$case: $t equals the source");
	}
	ok(src(q{SELECT count(*) > 0 FROM ck_nokey WHERE v LIKE 'client%'}),
		"$case: rows were written on the source during the copy");
	is(tgt(qq{SELECT string_agg(t.state, ',') FROM decoderbufs_apply.table_sync t
		JOIN decoderbufs_apply.subscription s USING (sub_id) WHERE s.sub_name = '$sub'}),
		'ready,ready', "$case: table_sync has both tables ready");
	is(src($copy_slots), '', "$case: no temporary slot of a copy is left on the source");
	is(src(qq{SELECT slot_type || ' ' || temporary FROM pg_replication_slots WHERE slot_name = 'dbufs_$sub'}),
		'logical false', "$case: the subscription's own slot is intact");
	is(tgt($helpers), '', "$case: no copy helper runs on the target");
	is(src(qq{SELECT count(*) FROM pg_stat_activity WHERE application_name = '$sub' AND backend_type <> 'walsender'}),
		'0', "$case: no session of a copy helper is left on the source");
	is(tgt(q{SELECT count(*) FROM pg_replication_origin WHERE roname LIKE '%\_copy\_%'}), '0',
		"$case: no bookkeeping origin of a helper is left");
}

$log_off = -s $target->logfile;
start_ck_writes();
subscribe($target, 'ck', $source, precheck => 'false', copy_data => 'true', copy_parallelism => '2',
	enabled => 'false', tables => q{ARRAY['public.ck_keyed', 'public.ck_nokey']});
# (f1) while the copy's snapshot is being built: the temporary slot waits
# for a transaction that is open on the source
my $open = $source->background_psql('postgres');
$open->query_safe(q{BEGIN; INSERT INTO ck_nokey VALUES (-1, 'never committed')});
tgt(q{SELECT decoderbufs_apply.enable_subscription('ck', precheck => false)});
ok(poll_until($source, q{SELECT count(*) = 1 FROM pg_replication_slots WHERE slot_name LIKE 'dbufs\_ck\_copy\_%'}, 60),
	'(f) the temporary slot of the copy waits for a transaction open on the source');
my $tmp_slot = src($copy_slots);
kill9_and_wait($source);
eval { $open->quit; };
$ck_pgbench->finish;
ok(poll_until($target, q{SELECT last_error LIKE 'could not create a temporary replication slot for the initial copy on the source: %'
	OR last_error LIKE 'could not connect to the source: %'
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'ck'}, 30),
	'(f) the worker stops and retries');
like(slurp_file($target->logfile, $log_off),
	qr/ERROR:  could not create a temporary replication slot for the initial copy on the source: server closed the connection unexpectedly/,
	'(f) the creation of the temporary slot failed');
is(tgt(q{SELECT count(*) FROM decoderbufs_apply.table_sync WHERE state = 'ready'
	AND table_name LIKE 'ck\_%'}), '0', '(f) nothing was copied before the source went down');
$source->start;
ok(!src(qq{SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$tmp_slot'}),
	'(f) the temporary slot did not survive the source\'s crash');
start_ck_writes();

# (f2) while both helpers read their table's COPY from the source
ok(both_copying('ck'), '(f) both tables are being copied, each by a helper');
my @helper_pids = split /,/, tgt($helpers);
is(scalar @helper_pids, 2, '(f) by two helpers');
ok(poll_until($source, q{SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name = 'ck'
	AND state = 'active' AND query LIKE 'COPY %TO STDOUT%'}, 10),
	'(f) which read COPY TO STDOUT on the source, in the exported snapshot');
kill9_and_wait($source);
$ck_pgbench->finish;
ok(poll_until($target, qq{SELECT count(*) = 0 FROM pg_stat_activity WHERE pid IN (} . join(',', @helper_pids) . ')', 60),
	'(f) the helpers stop when the source is gone');
ok(wait_for_log($target, qr/ERROR:  the initial copy of decoderbufs_apply subscription "ck" failed: could not read the copy data from the source: server closed the connection unexpectedly/,
	$log_off), '(f) the worker stops with the helpers\' error');
ok(poll_until($target, q{SELECT state NOT IN ('failed', 'disabled') AND last_error_class = 'connection'
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'ck'}, 10),
	'(f) and retries while the source is down');
is(tgt(q{SELECT count(*) FROM decoderbufs_apply.table_sync WHERE state = 'ready'
	AND table_name LIKE 'ck\_%'}), '0', '(f) neither half-copied table is ready');
$source->start;
start_ck_writes();
check_copy('ck', '(f) source killed during the copy');
ok(!$target->log_contains(qr/PANIC|was terminated by signal/, $log_off), '(f) no crash on the target');

# (f3) at the very end of a copy: the source has sent the whole of a small
# table (it is in the socket buffers) and waits, idle in its transaction,
# while the helper still loads the rows.  The helper finishes the table,
# then fails to end its transaction on the source; every table is ready,
# so the next run of the worker has nothing to copy, and must still drop
# the bookkeeping origin the failed helper left.
src(q{CREATE TABLE ck_small (n int NOT NULL, v text);
	INSERT INTO ck_small SELECT g, 's' FROM generate_series(1, 5000) g});
tgt(q{
	CREATE TABLE ck_small (n int NOT NULL, v text);
	CREATE FUNCTION slow_small() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF NEW.n % 500 = 0 AND NEW.n <= 5000 THEN
			PERFORM pg_sleep(0.3);
		END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER slow_small BEFORE INSERT ON ck_small FOR EACH ROW EXECUTE FUNCTION slow_small();
	ALTER TABLE ck_small ENABLE ALWAYS TRIGGER slow_small;
});
$log_off = -s $target->logfile;
subscribe($target, 'ck3', $source, precheck => 'false', copy_data => 'true', copy_parallelism => '1',
	tables => q{ARRAY['public.ck_small']});
ok(poll_until($source, q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'ck3'
	AND backend_type = 'client backend' AND state = 'idle in transaction' AND query LIKE 'COPY %'}, 60)
   && tgt(q{SELECT state FROM decoderbufs_apply.table_sync WHERE table_name = 'ck_small'}) eq 'copying',
	'(f) the source has sent all of ck_small, the helper still loads it');
kill9_and_wait($source);
ok(poll_until($target, q{SELECT state = 'ready' FROM decoderbufs_apply.table_sync WHERE table_name = 'ck_small'}, 60),
	'(f) the helper finishes the table without the source');
ok(wait_for_log($target, qr/ERROR:  the initial copy of decoderbufs_apply subscription "ck3" failed: could not end the copy's transaction/,
	$log_off), '(f) then fails to end its transaction on the source');
$source->start;
ok(poll_until($target, q{SELECT state = 'streaming' FROM decoderbufs_apply.subscription_status WHERE subscription = 'ck3'}, 60),
	'(f) the worker streams, with nothing left to copy');
src(q{INSERT INTO ck_small VALUES (5001, 'streamed')});
wait_for_sync($source, 'dbufs_ck3');
is(tgt('SELECT count(*), count(DISTINCT n), sum(n) FROM ck_small'), src('SELECT count(*), count(DISTINCT n), sum(n) FROM ck_small'),
	'(f) ck_small (no key) has every row once');
is(tgt(q{SELECT count(*) FROM pg_replication_origin WHERE roname LIKE '%\_copy\_%'}), '0',
	'(f) the bookkeeping origin of the failed helper is dropped');
is(src($copy_slots), '', '(f) no temporary slot of a copy is left on the source');
tgt(q{SELECT decoderbufs_apply.drop_subscription('ck3')});

# ---- (g) kill -9 of the apply worker (the copy's coordinator) during a copy ----
tgt(q{SELECT decoderbufs_apply.drop_subscription('ck')});
start_ck_writes();
subscribe($target, 'ck2', $source, precheck => 'false', copy_data => 'true', copy_parallelism => '2',
	existing_data => q{'truncate'}, tables => q{ARRAY['public.ck_keyed', 'public.ck_nokey']});
ok(both_copying('ck2'), '(g) both tables are being copied');
my $worker = tgt(q{SELECT pid FROM decoderbufs_apply.subscription_status WHERE subscription = 'ck2'});
$tmp_slot = src($copy_slots);
like($tmp_slot, qr/^dbufs_ck2_copy_$worker$/, '(g) the worker holds the copy\'s temporary slot');
kill 'KILL', $worker;
# the postmaster restarts the target; the source drops the slot of the
# connection that is gone
ok(poll_until($source, qq{SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name = '$tmp_slot'}, 60),
	'(g) the killed worker\'s temporary slot is gone from the source');
check_copy('ck2', '(g) worker killed during the copy');
ok($target->log_contains(qr/background worker "decoderbufs_apply worker" \(PID $worker\) was terminated by signal 9/, $log_off),
	'(g) the postmaster saw the worker killed');
ok(!$target->log_contains(qr/PANIC/, $log_off), '(g) no PANIC on the target');
check_equal('(g) the other subscription');

$target->stop;
$source->stop;
done_testing();
