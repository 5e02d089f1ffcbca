# 020_copy.pl - the initial copy (copy_data => true).
#
#  (a) tables copied from a consistent snapshot while the source takes
#      writes to the same tables (pgbench: inserts, updates, deletes, and
#      appends to a table without a key), with the copy helper killed with
#      SIGKILL in the middle of the big table: the table finished before
#      the crash is not copied again, the unfinished one restarts cleanly,
#      and in the end every table equals the source (the table without a
#      key would show a row copied and also streamed as a duplicate);
#  (b) copied rows carry the subscription's origin: a local-only decoding
#      of the target does not see them;
#  (c) progress in table_sync and in the status view;
#  (d) existing data: error (naming the non-empty table), then truncate;
#      keep, with the ignore and overwrite policies;
#  (e) a table added to a running subscription gets its copy;
#  (f) name mapping (schema mapping, target table, column renames) in the
#      copy and in the stream.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbufsTest;

my $source = new_node('source');
my $target = new_node('target', apply => 1,
	conf => [ 'decoderbufs_apply.restart_delay_min = 100',
			  'decoderbufs_apply.restart_delay_max = 1000',
			  'restart_after_crash = on' ]);

sub src { return $source->safe_psql('postgres', $_[0]); }
sub tgt { return $target->safe_psql('postgres', $_[0]); }

my $schema = q{
	CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
	CREATE TABLE a_small (id int PRIMARY KEY, v text);
	CREATE TABLE b_big (seq bigint NOT NULL, pad text);
	ALTER TABLE b_big REPLICA IDENTITY FULL;
	CREATE TABLE c_keyed (id bigint PRIMARY KEY, n numeric, ts timestamptz,
						  j jsonb, m mood, arr int[]);
	CREATE SCHEMA s2;
	CREATE TABLE s2.t (id int PRIMARY KEY, v text);
	CREATE SCHEMA s3;
	CREATE TABLE s3.k (id int PRIMARY KEY, v text);
	CREATE TABLE s3.o (id int PRIMARY KEY, v text);
	CREATE SCHEMA extra;
};
src($schema . q{
	CREATE SEQUENCE tag START 1000000;
	INSERT INTO a_small SELECT g, 'a' || g FROM generate_series(1, 100) g;
	INSERT INTO b_big SELECT g, repeat('b', 100) FROM generate_series(1, 400000) g;
	INSERT INTO c_keyed SELECT g, g * 1.5, '2026-01-01'::timestamptz + g * interval '1 minute',
		jsonb_build_object('g', g), (ARRAY['sad', 'ok', 'happy']::mood[])[1 + g % 3],
		ARRAY[g, g + 1]
	FROM generate_series(1, 20000) g;
	INSERT INTO s2.t SELECT g, 's2-' || g FROM generate_series(1, 50) g;
	INSERT INTO s3.k SELECT g, 'src' FROM generate_series(1, 100) g;
	INSERT INTO s3.o SELECT g, 'src' FROM generate_series(1, 100) g;
});
# The target slows the copy of b_big down (a trigger that always fires,
# also under session_replication_role = replica) so that the helper can be
# caught in the middle of it.
tgt($schema . q{
	CREATE FUNCTION slow_copy() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF NEW.seq % 10000 = 0 AND NEW.seq <= 400000 THEN
			PERFORM pg_sleep(0.1);
		END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER slow_copy BEFORE INSERT ON b_big FOR EACH ROW EXECUTE FUNCTION slow_copy();
	ALTER TABLE b_big ENABLE ALWAYS TRIGGER slow_copy;
	CREATE EXTENSION decoderbufs_apply;
	SELECT pg_create_logical_replication_slot('loopcheck', 'decoderbufs');
});

# ---- (a) copy under concurrent writes, with a crash in the middle --------

my $script = $source->basedir . '/writes.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
\set id random(1, 20000)
\set small random(1, 100)
BEGIN;
UPDATE c_keyed SET n = n + 1, j = j || '{"u": 1}' WHERE id = :id;
INSERT INTO c_keyed VALUES (nextval('tag'), 1, now(), '{}', 'ok', '{}');
DELETE FROM c_keyed WHERE id = :id + 1;
UPDATE a_small SET v = v || '+' WHERE id = :small;
INSERT INTO b_big VALUES (nextval('tag'), 'streamed');
COMMIT;
});
my $pgbench_out = '';
my $pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '2', '-j', '2', '-R', '200', '-T', '300', '-f', $script,
	  '-h', $source->host, '-p', $source->port, 'postgres' ],
	'>', \$pgbench_out, '2>&1');

