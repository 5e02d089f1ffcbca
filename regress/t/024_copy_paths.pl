# 024_copy_paths.pl - the two ways the initial copy loads a table.
#
# Binary data into an empty table that no INSERT trigger fires on, with no
# stored generated column, no volatile default and no partition, is bulk
# loaded (copy_load.c: the rows first, then every index built once); the
# rest goes through COPY FROM.  The target's log names the way each table
# was copied.
#  (a) bulk load: CHECK and NOT NULL constraints, target-only columns with a
#      constant and with a sequence default, a unique index besides the
#      primary key, a partial and an expression index, a foreign key and a
#      trigger that do not fire under session_replication_role = replica;
#      every index holds every row (amcheck), and the table then streams;
#  (b) bulk load refuses what COPY FROM refuses: a row failing a CHECK
#      constraint, and a duplicate for a unique index (found when the index
#      is built), each fail the table's copy and leave it empty; once the
#      target is fixed the worker's retry copies it;
#  (c) COPY FROM: an ENABLE ALWAYS trigger (it fires), a stored generated
#      column (computed on the target), a volatile default (evaluated per
#      row) and a column of a non-built-in type (text format);
#  (d) a bulk load keeps writers out until it commits (ShareRowExclusiveLock)
#      and a crash in its middle leaves nothing behind: the helper killed
#      mid-load, the table copied again from scratch while a local insert
#      waits for it, then that insert in the indexes too.
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

# How the target's log says a table was copied: "binary, bulk load",
# "binary" or "text" (the last copy of it), or '' if it was not.
sub copy_way
{
	my ($table) = @_;
	my @ways = slurp_file($target->logfile) =~
	  /copied table "\Q$table\E": \d+ rows, [^(]*\(\d+ rows\/s, ([^)]*)\)/g;
	return @ways ? $ways[-1] : '';
}

sub sub_ready
{
	my ($sub, $n) = @_;
	return poll_until($target, qq{SELECT count(*) = $n FROM decoderbufs_apply.table_sync t
		JOIN decoderbufs_apply.subscription s USING (sub_id)
		WHERE s.sub_name = '$sub' AND t.state = 'ready'}, 120);
}

# Every btree index of a table holds exactly its rows.
sub indexes_check
{
	my ($table) = @_;
	return tgt(qq{SELECT string_agg(c.relname || '=' ||
			coalesce((SELECT 'ok' FROM bt_index_check(c.oid, true)), 'ok'), ',' ORDER BY c.relname)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = '$table'::regclass});
}

src(q{
	CREATE TYPE color AS ENUM ('red', 'green');
	CREATE TABLE bulk (id int PRIMARY KEY, qty int, code text, v text);
	INSERT INTO bulk SELECT g, g % 50 + 1, 'c' || g,
		CASE WHEN g % 10 <> 0 THEN 'v' || g END FROM generate_series(1, 5000) g;
	CREATE TABLE bad_check (id int PRIMARY KEY, qty int);
	INSERT INTO bad_check SELECT g, CASE WHEN g = 700 THEN -1 ELSE g END
		FROM generate_series(1, 1000) g;
	CREATE TABLE bad_unique (id int PRIMARY KEY, code text);
	INSERT INTO bad_unique SELECT g, 'c' || g % 999 FROM generate_series(1, 1000) g;
	CREATE TABLE f_trig (id int PRIMARY KEY, v text);
	CREATE TABLE f_gen (id int PRIMARY KEY, n int);
	CREATE TABLE f_vol (id int PRIMARY KEY, v text);
	CREATE TABLE f_enum (id int PRIMARY KEY, c color);
	INSERT INTO f_trig SELECT g, 'v' || g FROM generate_series(1, 300) g;
	INSERT INTO f_gen SELECT g, g FROM generate_series(1, 300) g;
	INSERT INTO f_vol SELECT g, 'v' || g FROM generate_series(1, 300) g;
	INSERT INTO f_enum SELECT g, (ARRAY['red', 'green']::color[])[1 + g % 2] FROM generate_series(1, 300) g;
	CREATE TABLE slow (id int PRIMARY KEY, v text);
	INSERT INTO slow SELECT g, md5(g::text) FROM generate_series(1, 200000) g;
});
tgt(q{
	CREATE EXTENSION amcheck;
	CREATE EXTENSION decoderbufs_apply;
	CREATE TYPE color AS ENUM ('red', 'green');
	CREATE TABLE qtys (qty int PRIMARY KEY);
	INSERT INTO qtys SELECT generate_series(1, 50);
	CREATE SEQUENCE bulk_serial;
	CREATE TABLE bulk (id int PRIMARY KEY,
		qty int NOT NULL CHECK (qty BETWEEN 1 AND 50) REFERENCES qtys,
		code text NOT NULL, v text,
		origin text NOT NULL DEFAULT 'copied',
		serial_no bigint NOT NULL DEFAULT nextval('bulk_serial'));
	CREATE UNIQUE INDEX bulk_code ON bulk (code);
	CREATE INDEX bulk_v ON bulk (v) WHERE v IS NOT NULL;
	CREATE INDEX bulk_upper ON bulk (upper(code));
	CREATE FUNCTION mark_local() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN NEW.origin := 'local trigger'; RETURN NEW; END $$;
	CREATE TRIGGER mark_local BEFORE INSERT ON bulk FOR EACH ROW EXECUTE FUNCTION mark_local();

	CREATE TABLE bad_check (id int PRIMARY KEY, qty int CHECK (qty > 0));
	CREATE TABLE bad_unique (id int PRIMARY KEY, code text);
	CREATE UNIQUE INDEX bad_unique_code ON bad_unique (code);

	CREATE TABLE f_trig (id int PRIMARY KEY, v text);
	CREATE FUNCTION upper_v() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN NEW.v := upper(NEW.v); RETURN NEW; END $$;
	CREATE TRIGGER upper_v BEFORE INSERT ON f_trig FOR EACH ROW EXECUTE FUNCTION upper_v();
	ALTER TABLE f_trig ENABLE ALWAYS TRIGGER upper_v;
	CREATE TABLE f_gen (id int PRIMARY KEY, n int, twice int GENERATED ALWAYS AS (n * 2) STORED);
	CREATE TABLE f_vol (id int PRIMARY KEY, v text, r float8 NOT NULL DEFAULT random());
	CREATE TABLE f_enum (id int PRIMARY KEY, c color);

	CREATE FUNCTION slow_ok(id int) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		IF id % 2000 = 0 THEN PERFORM pg_sleep(0.05); END IF;
		RETURN true;
	END $$;
	CREATE TABLE slow (id int PRIMARY KEY, v text CHECK (slow_ok(id)));
});

