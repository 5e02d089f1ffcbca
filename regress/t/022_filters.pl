# 022_filters.pl - shaping what a subscription takes: selection by schema
# and by pattern with an exclude list, a row filter per table (the same in
# the copy and in the stream; an UPDATE that moves a row into or out of the
# filter becomes an INSERT or a DELETE on the target), a column selection
# per table, an operation filter per table, and bad or hostile settings.
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

sub src { return $source->safe_psql('postgres', $_[0]); }
sub tgt { return $target->safe_psql('postgres', $_[0]); }

my $schema = q{
	CREATE SCHEMA f;
	CREATE TABLE f.orders (id int PRIMARY KEY, region text NOT NULL, total numeric);
	ALTER TABLE f.orders REPLICA IDENTITY FULL;
	CREATE TABLE f.keyfilter (id int PRIMARY KEY, v text);
	CREATE TABLE f.log (id int PRIMARY KEY, msg text);
	CREATE TABLE f.skipme (id int PRIMARY KEY);
	CREATE TABLE f.tmp_scratch (id int PRIMARY KEY);
	CREATE SCHEMA other;
	CREATE TABLE other.t (id int PRIMARY KEY);
};
src($schema . q{
	CREATE TABLE f.items (id int PRIMARY KEY, name text, secret text);
	INSERT INTO f.orders SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g FROM generate_series(1, 100) g;
	INSERT INTO f.keyfilter SELECT g, 'k' || g FROM generate_series(1, 100) g;
	INSERT INTO f.items SELECT g, 'item' || g, 'secret' || g FROM generate_series(1, 20) g;
	INSERT INTO f.log SELECT g, 'm' || g FROM generate_series(1, 10) g;
	INSERT INTO f.skipme VALUES (1);
	INSERT INTO f.tmp_scratch VALUES (1);
	INSERT INTO other.t VALUES (1);
});
# the target's items has no secret column: the selection leaves it out
tgt($schema . q{
	CREATE TABLE f.items (id int PRIMARY KEY, name text);
	CREATE EXTENSION decoderbufs_apply;
});

# ---- bad and hostile settings are refused before anything runs ----------

subscribe($target, 'flt', $source, schemas => q{ARRAY['f']},
	exclude_tables => q{ARRAY['f.skipme', 'f.tmp_*']}, copy_data => 'true', enabled => 'false');
my ($ret, $out, $err) = $target->psql('postgres',
	q{SELECT decoderbufs_apply.set_table_options('flt', 'f.orders', row_filter => 'region = ')});
like($err, qr/invalid value for argument "row_filter": "region = "/, 'a filter that does not parse is refused');
($ret, $out, $err) = $target->psql('postgres',
	q{SELECT decoderbufs_apply.set_table_options('flt', 'f.orders',
		row_filter => 'true) TO STDOUT; DROP TABLE f.orders; --')});
like($err, qr/invalid value for argument "row_filter"/, 'a filter smuggling a statement is refused');
($ret, $out, $err) = $target->psql('postgres',
	q{SELECT decoderbufs_apply.set_table_options('flt', 'f.orders', row_filter => 'true; DROP TABLE f.orders')});
like($err, qr/invalid value for argument "row_filter"/, 'a filter with a second statement is refused');
($ret, $out, $err) = $target->psql('postgres',
	q{SELECT decoderbufs_apply.set_table_options('flt', 'f.orders', operations => ARRAY['insert', 'merge'])});
like($err, qr/invalid value for argument "operations"/, 'an unknown operation is refused');
($ret, $out, $err) = $target->psql('postgres',
	q{SELECT decoderbufs_apply.set_table_options('flt', 'orders', row_filter => 'true')});
like($err, qr/invalid value for argument "table_name": "orders"/, 'the table must be schema-qualified');
($ret, $out, $err) = $target->psql('postgres',
	q{SELECT decoderbufs_apply.set_table_options('flt', 'f.orders', column_map => '["a"]')});
like($err, qr/invalid value for argument "column_map"/, 'column_map must be an object');
($ret, $out, $err) = $target->psql('postgres',
	q{SELECT decoderbufs_apply.set_table_options('flt', 'f.orders', row_filter => 'true) OFFSET (5')});
like($err, qr/invalid value for argument "row_filter"/, 'a filter that adds an OFFSET to the copy is refused');
($ret, $out, $err) = $target->psql('postgres',
	q{SELECT decoderbufs_apply.set_table_options('flt', 'f.orders', row_filter => 'true GROUP BY 1')});
like($err, qr/invalid value for argument "row_filter"/, 'a filter that adds a GROUP BY is refused');
is(tgt('SELECT count(*) FROM decoderbufs_apply.table_config'), '0', 'nothing was stored');

# ---- the settings --------------------------------------------------------

tgt(q{SELECT decoderbufs_apply.set_table_options('flt', 'f.orders', row_filter => $$region = 'eu'$$);
	  SELECT decoderbufs_apply.set_table_options('flt', 'f.keyfilter', row_filter => 'id % 3 = 0');
	  SELECT decoderbufs_apply.set_table_options('flt', 'f.items', columns => ARRAY['id', 'name']);
	  SELECT decoderbufs_apply.set_table_options('flt', 'f.log', operations => ARRAY['insert']);
	  SELECT decoderbufs_apply.enable_subscription('flt')});