subscribe($target, 'cp', $source, tables => q{ARRAY['public.*']},
	copy_data => 'true', copy_parallelism => '1');

# the helper copies in name order: a_small, then b_big
ok(poll_until($target, q{SELECT state = 'copying' FROM decoderbufs_apply.table_sync WHERE table_name = 'b_big'}, 120),
	'b_big is being copied');
my $a_finished = tgt(q{SELECT finished_at FROM decoderbufs_apply.table_sync WHERE table_name = 'a_small'});
isnt($a_finished, '', 'a_small was copied first');
ok(poll_until($target, q{SELECT copy_rows > 50000 AND copy_current_table = 'public.b_big'
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'cp'}, 60),
	'the status view shows the copy of b_big in progress');
my $helper = tgt(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'decoderbufs_apply copy'});
like($helper, qr/^\d+$/, 'a copy helper runs');
kill 'KILL', $helper;

# the postmaster restarts everything; the copy resumes with b_big
ok(poll_until($target, q{SELECT count(*) = 3 FROM decoderbufs_apply.table_sync WHERE sub_id = 1 AND state = 'ready'}, 180),
	'all tables copied after the crash')
  or diag(tgt(q{SELECT * FROM decoderbufs_apply.table_sync}) . "\n" .
	tgt(q{SELECT last_error FROM decoderbufs_apply.subscription_status}));
is(tgt(q{SELECT finished_at FROM decoderbufs_apply.table_sync WHERE table_name = 'a_small'}),
	$a_finished, 'the table finished before the crash was not copied again');

tgt('DROP TRIGGER slow_copy ON b_big');
$pgbench->signal('TERM');
$pgbench->finish;
poll_until($source, "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'pgbench'", 30);
wait_for_sync($source, 'dbufs_cp');

for my $t (qw(a_small c_keyed))
{
	is(table_rows($target, $t), table_rows($source, $t), "$t equals the source");
}
is(tgt('SELECT count(*), sum(seq) FROM b_big'), src('SELECT count(*), sum(seq) FROM b_big'),
	'b_big (no key) has every row once');
ok(src(q{SELECT count(*) > 0 FROM b_big WHERE pad = 'streamed'}), 'rows written during the copy reached b_big');
is(tgt(q{SELECT state FROM decoderbufs_apply.subscription_status WHERE subscription = 'cp'}),
	'streaming', 'the worker streams after the copy');
is(tgt(q{SELECT copy_tables_done || '/' || copy_tables_total FROM decoderbufs_apply.subscription_status WHERE subscription = 'cp'}),
	'3/3', 'the status view counts the tables copied');
is(tgt(q{SELECT bool_and(sync_lsn IS NOT NULL AND rows_copied IS NOT NULL) FROM decoderbufs_apply.table_sync WHERE sub_id = 1}),
	't', 'every table records its sync point and rows');
ok(!$source->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%copy%'}),
	'the temporary slot of the copy is gone');
is(tgt(q{SELECT count(*) FROM pg_replication_origin WHERE roname LIKE '%copy%'}), '0',
	'the helpers dropped their bookkeeping origins');

# ---- (b) copied rows carry the subscription's origin ---------------------

# (the extension's own tables change locally; two-way peers never take them)
is(tgt(q{SELECT count(*) FROM pg_logical_slot_peek_binary_changes('loopcheck', NULL, NULL,
	'only-local', 'true', 'exclude-tables', 'decoderbufs_apply.*', 'skip-empty-xacts', 'true')}),
	'0', 'a local-only decoding of the target sees none of the copied or applied rows')
  or diag(tgt(q{SELECT data FROM pg_logical_slot_peek_changes('loopcheck', NULL, NULL,
	'only-local', 'true', 'exclude-tables', 'decoderbufs_apply.*', 'debug-mode', 'true')}));
ok(tgt(q{SELECT count(*) FROM pg_logical_slot_peek_binary_changes('loopcheck', NULL, NULL,
	'only-local', 'false', 'exclude-tables', 'decoderbufs_apply.*')}) > 400000,
	'the copied rows are in the target WAL, with an origin');
