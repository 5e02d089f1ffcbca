# 031_verify.pl - verify(): comparing a subscription's tables on the source
# and on the target at one consistent point.
#
#  (a) identical tables (a 50,000-row table with many types, a composite
#      key, a text key): equal, counts equal, consistent;
#  (b) differences planted on the target of the big table (a changed value,
#      a missing row, an extra row): exactly those keys, in key order, with
#      both rows, and the ranges holding them; max_keys limits the keys
#      listed; verify_all covers every table;
#  (c) a row filter, a column selection, a column rename and a target table
#      mapping: the filtered, mapped image compares equal, and a difference
#      is reported under the target's column names;
#  (d) a table without a key: compared as a whole, counts only;
#  (e) while the source takes writes all the time (pgbench), every verify()
#      finds the two sides equal: the worker is held at the source's
#      snapshot; also when the source is idle;
#  (f) a disabled subscription: compared as it is, with a warning, not
#      consistent;
#  (g) bad arguments and calls: clear errors.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use DbufsTest;

my $source = new_node('source');
my $target = new_node('target', apply => 1,
	conf => [ 'decoderbufs_apply.restart_delay_min = 100',
			  'decoderbufs_apply.restart_delay_max = 1000' ]);

sub src { return $source->safe_psql('postgres', $_[0]); }
sub tgt { return $target->safe_psql('postgres', $_[0]); }

my $schema = q{
	CREATE SCHEMA v;
	CREATE TYPE v.mood AS ENUM ('sad', 'ok', 'happy');
	CREATE TABLE v.big (id int PRIMARY KEY, t text, n numeric, ts timestamptz, d date,
						f float8, b bytea, j jsonb, m v.mood, arr int[], iv interval);
	CREATE TABLE v.comp (a int, b text, v int, PRIMARY KEY (a, b));
	CREATE TABLE v.textkey (code text PRIMARY KEY, v int);
	CREATE TABLE v.nokey (a int, b text);
	ALTER TABLE v.nokey REPLICA IDENTITY FULL;
	CREATE TABLE v.busy (id int PRIMARY KEY, counter int NOT NULL, note text);
	CREATE SCHEMA other;
	CREATE TABLE other.t (id int PRIMARY KEY);
};
src($schema . q{
	CREATE TABLE v.orders (id int PRIMARY KEY, region text NOT NULL, total numeric(12,2),
						   note text, secret text);
	ALTER TABLE v.orders REPLICA IDENTITY FULL;
	INSERT INTO v.big SELECT g, 'row ' || g || E' "quoted" \\\\ back', g * 1.25,
		'2026-01-01 00:00:00+00'::timestamptz + g * interval '37 minutes',
		'2026-01-01'::date + g % 1000, g / 7.0, decode(md5(g::text), 'hex'),
		jsonb_build_object('g', g, 'odd', g % 2 = 1),
		(ARRAY['sad', 'ok', 'happy']::v.mood[])[1 + g % 3],
		CASE WHEN g % 5 = 0 THEN NULL ELSE ARRAY[g, g + 1] END, g * interval '1 second'
	FROM generate_series(1, 50000) g;
	INSERT INTO v.comp SELECT g % 50, 'k' || (g / 50), g FROM generate_series(1, 5000) g;
	INSERT INTO v.textkey SELECT CASE WHEN g % 2 = 0 THEN 'Key' ELSE 'key' END || g, g
	FROM generate_series(1, 3000) g;
	INSERT INTO v.nokey SELECT g % 100, 'n' || g FROM generate_series(1, 2000) g;
	INSERT INTO v.nokey SELECT 1, 'dup' FROM generate_series(1, 3);
	INSERT INTO v.busy SELECT g, 0, NULL FROM generate_series(1, 10000) g;
	INSERT INTO v.orders SELECT g, CASE WHEN g % 3 = 0 THEN 'eu' ELSE 'us' END, g * 10.5,
		'note ' || g, 'secret ' || g FROM generate_series(1, 3000) g;
	INSERT INTO other.t VALUES (1);
});
# the target: orders go to w.orders_eu, which names note "remark", has no
# secret, and a column of its own
tgt($schema . q{
	CREATE SCHEMA w;
	CREATE TABLE w.orders_eu (id int PRIMARY KEY, region text NOT NULL, total numeric(12,2),
							  remark text, local_flag boolean DEFAULT true);
	CREATE EXTENSION decoderbufs_apply;
});