# ---- (a) and (c) ------------------------------------------------------------

subscribe($target, 'paths', $source, copy_data => 'true', copy_parallelism => '2',
	tables => q{ARRAY['public.bulk', 'public.f_trig', 'public.f_gen', 'public.f_vol', 'public.f_enum']});
ok(sub_ready('paths', 5), 'every table copied')
  or diag(status($target, 'paths', 'last_error'));

is(copy_way('public.bulk'), 'binary, bulk load', 'bulk: bulk loaded');
is(tgt(q{SELECT count(*) || ',' || count(DISTINCT serial_no) || ',' || string_agg(DISTINCT origin, '/')
	FROM bulk}), '5000,5000,copied',
	'bulk: target-only columns take their defaults, the sequence one per row; the trigger did not fire');
is(tgt(q{SELECT string_agg(format('%s,%s,%s,%s', id, qty, code, v), ';' ORDER BY id) FROM bulk}),
	src(q{SELECT string_agg(format('%s,%s,%s,%s', id, qty, code, v), ';' ORDER BY id) FROM bulk}),
	'bulk: the copied columns equal the source');
is(indexes_check('bulk'), 'bulk_code=ok,bulk_pkey=ok,bulk_upper=ok,bulk_v=ok',
	'bulk: every index holds every row');
is(tgt(q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT (SELECT id FROM bulk WHERE code = 'c4321') || ',' ||
		(SELECT id FROM bulk WHERE upper(code) = 'C17') || ',' ||
		(SELECT count(*) FROM bulk WHERE v IS NOT NULL AND v >= 'v9')}),
	tgt(q{SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
	SELECT (SELECT id FROM bulk WHERE code = 'c4321') || ',' ||
		(SELECT id FROM bulk WHERE upper(code) = 'C17') || ',' ||
		(SELECT count(*) FROM bulk WHERE v IS NOT NULL AND v >= 'v9')}),
	'bulk: index scans find what sequential scans find');
my ($ret, $out, $err) = $target->psql('postgres', q{INSERT INTO bulk (id, qty, code) VALUES (9999, 1, 'c10')});
like($err, qr/duplicate key value violates unique constraint "bulk_code"/,
	'bulk: the unique index built after the load enforces uniqueness');
src(q{INSERT INTO bulk VALUES (5001, 7, 'c5001', 'streamed'); UPDATE bulk SET v = 'upd' WHERE id = 1});
wait_for_sync($source, 'dbufs_paths');
is(tgt(q{SELECT string_agg(v || ':' || qty, ',' ORDER BY id) FROM bulk WHERE id IN (1, 5001)}),
	'upd:2,streamed:7', 'bulk: the table streams after its copy');

