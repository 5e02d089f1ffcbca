# 030_origin_conflicts.pl - conflicts that depend on who last wrote a row,
# last_update_wins, tombstones and resolve_conflict().
#
# Three servers.  B subscribes to A ("ba": tables t, lww, pre, gone, with
# the initial copy) and to C ("bc": table t); A subscribes to B ("ab": table
# lww), so lww is replicated both ways under last_update_wins; C subscribes
# to A ("ca": table t) and runs without track_commit_timestamp.
#
# - update_origin_differs and delete_origin_differs under fail (logged and
#   applied), ignore (local row kept) and overwrite (applied); rows written
#   by the subscription itself or by its initial copy are no conflicts; a
#   row of another subscription names that subscription's origin and node;
#   without track_commit_timestamp nothing is detected.
# - last_update_wins in both directions: the later commit wins, the earlier
#   loses, for update/update, insert/insert, update/delete in both orders,
#   delete/delete, an insert older than a delete, and a key change onto a
#   key written meanwhile (update_exists); equal commit times go
#   to the node with the higher system identifier, on either side.  The
#   subscriptions are paused (disabled) while both sides write, which fixes
#   the order of the commits without sleeping.
# - tombstones: written for applied and local deletes, purged after
#   decoderbufs_apply.tombstone_retention.
# - resolve_conflict(): apply_remote and discard, and its errors.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Math::BigInt;
use DbufsTest;

my @conf = ('decoderbufs_apply.restart_delay_min = 100',
			'decoderbufs_apply.restart_delay_max = 1000');
my $a = new_node('node_a', apply => 1, conf => \@conf);
my $b = new_node('node_b', apply => 1, conf => \@conf);
my $c = new_node('node_c', apply => 1,
	conf => [ @conf, 'track_commit_timestamp = off' ]);

my $schema = q{
	CREATE TABLE t (k int PRIMARY KEY, v text);
	CREATE TABLE lww (k int PRIMARY KEY, v text);
	CREATE TABLE pre (k int PRIMARY KEY, v text);
	CREATE TABLE gone (k int PRIMARY KEY, v text);
	CREATE EXTENSION decoderbufs_apply;
};
$_->safe_psql('postgres', $schema) for ($a, $b, $c);

sub run_sql { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }
sub sysid { return run_sql($_[0], 'SELECT system_identifier FROM pg_control_system()'); }
my ($id_a, $id_b, $id_c) = map { sysid($_) } ($a, $b, $c);
my $a_is_higher = Math::BigInt->new($id_a) > Math::BigInt->new($id_b);

sub wait_streaming
{
	my ($node, $sub) = @_;
	$node->poll_query_until('postgres',
		"SELECT state = 'streaming' AND pid IS NOT NULL FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'")
	  or die "subscription $sub does not stream";
}

# A's rows of pre exist before B subscribes: B copies them.
run_sql($a, "INSERT INTO pre SELECT g, 'before' FROM generate_series(1, 5) g");

subscribe($b, 'ba', $a, tables => q{ARRAY['public.t', 'public.lww', 'public.pre', 'public.gone']},
	copy_data => 'true', enabled => 'false');
run_sql($b, "SELECT decoderbufs_apply.set_table_policy('ba', 'public.lww', 'last_update_wins')");
run_sql($b, "SELECT decoderbufs_apply.enable_subscription('ba')");
subscribe($b, 'bc', $c, tables => q{ARRAY['public.t']}, conflict_policy => q{'overwrite'});
subscribe($a, 'ab', $b, tables => q{ARRAY['public.lww']}, conflict_policy => q{'last_update_wins'});
subscribe($c, 'ca', $a, tables => q{ARRAY['public.t']}, conflict_policy => q{'ignore'});
$b->poll_query_until('postgres',
	"SELECT copy_tables_done = copy_tables_total FROM decoderbufs_apply.subscription_status WHERE subscription = 'ba'")
  or die 'the initial copy did not finish';
wait_streaming($b, 'ba');
wait_streaming($b, 'bc');
wait_streaming($a, 'ab');
wait_streaming($c, 'ca');