tgt(q{SELECT pg_drop_replication_slot('loopcheck')});

# ---- (d) existing data ----------------------------------------------------

tgt(q{INSERT INTO s2.t VALUES (1, 'local')});
# (the precheck would refuse the non-empty table first, rightly: this is
# about the copy's own error, for a table that fills up after the check)
subscribe($target, 'cp2', $source, tables => q{ARRAY['s2.*']}, copy_data => 'true',
	precheck => 'false');
ok(poll_until($target, q{SELECT last_error LIKE '%target table s2.t of the initial copy is not empty%'
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'cp2'}, 60),
	'existing_data = error names the non-empty table');
is(tgt('SELECT v FROM s2.t'), 'local', 'nothing was copied into it');
tgt(q{SELECT decoderbufs_apply.alter_subscription('cp2', existing_data => 'truncate')});
ok(poll_until($target, q{SELECT state = 'ready' FROM decoderbufs_apply.table_sync WHERE schema_name = 's2'}, 60),
	'with truncate, the table is copied');
wait_for_sync($source, 'dbufs_cp2');
is(table_rows($target, 's2.t'), table_rows($source, 's2.t'), 's2.t equals the source');

tgt(q{INSERT INTO s3.k SELECT g, 'tgt' FROM generate_series(90, 110) g;
	  INSERT INTO s3.o SELECT g, 'tgt' FROM generate_series(90, 110) g});
subscribe($target, 'cp3', $source, schemas => q{ARRAY['s3']}, copy_data => 'true',
	existing_data => q{'keep'}, conflict_policy => q{'ignore'}, enabled => 'false');
tgt(q{SELECT decoderbufs_apply.set_table_policy('cp3', 's3.o', 'overwrite');
	  SELECT decoderbufs_apply.enable_subscription('cp3')});
ok(poll_until($target, q{SELECT count(*) = 2 FROM decoderbufs_apply.table_sync WHERE schema_name = 's3' AND state = 'ready'}, 60),
	'keep: both tables copied');
is(tgt(q{SELECT string_agg(v || ':' || n, ',' ORDER BY v) FROM (SELECT v, count(*) n FROM s3.k GROUP BY v) x}),
	'src:89,tgt:21', 'keep + ignore: clashing rows keep the local values, the others are copied');
is(tgt(q{SELECT string_agg(v || ':' || n, ',' ORDER BY v) FROM (SELECT v, count(*) n FROM s3.o GROUP BY v) x}),
	'src:100,tgt:10', 'keep + overwrite: clashing rows take the source values');
is(tgt(q{SELECT table_name || ':' || resolution || ':' || count(*) FROM decoderbufs_apply.conflict_log
	WHERE sub_name = 'cp3' AND conflict_type = 'insert_exists' GROUP BY table_name, resolution ORDER BY 1}),
	"k:ignore:11\no:overwrite:11", 'every clash is in the conflict log with its resolution');
is(tgt(q{SELECT (local_tuple->>'v') || '/' || (remote_tuple->>'v') || '/' || key_tuple::text FROM decoderbufs_apply.conflict_log
	WHERE sub_name = 'cp3' AND table_name = 'k' ORDER BY id LIMIT 1}) =~ m{^tgt/src/\{"id": \d+\}$} ? 1 : 0,
	1, 'with both rows and the key');
is(tgt(q{SELECT insert_exists FROM decoderbufs_apply.subscription_status WHERE subscription = 'cp3'}), '22',
	'and counted in the status view');

# ---- (e) a table added to a running subscription ------------------------

src(q{CREATE TABLE extra.t (id int PRIMARY KEY, v text);
	  INSERT INTO extra.t SELECT g, 'x' FROM generate_series(1, 500) g});
tgt(q{CREATE TABLE extra.t (id int PRIMARY KEY, v text)});
tgt(q{SELECT decoderbufs_apply.alter_subscription('cp', tables => ARRAY['public.*', 'extra.t'])});
ok(poll_until($target, q{SELECT state = 'ready' FROM decoderbufs_apply.table_sync WHERE schema_name = 'extra'}, 60),
	'the added table was copied');
