# 010_apply_oneway.pl - one-way replication with decoderbufs_apply.
#
# Every type of the plugin's type list, with edge values, replicates
# exactly (row text and pg_dump output equal on both sides); INSERT, UPDATE
# (also of the key, with unchanged TOAST), DELETE and TRUNCATE apply; local
# extra columns take their defaults; the extension's own tables never
# replicate; the status view counts what happened.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbufsTest;

my $source = new_node('source');
my $target = new_node('target', apply => 1);

my $schema = q{
	CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
	CREATE DOMAIN posint AS int CHECK (VALUE > 0);
	CREATE DOMAIN shorttext AS text CHECK (length(VALUE) < 100);
	CREATE TYPE pair AS (a int, b text);
	CREATE TYPE nested AS (p pair, tags text[]);
	CREATE TABLE typed (
		id int PRIMARY KEY, i2 smallint, i4 int, i8 bigint, o oid, f4 real, f8 float8,
		n numeric, n52 numeric(5,2), b bool, c "char", vc varchar(10), bp char(5),
		t text, nm name, by bytea, d date, tm time, ttz timetz, ts timestamp,
		ts3 timestamp(3), tstz timestamptz, iv interval, u uuid, j json, jb jsonb, x xml,
		bt bit(4), vb varbit, m money, p point, ln line, ls lseg, bx box, pth path,
		pg polygon, ci circle, inet_ inet, cidr_ cidr, mac macaddr, mac8 macaddr8,
		tsv tsvector, tsq tsquery, lsn pg_lsn, ia int[], ta text[][], fa float8[],
		e mood, ea mood[], dom posint, sdom shorttext, comp pair, nest nested,
		r int4range, tr tstzrange, mr int4multirange);
	CREATE TABLE parent (id int PRIMARY KEY, v text);
	CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent, v text);
	CREATE TABLE toasted (id int PRIMARY KEY, big text, small int);
	ALTER TABLE toasted ALTER big SET STORAGE EXTERNAL;
	CREATE TABLE seq_t (id serial PRIMARY KEY, v text);
};
$source->safe_psql('postgres', $schema);
$target->safe_psql('postgres', $schema);
# the target has an extra column with a default the worker must fill in
$target->safe_psql('postgres', q{
	ALTER TABLE parent ADD COLUMN applied_at timestamptz DEFAULT clock_timestamp();
	ALTER TABLE parent ADD COLUMN note text DEFAULT 'from source';
	CREATE EXTENSION decoderbufs_apply;
});
$source->safe_psql('postgres', 'CREATE EXTENSION decoderbufs');

subscribe($target, 'oneway', $source);
is(status($target, 'oneway', 'slot_name'), 'dbufs_oneway', 'default slot name');
ok($source->safe_psql('postgres',
	"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'dbufs_oneway' AND plugin = 'decoderbufs'") == 1,
	'the slot was created on the source with the decoderbufs plugin');