sub sync_ab { wait_for_sync($a, 'dbufs_ba'); }
sub sync_ba { wait_for_sync($b, 'dbufs_ab'); }
sub sync_ac { wait_for_sync($a, 'dbufs_ca'); }

# The conflicts of one type at a node, as "key:decision" in order.
sub logged
{
	my ($node, $table, $type) = @_;
	return run_sql($node, qq{SELECT string_agg(coalesce(key_tuple->>'k', remote_tuple->>'k') || ':' || decision, ',' ORDER BY id)
		FROM decoderbufs_apply.conflict_log WHERE table_name = '$table' AND conflict_type = '$type'});
}

sub set_policy
{
	my ($node, $sub, $table, $policy) = @_;
	my $pid = run_sql($node, "SELECT pid FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'");
	run_sql($node, "SELECT decoderbufs_apply.set_table_policy('$sub', '$table', '$policy')");
	$node->poll_query_until('postgres',
		"SELECT state = 'streaming' AND pid IS NOT NULL AND pid <> $pid FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'")
	  or die "$sub did not restart with policy $policy";
}

############################################################################
# Rows the subscription wrote, or its initial copy, are no origin conflict.
run_sql($a, "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 20) g");
sync_ab();
sync_ac();
run_sql($a, "UPDATE t SET v = 'a again'; UPDATE pre SET v = 'after'; DELETE FROM t WHERE k = 20; DELETE FROM pre WHERE k = 5");
sync_ab();
is(run_sql($b, q{SELECT update_origin_differs || '/' || delete_origin_differs FROM decoderbufs_apply.subscription_status WHERE subscription = 'ba'}),
	'0/0', 'rows applied or copied by the subscription are no origin conflict');
is(run_sql($b, "SELECT string_agg(v, ',' ORDER BY k) FROM pre"), 'after,after,after,after',
	'the copied rows took the updates');
is(run_sql($b, "SELECT sub_source_system_id FROM decoderbufs_apply.subscription WHERE sub_name = 'ba'"), $id_a,
	'the worker records its source\'s system identifier');

############################################################################
# fail: an origin difference is logged and applied; a missing row stops.
run_sql($b, "UPDATE t SET v = 'local' WHERE k = 1");
my $local_ts = run_sql($b, 'SELECT pg_xact_commit_timestamp(xmin) FROM t WHERE k = 1');
run_sql($a, "UPDATE t SET v = 'remote' WHERE k = 1");
my $remote_ts = run_sql($a, 'SELECT pg_xact_commit_timestamp(xmin) FROM t WHERE k = 1');
run_sql($b, "UPDATE t SET v = 'local' WHERE k = 2");
run_sql($a, 'DELETE FROM t WHERE k = 2');
sync_ab();
is(run_sql($b, "SELECT v FROM t WHERE k = 1"), 'remote', 'fail/update_origin_differs: the update applies');
is(run_sql($b, "SELECT count(*) FROM t WHERE k = 2"), '0', 'fail/delete_origin_differs: the delete applies');
is(logged($b, 't', 'update_origin_differs') . ' ' . logged($b, 't', 'delete_origin_differs'),
	'1:applied 2:applied', 'fail: both are logged as applied');
is(run_sql($b, qq{SELECT resolution || '|' || coalesce(local_origin, 'none') || '|' || local_node || '|' ||
		(local_commit_time = '$local_ts') || '|' || remote_node || '|' || (remote_commit_time = '$remote_ts') || '|' ||
		(local_tuple->>'v') || '|' || (remote_tuple->>'v')
	FROM decoderbufs_apply.conflict_log WHERE conflict_type = 'update_origin_differs'}),
	"fail|none|$id_b|true|$id_a|true|local|remote",
	'the log names both origins, nodes and commit times, and both rows');
is(run_sql($b, q{SELECT update_origin_differs || '/' || delete_origin_differs FROM decoderbufs_apply.subscription_status WHERE subscription = 'ba'}),
	'1/1', 'fail: both are counted');

# a missing row stops the worker (decision error); the fix is a local row,
# whose update is then an origin conflict, applied
run_sql($b, 'DELETE FROM t WHERE k = 3');
run_sql($a, "UPDATE t SET v = 'three' WHERE k = 3");
$b->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM decoderbufs_apply.conflict_log WHERE conflict_type = 'update_missing' AND decision = 'error'")
  or die 'no update_missing error logged';