src(q{INSERT INTO extra.t VALUES (501, 'streamed'); UPDATE extra.t SET v = 'y' WHERE id = 1});
wait_for_sync($source, 'dbufs_cp');
is(table_rows($target, 'extra.t'), table_rows($source, 'extra.t'), 'the added table follows the source');
is(tgt(q{SELECT count(*) FROM decoderbufs_apply.table_sync WHERE sub_id = 1 AND state = 'ready'}), '4',
	'the tables copied before were not copied again');

# removing the table forgets its copy; selecting it again copies it again
tgt(q{SELECT decoderbufs_apply.alter_subscription('cp', tables => ARRAY['public.*'])});
ok(poll_until($target, q{SELECT count(*) = 0 FROM decoderbufs_apply.table_sync WHERE schema_name = 'extra'}, 60),
	'a table removed from the subscription loses its copy state');
src(q{INSERT INTO extra.t VALUES (502, 'while removed')});
wait_for_sync($source, 'dbufs_cp');
is(tgt('SELECT count(*) FROM extra.t WHERE id = 502'), '0', 'a removed table is not replicated');
tgt(q{SELECT decoderbufs_apply.alter_subscription('cp', tables => ARRAY['public.*', 'extra.t'],
	existing_data => 'truncate')});
ok(poll_until($target, q{SELECT state = 'ready' FROM decoderbufs_apply.table_sync WHERE schema_name = 'extra'}, 60),
	'the table selected again was copied again');
wait_for_sync($source, 'dbufs_cp');
is(table_rows($target, 'extra.t'), table_rows($source, 'extra.t'), 'and equals the source');

# resync_table copies a table again on demand
tgt(q{DELETE FROM extra.t WHERE id <= 10});
tgt(q{SELECT decoderbufs_apply.resync_table('cp', 'extra.t')});
ok(poll_until($target, q{SELECT count(*) = 502 FROM extra.t}, 60), 'resync_table repaired the table');
is(table_rows($target, 'extra.t'), table_rows($source, 'extra.t'), 'the resynced table equals the source');

# ---- (f) name mapping ------------------------------------------------------

src(q{CREATE SCHEMA m;
	  CREATE TABLE m.orders (id int PRIMARY KEY, cust_id int, total numeric);
	  CREATE TABLE m.items (id int PRIMARY KEY, name text);
	  INSERT INTO m.orders SELECT g, g % 7, g * 2 FROM generate_series(1, 300) g;
	  INSERT INTO m.items SELECT g, 'item' || g FROM generate_series(1, 10) g});
tgt(q{CREATE SCHEMA m_target;
	  CREATE TABLE m_target.orders_copy (id int PRIMARY KEY, customer_id int, total numeric,
		  note text DEFAULT 'from source');
	  CREATE TABLE m_target.items (id int PRIMARY KEY, name text)});
subscribe($target, 'map', $source, schemas => q{ARRAY['m']}, copy_data => 'true', enabled => 'false');
tgt(q{SELECT decoderbufs_apply.set_schema_mapping('map', 'm', 'm_target');
	  SELECT decoderbufs_apply.set_table_options('map', 'm.orders', target_table => 'orders_copy',
		  column_map => '{"cust_id": "customer_id"}');
	  SELECT decoderbufs_apply.enable_subscription('map')});
ok(poll_until($target, q{SELECT count(*) = 2 FROM decoderbufs_apply.table_sync t
	JOIN decoderbufs_apply.subscription s USING (sub_id) WHERE s.sub_name = 'map' AND t.state = 'ready'}, 60),
	'mapped tables copied');
src(q{INSERT INTO m.orders VALUES (301, 3, 1.5); UPDATE m.orders SET cust_id = 99 WHERE id = 1;
	  DELETE FROM m.orders WHERE id = 2; INSERT INTO m.items VALUES (11, 'new')});
wait_for_sync($source, 'dbufs_map');
is(tgt(q{SELECT string_agg(format('%s,%s,%s,%s', id, customer_id, total, note), ';' ORDER BY id) FROM m_target.orders_copy}),
	src(q{SELECT string_agg(format('%s,%s,%s,%s', id, cust_id, total, 'from source'), ';' ORDER BY id) FROM m.orders}),
	'orders went to m_target.orders_copy with cust_id renamed, copied and streamed');
is(table_rows($target, 'm_target.items'), table_rows($source, 'm.items'),
	'the schema mapping applies to every table of the schema');

done_testing();