$source->safe_psql('postgres', q{
	INSERT INTO typed VALUES
	(1, -32768, -2147483648, -9223372036854775808, 0, '-Infinity', 'NaN',
	 'NaN', -999.99, false, 'a', '', 'ab', '', '', '', '-infinity', '00:00',
	 '00:00:00+14', '-infinity', '4713-01-01 00:00:00 BC', '-infinity',
	 '-178000000 years', '00000000-0000-0000-0000-000000000000', 'null', '[]',
	 '<a/>', B'0000', B'', -92233720368547758.08, '(0,0)', '{1,-1,0}',
	 '[(0,0),(1,1)]', '((0,0),(0,0))', '((0,0))', '((0,0))', '<(0,0),0>',
	 '::', '::/0', '00:00:00:00:00:00', '00:00:00:00:00:00:00:00', '', 'a',
	 '0/0', '{}', '{}', '{}', 'sad', '{}', 1, '', ROW(NULL, NULL),
	 ROW(ROW(NULL, NULL), '{}'), 'empty', 'empty', '{}'),
	(2, 32767, 2147483647, 9223372036854775807, 4294967295, 'Infinity', '-Infinity',
	 '-Infinity', 999.99, true, chr(200)::"char", '0123456789', 'abcde',
	 repeat('ünïcödé ' || chr(9) || chr(10) || '"\ '' ', 50), repeat('n', 63), '\x00ff00', 'infinity',
	 '24:00:00', '24:00:00-15:59', 'infinity', '294276-12-31 23:59:59.999',
	 'infinity', '178000000 years 11 mons 30 days 23:59:59.999999',
	 'ffffffff-ffff-ffff-ffff-ffffffffffff', '{"a": [1, 2.50, "x"], "b": {"c": null}}',
	 '{"z": 1e+300, "a": "\u00e9"}', '<x a="1">t&amp;</x>', B'1111', B'1010101010101',
	 92233720368547758.07, '(1.7976931348623157e+308,-5e-324)', '{1,2,3}',
	 '[(1,2),(3,4)]', '((0,0),(1e300,1e300))', '[(0,0),(1,1),(2,0)]',
	 '((0,0),(1,1),(1,0))', '<(1,2),3.5>', '2001:db8::ff00:42:8329/64',
	 '192.168.0.0/16', 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff',
	 'a:1A fat:2B cat:3C', 'fat & (rat | cat)', 'FFFFFFFF/FFFFFFFF',
	 '{{1,NULL,3},{4,5,-6}}', '{{"a b",NULL},{"c,d","e\\"f"}}', '{NaN,Infinity,-0,1e-300}',
	 'happy', '{sad,happy}', 2147483647, 'x', ROW(1, 'a "quoted", (paren)'),
	 ROW(ROW(2, 'b'), '{x,NULL}'), '[1,10)', '[2024-01-01 00:00+00,infinity)',
	 '{[1,3),[7,9)}');
	INSERT INTO typed (id, i2, i4, i8, o, f4, f8, n, n52, d, tm, ttz, ts, ts3, tstz, iv, u)
	VALUES (3, 0, 0, 0, 1, 0.1, 0.1,
	 123456789012345678901234567890.123456789012345678901234567890, 0,
	 '2000-01-01', '12:34:56.789012', '12:34:56.789012+05:30', '2000-01-01 00:00:00',
	 '2024-02-29 12:00:00.123', '1970-01-01 00:00:00+00', '1 mon -1 day +1 sec',
	 gen_random_uuid());
	INSERT INTO typed (id, n) SELECT 100, repeat('9', 1000)::numeric;
	INSERT INTO typed (id, t, by) SELECT 101, repeat('long text ', 100000), decode(repeat('00ff', 50000), 'hex');
});
wait_for_sync($source, 'dbufs_oneway');
is(table_rows($target, 'typed', 'id'), table_rows($source, 'typed', 'id'),
	'every type replicates exactly (row text)');

my $dump = sub {
	my ($node) = @_;
	my ($out, $err);
	IPC::Run::run([ 'pg_dump', '--data-only', '--table=typed', '-d', $node->connstr('postgres') ],
		'>', \$out, '2>', \$err) or die "pg_dump failed: $err";
	$out =~ s/^\\(un)?restrict .*$//mg;	# a random key per dump
	return $out;
};
is($dump->($target), $dump->($source), 'pg_dump output of the table is identical');

# updates: by key, of the key, with unchanged TOAST, and deletes
$source->safe_psql('postgres', q{
	INSERT INTO toasted SELECT g, repeat(md5(g::text), 5000), g FROM generate_series(1, 5) g;
	INSERT INTO parent VALUES (1, 'p1'), (2, 'p2');
	INSERT INTO child VALUES (1, 1, 'c1'), (2, 2, 'c2');
});
wait_for_sync($source, 'dbufs_oneway');
$source->safe_psql('postgres', q{
	UPDATE toasted SET small = small * 10 WHERE id <= 2;
	UPDATE toasted SET id = id + 100 WHERE id = 3;
	UPDATE toasted SET id = id + 200, small = -1 WHERE id = 4;
	DELETE FROM toasted WHERE id = 5;
	UPDATE typed SET i4 = i4 - 1, t = 'changed' WHERE id = 2;
	UPDATE typed SET id = 4 WHERE id = 3;
	DELETE FROM typed WHERE id = 1;
	UPDATE parent SET v = 'p1 changed' WHERE id = 1;
});
wait_for_sync($source, 'dbufs_oneway');
is(table_rows($target, 'toasted', 'id'), table_rows($source, 'toasted', 'id'),
	'updates with unchanged TOAST, also when the key changes, keep the value');