run_sql($b, "INSERT INTO t VALUES (3, 'restored')");
sync_ab();
is(run_sql($b, 'SELECT v FROM t WHERE k = 3'), 'three', 'fail: after the fix the update applies');
is(logged($b, 't', 'update_origin_differs'), '1:applied,3:applied', 'over the restored row, as an origin conflict');

############################################################################
# ignore: the local row stays.
set_policy($b, 'ba', 'public.t', 'ignore');
run_sql($b, "UPDATE t SET v = 'local' WHERE k IN (4, 5)");
run_sql($a, "UPDATE t SET v = 'remote' WHERE k = 4; DELETE FROM t WHERE k = 5");
sync_ab();
is(run_sql($b, "SELECT string_agg(k || v, ',' ORDER BY k) FROM t WHERE k IN (4, 5)"), '4local,5local',
	'ignore: the local row is kept against an update and a delete');
is(logged($b, 't', 'update_origin_differs') . ' ' . logged($b, 't', 'delete_origin_differs'),
	'1:applied,3:applied,4:skipped 2:applied,5:skipped', 'ignore: both are logged as skipped');

############################################################################
# overwrite: the remote change wins.
set_policy($b, 'ba', 'public.t', 'overwrite');
run_sql($b, "UPDATE t SET v = 'local' WHERE k IN (6, 7)");
run_sql($a, "UPDATE t SET v = 'remote' WHERE k = 6; DELETE FROM t WHERE k = 7");
sync_ab();
is(run_sql($b, "SELECT string_agg(k || v, ',' ORDER BY k) FROM t WHERE k IN (6, 7)"), '6remote',
	'overwrite: the update and the delete apply');
is(logged($b, 't', 'update_origin_differs') . ' ' . logged($b, 't', 'delete_origin_differs'),
	'1:applied,3:applied,4:skipped,6:applied 2:applied,5:skipped,7:applied', 'overwrite: both are logged as applied');

# A row of another subscription: its origin, and its source's node.
run_sql($c, "INSERT INTO t VALUES (100, 'from c')");
wait_for_sync($c, 'dbufs_bc');
run_sql($a, "INSERT INTO t VALUES (100, 'from a')");
sync_ab();
is(run_sql($b, 'SELECT v FROM t WHERE k = 100'), 'from a', 'overwrite/insert_exists over a row of another subscription');
is(run_sql($b, q{SELECT l.local_origin = s.sub_origin_name AND l.local_node = s.sub_source_system_id
		FROM decoderbufs_apply.conflict_log l, decoderbufs_apply.subscription s
		WHERE l.conflict_type = 'insert_exists' AND l.remote_tuple->>'k' = '100' AND s.sub_name = 'bc'}),
	't', "the local row's origin is the other subscription's, its node that subscription's source");
is(run_sql($b, "SELECT sub_source_system_id FROM decoderbufs_apply.subscription WHERE sub_name = 'bc'"), $id_c,
	"which is C's system identifier");

# A key change whose old row is gone, onto a key a local row holds: the
# local row takes the update (update_missing, then update_exists).
run_sql($b, "DELETE FROM t WHERE k = 13; INSERT INTO t VALUES (300, 'local three hundred')");
run_sql($a, 'UPDATE t SET k = 300 WHERE k = 13');
sync_ab();
is(run_sql($b, "SELECT string_agg(k || v, ',' ORDER BY k) FROM t WHERE k IN (13, 300)"), '300a again',
	'overwrite: a key change of a missing row updates the row holding its new key');
is(run_sql($b, q{SELECT string_agg(conflict_type || ':' || decision, ',' ORDER BY id) FROM decoderbufs_apply.conflict_log
		WHERE table_name = 't' AND remote_tuple->>'k' = '300'}),
	'update_missing:applied,update_exists:applied', 'both conflicts are logged');