subscribe($target, 'vs', $source, schemas => q{ARRAY['v']}, copy_data => 'true',
	enabled => 'false');
tgt(q{SELECT decoderbufs_apply.set_table_options('vs', 'v.orders', target_table => 'w.orders_eu',
		columns => ARRAY['id', 'region', 'total', 'note'], column_map => '{"note": "remark"}',
		row_filter => $$region = 'eu'$$);
	  SELECT decoderbufs_apply.enable_subscription('vs')});
ok(poll_until($target, q{SELECT count(*) = 6 FROM decoderbufs_apply.table_sync WHERE state = 'ready'}, 120),
	'the tables are copied')
  or diag(tgt(q{SELECT last_error FROM decoderbufs_apply.subscription_status}));
wait_for_sync($source, 'dbufs_vs');

# verify() as rows "kind|status|source_rows|target_rows|key|consistent"
sub verify
{
	my ($table, $max_keys) = @_;
	my $args = "'vs', '$table'" . (defined $max_keys ? ", $max_keys" : '');
	return tgt(qq{SELECT kind, status, source_rows, target_rows, key, consistent
		FROM decoderbufs_apply.verify($args)});
}

# ---- (a) identical tables ------------------------------------------------

for my $t (qw(v.big v.comp v.textkey v.busy))
{
	my $n = src("SELECT count(*) FROM $t");
	is(verify($t), "summary|equal|$n|$n||t", "$t: equal, $n rows on both sides, consistent");
}
is(tgt(q{SELECT source_table, source_lsn IS NOT NULL, range_start, key FROM decoderbufs_apply.verify('vs', 'v.big')}),
	'v.big|t||', 'the summary names the table and the source position compared at');

# ---- (b) differences planted on the target -------------------------------

tgt(q{UPDATE v.big SET n = n + 0.01 WHERE id = 777;
	  DELETE FROM v.big WHERE id = 31234;
	  INSERT INTO v.big (id, t) VALUES (50007, 'extra')});
my $started = Time::HiRes::time();
my $out = verify('v.big');
my $secs = Time::HiRes::time() - $started;
my @keys = grep { /^key\|/ } split /\n/, $out;
is(join("\n", @keys),
	qq{key|different|||{"id": "777"}|t\nkey|missing|||{"id": "31234"}|t\nkey|extra|||{"id": "50007"}|t},
	'the three planted differences, in key order, and nothing else');
like($out, qr/^summary\|different\|50000\|50000\|\|t$/m, 'the summary: different, 50000 rows on both sides');
my @ranges = grep { /^range\|/ } split /\n/, $out;
is(scalar(@ranges), 3, 'one differing range per difference');
diag(sprintf('verify of 50000 rows with 3 differences: %.2f s', $secs));

is(tgt(q{SELECT source_row->>'n', target_row->>'n', source_row->>'t', target_row->>'m'
	FROM decoderbufs_apply.verify('vs', 'v.big') WHERE key->>'id' = '777'}),
	qq{971.25|971.26|row 777 "quoted" \\ back|sad}, 'both rows of the changed key, as text');
is(tgt(q{SELECT source_row IS NOT NULL, target_row IS NULL FROM decoderbufs_apply.verify('vs', 'v.big')
	WHERE status = 'missing'}), 't|t', 'a missing row: the source row only');
is(tgt(q{SELECT source_row IS NULL, target_row->>'t' FROM decoderbufs_apply.verify('vs', 'v.big')
	WHERE status = 'extra'}), 't|extra', 'an extra row: the target row only');
my $ranges_sql = q{SELECT range_start->>'id', range_end->>'id', source_rows, target_rows
	FROM decoderbufs_apply.verify('vs', 'v.big'%s) WHERE kind = 'range'};