is($target->safe_psql('postgres', 'SELECT count(*), sum(length(big)) FROM toasted'),
	'4|640000', 'toasted values are intact on the target');
is(table_rows($target, 'typed', 'id'), table_rows($source, 'typed', 'id'),
	'updates and deletes of every type apply exactly');
is($target->safe_psql('postgres',
	"SELECT v, note, applied_at IS NOT NULL FROM parent ORDER BY id"),
	"p1 changed|from source|t\np2|from source|t",
	'local extra columns take their defaults and keep them on update');

# TRUNCATE, with a foreign key between the truncated tables and RESTART IDENTITY
$source->safe_psql('postgres', q{
	INSERT INTO seq_t (v) VALUES ('a'), ('b');
});
wait_for_sync($source, 'dbufs_oneway');
$source->safe_psql('postgres', q{
	TRUNCATE parent, child;
	TRUNCATE seq_t RESTART IDENTITY;
	INSERT INTO seq_t (v) VALUES ('after');
});
wait_for_sync($source, 'dbufs_oneway');
is($target->safe_psql('postgres', 'SELECT count(*) FROM parent') . '/' .
   $target->safe_psql('postgres', 'SELECT count(*) FROM child'), '0/0', 'TRUNCATE applies');
is(table_rows($target, 'seq_t', 'id'), table_rows($source, 'seq_t', 'id'),
	'rows after TRUNCATE ... RESTART IDENTITY carry the source ids');

# the extension's own tables never replicate, even in a subscription of all tables
$source->safe_psql('postgres', q{
	CREATE SCHEMA decoderbufs_apply;
	CREATE TABLE decoderbufs_apply.subscription (x int);
	INSERT INTO decoderbufs_apply.subscription VALUES (1);
	INSERT INTO parent VALUES (3, 'after the extension table');
});
wait_for_sync($source, 'dbufs_oneway');
is($target->safe_psql('postgres', "SELECT v FROM parent WHERE id = 3"),
	'after the extension table', 'replication goes on past changes to decoderbufs_apply.*');
is($target->safe_psql('postgres', 'SELECT count(*) FROM decoderbufs_apply.subscription'),
	'1', 'the target catalog is untouched');

# status view
my $st = $target->safe_psql('postgres', q{
	SELECT state, inserted, updated, deleted, truncated,
	       transactions > 0, lag_bytes, pid IS NOT NULL, last_error IS NULL
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'oneway'});
is($st, 'streaming|18|7|2|3|t|0|t|t', 'the status view shows a healthy, caught-up subscription');

# the worker identified the source (IDENTIFY_SYSTEM)
is(status($target, 'oneway', 'source_system_id'),
	$source->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()'),
	'the status view shows the source\'s system identifier');

# writes carry the subscription's origin on the target
$target->safe_psql('postgres', 'SELECT 1');
ok($target->safe_psql('postgres', q{
	SELECT remote_lsn > '0/0' FROM pg_replication_origin_status s
	JOIN pg_replication_origin o ON o.roident = s.local_id
	WHERE o.roname = (SELECT sub_origin_name FROM decoderbufs_apply.subscription WHERE sub_name = 'oneway')})
	eq 't', 'the replication origin tracks the remote progress');

# session_replication_role = replica by default: the target's ordinary
# triggers do not fire for applied rows; replica_role => false makes them fire
# (the worker runs with an empty search_path, as native apply does)
$target->safe_psql('postgres', q{
	CREATE TABLE audit (id int, op text);
	CREATE FUNCTION audit_parent() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN INSERT INTO public.audit VALUES (NEW.id, TG_OP); RETURN NEW; END$$;
	CREATE TRIGGER parent_audit AFTER INSERT ON parent FOR EACH ROW EXECUTE FUNCTION audit_parent();
});
$source->safe_psql('postgres', "INSERT INTO parent VALUES (4, 'no trigger')");
wait_for_sync($source, 'dbufs_oneway');
is($target->safe_psql('postgres', 'SELECT count(*) FROM audit'), '0',
	'with replica_role (the default) the target\'s triggers do not fire');