############################################################################
# Without track_commit_timestamp (C): not detected, and last_update_wins refused.
sync_ac();
run_sql($c, "UPDATE t SET v = 'local' WHERE k = 8");
run_sql($a, "UPDATE t SET v = 'remote' WHERE k = 8");
sync_ac();
is(run_sql($c, 'SELECT v FROM t WHERE k = 8'), 'remote',
	'without commit timestamps the update applies even under ignore: nothing detected');
is(run_sql($c, q{SELECT update_origin_differs || '/' || delete_origin_differs || '/' ||
		(SELECT count(*) FROM decoderbufs_apply.conflict_log WHERE conflict_type LIKE '%origin_differs')
	FROM decoderbufs_apply.subscription_status}), '0/0/0', 'nor counted, nor logged');
my ($ret, $out, $err) = $c->psql('postgres',
	"SELECT decoderbufs_apply.alter_subscription('ca', conflict_policy => 'last_update_wins')");
like($err, qr/conflict policy last_update_wins needs track_commit_timestamp/,
	'last_update_wins is refused without track_commit_timestamp');
is(run_sql($c, q{SELECT status FROM decoderbufs_apply.precheck(subscription => 'ca') WHERE check_name = 'track_commit_timestamp'}),
	'warning', 'the precheck warns about it');
is(run_sql($b, q{SELECT status FROM decoderbufs_apply.precheck(subscription => 'ba') WHERE check_name = 'track_commit_timestamp'}),
	'ok', 'and is happy where it is on');

############################################################################
# last_update_wins, two ways (table lww).
run_sql($a, "INSERT INTO lww SELECT g, 'init' FROM generate_series(1, 20) g");
sync_ab();
run_sql($b, "INSERT INTO lww VALUES (100, 'from b')");
sync_ba();
is(run_sql($a, 'SELECT count(*) FROM lww') . '/' . run_sql($b, 'SELECT count(*) FROM lww'), '21/21', 'lww is in step');
for my $n ([ $a, 'A' ], [ $b, 'B' ])
{
	is(run_sql($n->[0], q{SELECT string_agg(tgrelid::regclass::text, ',') FROM pg_trigger WHERE tgname = 'decoderbufs_apply_tombstone'}),
		'lww', "$n->[1]: the worker put the delete trigger on the last_update_wins table only");
}

# Pause both directions; the changes made meanwhile meet when they resume.
sub pause
{
	run_sql($a, "SELECT decoderbufs_apply.disable_subscription('ab')");
	run_sql($b, "SELECT decoderbufs_apply.disable_subscription('ba')");
	for my $n ([ $a, 'ab' ], [ $b, 'ba' ])
	{
		$n->[0]->poll_query_until('postgres',
			"SELECT pid IS NULL FROM decoderbufs_apply.subscription_status WHERE subscription = '$n->[1]'")
		  or die "$n->[1] did not stop";
	}
}

sub resume
{
	run_sql($a, "SELECT decoderbufs_apply.enable_subscription('ab', precheck => false)");
	run_sql($b, "SELECT decoderbufs_apply.enable_subscription('ba', precheck => false)");
	wait_streaming($a, 'ab');
	wait_streaming($b, 'ba');
	sync_ab();
	sync_ba();
}

sub both { my ($sql) = @_; return run_sql($a, $sql) . ' | ' . run_sql($b, $sql); }
sub row_of { my ($k) = @_; return both("SELECT coalesce((SELECT v FROM lww WHERE k = $k), 'none')"); }

pause();
run_sql($a, "UPDATE lww SET v = 'a1' WHERE k = 1");
run_sql($b, "UPDATE lww SET v = 'b1' WHERE k = 1");
run_sql($b, "UPDATE lww SET v = 'b2' WHERE k = 2");
run_sql($a, "UPDATE lww SET v = 'a2' WHERE k = 2");
run_sql($a, "INSERT INTO lww VALUES (30, 'a30')");
run_sql($b, "INSERT INTO lww VALUES (30, 'b30')");
run_sql($b, "INSERT INTO lww VALUES (31, 'b31')");
run_sql($a, "INSERT INTO lww VALUES (31, 'a31')");
resume();
is(row_of(1), 'b1 | b1', 'update/update: the later update (B) wins on both sides');
is(row_of(2), 'a2 | a2', 'update/update: the later update (A) wins on both sides');
is(row_of(30), 'b30 | b30', 'insert/insert: the later insert (B) wins on both sides');
is(row_of(31), 'a31 | a31', 'insert/insert: the later insert (A) wins on both sides');
is(both("SELECT pg_xact_commit_timestamp(xmin) FROM lww WHERE k = 1") =~ /^(.*) \| \1$/ ? 'same' : 'differ', 'same',
	'the winning row keeps its commit time on both sides');
