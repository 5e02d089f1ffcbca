# 040_security.pl - what 014_apply_errors.pl (g), 021_precheck.pl,
# 022_filters.pl and sql/apply_api.sql do not already prove about security:
#  (a) quoted, spaced, mixed-case identifiers end to end: schema, table,
#      column, row filter, column_map rename, schema mapping, sequences,
#      initial copy, stream, verify() and sync_sequences();
#  (b) an unprivileged role, with or without USAGE on the schema, can call
#      none of the API (set_table_options, set_schema_mapping, resync_table,
#      verify, sync_sequences, precheck, resolve_conflict, ... and the
#      internal helpers), read none of the catalog (subscription,
#      table_config, conflict_log) nor the status view, and write none of it;
#  (c) rows are applied as the subscription's owner: an owner without
#      INSERT stops the initial copy with a permission error naming the
#      table, without UPDATE or DELETE the stream stops likewise; each
#      resumes once granted;
#  (d) no SQL injection through table names (tables, exclude_tables),
#      set_table_options (table_name, target_table, columns, column_map) or
#      set_schema_mapping: refused, or taken as a literal identifier;
#  (e) a password in the connection string shows neither in the status
#      view, in last_error after a connection failure, in precheck's,
#      verify()'s or sync_sequences()'s errors, in pg_stat_activity or the
#      worker's process title, nor in either server's log.
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

# run $sql on the target as $role: (ret, stdout, stderr)
sub as_role
{
	my ($role, $sql) = @_;
	my ($ret, $out, $stderr) = $target->psql('postgres', $sql, extra_params => [ '-U', $role ]);
	return ($ret, $out, $stderr);
}

sub last_error
{
	my ($sub) = @_;
	return tgt("SELECT coalesce(last_error, '') FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'");
}