my $ranges = tgt(sprintf($ranges_sql, ''));
my @bounds = map { [ split /\|/ ] } split /\n/, $ranges;
ok(@bounds == 3 && $bounds[0][0] eq '' && $bounds[0][1] > 777
	&& $bounds[1][0] <= 31234 && $bounds[1][1] > 31234
	&& $bounds[2][0] <= 50000 && $bounds[2][1] eq ''
	&& $bounds[1][2] == $bounds[1][3] + 1 && $bounds[2][2] + 1 == $bounds[2][3],
	'each range holds its key and counts its rows on both sides')
  or diag($ranges);

$out = verify('v.big', 1);
is(scalar(grep { /^key\|/ } split /\n/, $out), 1, 'max_keys => 1 lists one key');
like($out, qr/^key\|different\|\|\|\{"id": "777"\}\|t$/m, 'the first one');
is(tgt(sprintf($ranges_sql, ', 0')), $ranges, 'max_keys => 0: the same ranges');
is(tgt(q{SELECT count(*) FROM decoderbufs_apply.verify('vs', 'v.big', 0) WHERE kind = 'key'}), '0', 'and no keys');

# a block of 10,000 missing rows: after max_keys keys, the ranges not
# looked into are reported as they are, adjacent ones as one
tgt(q{DELETE FROM v.big WHERE id BETWEEN 10001 AND 20000});
is(tgt(q{SELECT count(*) FILTER (WHERE kind = 'key'),
		count(*) FILTER (WHERE kind = 'range' AND source_rows - target_rows > 9000
						 AND (range_start->>'id')::int BETWEEN 10001 AND 11000
						 AND (range_end->>'id')::int > 20000)
	FROM decoderbufs_apply.verify('vs', 'v.big', 5)}), '5|1',
	'five keys, and one merged range for the rest of the block')
  or diag(tgt(q{SELECT kind, status, range_start, range_end, source_rows, target_rows, key
	FROM decoderbufs_apply.verify('vs', 'v.big', 5)}));

tgt(q{UPDATE v.comp SET v = -1 WHERE a = 7 AND b = 'k60';
	  DELETE FROM v.comp WHERE a = 49 AND b = 'k99';
	  UPDATE v.textkey SET v = -1 WHERE code = 'Key2000';
	  INSERT INTO v.textkey VALUES ('KEY2000', 1), ('kez', 2)});
is(join(',', grep { /^key/ } split /\n/, verify('v.comp')),
	'key|different|||{"a": "7", "b": "k60"}|t,key|missing|||{"a": "49", "b": "k99"}|t',
	'a composite key');
is(join(',', grep { /^key/ } split /\n/, verify('v.textkey')),
	'key|extra|||{"code": "KEY2000"}|t,key|different|||{"code": "Key2000"}|t,key|extra|||{"code": "kez"}|t',
	'a text key, in byte order');

is(tgt(q{SELECT string_agg(source_table || ':' || status, ',' ORDER BY source_table)
	FROM decoderbufs_apply.verify_all('vs') WHERE kind = 'summary'}),
	'v.big:different,v.busy:equal,v.comp:different,v.nokey:equal,v.orders:equal,v.textkey:different',
	'verify_all compares every table of the subscription');

# ---- (c) row filter, column selection, rename, target table --------------

is(verify('v.orders'), 'summary|equal|1000|1000||t',
	'the filtered, column-selected, renamed and mapped image is equal');
tgt(q{UPDATE w.orders_eu SET remark = 'changed', local_flag = false WHERE id = 300;
	  UPDATE w.orders_eu SET local_flag = false WHERE id = 303});
is(tgt(q{SELECT status, key, source_row, target_row FROM decoderbufs_apply.verify('vs', 'v.orders') WHERE kind = 'key'}),
	'different|{"id": "300"}|{"id": "300", "total": "3150.00", "region": "eu", "remark": "note 300"}|'
	. '{"id": "300", "total": "3150.00", "region": "eu", "remark": "changed"}',
	'a difference in a renamed column, under the target names; target-only columns are not compared');
tgt(q{UPDATE w.orders_eu SET remark = 'note 300' WHERE id = 300});
src(q{UPDATE v.orders SET region = 'eu' WHERE id = 1; UPDATE v.orders SET region = 'us' WHERE id = 3});
wait_for_sync($source, 'dbufs_vs');
is(verify('v.orders'), 'summary|equal|1000|1000||t', 'rows moving into and out of the filter');

# ---- (d) a table without a key -------------------------------------------

