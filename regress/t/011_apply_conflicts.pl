# 011_apply_conflicts.pl - each conflict under each policy.
#
# insert_exists, update_missing, update_exists and delete_missing are each
# provoked under fail, ignore and overwrite.  fail stops at the transaction
# (nothing after it applies, nothing is skipped), retries, and resumes once
# the row is fixed; ignore keeps the local row; overwrite makes the remote
# change win.  Every conflict is counted and lands in the conflict log with
# both tuples.  Per-table policies override the subscription's, and
# skip_transaction() steps over one failing transaction.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbufsTest;

my $source = new_node('source');
my $target = new_node('target', apply => 1,
	conf => [ 'decoderbufs_apply.restart_delay_min = 100',
			  'decoderbufs_apply.restart_delay_max = 1000' ]);

my $schema = q{
	CREATE TABLE kv (k int PRIMARY KEY, v text);
	CREATE TABLE after_kv (id int PRIMARY KEY);
};
$source->safe_psql('postgres', $schema);
$target->safe_psql('postgres', $schema);
$target->safe_psql('postgres', 'CREATE EXTENSION decoderbufs_apply');
subscribe($target, 'c', $source);

sub tgt { return $target->safe_psql('postgres', $_[0]); }
sub src { return $source->safe_psql('postgres', $_[0]); }
sub sync { wait_for_sync($source, 'dbufs_c'); }

sub set_policy
{
	tgt("SELECT decoderbufs_apply.alter_subscription('c', conflict_policy => '$_[0]')");
	$target->poll_query_until('postgres',
		"SELECT state = 'streaming' AND conflict_policy = '$_[0]' FROM decoderbufs_apply.subscription_status")
	  or die "subscription did not restart with policy $_[0]";
}

sub log_count
{
	my ($type, $resolution) = @_;
	return tgt("SELECT count(*) FROM decoderbufs_apply.conflict_log WHERE conflict_type = '$type' AND resolution = '$resolution'");
}

# Provoke a conflict under fail: the worker stops at the transaction, the
# next transaction does not apply, and after $fix on the target it resumes.
sub check_fail
{
	my ($type, $setup_target, $remote_change, $fix, $marker) = @_;
	tgt($setup_target) if $setup_target;
	src("BEGIN; $remote_change; COMMIT; INSERT INTO after_kv VALUES ($marker)");
	$target->poll_query_until('postgres',
		"SELECT last_error LIKE '%conflict=$type%' AND retry_count >= 2 FROM decoderbufs_apply.subscription_status")
	  or die "no $type failure reported";
	is(tgt("SELECT count(*) FROM after_kv WHERE id = $marker"), '0',
		"fail/$type: the worker stays at the failing transaction; later ones wait");
	cmp_ok(log_count($type, 'fail'), '>=', 1, "fail/$type: the aborted attempt is in the conflict log");
	cmp_ok(tgt("SELECT $type FROM decoderbufs_apply.subscription_status"), '>=', 1,
		"fail/$type: the conflict is counted");
	tgt($fix);
	sync();
	is(tgt("SELECT count(*) FROM after_kv WHERE id = $marker"), '1',
		"fail/$type: after the fix the worker resumes, nothing skipped");
}

# ---- fail ----
check_fail('insert_exists', "INSERT INTO kv VALUES (1, 'local')",
	"INSERT INTO kv VALUES (1, 'remote')", "DELETE FROM kv WHERE k = 1", 1);
is(tgt('SELECT v FROM kv WHERE k = 1'), 'remote', 'fail/insert_exists: the remote row arrives after the fix');
my $logged = tgt(q{SELECT remote_tuple->>'v', local_tuple->>'v', key_tuple->>'k' = '1', remote_commit_lsn IS NOT NULL
	FROM decoderbufs_apply.conflict_log WHERE conflict_type = 'insert_exists' ORDER BY id LIMIT 1});
is($logged, 'remote|local|t|t', 'the conflict log holds both tuples and the remote commit LSN');

check_fail('update_missing', "DELETE FROM kv WHERE k = 1",
	"UPDATE kv SET v = 'remote2' WHERE k = 1", "INSERT INTO kv VALUES (1, 'restored')", 2);
is(tgt('SELECT v FROM kv WHERE k = 1'), 'remote2', 'fail/update_missing: the update applies after the fix');

src("INSERT INTO kv VALUES (2, 'two')");
sync();
check_fail('update_exists', "INSERT INTO kv VALUES (3, 'local three')",
	"UPDATE kv SET k = 3 WHERE k = 2", "DELETE FROM kv WHERE k = 3", 3);
is(tgt(q{SELECT string_agg(k || v, ',') FROM (SELECT * FROM kv ORDER BY k) s}), '1remote2,3two',
	'fail/update_exists: the key change applies after the fix');

check_fail('delete_missing', "DELETE FROM kv WHERE k = 3",
	"DELETE FROM kv WHERE k = 3", "INSERT INTO kv VALUES (3, 'back')", 4);
is(tgt('SELECT count(*) FROM kv WHERE k = 3'), '0', 'fail/delete_missing: the delete applies after the fix');
is(table_rows($target, 'kv', 'k'), table_rows($source, 'kv', 'k'), 'fail: the tables converge');