is(logged($a, 'lww', 'update_origin_differs') . ' ' . logged($b, 'lww', 'update_origin_differs'),
	'1:applied,2:skipped 1:skipped,2:applied', 'each side logs what it applied and what it skipped');
is(logged($a, 'lww', 'insert_exists') . ' ' . logged($b, 'lww', 'insert_exists'),
	'30:applied,31:skipped 30:skipped,31:applied', 'the same for insert_exists');
is(run_sql($a, q{SELECT DISTINCT resolution FROM decoderbufs_apply.conflict_log WHERE table_name = 'lww'}),
	'last_update_wins', 'under last_update_wins');

# Deletes take part: a newer delete wins, an older one loses.
pause();
run_sql($a, "UPDATE lww SET v = 'a3' WHERE k = 3");
run_sql($b, 'DELETE FROM lww WHERE k = 3');
run_sql($b, 'DELETE FROM lww WHERE k = 4');
run_sql($a, "UPDATE lww SET v = 'a4' WHERE k = 4");
run_sql($a, 'DELETE FROM lww WHERE k = 5');
run_sql($b, 'DELETE FROM lww WHERE k = 5');
resume();
is(row_of(3), 'none | none', 'a delete newer than an update wins on both sides');
is(row_of(4), 'a4 | a4', 'an update newer than a delete wins on both sides (the row comes back on B)');
is(row_of(5), 'none | none', 'delete/delete');
is(logged($a, 'lww', 'delete_origin_differs'), '3:applied,4:skipped',
	'A: the newer delete applied, the older one skipped and logged');
is(logged($b, 'lww', 'update_missing'), '3:skipped,4:applied',
	'B: the older update skipped by the tombstone, the newer one inserted');
is(logged($a, 'lww', 'delete_missing') . ' ' . logged($b, 'lww', 'delete_missing'), '5:applied 5:skipped',
	'delete/delete: each side meets a missing row; the newer delete (B) is remembered');
is(both(qq{SELECT node || '/' || coalesce(sub_name, 'local') FROM decoderbufs_apply.tombstone WHERE key_tuple->>'k' = '5'}),
	"$id_b/ab | $id_b/local", 'both sides keep the tombstone of the newer delete');
is(both(q{SELECT count(*) FROM decoderbufs_apply.tombstone WHERE key_tuple->>'k' = '3'}), '1 | 1',
	'applied and local deletes leave tombstones');

# An insert older than a delete does not bring the row back.
pause();
run_sql($a, "DELETE FROM lww WHERE k = 6; INSERT INTO lww VALUES (6, 'a6')");
run_sql($b, 'DELETE FROM lww WHERE k = 6');
resume();
is(row_of(6), 'none | none', 'an insert older than a delete is discarded');
is(run_sql($b, q{SELECT decision || '/' || (local_tuple IS NULL) || '/' || local_node FROM decoderbufs_apply.conflict_log
		WHERE table_name = 'lww' AND conflict_type = 'insert_exists' AND remote_tuple->>'k' = '6'}),
	"skipped/true/$id_b", 'B logs it as insert_exists over the tombstone of its delete');

# A change of key onto a key the other side wrote meanwhile: update_exists
# on one side, insert_exists on the other.  The key change counts as a
# delete of the old key and a write of the new one.
pause();
run_sql($a, 'UPDATE lww SET k = 50 WHERE k = 9');
run_sql($b, "INSERT INTO lww VALUES (50, 'b50')");
run_sql($b, "INSERT INTO lww VALUES (51, 'b51')");
run_sql($a, 'UPDATE lww SET k = 51 WHERE k = 10');
resume();
is(both(q{SELECT string_agg(k || v, ',' ORDER BY k) FROM lww WHERE k IN (9, 10, 50, 51)}),
	'50b50,51init | 50b50,51init',
	'a key change loses to a newer row at its new key and wins over an older one, the old key gone on both sides');