is(verify('v.nokey'), 'summary|equal|2003|2003||t', 'a table without a key: equal');
tgt(q{INSERT INTO v.nokey VALUES (1, 'dup')});
is(verify('v.nokey'), 'summary|different|2003|2004||t',
	'one duplicate row more: different, counts only');
tgt(q{DELETE FROM v.nokey WHERE ctid = (SELECT max(ctid) FROM v.nokey WHERE b = 'dup');
	  UPDATE v.nokey SET b = 'n5x' WHERE b = 'n5'});
is(verify('v.nokey'), 'summary|different|2003|2003||t', 'a changed row: different, same counts');

# ---- (e) while the source takes writes -----------------------------------

my $script = $source->basedir . '/busy.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
\set id random(1, 12000)
\set other random(1, 12000)
BEGIN;
UPDATE v.busy SET counter = counter + 1, note = 'u' || :other WHERE id = :id;
INSERT INTO v.busy VALUES (:other + 20000, 0, 'new') ON CONFLICT (id) DO UPDATE SET counter = v.busy.counter + 1;
DELETE FROM v.busy WHERE id = :other;
COMMIT;
});
my $pgbench_out = '';
my $pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '2', '-j', '2', '-R', '300', '-T', '120', '-f', $script,
	  '-h', $source->host, '-p', $source->port, 'postgres' ],
	'>', \$pgbench_out, '2>&1');
ok(poll_until($target, q{SELECT count(*) > 0 FROM v.busy WHERE note = 'new'}, 60),
	'the writes reach the target');
my $rounds = 0;
my $equal = 0;
my @seen_lsns;
while ($rounds < 20)
{
	$rounds++;
	my $r = tgt(q{SELECT status || '|' || consistent || '|' || (source_rows = target_rows) || '|' || source_lsn
		FROM decoderbufs_apply.verify('vs', 'v.busy') WHERE kind = 'summary'});
	$equal++ if $r =~ /^equal\|true\|true\|/;
	diag("verify under writes: $r") unless $r =~ /^equal\|true\|true\|/;
	push @seen_lsns, (split /\|/, $r)[3];
}
is($equal, $rounds, "each of $rounds verify() calls under concurrent writes found the sides equal");
isnt($seen_lsns[0], $seen_lsns[-1], 'at different source positions');
ok(tgt(q{SELECT count(*) FROM v.busy WHERE counter > 0}) > 0, 'while rows kept changing');

# a worker that lags: a lock on the target holds it up for 2 s, and
# verify() waits until it has applied everything before the source's point
my $locker = IPC::Run::start(
	[ 'psql', '-X', '-d', $target->connstr('postgres'), '-c',
	  'BEGIN; LOCK TABLE v.busy IN EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;' ],
	'>', \my $locker_out, '2>&1');
ok(poll_until($target, q{SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'decoderbufs_apply worker' AND wait_event_type = 'Lock'}, 30),
	'the worker waits for the lock');
$started = Time::HiRes::time();
is(tgt(q{SELECT status || '|' || consistent FROM decoderbufs_apply.verify('vs', 'v.busy') WHERE kind = 'summary'}),
	'equal|true', 'a lagging worker: verify() waits for it to reach the source\'s point');
ok(Time::HiRes::time() - $started > 1, 'it waited');
$locker->finish;

$pgbench->signal('TERM');
$pgbench->finish;
poll_until($source, "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'pgbench'", 30);
is(tgt(q{SELECT state FROM decoderbufs_apply.subscription_status WHERE subscription = 'vs'}),
	'streaming', 'the worker streams on after being held');

# an idle source: the worker is held once it has everything up to the point
is(verify('v.busy') =~ /^summary\|equal\|(\d+)\|\1\|\|t$/ ? 1 : 0, 1, 'an idle source: equal, consistent');
src(q{INSERT INTO v.busy VALUES (99999, 1, 'after')});
wait_for_sync($source, 'dbufs_vs');
is(tgt(q{SELECT note FROM v.busy WHERE id = 99999}), 'after', 'the worker applies after verify()');

# ---- (f) a disabled subscription -----------------------------------------