# Wait until $sub's last_error matches $re and was raised after $since (a
# timestamp of the target); returns the last one seen.
sub wait_for_error
{
	my ($sub, $re, $since, $secs) = @_;
	my $deadline = time() + ($secs // 60);
	my $err = '';
	while (time() < $deadline)
	{
		$err = tgt("SELECT coalesce(last_error, '') FROM decoderbufs_apply.subscription_status
			WHERE subscription = '$sub' AND last_error_time > '$since'");
		return $err if $err =~ $re;
		select(undef, undef, undef, 0.1);
	}
	return $err;
}

sub now { return tgt('SELECT clock_timestamp()'); }

sub sql_string { my ($s) = @_; $s =~ s/'/''/g; return "'$s'"; }

my $conn = $source->connstr('postgres');
my $sock = $source->host;
my $port = $source->port;

# a canary on both servers: no injected statement may drop it, and no
# injected CREATE TABLE pwned... may run
for my $node ($source, $target)
{
	$node->safe_psql('postgres', 'CREATE TABLE canary (id int PRIMARY KEY); INSERT INTO canary VALUES (1)');
}
sub no_injection
{
	my ($what) = @_;
	for my $node ($source, $target)
	{
		is($node->safe_psql('postgres',
				q{SELECT (SELECT count(*) FROM canary) || '|' ||
				  (SELECT count(*) FROM pg_class WHERE relname LIKE 'pwned%')}),
			'1|0', "$what: the canary lives and nothing was created on the " . $node->name);
	}
}

############################################################################
# (a) quoted identifiers end to end
src(q{
	CREATE SCHEMA "My Schema";
	CREATE TABLE "My Schema"."Order ""Items""" (id int PRIMARY KEY, "Total Amount" numeric, "MixedCase" text);
	-- the row filter's column must be in the replica identity
	ALTER TABLE "My Schema"."Order ""Items""" REPLICA IDENTITY FULL;
	CREATE SEQUENCE "My Schema"."Seq ""Q""";
	SELECT setval('"My Schema"."Seq ""Q"""', 42);
	INSERT INTO "My Schema"."Order ""Items"""
		SELECT g, g * 5, 'v' || g FROM generate_series(1, 20) g;
});
tgt(q{
	CREATE SCHEMA "Tgt ""Schema""";
	CREATE TABLE "Tgt ""Schema"""."Order ""Items""" (id int PRIMARY KEY, "Amount ""USD""" numeric, "MixedCase" text);
	CREATE SEQUENCE "Tgt ""Schema"""."Seq ""Q""";
	CREATE EXTENSION decoderbufs_apply;
});
my $qtable = '"My Schema"."Order ""Items"""';
my $ttable = '"Tgt ""Schema"""."Order ""Items"""';
subscribe($target, 'qi', $source, copy_data => 'true', enabled => 'false',
	tables => 'ARRAY[' . sql_string($qtable) . ']',
	sequences => q{ARRAY['"My Schema"."Seq ""Q"""']});
tgt(q{SELECT decoderbufs_apply.set_table_options('qi', '"My Schema"."Order ""Items"""',
		column_map => '{"Total Amount": "Amount \"USD\""}', row_filter => '"Total Amount" > 20');
	  SELECT decoderbufs_apply.set_schema_mapping('qi', 'My Schema', 'Tgt "Schema"');
	  SELECT decoderbufs_apply.enable_subscription('qi')});
ok(poll_until($target, q{SELECT state = 'ready' FROM decoderbufs_apply.table_sync WHERE table_name = 'Order "Items"'}, 60),
	'(a) the quoted table is copied')
  or diag(last_error('qi'));
sub filtered_source
{
	return src(q{SELECT string_agg(format('%s,%s,%s', id, "Total Amount", "MixedCase"), ';' ORDER BY id)
		FROM "My Schema"."Order ""Items""" WHERE "Total Amount" > 20});
}
sub target_rows
{
	return tgt(q{SELECT string_agg(format('%s,%s,%s', id, "Amount ""USD""", "MixedCase"), ';' ORDER BY id)
		FROM "Tgt ""Schema"""."Order ""Items"""});
}
is(target_rows(), filtered_source(), '(a) the copy applied the filter on the quoted column, the rename and the schema mapping');
is(tgt(q{SELECT count(*) FROM "Tgt ""Schema"""."Order ""Items"""}), '16', '(a) 16 of 20 rows pass the filter');
src(q{
	INSERT INTO "My Schema"."Order ""Items""" VALUES (21, 500, 'new'), (22, 1, 'filtered out');
	UPDATE "My Schema"."Order ""Items""" SET "Total Amount" = 1000, "MixedCase" = 'upd' WHERE id = 10;
	UPDATE "My Schema"."Order ""Items""" SET "Total Amount" = 100 WHERE id = 2;   -- moves in
	DELETE FROM "My Schema"."Order ""Items""" WHERE id = 20;
	SELECT nextval('"My Schema"."Seq ""Q"""') FROM generate_series(1, 8);
});
wait_for_sync($source, 'dbufs_qi');
is(target_rows(), filtered_source(), '(a) the stream follows, quoted names all the way');
is(tgt(q{SELECT kind || '|' || status FROM decoderbufs_apply.verify('qi', '"My Schema"."Order ""Items"""') WHERE kind = 'summary'}),
	'summary|equal', '(a) verify() finds the quoted table equal on both sides');
is(tgt(q{SELECT sequence_name || '|' || target_sequence || '|' || source_value
	FROM decoderbufs_apply.sync_sequences('qi')}) =~ /^"?My Schema"?\."?Seq ""?Q""?"?\|.*Tgt.*Schema.*Seq.*\|50$/ ? 1 : 0,
	1, '(a) sync_sequences() maps the quoted sequence into the quoted target schema')
  or diag(tgt(q{SELECT * FROM decoderbufs_apply.sync_sequences('qi')}));
is(tgt(q{SELECT last_value FROM "Tgt ""Schema"""."Seq ""Q"""}), '50', '(a) the quoted target sequence has the source value');
# a table policy and a resync on the quoted name
tgt(q{SELECT decoderbufs_apply.alter_subscription('qi', existing_data => 'truncate');
	  SELECT decoderbufs_apply.set_table_policy('qi', '"My Schema"."Order ""Items"""', 'overwrite');
	  SELECT decoderbufs_apply.resync_table('qi', '"My Schema"."Order ""Items"""')});
ok(poll_until($target, q{SELECT state = 'ready' AND sync_lsn IS NOT NULL FROM decoderbufs_apply.table_sync WHERE table_name = 'Order "Items"'}, 60),
	'(a) resync_table() copies the quoted table again')
  or diag(last_error('qi'));
is(target_rows(), filtered_source(), '(a) and it is still the filtered image');
no_injection('(a)');

############################################################################
# (b) an unprivileged role
tgt(q{CREATE ROLE nobody LOGIN;
	  INSERT INTO decoderbufs_apply.conflict_log (id, sub_name, schema_name, table_name,
		conflict_type, resolution, decision)
	  VALUES (9001, 'qi', 'My Schema', 'Order "Items"', 'delete_missing', 'ignore', 'skipped')});
my $conn_sql = sql_string($conn);
my @calls = (
	[ 'create_subscription', "SELECT decoderbufs_apply.create_subscription('n', $conn_sql, create_slot => false, enabled => false, precheck => false)", 'function create_subscription' ],
	[ 'alter_subscription', "SELECT decoderbufs_apply.alter_subscription('qi', conflict_policy => 'ignore')", 'function alter_subscription' ],
	[ 'enable_subscription', "SELECT decoderbufs_apply.enable_subscription('qi', precheck => false)", 'function enable_subscription' ],
	[ 'disable_subscription', "SELECT decoderbufs_apply.disable_subscription('qi')", 'function disable_subscription' ],
	[ 'drop_subscription', "SELECT decoderbufs_apply.drop_subscription('qi', drop_slot => false)", 'function drop_subscription' ],
	[ 'set_table_policy', "SELECT decoderbufs_apply.set_table_policy('qi', 'public.canary', 'ignore')", 'function set_table_policy' ],
	[ 'set_table_options', "SELECT decoderbufs_apply.set_table_options('qi', 'public.canary', row_filter => 'false')", 'function set_table_options' ],
	[ 'set_schema_mapping', "SELECT decoderbufs_apply.set_schema_mapping('qi', 'public', 'elsewhere')", 'function set_schema_mapping' ],
	[ 'resync_table', "SELECT decoderbufs_apply.resync_table('qi', '\"My Schema\".\"Order \"\"Items\"\"\"')", 'function resync_table' ],
	[ 'skip_transaction', "SELECT decoderbufs_apply.skip_transaction('qi', '0/1')", 'function skip_transaction' ],
	[ 'verify', "SELECT * FROM decoderbufs_apply.verify('qi', '\"My Schema\".\"Order \"\"Items\"\"\"')", 'function verify' ],
	[ 'verify_all', "SELECT * FROM decoderbufs_apply.verify_all('qi')", 'function verify_all' ],
	[ 'sync_sequences', "SELECT * FROM decoderbufs_apply.sync_sequences('qi')", 'function sync_sequences' ],
	[ 'precheck', "SELECT * FROM decoderbufs_apply.precheck(subscription => 'qi')", 'function precheck' ],
	[ 'resolve_conflict', "SELECT decoderbufs_apply.resolve_conflict(9001, 'discard')", 'function resolve_conflict' ],
	[ 'SELECT subscription', 'SELECT sub_conninfo FROM decoderbufs_apply.subscription', 'table subscription' ],
	[ 'SELECT table_config', 'SELECT * FROM decoderbufs_apply.table_config', 'table table_config' ],
	[ 'SELECT schema_map', 'SELECT * FROM decoderbufs_apply.schema_map', 'table schema_map' ],
	[ 'SELECT table_sync', 'SELECT * FROM decoderbufs_apply.table_sync', 'table table_sync' ],
	[ 'SELECT conflict_log', 'SELECT * FROM decoderbufs_apply.conflict_log', 'table conflict_log' ],
	[ 'SELECT tombstone', 'SELECT * FROM decoderbufs_apply.tombstone', 'table tombstone' ],
	[ 'SELECT subscription_status', 'SELECT * FROM decoderbufs_apply.subscription_status', 'view subscription_status' ],
	[ 'INSERT INTO subscription', "INSERT INTO decoderbufs_apply.subscription SELECT 99, 'x', 'nobody', true, $conn_sql, 's', 'o', 'fail', true, true", 'table subscription' ],
	[ 'UPDATE table_config', "UPDATE decoderbufs_apply.table_config SET row_filter = 'false'", 'table table_config' ],
	[ 'DELETE FROM schema_map', 'DELETE FROM decoderbufs_apply.schema_map', 'table schema_map' ],
	[ 'UPDATE conflict_log', 'UPDATE decoderbufs_apply.conflict_log SET resolved_action = \'discard\'', 'table conflict_log' ],
	[ 'call _worker_status', 'SELECT * FROM decoderbufs_apply._worker_status()', 'function _worker_status' ],
	[ 'call _wakeup', 'SELECT decoderbufs_apply._wakeup(1, true)', 'function _wakeup' ],
	[ 'call _stop_worker', 'SELECT decoderbufs_apply._stop_worker(1)', 'function _stop_worker' ],
	[ 'call _sync_sequences', 'SELECT * FROM decoderbufs_apply._sync_sequences(1)', 'function _sync_sequences' ],
	[ 'call _resolve_conflict', "SELECT decoderbufs_apply._resolve_conflict(9001, 'discard')", 'function _resolve_conflict' ],
	[ 'call _verify', 'SELECT * FROM decoderbufs_apply._verify(1, NULL, NULL, 10)', 'function _verify' ],
	[ 'call _precheck', "SELECT * FROM decoderbufs_apply._precheck($conn_sql, 1, NULL, NULL, NULL, false, 'error', 'dbufs_qi', false)", 'function _precheck' ],
	[ 'call _check_row_filter', "SELECT decoderbufs_apply._check_row_filter('true')", 'function _check_row_filter' ],
	# the plpgsql helpers PUBLIC may execute read the catalog as the caller
	[ 'read a subscription through _get', "SELECT (decoderbufs_apply._get('qi')).sub_conninfo", 'table subscription' ],
);
my $catalog_sql = q{SELECT (SELECT string_agg(s::text, ';' ORDER BY sub_id) FROM decoderbufs_apply.subscription s) || '#' ||
	(SELECT coalesce(string_agg(c::text, ';'), '') FROM decoderbufs_apply.table_config c) || '#' ||
	(SELECT coalesce(string_agg(m::text, ';'), '') FROM decoderbufs_apply.schema_map m) || '#' ||
	(SELECT coalesce(string_agg(p::text, ';'), '') FROM decoderbufs_apply.table_policy p) || '#' ||
	(SELECT string_agg(t.state, ';') FROM decoderbufs_apply.table_sync t) || '#' ||
	(SELECT coalesce(resolved_action, 'unresolved') FROM decoderbufs_apply.conflict_log WHERE id = 9001)};
my $catalog_before = tgt($catalog_sql);
for my $usage (0, 1)
{
	tgt('GRANT USAGE ON SCHEMA decoderbufs_apply TO nobody') if $usage;
	for my $c (@calls)
	{
		my ($what, $sql, $object) = @$c;
		my ($ret, $out, $stderr) = as_role('nobody', $sql);
		my $expect = $usage ? qr/ERROR:  permission denied for \Q$object\E/
		  : qr/ERROR:  permission denied for schema decoderbufs_apply/;
		ok($ret != 0 && $stderr =~ $expect,
			'(b) ' . ($usage ? 'with' : 'without') . " USAGE on the schema, an unprivileged role cannot $what")
		  or diag("ret $ret out $out stderr $stderr");
	}
}
is(tgt($catalog_sql), $catalog_before, '(b) the catalog is unchanged');
is(tgt(q{SELECT enabled || '|' || state FROM decoderbufs_apply.subscription_status WHERE subscription = 'qi'}),
	'true|streaming', '(b) the subscription still streams');
# nor can it see the connection string in pg_stat_activity or through a
# view: it may not read the catalog
my ($ret, $out, $stderr) = as_role('nobody', q{SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query ~ 'dbname='});
is($out, '0', '(b) no connection string in pg_stat_activity');
tgt('REVOKE USAGE ON SCHEMA decoderbufs_apply FROM nobody');
no_injection('(b)');

############################################################################
# (c) applied as the owner
my $password = 'Sec_Pw_7q';
{
	local $ENV{PGOPTIONS} = '-c log_statement=none';
	src("CREATE ROLE repl_pw LOGIN REPLICATION PASSWORD '$password'");
}
my $hba = slurp_file($source->data_dir . '/pg_hba.conf');
open my $fh, '>', $source->data_dir . '/pg_hba.conf' or die;
print $fh "local all repl_pw scram-sha-256\n$hba";
close $fh;
$source->reload;
# spelled backwards in our own statements, which the log shows
my $rev_password = reverse $password;
my $pw_conn = "host=$sock port=$port dbname=postgres user=repl_pw password=$password";

src(q{
	CREATE TABLE cp_t (id int PRIMARY KEY, v text);
	INSERT INTO cp_t SELECT g, 'r' || g FROM generate_series(1, 5) g;
	CREATE TABLE "Perm Tab" (id int PRIMARY KEY, v text);
	CREATE TABLE pw_t (id int PRIMARY KEY);
	GRANT SELECT ON cp_t, "Perm Tab", pw_t TO repl_pw;
});
tgt(q{
	CREATE TABLE cp_t (id int PRIMARY KEY, v text);
	CREATE TABLE "Perm Tab" (id int PRIMARY KEY, v text);
	CREATE ROLE sub_admin LOGIN IN ROLE decoderbufs_apply_admin;
	-- the statements of this role hold the password: keep them out of the
	-- log (README, Privileges)
	ALTER ROLE sub_admin SET log_statement = 'none';
	ALTER ROLE sub_admin SET log_min_error_statement = 'panic';
	GRANT INSERT ON "Perm Tab" TO sub_admin;
	CREATE TABLE pw_t (id int PRIMARY KEY);
	GRANT INSERT ON pw_t TO sub_admin;
});
($ret, $out, $stderr) = as_role('sub_admin',
	"SELECT decoderbufs_apply.create_subscription('own', " . sql_string($pw_conn) . ",
		tables => ARRAY['public.cp_t', 'public.\"Perm Tab\"'], copy_data => true, precheck => false)");
is($ret, 0, '(c) an admin member creates a copying subscription') or diag($stderr);
my $off = -s $target->logfile;
# the copy helper's own error shows first, then the worker's, which names
# the subscription
my $err = wait_for_error('own', qr/^the initial copy .*permission denied/, '-infinity');
is($err, 'the initial copy of decoderbufs_apply subscription "own" failed: permission denied for table cp_t',
	'(c) the copy stops: the owner has no INSERT on cp_t');
ok(poll_until($target, qq{SELECT retry_count >= 1 FROM decoderbufs_apply.subscription_status WHERE subscription = 'own'}, 30),
	'(c) and it retries');
like(slurp_file($target->logfile, $off), qr/ERROR:  permission denied for table cp_t/, '(c) the log names the table');
is(tgt('SELECT count(*) FROM cp_t'), '0', '(c) no row was copied behind the owner\'s back');
isnt(tgt(q{SELECT state FROM decoderbufs_apply.table_sync WHERE table_name = 'cp_t'}), 'ready',
	'(c) the table is not marked copied');
tgt('GRANT INSERT ON cp_t TO sub_admin');
ok(poll_until($target, q{SELECT count(*) = 2 FROM decoderbufs_apply.table_sync WHERE state = 'ready' AND table_name IN ('cp_t', 'Perm Tab')}, 60),
	'(c) after GRANT INSERT the copy completes')
  or diag(last_error('own'));
is(table_rows($target, 'cp_t'), table_rows($source, 'cp_t'), '(c) with every row');
ok(poll_until($target, q{SELECT state = 'streaming' FROM decoderbufs_apply.subscription_status WHERE subscription = 'own'}, 60),
	'(c) the subscription streams');

src(q{INSERT INTO "Perm Tab" VALUES (1, 'one'), (2, 'two')});
wait_for_sync($source, 'dbufs_own');
is(table_rows($target, '"Perm Tab"'), "(1,one)\n(2,two)", '(c) INSERT into the quoted table as its owner');
my $since = now();
src(q{UPDATE "Perm Tab" SET v = 'uno' WHERE id = 1});
$err = wait_for_error('own', qr/permission denied/, $since);
is($err, 'permission denied for table Perm Tab', '(c) without UPDATE the stream stops, naming the table');
is(tgt(q{SELECT v FROM "Perm Tab" WHERE id = 1}), 'one', '(c) and the row is not updated');
tgt(q{GRANT UPDATE, SELECT ON "Perm Tab" TO sub_admin});
wait_for_sync($source, 'dbufs_own');
is(tgt(q{SELECT v FROM "Perm Tab" WHERE id = 1}), 'uno', '(c) after GRANT UPDATE the update arrives');
$since = now();
src(q{DELETE FROM "Perm Tab" WHERE id = 2});
$err = wait_for_error('own', qr/permission denied/, $since);
is($err, 'permission denied for table Perm Tab', '(c) without DELETE the stream stops');
is(tgt(q{SELECT count(*) FROM "Perm Tab"}), '2', '(c) and the row stays');
tgt(q{GRANT DELETE ON "Perm Tab" TO sub_admin});
wait_for_sync($source, 'dbufs_own');
is(table_rows($target, '"Perm Tab"'), '(1,uno)', '(c) after GRANT DELETE the delete arrives');

# a resync with existing_data => truncate needs TRUNCATE: refused without
$since = now();
as_role('sub_admin', q{SELECT decoderbufs_apply.alter_subscription('own', existing_data => 'truncate');
	SELECT decoderbufs_apply.resync_table('own', 'public.cp_t')});
$err = wait_for_error('own', qr/cp_t/, $since);
is($err, 'the initial copy of decoderbufs_apply subscription "own" failed: permission denied for table cp_t',
	'(c) a resync that truncates needs TRUNCATE');
is(tgt('SELECT count(*) FROM cp_t'), '5', '(c) and the table is not emptied');
tgt('GRANT TRUNCATE ON cp_t TO sub_admin');
ok(poll_until($target, q{SELECT state = 'ready' FROM decoderbufs_apply.table_sync WHERE table_name = 'cp_t'}, 60),
	'(c) after GRANT TRUNCATE the resync completes')
  or diag(last_error('own'));
is(table_rows($target, 'cp_t'), table_rows($source, 'cp_t'), '(c) the table is the source\'s again');
no_injection('(c)');

############################################################################
# (d) injection
# refused outright
for my $c (
	[ 'tables', "SELECT decoderbufs_apply.create_subscription('inj', $conn_sql, tables => ARRAY['public.t; DROP TABLE canary'], create_slot => false, enabled => false)", qr/invalid value for argument "tables"/ ],
	[ 'tables with a comma', "SELECT decoderbufs_apply.create_subscription('inj', $conn_sql, tables => ARRAY['public.t,public.canary'], create_slot => false, enabled => false)", qr/invalid value for argument "tables"/ ],
	[ 'exclude_tables', "SELECT decoderbufs_apply.create_subscription('inj', $conn_sql, exclude_tables => ARRAY['public.t'') ; DROP TABLE canary; --'], create_slot => false, enabled => false)", qr/invalid value for argument "exclude_tables"/ ],
	[ 'sequences', "SELECT decoderbufs_apply.create_subscription('inj', $conn_sql, sequences => ARRAY['public.s; DROP TABLE canary'], create_slot => false, enabled => false)", qr/invalid value for argument "sequences"/ ],
	[ 'alter tables', "SELECT decoderbufs_apply.alter_subscription('qi', tables => ARRAY['x.y UNION SELECT'])", qr/invalid value for argument "tables"/ ],
	[ 'set_table_options table_name', q{SELECT decoderbufs_apply.set_table_options('qi', 'public.t; DROP TABLE canary', row_filter => 'true')}, qr/invalid value for argument "table_name"/ ],
	[ 'set_table_options target_table', q{SELECT decoderbufs_apply.set_table_options('qi', 'public.t', target_table => 'public.t; DROP TABLE canary')}, qr/invalid value for argument "target_table"/ ],
	[ 'set_table_policy table_name', q{SELECT decoderbufs_apply.set_table_policy('qi', 'public.t); DROP TABLE canary; --', 'fail')}, qr/invalid value for argument "table_name"/ ],
	[ 'resync_table table_name', q{SELECT decoderbufs_apply.resync_table('qi', 'public.t; DROP TABLE canary')}, qr/invalid value for argument "table_name"/ ],
	[ 'verify table_name', q{SELECT * FROM decoderbufs_apply.verify('qi', 'public.canary; DROP TABLE canary')}, qr/invalid value for argument "table_name"/ ],
	[ 'row_filter with a subtransaction', q{SELECT decoderbufs_apply.set_table_options('qi', 'public.t', row_filter => 'true)) TO STDOUT; CREATE TABLE pwned_f(); COPY (SELECT 1 WHERE (true')}, qr/invalid value for argument "row_filter"/ ])
{
	my ($what, $sql, $re) = @$c;
	($ret, $out, $stderr) = $target->psql('postgres', $sql);
	like($stderr, $re, "(d) a hostile $what is refused");
}
is(tgt(q{SELECT count(*) FROM decoderbufs_apply.subscription WHERE sub_name = 'inj'}), '0', '(d) no subscription was created');
no_injection('(d) refused names');

# hostile names that are real identifiers: taken literally, end to end
my $hostile_schema = q{evil'; DROP TABLE canary; --};
my $hostile_table = q{x"; DROP TABLE canary; CREATE TABLE pwned1(); --};
my $hostile_col = q{c'); DROP TABLE canary; --};
my $quoted_hostile = q{"evil'; DROP TABLE canary; --"."x""; DROP TABLE canary; CREATE TABLE pwned1(); --"};
my $quoted_hostile2 = q{public."it's'); DROP TABLE canary; CREATE TABLE pwned2(); --"};
my $ddl = qq{
	CREATE SCHEMA "evil'; DROP TABLE canary; --";
	CREATE TABLE $quoted_hostile (id int PRIMARY KEY, "c'); DROP TABLE canary; --" text);
	ALTER TABLE $quoted_hostile REPLICA IDENTITY FULL;
	CREATE TABLE $quoted_hostile2 (id int PRIMARY KEY, v text);
	CREATE TABLE public."y'; DROP TABLE canary; --" (id int PRIMARY KEY);
	CREATE TABLE plain (id int PRIMARY KEY, v text);
};
src($ddl . qq{
	INSERT INTO $quoted_hostile SELECT g, 'h' || g FROM generate_series(1, 10) g;
	INSERT INTO $quoted_hostile2 VALUES (1, 'a');
	INSERT INTO public."y'; DROP TABLE canary; --" VALUES (1);
	INSERT INTO plain VALUES (1, 'p');
});
tgt($ddl);
tgt('SELECT decoderbufs_apply.create_subscription(' . join(', ',
		"'inj'", $conn_sql,
		'tables => ARRAY[' . join(', ', map { sql_string($_) } $quoted_hostile, $quoted_hostile2,
			q{public."y'; DROP TABLE canary; --"}) . ']',
		'exclude_tables => ARRAY[' . sql_string(q{public."y'; DROP TABLE canary; --"}) . ']',
		'copy_data => true', 'enabled => false') . ')');
tgt('SELECT decoderbufs_apply.set_table_options(' . join(', ', "'inj'", sql_string($quoted_hostile),
		'row_filter => ' . sql_string(qq{"$hostile_col" <> 'h3'}),
		'columns => ARRAY[' . sql_string('id') . ', ' . sql_string($hostile_col) . ']') . ')');
tgt(q{SELECT decoderbufs_apply.enable_subscription('inj')});
ok(poll_until($target, q{SELECT count(*) = 2 FROM decoderbufs_apply.table_sync t
	JOIN decoderbufs_apply.subscription s USING (sub_id) WHERE s.sub_name = 'inj' AND t.state = 'ready'}, 60),
	'(d) tables with hostile names are copied (the excluded one is not)')
  or diag(last_error('inj'));
src(qq{INSERT INTO $quoted_hostile VALUES (11, 'h11'); UPDATE $quoted_hostile SET "$hostile_col" = 'upd' WHERE id = 1;
	INSERT INTO $quoted_hostile2 VALUES (2, 'b'); INSERT INTO public."y'; DROP TABLE canary; --" VALUES (2)});
wait_for_sync($source, 'dbufs_inj');
is(tgt(qq{SELECT string_agg(id || ':' || "$hostile_col", ',' ORDER BY id) FROM $quoted_hostile}),
	src(qq{SELECT string_agg(id || ':' || "$hostile_col", ',' ORDER BY id) FROM $quoted_hostile WHERE "$hostile_col" <> 'h3'}),
	'(d) the hostile-named table and column replicate, filtered, as literal names');
is(table_rows($target, $quoted_hostile2), "(1,a)\n(2,b)", '(d) a name with a single quote replicates');
is(tgt(q{SELECT count(*) FROM public."y'; DROP TABLE canary; --"}), '0', '(d) the hostile excluded name is excluded');
is(tgt(qq{SELECT string_agg(source_table || ':' || status, ',' ORDER BY source_table)
	FROM decoderbufs_apply.verify_all('inj') WHERE kind = 'summary'}) =~ /^[^,]*:equal,[^,]*:equal$/ ? 1 : 0, 1,
	'(d) verify_all() compares the hostile-named tables: equal')
  or diag(tgt(q{SELECT * FROM decoderbufs_apply.verify_all('inj') WHERE kind = 'summary'}));
no_injection('(d) hostile identifiers');

# settings that name nothing on the target: the worker stops with an error
# naming the literal name, and nothing runs
tgt(q{SELECT decoderbufs_apply.create_subscription('inj2', } . $conn_sql . q{, tables => ARRAY['public.plain'], copy_data => false)});
ok(poll_until($target, q{SELECT state = 'streaming' FROM decoderbufs_apply.subscription_status WHERE subscription = 'inj2'}, 60),
	'(d) inj2 streams');
my $n = 0;
for my $c (
	[ 'target_table', q{SELECT decoderbufs_apply.set_table_options('inj2', 'public.plain', target_table => 'public."plain; DROP TABLE canary; CREATE TABLE pwned3(); --"')},
	  qr/plain; DROP TABLE canary; CREATE TABLE pwned3\(\); --.*does not exist/ ],
	[ 'column_map target', q{SELECT decoderbufs_apply.set_table_options('inj2', 'public.plain', column_map => '{"v": "w\"); DROP TABLE canary; CREATE TABLE pwned4(); --"}')},
	  qr/has no column "w"\); DROP TABLE canary; CREATE TABLE pwned4\(\); --"/ ],
	[ 'column_map source', q{SELECT decoderbufs_apply.set_table_options('inj2', 'public.plain', column_map => '{"v\"); DROP TABLE canary; --": "v"}')},
	  undef ],
	[ 'columns', q{SELECT decoderbufs_apply.set_table_options('inj2', 'public.plain', columns => ARRAY['id', 'v FROM canary; DROP TABLE canary; CREATE TABLE pwned5(); --'])},
	  undef ],
	[ 'schema mapping', q{SELECT decoderbufs_apply.set_schema_mapping('inj2', 'public', 'p"; DROP TABLE canary; CREATE TABLE pwned6(); --')},
	  qr/p"; DROP TABLE canary; CREATE TABLE pwned6\(\); --.*does not exist/ ])
{
	my ($what, $sql, $re) = @$c;
	$n++;
	my $since = now();
	tgt($sql);
	src("INSERT INTO plain VALUES (100 + $n, 'x$n')");
	if ($re)
	{
		like(wait_for_error('inj2', $re, $since), $re, "(d) a hostile $what is a literal name: the error names it");
	}
	else
	{
		# unknown source columns in the settings: either left alone or an
		# error, but never run
		poll_until($target, "SELECT EXISTS (SELECT FROM plain WHERE id = 100 + $n)
			OR (SELECT last_error_time > '$since' FROM decoderbufs_apply.subscription_status WHERE subscription = 'inj2')", 30);
		my $e = tgt("SELECT CASE WHEN last_error_time > '$since' THEN last_error END FROM decoderbufs_apply.subscription_status WHERE subscription = 'inj2'");
		pass("(d) a hostile $what: " . ($e || 'applied, the name ignored'));
	}
	no_injection("(d) hostile $what");
	# back to plain settings
	tgt(q{SELECT decoderbufs_apply.set_table_options('inj2', 'public.plain');
		  SELECT decoderbufs_apply.set_schema_mapping('inj2', 'public', NULL)});
	wait_for_sync($source, 'dbufs_inj2');
	is(tgt("SELECT count(*) FROM plain WHERE id = 100 + $n"), '1', "(d) after $what is reset, the row arrives");
}

############################################################################
# (e) passwords
my $free_port = PostgreSQL::Test::Cluster::get_free_port();
($ret, $out, $stderr) = as_role('sub_admin',
	"SELECT decoderbufs_apply.create_subscription('pw', " . sql_string($pw_conn) . ", tables => ARRAY['public.pw_t'], precheck => false)");
is($ret, 0, '(e) a subscription with a password in its connection string') or diag($stderr);
ok(poll_until($target, q{SELECT state = 'streaming' FROM decoderbufs_apply.subscription_status WHERE subscription = 'pw'}, 60),
	'(e) streams');
my $worker_pid = tgt(q{SELECT pid FROM decoderbufs_apply.subscription_status WHERE subscription = 'pw'});
my $cmdline = slurp_file("/proc/$worker_pid/cmdline");
unlike($cmdline, qr/\Q$password\E/, '(e) not in the worker\'s process title');
is(tgt("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND strpos(concat_ws(' ', query, application_name, backend_type), reverse('$rev_password')) > 0"),
	'0', '(e) not in the target\'s pg_stat_activity');
is(src("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND strpos(concat_ws(' ', query, application_name, backend_type), reverse('$rev_password')) > 0"),
	'0', '(e) not in the source\'s pg_stat_activity');
my $bad_conn = "host=$sock port=$free_port dbname=postgres user=repl_pw password=$password";
($ret, $out, $stderr) = as_role('sub_admin',
	"SELECT decoderbufs_apply.alter_subscription('pw', conninfo => " . sql_string($bad_conn) . ")");
is($ret, 0, '(e) the owner points it at a wrong port') or diag($stderr);
$err = wait_for_error('pw', qr/could not connect/, '-infinity');
like($err, qr/^could not connect to the source: .*No such file or directory/s, '(e) last_error says it cannot connect');
unlike($err, qr/\Q$password\E/, '(e) and holds no password');
my $status_text = tgt(q{SELECT to_jsonb(s)::text FROM decoderbufs_apply.subscription_status s WHERE subscription = 'pw'});
unlike($status_text, qr/\Q$password\E/, '(e) nor does any column of the status view');
($ret, $out, $stderr) = as_role('sub_admin', q{SELECT * FROM decoderbufs_apply.precheck(subscription => 'pw')});
like($out . $stderr, qr/connection/, '(e) precheck reports the connection failure');
unlike($out . $stderr, qr/\Q$password\E/, '(e) without the password');
($ret, $out, $stderr) = as_role('sub_admin', q{SELECT * FROM decoderbufs_apply.verify('pw', 'public.pw_t')});
isnt($ret, 0, '(e) verify() fails to connect');
unlike($out . $stderr, qr/\Q$password\E/, '(e) without showing the password');
($ret, $out, $stderr) = as_role('sub_admin',
	"SELECT decoderbufs_apply.create_subscription('pw2', " . sql_string($bad_conn) . ", tables => ARRAY['public.pw_t'])");
isnt($ret, 0, '(e) create_subscription to a wrong port fails');
unlike($stderr, qr/\Q$password\E/, '(e) its error (message, detail, hint, context) holds no password');
# back to the right port
as_role('sub_admin', "SELECT decoderbufs_apply.alter_subscription('pw', conninfo => " . sql_string($pw_conn) . ")");
src(q{INSERT INTO pw_t VALUES (6)});
wait_for_sync($source, 'dbufs_pw');
is(tgt('SELECT count(*) FROM pw_t WHERE id = 6'), '1', '(e) with the right port again it streams');
unlike(slurp_file($target->logfile), qr/\Q$password\E/, '(e) no password in the target\'s log');
unlike(slurp_file($source->logfile), qr/\Q$password\E/, '(e) no password in the source\'s log');

$target->stop;
$source->stop;
done_testing();