$target->safe_psql('postgres', "SELECT decoderbufs_apply.alter_subscription('oneway', replica_role => false)");
$target->poll_query_until('postgres',
	"SELECT state = 'streaming' AND pid IS NOT NULL FROM decoderbufs_apply.subscription_status")
  or die 'worker did not restart';
$source->safe_psql('postgres', "INSERT INTO parent VALUES (5, 'trigger')");
wait_for_sync($source, 'dbufs_oneway');
is($target->safe_psql('postgres', 'SELECT id, op FROM audit'), '5|INSERT',
	'with replica_role => false they fire');
$target->safe_psql('postgres', "SELECT decoderbufs_apply.alter_subscription('oneway', replica_role => true)");

# disable, write, enable: the backlog arrives
$target->safe_psql('postgres', "SELECT decoderbufs_apply.disable_subscription('oneway')");
$target->poll_query_until('postgres',
	"SELECT state = 'disabled' AND pid IS NULL FROM decoderbufs_apply.subscription_status WHERE subscription = 'oneway'")
  or die 'worker did not stop';
$source->safe_psql('postgres', "INSERT INTO parent SELECT g, 'backlog' FROM generate_series(10, 1009) g");
is($target->safe_psql('postgres', "SELECT count(*) FROM parent WHERE v = 'backlog'"), '0',
	'nothing applies while disabled');
$target->safe_psql('postgres', "SELECT decoderbufs_apply.enable_subscription('oneway')");
wait_for_sync($source, 'dbufs_oneway');
is($target->safe_psql('postgres', "SELECT count(*) FROM parent WHERE v = 'backlog'"), '1000',
	'the backlog arrives after enable');

# Lookups that pass dead index entries: updates on full pages are not HOT,
# so every row keeps index entries to dead versions, which the target's
# lookups then mark dead (the index scan keeps state across rows of a
# transaction; it must outlive each row's memory).
$source->safe_psql('postgres', q{
	CREATE TABLE churn (id int PRIMARY KEY, pad text) WITH (fillfactor = 100);
	INSERT INTO churn SELECT g, repeat('p', 200) FROM generate_series(1, 3000) g});
$target->safe_psql('postgres', q{
	CREATE TABLE churn (id int PRIMARY KEY, pad text) WITH (fillfactor = 100)});
for my $round (1 .. 3)
{
	$source->safe_psql('postgres', "UPDATE churn SET pad = repeat('u', 200 + $round)");
}
$source->safe_psql('postgres', q{
	BEGIN;
	UPDATE churn SET pad = pad || 'a' WHERE id % 2 = 0;
	UPDATE churn SET pad = pad || 'b' WHERE id % 3 = 0;
	DELETE FROM churn WHERE id % 5 = 0;
	COMMIT});
wait_for_sync($source, 'dbufs_oneway');
is($target->safe_psql('postgres', 'SELECT count(*), md5(string_agg(id || pad, \',\' ORDER BY id)) FROM churn'),
	$source->safe_psql('postgres', 'SELECT count(*), md5(string_agg(id || pad, \',\' ORDER BY id)) FROM churn'),
	'rows updated again and again are found through dead index entries');
is(status($target, 'oneway', 'state'), 'streaming', 'the worker survived it');

# drop removes the slot on the source and the origin on the target
$target->safe_psql('postgres', "SELECT decoderbufs_apply.drop_subscription('oneway')");
is($source->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'dbufs_oneway'"),
	'0', 'drop_subscription drops the slot');
is($target->safe_psql('postgres', "SELECT count(*) FROM pg_replication_origin WHERE roname LIKE 'decoderbufs_apply_%'"),
	'0', 'and the origin');

$target->stop;
$source->stop;
done_testing();
