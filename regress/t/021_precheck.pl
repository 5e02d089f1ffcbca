# 021_precheck.pl - decoderbufs_apply.precheck(), and create_subscription
# and enable_subscription refusing what it rejects.
#
# Each failure the precheck knows is provoked on its own and must come back
# as its check's row with the right status, naming the object, with a
# message that says what is wrong and a hint that says how to fix it:
#  source: connection refused, wal_level = replica, no free replication
#  slot, wal_sender_timeout = 0 (and short), a role without REPLICATION (and
#  with it, on a password connection), decoderbufs not in
#  output_plugin_libraries (read from the setting, and tried with a
#  temporary slot when the role may not read it; that attempt gives up
#  after 5 s when a transaction runs on the source, and is not made when it
#  would wait for the calling transaction itself), the subscription's slot
#  existing already, or missing, a selection matching no table, tables
#  without a key (an error, a warning when only INSERT is replicated);
#  target: missing table, key the source does not send, missing column,
#  incompatible and merely different column types, NOT NULL column the
#  source does not fill, non-empty tables for the initial copy under each
#  existing_data, decoderbufs_apply not preloaded.
# A setup without problems gives only ok rows.  create_subscription refuses
# on an error (nothing created, no slot left behind) and goes ahead with
# precheck => false; enable_subscription checks the subscription's own
# configuration (table settings included) the same way.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use DbufsTest;

my $source = new_node('source');
my $target = new_node('target', apply => 1);

sub src { return $source->safe_psql('postgres', $_[0]); }
sub tgt { return $target->safe_psql('postgres', $_[0]); }

sub sql_string
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# The rows of precheck(conninfo, extra arguments) run on $node (default
# the target), as a list of hashes.
sub precheck
{
	my ($conninfo, $extra, $node) = @_;
	$node //= $target;
	my $args = defined $conninfo ? sql_string($conninfo) : 'NULL';
	$args .= ", $extra" if $extra;
	my $json = $node->safe_psql('postgres',
		"SELECT coalesce(json_agg(p), '[]') FROM decoderbufs_apply.precheck($args) p");
	return @{ decode_json($json) };
}