is(copy_way('public.f_trig'), 'binary', 'an ENABLE ALWAYS trigger: COPY FROM');
is(tgt(q{SELECT count(*) FILTER (WHERE v = upper(v)) FROM f_trig}), '300', 'and the trigger fired for every row');
is(copy_way('public.f_gen'), 'binary', 'a stored generated column: COPY FROM');
is(tgt(q{SELECT count(*) FILTER (WHERE twice = n * 2) FROM f_gen}), '300', 'and the target computed it');
is(copy_way('public.f_vol'), 'binary', 'a volatile default: COPY FROM');
is(tgt(q{SELECT count(DISTINCT r) > 1 FROM f_vol}), 't', 'and it was evaluated per row');
is(copy_way('public.f_enum'), 'text', 'a type that is not built in: COPY FROM, text format');
is(table_rows($target, 'f_enum'), table_rows($source, 'f_enum'), 'and the rows equal the source');

# ---- (b) bad rows -----------------------------------------------------------

subscribe($target, 'bad', $source, copy_data => 'true', copy_parallelism => '1',
	tables => q{ARRAY['public.bad_check', 'public.bad_unique']});
ok(poll_until($target, q{SELECT last_error LIKE '%violates check constraint "bad_check_qty_check"%'
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'bad'}, 60),
	'a row failing a CHECK constraint fails the bulk load')
  or diag(status($target, 'bad', 'last_error'));
is(tgt('SELECT count(*) FROM bad_check'), '0', 'and nothing of the table was kept');
tgt('ALTER TABLE bad_check DROP CONSTRAINT bad_check_qty_check');
ok(poll_until($target, q{SELECT last_error LIKE '%could not create unique index "bad_unique_code"%'
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'bad'}, 60),
	'a duplicate for a unique index fails the bulk load when the index is built')
  or diag(status($target, 'bad', 'last_error'));
is(tgt(q{SELECT count(*) || ',' || (SELECT state FROM decoderbufs_apply.table_sync WHERE table_name = 'bad_check')
	FROM bad_unique}), '0,ready', 'the table is empty again; the one before it stays copied');
is(copy_way('public.bad_check'), 'binary, bulk load', 'bad_check was bulk loaded once fixed');
tgt('DROP INDEX bad_unique_code');
ok(sub_ready('bad', 2), 'once the index is gone, the table is copied')
  or diag(status($target, 'bad', 'last_error'));
is(table_rows($target, 'bad_unique'), table_rows($source, 'bad_unique'), 'and equals the source');

# ---- (d) locks and a crash in the middle of a bulk load -------------------

my $helper_locks = q{SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	WHERE a.backend_type = 'decoderbufs_apply copy' AND l.relation = 'slow'::regclass
	AND l.mode = 'ShareRowExclusiveLock' AND l.granted};
subscribe($target, 'slow', $source, copy_data => 'true', tables => q{ARRAY['public.slow']});
ok(poll_until($target, "SELECT count(*) = 1 FROM ($helper_locks) h", 60),
	'the bulk load holds ShareRowExclusiveLock on its table');
ok(poll_until($target, q{SELECT copy_rows > 20000 FROM decoderbufs_apply.subscription_status
	WHERE subscription = 'slow'}, 60), 'the bulk load is under way');
my $helper = tgt($helper_locks);
like($helper, qr/^\d+$/, 'a copy helper loads slow');
kill 'KILL', $helper;

# after the restart, a local insert waits for the new copy to commit
ok(poll_until($target, "SELECT count(*) = 1 FROM ($helper_locks) h", 120),
	'the copy starts again after the crash')
  or diag(status($target, 'slow', 'last_error'));
my ($ins_out, $ins_err) = ('', '');
my $insert = IPC::Run::start(
	[ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', $target->connstr('postgres'),
	  '-c', q{INSERT INTO slow VALUES (1000001, 'local')} ],
	'>', \$ins_out, '2>', \$ins_err);
ok(poll_until($target, q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE 'INSERT INTO slow%' AND wait_event_type = 'Lock'}, 30),
	'a local insert waits for the bulk load');
ok(sub_ready('slow', 1), 'the table is copied')
  or diag(status($target, 'slow', 'last_error'));
$insert->finish;
is($ins_err, '', 'the local insert went through after the copy');
is(tgt(q{SELECT count(*) FROM slow}), '200001', 'the table has every copied row once, and the local one');
is(indexes_check('slow'), 'slow_pkey=ok', 'its index holds every row');
is(tgt(q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT v FROM slow WHERE id = 1000001}), 'local', 'the local row is in the index');
is(tgt(q{SELECT string_agg(v, ',' ORDER BY id) FROM slow WHERE id <= 200000 AND id % 50000 = 0}),
	src(q{SELECT string_agg(v, ',' ORDER BY id) FROM slow WHERE id % 50000 = 0}),
	'the copied rows are the source rows');

done_testing();