# ---- ignore ----
set_policy('ignore');
tgt("INSERT INTO kv VALUES (10, 'local ten'); DELETE FROM kv WHERE k = 1");
src("INSERT INTO kv VALUES (10, 'remote ten'); UPDATE kv SET v = 'lost' WHERE k = 1;
	INSERT INTO kv VALUES (13, 'x')");
sync();
tgt("DELETE FROM kv WHERE k = 13");
src("DELETE FROM kv WHERE k = 13; INSERT INTO after_kv VALUES (5)");
sync();
is(tgt('SELECT v FROM kv WHERE k = 10'), 'local ten', 'ignore/insert_exists keeps the local row');
is(tgt('SELECT count(*) FROM kv WHERE k = 1'), '0', 'ignore/update_missing skips the update');
is(tgt('SELECT count(*) FROM after_kv WHERE id = 5'), '1', 'ignore: replication goes on');
is(log_count('insert_exists', 'ignore') . log_count('update_missing', 'ignore') .
   log_count('delete_missing', 'ignore'), '111', 'ignore: each conflict logged once');

# update_exists under ignore: local 12 exists again, remote moves 12 -> 14 -> no; make a collision
tgt("INSERT INTO kv VALUES (15, 'local fifteen')");
src("INSERT INTO kv VALUES (16, 'sixteen')");
sync();
src("UPDATE kv SET k = 15 WHERE k = 16");
sync();
is(tgt(q{SELECT string_agg(k || v, ',') FROM (SELECT * FROM kv WHERE k IN (15, 16) ORDER BY k) s}),
	'15local fifteen,16sixteen', 'ignore/update_exists skips the update, both rows stay');
is(log_count('update_exists', 'ignore'), '1', 'ignore/update_exists logged');

# ---- overwrite ----
set_policy('overwrite');
tgt("INSERT INTO kv VALUES (20, 'local twenty')");
src("INSERT INTO kv VALUES (20, 'remote twenty')");
sync();
is(tgt('SELECT v FROM kv WHERE k = 20'), 'remote twenty', 'overwrite/insert_exists: the remote row wins');

src("INSERT INTO kv VALUES (21, 'twentyone')");
sync();
tgt("DELETE FROM kv WHERE k = 21");
src("UPDATE kv SET v = 'twentyone updated' WHERE k = 21");
sync();
is(tgt('SELECT v FROM kv WHERE k = 21'), 'twentyone updated', 'overwrite/update_missing inserts the row');

src("INSERT INTO kv VALUES (22, 'twentytwo')");
tgt("INSERT INTO kv VALUES (23, 'local twentythree')");
sync();
src("UPDATE kv SET k = 23 WHERE k = 22");
sync();
is(tgt(q{SELECT string_agg(k || v, ',') FROM (SELECT * FROM kv WHERE k IN (22, 23) ORDER BY k) s}),
	'23twentytwo', 'overwrite/update_exists: the row holding the new key makes way');

tgt("DELETE FROM kv WHERE k = 20");
src("DELETE FROM kv WHERE k = 20; INSERT INTO after_kv VALUES (6)");
sync();
is(tgt('SELECT count(*) FROM after_kv WHERE id = 6'), '1', 'overwrite/delete_missing is a no-op');
is(log_count('insert_exists', 'overwrite') . log_count('update_missing', 'overwrite') .
   log_count('update_exists', 'overwrite') . log_count('delete_missing', 'overwrite'),
	'1111', 'overwrite: each conflict logged once');

# ---- per-table policy over the subscription's ----
tgt("SELECT decoderbufs_apply.set_table_policy('c', 'public.kv', 'ignore')");
$target->poll_query_until('postgres',
	"SELECT state = 'streaming' AND pid IS NOT NULL FROM decoderbufs_apply.subscription_status") or die;
tgt("INSERT INTO kv VALUES (30, 'local thirty')");
src("INSERT INTO kv VALUES (30, 'remote thirty')");
sync();
is(tgt('SELECT v FROM kv WHERE k = 30'), 'local thirty', 'a table policy (ignore) overrides the subscription policy (overwrite)');

# ---- skip_transaction ----
tgt("SELECT decoderbufs_apply.set_table_policy('c', 'public.kv', 'fail')");
tgt("INSERT INTO kv VALUES (40, 'blocker')");
src("BEGIN; INSERT INTO kv VALUES (41, 'skipped too'); INSERT INTO kv VALUES (40, 'remote forty'); COMMIT;
	INSERT INTO kv VALUES (42, 'after the skip')");
$target->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM decoderbufs_apply.conflict_log WHERE resolution = 'fail' AND remote_tuple->>'k' = '40'")
  or die 'no failure logged';
my $lsn = tgt("SELECT remote_commit_lsn FROM decoderbufs_apply.conflict_log WHERE remote_tuple->>'k' = '40' LIMIT 1");
tgt("SELECT decoderbufs_apply.skip_transaction('c', '$lsn')");
sync();
is(tgt(q{SELECT string_agg(k || v, ',') FROM (SELECT * FROM kv WHERE k >= 40 ORDER BY k) s}),
	'40blocker,42after the skip', 'skip_transaction steps over the whole failing transaction only');
is(tgt("SELECT sub_skip_lsn IS NULL FROM decoderbufs_apply.subscription"), 't', 'and clears the skip');

$target->stop;
$source->stop;
done_testing();