ok(poll_until($target, q{SELECT count(*) = 4 FROM decoderbufs_apply.table_sync WHERE state = 'ready'}, 60),
	'the selected tables are copied')
  or diag(tgt(q{SELECT last_error FROM decoderbufs_apply.subscription_status}));
is(tgt(q{SELECT string_agg(table_name, ',' ORDER BY table_name) FROM decoderbufs_apply.table_sync}),
	'items,keyfilter,log,orders', 'schema selection minus the exclude list (a name and a pattern)');

sub filtered_orders
{
	return src(q{SELECT string_agg(format('%s,%s,%s', id, region, total), ';' ORDER BY id)
		FROM f.orders WHERE region = 'eu'});
}
sub target_orders
{
	return tgt(q{SELECT string_agg(format('%s,%s,%s', id, region, total), ';' ORDER BY id) FROM f.orders});
}
is(target_orders(), filtered_orders(), 'the copy took the rows of the filter only');
is(tgt('SELECT count(*) FROM f.keyfilter'), '33', 'the copy applies each table its own filter');
is(tgt('SELECT count(*), min(name) FROM f.items'), '20|item1', 'items copied without the unselected column');

# ---- the stream applies the same filter ----------------------------------

src(q{
	INSERT INTO f.orders VALUES (101, 'us', 1), (102, 'eu', 2);   -- one in, one out
	UPDATE f.orders SET region = 'eu' WHERE id = 1;                -- moves in: INSERT
	UPDATE f.orders SET region = 'us' WHERE id = 2;                -- moves out: DELETE
	UPDATE f.orders SET total = total + 1000 WHERE id = 4;         -- stays in: UPDATE
	UPDATE f.orders SET total = total + 1000 WHERE id = 5;         -- stays out: nothing
	DELETE FROM f.orders WHERE id IN (6, 7);                       -- one in, one out
	UPDATE f.keyfilter SET id = 300 WHERE id = 1;                  -- key moves in
	UPDATE f.keyfilter SET id = 301 WHERE id = 3;                  -- key moves out
	UPDATE f.items SET name = 'renamed', secret = 'new secret' WHERE id = 1;
	INSERT INTO f.items VALUES (21, 'item21', 'secret21');
	INSERT INTO f.log VALUES (11, 'm11');
	UPDATE f.log SET msg = 'changed' WHERE id = 1;
	DELETE FROM f.log WHERE id = 2;
	INSERT INTO f.skipme VALUES (2);
	INSERT INTO other.t VALUES (2);
});
wait_for_sync($source, 'dbufs_flt');
is(target_orders(), filtered_orders(), 'the target is exactly the filtered image after moves in and out');
is(tgt('SELECT string_agg(id::text, $$,$$ ORDER BY id) FROM f.keyfilter WHERE id > 250 OR id < 4'),
	'300', 'a key change moving a row into and out of the filter');
is(tgt('SELECT count(*) FROM f.keyfilter'), src('SELECT count(*) FROM f.keyfilter WHERE id % 3 = 0'),
	'keyfilter holds the filtered rows');
is(tgt(q{SELECT name FROM f.items WHERE id = 1}), 'renamed', 'selected columns follow the source');
is(tgt(q{SELECT count(*) FROM f.items}), '21', 'items takes inserts');
is(tgt(q{SELECT string_agg(id || ':' || msg, ',' ORDER BY id) FROM f.log WHERE id <= 2 OR id = 11}),
	'1:m1,2:m2,11:m11', 'log takes inserts only: the update and the delete were left out');
is(tgt('SELECT count(*) FROM f.skipme'), '0', 'an excluded table is not copied or streamed');
is(tgt('SELECT count(*) FROM other.t'), '0', 'a table outside the selected schemas is not taken');
is(tgt(q{SELECT state FROM decoderbufs_apply.subscription_status WHERE subscription = 'flt'}), 'streaming',
	'the worker streams');

# A row that comes into the filter by an UPDATE that leaves a TOASTed
# column alone: under DEFAULT identity its value is not in the WAL, so the
# worker stops with an error instead of inserting the row without it.
src(q{CREATE TABLE f.toasty (id int PRIMARY KEY, big text);
	  ALTER TABLE f.toasty ALTER big SET STORAGE EXTERNAL});
tgt(q{CREATE TABLE f.toasty (id int PRIMARY KEY, big text);
	  SELECT decoderbufs_apply.set_table_options('flt', 'f.toasty', row_filter => 'id % 2 = 0')});
# the settings restart the worker, which copies the new table first
ok(poll_until($target, q{SELECT state = 'ready' FROM decoderbufs_apply.table_sync WHERE table_name = 'toasty'}, 60),
	'the new table was copied (empty)');
ok(poll_until($target, q{SELECT state = 'streaming' FROM decoderbufs_apply.subscription_status WHERE subscription = 'flt'}, 60),
	'and the worker streams again');
src(q{INSERT INTO f.toasty VALUES (1, repeat('t', 10000))});
src(q{UPDATE f.toasty SET id = 2 WHERE id = 1});
ok(poll_until($target, q{SELECT last_error LIKE 'cannot apply INSERT on "f.toasty": the source did not send the values of its unchanged TOAST columns'
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'flt'}, 60),
	'an INSERT without its unchanged TOAST values stops the worker with an error')
  or diag(tgt(q{SELECT last_error FROM decoderbufs_apply.subscription_status WHERE subscription = 'flt'}));
is(tgt('SELECT count(*) FROM f.toasty'), '0', 'no row without its value was written');

done_testing();