is(logged($b, 'lww', 'update_exists'), '9:skipped,10:applied', 'B: update_exists, decided by the versions');
is(run_sql($a, q{SELECT string_agg(remote_tuple->>'k' || ':' || decision, ',' ORDER BY id) FROM decoderbufs_apply.conflict_log
		WHERE table_name = 'lww' AND conflict_type = 'insert_exists' AND remote_tuple->>'k' IN ('50', '51')}),
	'50:applied,51:skipped', 'A: insert_exists, decided alike');

# Equal commit times: the node with the higher system identifier wins.  A
# session on one side writes with the other side's commit time, under a
# replication origin of its own (which stands for its own server, and
# whose changes are not sent on).
sub write_at
{
	my ($node, $ts, $sql) = @_;
	run_sql($node, qq{SELECT pg_replication_origin_create('manual') WHERE NOT EXISTS
		(SELECT FROM pg_replication_origin WHERE roname = 'manual');
		SELECT pg_replication_origin_session_setup('manual');
		BEGIN;
		SELECT pg_replication_origin_xact_setup('0/1', '$ts');
		$sql;
		COMMIT;});
}
pause();
run_sql($a, "UPDATE lww SET v = 'a7' WHERE k = 7");
my $t7 = run_sql($a, 'SELECT pg_xact_commit_timestamp(xmin) FROM lww WHERE k = 7');
write_at($b, $t7, "UPDATE lww SET v = 'b7' WHERE k = 7");
run_sql($b, "UPDATE lww SET v = 'b8' WHERE k = 8");
my $t8 = run_sql($b, 'SELECT pg_xact_commit_timestamp(xmin) FROM lww WHERE k = 8');
write_at($a, $t8, "UPDATE lww SET v = 'a8' WHERE k = 8");
is(run_sql($b, 'SELECT pg_xact_commit_timestamp(xmin) FROM lww WHERE k = 7'), $t7, 'B wrote k = 7 at the same commit time as A');
resume();
my $hi = $a_is_higher ? 'a' : 'b';
is(run_sql($b, 'SELECT v FROM lww WHERE k = 7'), "${hi}7",
	'equal times, A\'s change arriving at B: the higher system identifier wins');
is(run_sql($a, 'SELECT v FROM lww WHERE k = 8'), "${hi}8",
	'equal times, B\'s change arriving at A: the higher system identifier wins');
is(run_sql($b, q{SELECT (local_commit_time = remote_commit_time) || '/' || decision FROM decoderbufs_apply.conflict_log
		WHERE table_name = 'lww' AND key_tuple->>'k' = '7'}),
	'true/' . ($a_is_higher ? 'applied' : 'skipped'), 'B logs the tie and its decision');
is(run_sql($a, q{SELECT (local_commit_time = remote_commit_time) || '/' || decision FROM decoderbufs_apply.conflict_log
		WHERE table_name = 'lww' AND key_tuple->>'k' = '8'}),
	'true/' . ($a_is_higher ? 'skipped' : 'applied'), 'A logs the tie and the opposite decision');

# Everything else converged.
is(run_sql($a, "SELECT string_agg(k || v, ',' ORDER BY k) FROM lww WHERE k NOT IN (7, 8)"),
	run_sql($b, "SELECT string_agg(k || v, ',' ORDER BY k) FROM lww WHERE k NOT IN (7, 8)"),
	'both sides hold the same rows');

# Tombstones are purged after tombstone_retention.
cmp_ok(run_sql($b, 'SELECT count(*) FROM decoderbufs_apply.tombstone'), '>', 0, 'B has tombstones');
run_sql($b, 'ALTER SYSTEM SET decoderbufs_apply.tombstone_retention = 1');
run_sql($b, 'SELECT pg_reload_conf()');
my $purged = 0;
for my $i (1 .. 100)
{
	run_sql($a, "UPDATE lww SET v = 'tick $i' WHERE k = 20");
	sync_ab();
	if (run_sql($b, 'SELECT count(*) FROM decoderbufs_apply.tombstone') eq '0')
	{
		$purged = 1;
		last;
	}
}
ok($purged, 'the worker purges tombstones older than the retention');
run_sql($b, 'ALTER SYSTEM RESET decoderbufs_apply.tombstone_retention');
run_sql($b, 'SELECT pg_reload_conf()');