# The row of check $check (about $object, when given) among @rows, or an
# empty one, so that a missing row fails the tests that use it.
sub row
{
	my ($rows, $check, $object) = @_;
	for my $r (@$rows)
	{
		next unless $r->{check_name} eq $check;
		next if defined $object && ($r->{object} // '') ne $object;
		$r->{$_} //= '' for qw(object message hint);
		return $r;
	}
	return { check_name => $check, status => '(no row)', object => '', message => '', hint => '' };
}

# Check one row: its status, and that message and hint match.
sub check_row
{
	my ($rows, $check, $object, $status, $msg_re, $hint_re, $what) = @_;
	my $r = row($rows, $check, $object);
	is($r->{status}, $status, "$what: $check is $status")
	  or diag(explain($r));
	like($r->{message}, $msg_re, "$what: the message says what is wrong") if $msg_re;
	like($r->{hint}, $hint_re, "$what: the hint says how to fix it") if $hint_re;
	return $r;
}

sub statuses
{
	my ($rows, $status) = @_;
	return grep { $_->{status} eq $status } @$rows;
}

# The error of a failed psql command: error, detail and hint.
sub psql_error
{
	my ($stderr) = @_;
	my %r;
	for my $part (split /\n(?=[A-Z]+:  )/, $stderr)
	{
		$r{ lc $1 } = $2 if $part =~ /^(?:psql:<stdin>:\d+: )?([A-Z]+):  (.*)$/s;
	}
	$r{$_} //= '' for qw(error detail hint context warning);
	return \%r;
}

my $conn = $source->connstr('postgres');
my $sock = $source->host;
my $port = $source->port;

$target->safe_psql('postgres', 'CREATE EXTENSION decoderbufs_apply');

############################################################################
# A setup without problems: only ok rows, one per check.
my $tables = q{
	CREATE TABLE good (id int PRIMARY KEY, v text, n numeric(10,2), ts timestamptz);
};
src($tables);
tgt($tables);
tgt('ALTER TABLE good ADD COLUMN local_note text NOT NULL DEFAULT \'x\'');
my @rows = precheck($conn, "tables => ARRAY['public.good']");
is(scalar(statuses(\@rows, 'warning')) + scalar(statuses(\@rows, 'error')), 0,
	'a good setup gives no warning and no error')
  or diag(explain([ grep { $_->{status} ne 'ok' } @rows ]));
is(join(',', map { $_->{check_name} } @rows),
	'connection,wal_level,replication_slots,wal_senders,wal_sender_timeout,replication_privilege,plugin,'
	  . 'no_tables,source_table_key,target_table,target_key,target_columns,column_types,target_not_null,'
	  . 'target_empty,shared_preload_libraries,max_worker_processes,track_commit_timestamp',
	'every check gives one ok row, in order');
check_row(\@rows, 'no_tables', undef, 'ok', qr/^the subscription selects 1 table on the source$/, undef, 'good');
check_row(\@rows, 'target_empty', undef, 'ok', qr/initial copy fills is empty/, undef,
	'good (copy_data defaults to true)');
like(row(\@rows, 'plugin')->{message}, qr/installed on the source/, 'good: the plugin is installed');

############################################################################
# connection refused: one error row with the connection hint, the source's
# checks skipped, the target's still made
my $free_port = PostgreSQL::Test::Cluster::get_free_port();
@rows = precheck("host=127.0.0.1 port=$free_port dbname=postgres");
check_row(\@rows, 'connection', undef, 'error',
	qr/^could not connect to the source: .*Connection refused.*; the checks of the source were skipped$/s,
	qr/^Check that the source server runs and that host and port in the connection string are right\.$/,
	'refused');
is(join(',', map { $_->{check_name} } @rows), 'connection,shared_preload_libraries,max_worker_processes,track_commit_timestamp',
	'refused: the source\'s checks are skipped, the target\'s are made');

############################################################################
# a source with wrong settings: wal_level = replica, no free slot,
# wal_sender_timeout = 0, decoderbufs not in output_plugin_libraries
my $other = new_node('other', conf => [ 'wal_level = replica', 'max_replication_slots = 1',
	'wal_sender_timeout = 0' ]);
my $has_opl = server_has_setting('output_plugin_libraries');
if ($has_opl)
{
	$other->append_conf('postgresql.conf', "output_plugin_libraries = 'pgoutput'\n");
	$other->restart;
}
$other->safe_psql('postgres', "SELECT pg_create_physical_replication_slot('filler')");
my $other_conn = $other->connstr('postgres');
@rows = precheck($other_conn, 'copy_data => false');
check_row(\@rows, 'wal_level', undef, 'error', qr/^wal_level is "replica" on the source; logical decoding needs "logical"$/,
	qr/^Set wal_level = logical in the source's postgresql\.conf and restart it\.$/, 'wal_level = replica');
check_row(\@rows, 'replication_slots', undef, 'error',
	qr/^the source has 0 of 1 replication slots free; 1 is needed, for the subscription$/,
	qr/^Raise max_replication_slots on the source \(it is 1; a restart is needed\), or drop slots it no longer needs with pg_drop_replication_slot\(\)\.$/,
	'no free slot');
check_row(\@rows, 'wal_sender_timeout', undef, 'warning', qr/^wal_sender_timeout is 0 on the source: a subscription's dead connection goes unnoticed/,
	qr/^Set wal_sender_timeout = 60s \(the default\) on the source and reload its configuration\.$/, 'wal_sender_timeout = 0');
check_row(\@rows, 'no_tables', undef, 'warning', qr/^the subscription selects no table on the source$/,
	qr/tables, schemas and exclude_tables/, 'a source without tables');
SKIP:
{
	skip 'this server build has no output_plugin_libraries setting (before 15.19): nothing restricts plugins', 3
	  unless $has_opl;
	check_row(\@rows, 'plugin', 'decoderbufs', 'error',
		qr/^output_plugin_libraries on the source does not list decoderbufs \(it is 'pgoutput'\)$/,
		qr/^Add decoderbufs to output_plugin_libraries on the source, keeping the entries already there, and reload its configuration\.$/,
		'plugin not allowed (setting read by a superuser)');
}
# with copy_data the initial copy needs a second, temporary slot
@rows = precheck($other_conn);
like(row(\@rows, 'replication_slots')->{message}, qr/2 are needed: one for the subscription, one for its initial copy$/,
	'no free slot: the initial copy needs one more');

# short wal_sender_timeout
$other->append_conf('postgresql.conf', "wal_sender_timeout = 5s\n");
$other->reload;
@rows = precheck($other_conn, 'copy_data => false');
check_row(\@rows, 'wal_sender_timeout', undef, 'warning', qr/^wal_sender_timeout is 5000 ms on the source: a target busy with a large transaction may be disconnected$/,
	qr/^Set wal_sender_timeout to 10s or more/, 'wal_sender_timeout = 5s');

# a non-superuser REPLICATION role, which may not read
# output_plugin_libraries: the precheck tries a temporary slot
$other->safe_psql('postgres', "CREATE ROLE repl_pw LOGIN REPLICATION PASSWORD 'pw'");
my $other_hba = slurp_file($other->data_dir . '/pg_hba.conf');
open my $fh, '>', $other->data_dir . '/pg_hba.conf' or die;
print $fh "local all repl_pw scram-sha-256\n$other_hba";
close $fh;
$other->append_conf('postgresql.conf', "wal_level = logical\nwal_sender_timeout = 60s\n");
$other->restart;
my $other_pw_conn = 'host=' . $other->host . ' port=' . $other->port . ' dbname=postgres user=repl_pw password=pw';
@rows = precheck($other_pw_conn, 'copy_data => false');
check_row(\@rows, 'wal_level', undef, 'ok', qr/^wal_level is logical on the source$/, undef, 'wal_level fixed');
check_row(\@rows, 'wal_sender_timeout', undef, 'ok', qr/^wal_sender_timeout is 60000 ms on the source$/, undef,
	'wal_sender_timeout fixed');
check_row(\@rows, 'replication_privilege', 'repl_pw', 'ok', qr/may replicate, and a logical replication connection works/,
	undef, 'a REPLICATION role with a password');
SKIP:
{
	skip 'this server build has no output_plugin_libraries setting (before 15.19)', 3 unless $has_opl;
	# the temporary slot needs a free slot
	$other->safe_psql('postgres', "SELECT pg_drop_replication_slot('filler')");
	@rows = precheck($other_pw_conn, 'copy_data => false');
	check_row(\@rows, 'plugin', 'decoderbufs', 'error',
		qr/^output_plugin_libraries on the source does not allow decoderbufs: library "decoderbufs" may not be used as an output plugin$/,
		qr/^Add decoderbufs to output_plugin_libraries on the source/,
		'plugin not allowed (tried with a temporary slot)');
}
$other->append_conf('postgresql.conf', "output_plugin_libraries = 'pgoutput, decoderbufs'\n") if $has_opl;
$other->reload;
$other->safe_psql('postgres', "SELECT pg_drop_replication_slot('filler')")
  if $other->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'filler'");
@rows = precheck($other_pw_conn, 'copy_data => false');
check_row(\@rows, 'plugin', 'decoderbufs', 'ok',
	$has_opl ? qr/^the source created a temporary slot with the decoderbufs plugin$/ : qr/does not restrict output plugins/,
	undef, 'plugin allowed');
check_row(\@rows, 'replication_slots', undef, 'ok', qr/^the source has 1 of 1 replication slots free; 1 is needed/,
	undef, 'the temporary slot is gone with the precheck\'s connection');
is($other->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'no slot is left on the source');
$other->stop;

############################################################################
# a role without REPLICATION, connecting with a password
src("CREATE ROLE norepl LOGIN PASSWORD 'pw'");
my $hba = slurp_file($source->data_dir . '/pg_hba.conf');
open $fh, '>', $source->data_dir . '/pg_hba.conf' or die;
print $fh "local all norepl scram-sha-256\n$hba";
close $fh;
$source->reload;
my $norepl_conn = "host=$sock port=$port dbname=postgres user=norepl password=pw";
@rows = precheck($norepl_conn, "tables => ARRAY['public.good']");
check_row(\@rows, 'connection', undef, 'ok', qr/as role "norepl"$/, undef, 'no REPLICATION: connected');
check_row(\@rows, 'replication_privilege', 'norepl', 'error',
	qr/^role "norepl" on the source has neither the REPLICATION attribute nor superuser$/,
	qr/^On the source: ALTER ROLE norepl REPLICATION;$/, 'no REPLICATION');
# a wrong password
@rows = precheck("host=$sock port=$port dbname=postgres user=norepl password=wrong");
check_row(\@rows, 'connection', undef, 'error', qr/password authentication failed for user "norepl"/,
	qr/^Check the user and password in the subscription's connection string\.$/, 'a wrong password');
src('ALTER ROLE norepl REPLICATION');
@rows = precheck($norepl_conn, "tables => ARRAY['public.good']");
check_row(\@rows, 'replication_privilege', 'norepl', 'ok', undef, undef, 'after ALTER ROLE ... REPLICATION');
check_row(\@rows, 'plugin', 'decoderbufs', 'ok',
	$has_opl ? qr/^the source created a temporary slot with the decoderbufs plugin$/ : qr/does not restrict output plugins/,
	undef, 'a role that may not read output_plugin_libraries');

# that temporary slot waits for the transactions running on the source:
# after 5 s the attempt is cancelled, and the row says it could not tell
SKIP:
{
	skip 'this server build has no output_plugin_libraries setting (before 15.19): nothing to try', 4
	  unless $has_opl;
	my $bg = $source->background_psql('postgres');
	$bg->query_safe('BEGIN');
	$bg->query_safe('INSERT INTO good VALUES (999)');
	my $t0 = time();
	@rows = precheck($norepl_conn, "tables => ARRAY['public.good'], copy_data => false");
	my $secs = time() - $t0;
	check_row(\@rows, 'plugin', 'decoderbufs', 'warning',
		qr/^could not check whether output_plugin_libraries on the source allows decoderbufs: a temporary slot was not created within 5 s$/,
		qr/waits for the transactions running on the source.*pg_read_all_settings/, 'a transaction running on the source');
	ok($secs >= 4 && $secs < 60, "the attempt took about 5 s ($secs s)");
	$bg->query_safe('ROLLBACK');
	$bg->quit;
	ok(poll_until($source, "SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name LIKE 'dbufs_precheck_%'"),
		'the cancelled temporary slot is gone');
}

# nor is it tried when it would wait for the calling transaction itself:
# the source is this very server, and the transaction has written
tgt("CREATE ROLE self_repl LOGIN REPLICATION PASSWORD 'pw'");
my $thba = slurp_file($target->data_dir . '/pg_hba.conf');
open $fh, '>', $target->data_dir . '/pg_hba.conf' or die;
print $fh "local all self_repl scram-sha-256\n$thba";
close $fh;
$target->reload;
my $self_conn = 'host=' . $target->host . ' port=' . $target->port . ' dbname=postgres user=self_repl password=pw';
my $self_json = tgt("BEGIN; CREATE TABLE written (x int PRIMARY KEY);
	SELECT coalesce(json_agg(p), '[]') FROM decoderbufs_apply.precheck(" . sql_string($self_conn)
	  . ", tables => ARRAY['public.good'], copy_data => false) p; ROLLBACK;");
@rows = @{ decode_json($self_json) };
if ($has_opl)
{
	check_row(\@rows, 'plugin', 'decoderbufs', 'warning',
		qr/^could not check whether output_plugin_libraries on the source allows decoderbufs: the source role may not read it, and trying a slot would wait for the calling transaction$/,
		qr/^Run the precheck outside a transaction that has written/, 'the source is this server, in a transaction that wrote');
}
else
{
	check_row(\@rows, 'plugin', 'decoderbufs', 'ok', undef, undef, 'the source is this server');
}

############################################################################
# tables: keys, target tables, columns, types, NOT NULL, emptiness
src(q{
	CREATE TABLE nokey (v text);
	CREATE TABLE rin (id int PRIMARY KEY, v text);
	ALTER TABLE rin REPLICA IDENTITY NOTHING;
	CREATE TABLE rfull (v text);
	ALTER TABLE rfull REPLICA IDENTITY FULL;
	CREATE TABLE only_src (id int PRIMARY KEY);
	CREATE TABLE wide (id int PRIMARY KEY, a text, extra int);
	CREATE TABLE conv (id int PRIMARY KEY, flag boolean, num text, code varchar(10), d date, amount numeric(10,2));
	CREATE TABLE nn_t (id int PRIMARY KEY, v text);
	CREATE TABLE keyed (id int PRIMARY KEY, code text NOT NULL UNIQUE);
	CREATE TABLE full_t (id int PRIMARY KEY);
});
tgt(q{
	CREATE TABLE nokey (v text);
	CREATE TABLE rin (id int PRIMARY KEY, v text);
	CREATE TABLE rfull (v text);
	CREATE TABLE wide (id int PRIMARY KEY, a text);
	CREATE TABLE conv (id int PRIMARY KEY, flag int, num int, code varchar(5), d inet, amount numeric);
	CREATE TABLE nn_t (id int PRIMARY KEY, v text, must text NOT NULL, fine text NOT NULL DEFAULT '');
	CREATE TABLE keyed (id int NOT NULL, code text PRIMARY KEY);
	CREATE TABLE full_t (id int PRIMARY KEY);
	INSERT INTO full_t VALUES (1);
});

sub tables_rows
{
	my ($list, $extra) = @_;
	my $arr = join(', ', map { "'public.$_'" } @$list);
	return precheck($conn, "tables => ARRAY[$arr]" . ($extra ? ", $extra" : ''));
}

# a table without a key, and one with REPLICA IDENTITY NOTHING
@rows = tables_rows([qw(nokey rin rfull)], 'copy_data => false');
check_row(\@rows, 'source_table_key', 'public.nokey', 'error',
	qr/^source table "public\.nokey" has no primary key: the source sends no key with its UPDATEs and DELETEs, which cannot be applied$/,
	qr/ALTER TABLE public\.nokey ADD PRIMARY KEY .* ALTER TABLE public\.nokey REPLICA IDENTITY FULL/,
	'table without a key');
check_row(\@rows, 'source_table_key', 'public.rin', 'error', qr/^source table "public\.rin" has REPLICA IDENTITY NOTHING: /,
	qr/ALTER TABLE public\.rin REPLICA IDENTITY FULL/, 'REPLICA IDENTITY NOTHING');
is(scalar(grep { $_->{check_name} eq 'source_table_key' } @rows), 2,
	'one row per table without a key, none for REPLICA IDENTITY FULL');
check_row(\@rows, 'target_key', 'public.rfull', 'warning',
	qr/^target table "public\.rfull" has no primary key or replica identity index: every UPDATE and DELETE scans the whole table$/,
	qr/ADD PRIMARY KEY/, 'REPLICA IDENTITY FULL into a table without a key');

# the target table is missing
@rows = tables_rows([qw(only_src good)], 'copy_data => false');
check_row(\@rows, 'target_table', 'public.only_src', 'error', qr/^target table "public\.only_src" does not exist$/,
	qr/^Create it on the target \(pg_dump --schema-only --table=public\.only_src on the source prints its definition\), leave the source table out with exclude_tables, or map it to another table with set_table_options\(target_table => \.\.\.\)\.$/,
	'target table missing');
is(scalar(grep { $_->{check_name} eq 'target_table' } @rows), 1, 'target table missing: one row, for that table');
@rows = tables_rows([qw(only_src)], q{copy_data => false, exclude_tables => ARRAY['public.only_src']});
check_row(\@rows, 'no_tables', undef, 'warning', qr/selects no table/, undef, 'excluding it');

# a column the target lacks
@rows = tables_rows([qw(wide)], 'copy_data => false');
check_row(\@rows, 'target_columns', 'public.wide.extra', 'error', qr/^target table "public\.wide" has no column "extra"$/,
	qr/^Add it on the target \(ALTER TABLE public\.wide ADD COLUMN extra integer;\), or leave it out with set_table_options\(columns => \.\.\.\), or map it to another column with set_table_options\(column_map => \.\.\.\)\.$/,
	'target column missing');

# types: incompatible (an error) and merely different (warnings)
@rows = tables_rows([qw(conv)], 'copy_data => false');
check_row(\@rows, 'column_types', 'public.conv.flag', 'error',
	qr/^column "flag" of "public\.conv" is boolean on the source and integer on the target, which cannot hold its values$/,
	qr/^Give the target column the source's type: ALTER TABLE public\.conv ALTER COLUMN flag TYPE boolean;$/,
	'incompatible type');
check_row(\@rows, 'column_types', 'public.conv.d', 'error', qr/is date on the source and inet on the target/,
	qr/ALTER COLUMN d TYPE date/, 'incompatible type (date into inet)');
check_row(\@rows, 'column_types', 'public.conv.num', 'warning',
	qr/^column "num" of "public\.conv" is text on the source and integer on the target: values are converted through their text form, and those the target type does not accept stop the subscription$/,
	qr/ALTER COLUMN num TYPE text/, 'text into integer');
check_row(\@rows, 'column_types', 'public.conv.code', 'warning',
	qr/is character varying\(10\) on the source and character varying\(5\) on the target: values are coerced to the target's type modifier/,
	qr/ALTER COLUMN code TYPE character varying\(10\)/, 'a narrower varchar');
ok(!grep({ $_->{object} && $_->{object} eq 'public.conv.id' } @rows), 'no row for a column of the same type');
ok(!grep({ $_->{object} && $_->{object} eq 'public.conv.amount' } @rows),
	'no row for a numeric(10,2) going to an unconstrained numeric');
is(scalar(grep { $_->{check_name} eq 'column_types' } @rows), 4, 'one row per column whose type differs');

# a NOT NULL target column without a default that the source does not send
@rows = tables_rows([qw(nn_t)], 'copy_data => false');
check_row(\@rows, 'target_not_null', 'public.nn_t.must', 'error',
	qr/^column "must" of target table "public\.nn_t" is NOT NULL without a default, and the source does not send it: every INSERT would fail$/,
	qr/^Give it a default \(ALTER TABLE public\.nn_t ALTER COLUMN must SET DEFAULT \.\.\.\), drop its NOT NULL constraint, or map a source column to it/,
	'NOT NULL column not sent');
is(scalar(grep { $_->{check_name} eq 'target_not_null' } @rows), 1, 'not for a NOT NULL column with a default');

# the target's key is not the source's
@rows = tables_rows([qw(keyed)], 'copy_data => false');
check_row(\@rows, 'target_key', 'public.keyed.code', 'error',
	qr/^key column "code" of target table "public\.keyed" is not part of what the source sends with UPDATE and DELETE$/,
	qr/use the source's key columns \(id\), or run ALTER TABLE public\.keyed REPLICA IDENTITY FULL on the source/,
	'target key differs');

# non-empty target tables and the initial copy
@rows = tables_rows([qw(full_t good)]);
check_row(\@rows, 'target_empty', 'public.full_t', 'error',
	qr/^target table "public\.full_t" is not empty, and existing_data is "error": the initial copy would refuse it$/,
	qr/^Empty it \(TRUNCATE public\.full_t\), or pass existing_data => 'truncate' to empty it before the copy, or existing_data => 'keep'/,
	'non-empty target, existing_data => error');
is(scalar(grep { $_->{check_name} eq 'target_empty' } @rows), 1, 'only the non-empty table');
@rows = tables_rows([qw(full_t)], q{existing_data => 'truncate'});
check_row(\@rows, 'target_empty', 'public.full_t', 'warning', qr/existing_data is "truncate", so the initial copy empties it first/,
	qr/existing_data => 'keep'/, 'non-empty target, existing_data => truncate');
@rows = tables_rows([qw(full_t)], q{existing_data => 'keep'});
check_row(\@rows, 'target_empty', 'public.full_t', 'warning', qr/existing_data is "keep", so its rows stay/,
	qr/conflict policy/, 'non-empty target, existing_data => keep');
@rows = tables_rows([qw(full_t)], 'copy_data => false');
check_row(\@rows, 'target_empty', undef, 'ok', qr/^no initial copy/, undef, 'non-empty target without a copy');
# a subscription's copy state: tables copied already hold the copy's rows
tgt("SELECT decoderbufs_apply.create_subscription('copied', " . sql_string($conn)
	  . ", tables => ARRAY['public.full_t'], copy_data => true, enabled => false)");
@rows = precheck(undef, "subscription => 'copied'");
check_row(\@rows, 'target_empty', 'public.full_t', 'error', qr/is not empty/, undef,
	'a subscription whose copy has not started');
tgt(q{INSERT INTO decoderbufs_apply.table_sync (sub_id, schema_name, table_name, state, sync_lsn)
	SELECT sub_id, 'public', 'full_t', 'ready', '0/1' FROM decoderbufs_apply.subscription WHERE sub_name = 'copied'});
@rows = precheck(undef, "subscription => 'copied'");
check_row(\@rows, 'target_empty', undef, 'ok', qr/initial copy fills is empty/, undef,
	'a table the copy has finished');
check_row(\@rows, 'replication_slots', undef, 'ok', qr/none is needed: the subscription's slot exists already$/, undef,
	'a finished copy needs no slot');
tgt(q{UPDATE decoderbufs_apply.table_sync SET state = 'waiting', sync_lsn = NULL WHERE table_name = 'full_t'});
@rows = precheck(undef, "subscription => 'copied'");
check_row(\@rows, 'target_empty', 'public.full_t', 'error', qr/is not empty/, qr/existing_data => 'truncate'/,
	'a table waiting to be copied again (resync_table)');
check_row(\@rows, 'replication_slots', undef, 'ok', qr/1 is needed, for the initial copy$/, undef,
	'a copy to make needs a slot');
tgt("SELECT decoderbufs_apply.drop_subscription('copied')");

############################################################################
# create_subscription refuses on an error, and goes ahead with precheck => false
my ($ret, $out, $stderr) = $target->psql('postgres',
	"SELECT decoderbufs_apply.create_subscription('bad', " . sql_string($conn)
	  . ", tables => ARRAY['public.nokey', 'public.only_src'])");
isnt($ret, 0, 'create_subscription refuses when the precheck fails');
my $e = psql_error($stderr);
is($e->{error}, 'precheck failed for decoderbufs_apply subscription "bad"', 'create_subscription: the error');
like($e->{detail},
	qr/^source_table_key: public\.nokey: source table "public\.nokey" has no primary key: .*\ntarget_table: public\.only_src: target table "public\.only_src" does not exist$/,
	'create_subscription: the detail lists each failing check with its object and message, one per line');
is($e->{hint}, 'Fix the problems, or pass precheck => false to create the subscription anyway; decoderbufs_apply.precheck(...) lists every check.',
	'create_subscription: the hint');
is(tgt("SELECT count(*) FROM decoderbufs_apply.subscription WHERE sub_name = 'bad'"), '0',
	'create_subscription: no subscription is created');
is(src("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'dbufs_bad'"), '0',
	'create_subscription: no slot is created');
($ret, $out, $stderr) = $target->psql('postgres',
	"SELECT decoderbufs_apply.create_subscription('bad', " . sql_string($conn)
	  . ", tables => ARRAY['public.nokey', 'public.only_src'], precheck => false) IS NOT NULL");
is($ret, 0, 'create_subscription goes ahead with precheck => false') or diag($stderr);
is(src("SELECT plugin FROM pg_replication_slots WHERE slot_name = 'dbufs_bad'"), 'decoderbufs',
	'precheck => false: the slot is created');
# the subscription's slot now exists: a new subscription using that name is refused
@rows = precheck(undef, "subscription => 'bad'");
check_row(\@rows, 'slot', 'dbufs_bad', 'ok', qr/^replication slot "dbufs_bad" exists on the source and uses decoderbufs$/,
	undef, 'precheck(subscription => ...): the subscription\'s slot');
check_row(\@rows, 'replication_slots', undef, 'ok', qr/none is needed: the subscription's slot exists already$/, undef,
	'precheck(subscription => ...): its own slot exists, and it does not copy');
@rows = precheck(undef, "subscription => 'bad', copy_data => true");
check_row(\@rows, 'replication_slots', undef, 'ok', qr/1 is needed, for the initial copy$/, undef,
	'precheck(subscription => ..., copy_data => true): one slot for the copy');
($ret, $out, $stderr) = $target->psql('postgres',
	"SELECT decoderbufs_apply.create_subscription('other_name', " . sql_string($conn)
	  . ", slot_name => 'dbufs_bad', tables => ARRAY['public.good'])");
$e = psql_error($stderr);
like($e->{detail}, qr/^slot: dbufs_bad: replication slot "dbufs_bad" already exists on the source$/,
	'a slot that exists already');
tgt("SELECT decoderbufs_apply.drop_subscription('bad')");

# warnings do not stop it: they are shown as a WARNING
($ret, $out, $stderr) = $target->psql('postgres',
	"SELECT decoderbufs_apply.create_subscription('warned', " . sql_string($conn)
	  . ", tables => ARRAY['public.conv'], exclude_tables => ARRAY['public.conv'], enabled => true)");
is($ret, 0, 'create_subscription goes ahead with warnings only') or diag($stderr);
like($stderr, qr/WARNING:  precheck of decoderbufs_apply subscription "warned" found possible problems\nDETAIL:  no_tables: the subscription selects no table on the source/,
	'create_subscription shows the warnings');
tgt("SELECT decoderbufs_apply.drop_subscription('warned')");

# without a slot (create_slot => false) the slot must exist
($ret, $out, $stderr) = $target->psql('postgres',
	"SELECT decoderbufs_apply.create_subscription('noslot', " . sql_string($conn)
	  . ", tables => ARRAY['public.good'], create_slot => false)");
$e = psql_error($stderr);
like($e->{detail}, qr/^slot: dbufs_noslot: replication slot "dbufs_noslot" does not exist on the source$/,
	'create_slot => false: a missing slot is an error');

############################################################################
# enable_subscription checks the subscription's configuration, its table
# settings included
tgt("SELECT decoderbufs_apply.create_subscription('later', " . sql_string($conn)
	  . ", tables => ARRAY['public.nokey', 'public.wide'], enabled => false)");
($ret, $out, $stderr) = $target->psql('postgres', "SELECT decoderbufs_apply.enable_subscription('later')");
isnt($ret, 0, 'enable_subscription refuses when the precheck fails');
$e = psql_error($stderr);
is($e->{error}, 'precheck failed for decoderbufs_apply subscription "later"', 'enable_subscription: the error');
like($e->{detail}, qr/^source_table_key: public\.nokey: .*\ntarget_columns: public\.wide\.extra: target table "public\.wide" has no column "extra"$/,
	'enable_subscription: the detail lists the failing checks');
is($e->{hint}, 'Fix the problems, or pass precheck => false to enable the subscription anyway; decoderbufs_apply.precheck(...) lists every check.',
	'enable_subscription: the hint');
is(tgt("SELECT sub_enabled FROM decoderbufs_apply.subscription WHERE sub_name = 'later'"), 'f',
	'enable_subscription: the subscription stays disabled');
# the table settings fix both: nokey takes inserts only, wide's extra is left out
tgt(q{SELECT decoderbufs_apply.set_table_options('later', 'public.nokey', operations => ARRAY['insert'])});
tgt(q{SELECT decoderbufs_apply.set_table_options('later', 'public.wide', columns => ARRAY['id', 'a'])});
@rows = precheck(undef, "subscription => 'later'");
check_row(\@rows, 'source_table_key', 'public.nokey', 'warning',
	qr/^source table "public\.nokey" has no primary key, which is harmless only while the table's operations leave out UPDATE and DELETE$/,
	qr/REPLICA IDENTITY FULL/, 'a table without a key that takes only INSERTs');
check_row(\@rows, 'target_columns', undef, 'ok', undef, undef, 'a column left out by the table settings');
($ret, $out, $stderr) = $target->psql('postgres', "SELECT decoderbufs_apply.enable_subscription('later')");
is($ret, 0, 'enable_subscription goes ahead once the configuration is fixed') or diag($stderr);
like($stderr, qr/WARNING:  precheck of decoderbufs_apply subscription "later" found possible problems/,
	'enable_subscription: with a warning');
tgt("SELECT decoderbufs_apply.disable_subscription('later')");
# a column renamed to one the target lacks
tgt(q{SELECT decoderbufs_apply.set_table_options('later', 'public.wide', column_map => '{"a": "b"}')});
($ret, $out, $stderr) = $target->psql('postgres', "SELECT decoderbufs_apply.enable_subscription('later')");
$e = psql_error($stderr);
like($e->{detail}, qr/target_columns: public\.wide\.b: target table "public\.wide" has no column "b" \(source column "a" maps to it\)/,
	'enable_subscription: a rename to a missing column');
($ret, $out, $stderr) = $target->psql('postgres',
	"SELECT decoderbufs_apply.enable_subscription('later', precheck => false)");
is($ret, 0, 'enable_subscription goes ahead with precheck => false') or diag($stderr);
is(tgt("SELECT sub_enabled FROM decoderbufs_apply.subscription WHERE sub_name = 'later'"), 't',
	'enable_subscription: the subscription is enabled');
tgt("SELECT decoderbufs_apply.drop_subscription('later')");

############################################################################
# the target: decoderbufs_apply installed but not preloaded
my $nopre = new_node('nopreload');
my ($r2, $o2, $err2) = $nopre->psql('postgres', 'CREATE EXTENSION decoderbufs_apply');
is($r2, 0, 'the extension installs without shared_preload_libraries');
$nopre->safe_psql('postgres', 'CREATE TABLE good (id int PRIMARY KEY, v text, n numeric(10,2), ts timestamptz)');
@rows = precheck($conn, "tables => ARRAY['public.good'], copy_data => false", $nopre);
check_row(\@rows, 'shared_preload_libraries', undef, 'error',
	qr/^decoderbufs_apply is not in the target's shared_preload_libraries: no subscription can run$/,
	qr/^Add decoderbufs_apply to shared_preload_libraries in the target's postgresql\.conf, keeping the entries already there, and restart the server\.$/,
	'not preloaded');
check_row(\@rows, 'target_table', undef, 'ok', undef, undef, 'not preloaded: the other checks still run');
# listed, but not restarted since
$nopre->safe_psql('postgres', "ALTER SYSTEM SET shared_preload_libraries = 'decoderbufs_apply'");
$nopre->reload;
poll_until($nopre, "SELECT pending_restart FROM pg_settings WHERE name = 'shared_preload_libraries'")
  or die 'the reload did not mark shared_preload_libraries pending';
@rows = precheck($conn, "tables => ARRAY['public.good'], copy_data => false", $nopre);
check_row(\@rows, 'shared_preload_libraries', undef, 'error',
	qr/^decoderbufs_apply is not loaded on the target, and a change of shared_preload_libraries waits for a restart/,
	qr/^Restart the target server, with decoderbufs_apply in shared_preload_libraries\.$/, 'listed but not restarted');
$nopre->restart;
@rows = precheck($conn, "tables => ARRAY['public.good'], copy_data => false", $nopre);
check_row(\@rows, 'shared_preload_libraries', undef, 'ok', qr/is loaded/, undef, 'after the restart');
$nopre->stop;

############################################################################
# who may run it, and its arguments
tgt(q{CREATE ROLE sub_admin LOGIN; GRANT decoderbufs_apply_admin TO sub_admin;
	CREATE ROLE nobody LOGIN; GRANT USAGE ON SCHEMA decoderbufs_apply TO nobody});
($ret, $out, $stderr) = $target->psql('postgres',
	"SELECT * FROM decoderbufs_apply.precheck(" . sql_string($conn) . ")", extra_params => [ '-U', 'nobody' ]);
like($stderr, qr/permission denied for function precheck/, 'an unprivileged role may not run it');
($ret, $out, $stderr) = $target->psql('postgres',
	"SELECT * FROM decoderbufs_apply.precheck(" . sql_string($conn) . ")", extra_params => [ '-U', 'sub_admin' ]);
like($stderr, qr/ERROR:  password is required/, 'a non-superuser must give a password');
my $json = $target->safe_psql('postgres',
	"SELECT json_agg(p) FROM decoderbufs_apply.precheck(" . sql_string($norepl_conn) . ", tables => ARRAY['public.good']) p",
	extra_params => [ '-U', 'sub_admin' ]);
@rows = @{ decode_json($json) };
check_row(\@rows, 'connection', undef, 'ok', qr/as role "norepl"/, undef, 'a member of decoderbufs_apply_admin, with a password');
($ret, $out, $stderr) = $target->psql('postgres', "SELECT * FROM decoderbufs_apply.precheck(subscription => 'no_such')");
like($stderr, qr/ERROR:  decoderbufs_apply subscription "no_such" does not exist/, 'an unknown subscription');

$target->stop;
$source->stop;
done_testing();