tgt(q{SELECT decoderbufs_apply.disable_subscription('vs')});
ok(poll_until($target, q{SELECT pid IS NULL FROM decoderbufs_apply.subscription_status WHERE subscription = 'vs'}, 30),
	'the worker stopped');
my ($ret, $stdout, $stderr) = $target->psql('postgres',
	q{SELECT kind, status, consistent FROM decoderbufs_apply.verify('vs', 'v.busy')});
is($stdout, 'summary|equal|f', 'a disabled subscription: compared as it is, not consistent');
like($stderr, qr/WARNING:  decoderbufs_apply subscription "vs" is not streaming: the target is compared as it is/,
	'with a warning');
like($stderr, qr/The subscription is disabled\./, 'saying why');
tgt(q{SELECT decoderbufs_apply.enable_subscription('vs')});

# ---- (g) bad arguments and calls -----------------------------------------

sub verify_error
{
	my ($sql) = @_;
	my ($r, $o, $e) = $target->psql('postgres', $sql);
	return $e;
}
like(verify_error(q{SELECT * FROM decoderbufs_apply.verify('nope', 'v.big')}),
	qr/ERROR:  decoderbufs_apply subscription "nope" does not exist/, 'an unknown subscription');
like(verify_error(q{SELECT * FROM decoderbufs_apply.verify('vs', 'other.t')}),
	qr/ERROR:  table "other.t" is not part of decoderbufs_apply subscription "vs"/,
	'a table the subscription does not take');
like(verify_error(q{SELECT * FROM decoderbufs_apply.verify('vs', 'v.nosuch')}),
	qr/ERROR:  source table "v.nosuch" does not exist/, 'a table the source does not have');
like(verify_error(q{SELECT * FROM decoderbufs_apply.verify('vs', 'big')}),
	qr/ERROR:  invalid value for argument "table_name": "big"/, 'an unqualified name');
like(verify_error(q{SELECT * FROM decoderbufs_apply.verify('vs', NULL)}),
	qr/ERROR:  argument "table_name" must not be NULL/, 'a NULL table');
like(verify_error(q{SELECT * FROM decoderbufs_apply.verify('vs', 'v.big', -1)}),
	qr/ERROR:  invalid value for argument "max_keys": "-1"/, 'a negative max_keys');
like(verify_error(q{BEGIN; SELECT * FROM decoderbufs_apply.verify('vs', 'v.big'); COMMIT}),
	qr/ERROR:  verify\(\) cannot run inside a transaction block/, 'not inside a transaction block');
tgt(q{CREATE ROLE nobody LOGIN});
like(verify_error(q{SET ROLE nobody; SELECT * FROM decoderbufs_apply.verify('vs', 'v.big')}),
	qr/ERROR:  permission denied for (schema|function)/, 'not for roles that may not manage subscriptions');
tgt(q{CREATE ROLE admin2 LOGIN IN ROLE decoderbufs_apply_admin});
like(verify_error(q{SET ROLE admin2; SELECT * FROM decoderbufs_apply.verify('vs', 'v.big')}),
	qr/ERROR:  permission denied for decoderbufs_apply subscription "vs"/,
	'not for an admin who does not own the subscription');
# a table waiting for its copy again (resync_table; existing_data = error
# keeps it waiting) has nothing to compare yet
tgt(q{SELECT decoderbufs_apply.resync_table('vs', 'v.comp')});
like(verify_error(q{SELECT * FROM decoderbufs_apply.verify('vs', 'v.comp')}),
	qr/ERROR:  table "v.comp" of decoderbufs_apply subscription "vs" has not been copied yet/,
	'a table not copied yet');
tgt(q{SELECT decoderbufs_apply.alter_subscription('vs', existing_data => 'truncate')});
ok(poll_until($target, q{SELECT state = 'ready' FROM decoderbufs_apply.table_sync WHERE table_name = 'comp'}, 60),
	'copied again');
is(verify('v.comp'), 'summary|equal|5000|5000||t', 'and equal after its new copy');
is(src(q{SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%verify%'}), '0',
	'no temporary slot is left on the source');
is(tgt(q{SELECT state FROM decoderbufs_apply.subscription_status WHERE subscription = 'vs'}) =~ /^(streaming|starting|connecting)$/ ? 1 : 0,
	1, 'the subscription runs on');

done_testing();