############################################################################
# resolve_conflict() (tables t and gone on B, policy ignore)
set_policy($b, 'ba', 'public.t', 'ignore');
set_policy($b, 'ba', 'public.gone', 'ignore');
run_sql($b, "INSERT INTO t VALUES (200, 'local'); UPDATE t SET v = 'local' WHERE k IN (9, 10, 11); DELETE FROM t WHERE k = 12");
run_sql($a, "INSERT INTO t VALUES (200, 'remote'); DELETE FROM t WHERE k = 9; UPDATE t SET v = 'remote' WHERE k IN (10, 11, 12)");
run_sql($b, "INSERT INTO gone VALUES (1, 'local')");
run_sql($a, "INSERT INTO gone VALUES (1, 'remote')");
sync_ab();
is(run_sql($b, "SELECT string_agg(k || v, ',' ORDER BY k) FROM t WHERE k IN (9, 10, 11, 12, 200)"),
	'9local,10local,11local,200local', 'ignore kept the local state');
my %id;
for my $k (9, 10, 11, 12, 200)
{
	$id{$k} = run_sql($b, qq{SELECT id FROM decoderbufs_apply.conflict_log WHERE table_name = 't'
		AND coalesce(key_tuple->>'k', remote_tuple->>'k') = '$k' ORDER BY id DESC LIMIT 1});
}
run_sql($b, "SELECT decoderbufs_apply.resolve_conflict($id{$_}, 'apply_remote')") for (9, 10, 12, 200);
run_sql($b, "SELECT decoderbufs_apply.resolve_conflict($id{11}, 'discard')");
is(run_sql($b, "SELECT string_agg(k || v, ',' ORDER BY k) FROM t WHERE k IN (9, 10, 11, 12, 200)"),
	'10remote,11local,12remote,200remote',
	'apply_remote wrote the remote changes (delete, update, update of a missing row, insert); discard kept the row');
is(run_sql($b, qq{SELECT string_agg(conflict_type || ':' || resolved_action || ':' || (resolved_by = current_user), ',' ORDER BY id)
		FROM decoderbufs_apply.conflict_log WHERE id IN ($id{9}, $id{10}, $id{11}, $id{12}, $id{200})}),
	'insert_exists:apply_remote:true,delete_origin_differs:apply_remote:true,update_origin_differs:apply_remote:true,'
	  . 'update_origin_differs:discard:true,update_missing:apply_remote:true',
	'each conflict is marked resolved, with the action and who');
($ret, $out, $err) = $b->psql('postgres', "SELECT decoderbufs_apply.resolve_conflict($id{200}, 'discard')");
my $id200 = $id{200};
like($err, qr/conflict $id200 is already resolved\nDETAIL:  It was resolved with "apply_remote" by \S+ at /,
	'a resolved conflict cannot be resolved again');
my $gone = run_sql($b, q{SELECT id FROM decoderbufs_apply.conflict_log WHERE table_name = 'gone'});
run_sql($a, 'DROP TABLE gone');
run_sql($b, 'DROP TABLE gone');
($ret, $out, $err) = $b->psql('postgres', "SELECT decoderbufs_apply.resolve_conflict($gone, 'apply_remote')");
like($err, qr/table "public\.gone" of conflict $gone does not exist/, 'a conflict of a dropped table cannot be applied');
run_sql($b, "SELECT decoderbufs_apply.resolve_conflict($gone, 'discard')");
is(run_sql($b, "SELECT resolved_action FROM decoderbufs_apply.conflict_log WHERE id = $gone"), 'discard', 'but can be discarded');
# the resolved rows are local writes: the subscription goes on
run_sql($a, "INSERT INTO t VALUES (201, 'after')");
sync_ab();
is(run_sql($b, 'SELECT v FROM t WHERE k = 201'), 'after', 'replication goes on');

$_->stop for ($a, $b, $c);
done_testing();
