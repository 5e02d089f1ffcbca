# 014_apply_errors.pl - clear errors, and recovery once the cause is fixed.
#
# Each failure is checked as users see it: the exact text of last_error in
# decoderbufs_apply.subscription_status, and the message, detail, hint and
# context the server log shows.  Then the cause is fixed and the worker must
# resume at the failed transaction with nothing lost or skipped.
#  (a) target table missing;  (b) target column missing;  (c) a value the
#  target type does not accept;  (d) UPDATE/DELETE of a REPLICA IDENTITY
#  NOTHING table;  (e) source connection problems: refused, no REPLICATION
#  attribute, decoderbufs not in output_plugin_libraries, wal_level=replica,
#  all slots in use, slot in use by another consumer;  (f) connection loss:
#  walsender terminated, source silent past receive_timeout;  (g) privileges:
#  a non-superuser owner without INSERT, roles that may not manage or read
#  subscriptions, and a password that never shows.
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
			  'decoderbufs_apply.restart_delay_max = 1000' ]);

sub src { return $source->safe_psql('postgres', $_[0]); }
sub tgt { return $target->safe_psql('postgres', $_[0]); }

# Wait until subscription $sub failed at least $retries times with a
# last_error matching $re; return last_error (whatever it is at the end).
sub wait_for_error
{
	my ($sub, $re, $retries, $secs) = @_;
	my $deadline = time() + ($secs // 60);
	my $err = '';
	while (time() < $deadline)
	{
		my ($ret, $out) = $target->psql('postgres',
			"SELECT state || '|' || retry_count || '|' || coalesce(last_error, '')
			 FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'");
		if ($ret == 0 && $out =~ /^(\w+)\|(\d+)\|(.*)$/s)
		{
			$err = $3;
			return $err if $2 >= ($retries // 1) && $err =~ $re;
		}
		usleep(100_000);
	}
	return $err;
}

sub wait_streaming
{
	my ($sub) = @_;
	return poll_until($target, "SELECT state = 'streaming' AND pid IS NOT NULL
		FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'");
}

# The server log after $offset as entries [pid, severity, text]; a
# message's continuation lines (starting with a tab) join its text.
sub log_entries
{
	my ($node, $offset) = @_;
	my @e;
	for my $line (split /\n/, slurp_file($node->logfile, $offset))
	{
		if ($line =~ /^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[(\d+)\] (?:\S+ )?([A-Z]+):  (.*)$/)
		{
			push @e, [ $1, $2, $3 ];
		}
		elsif (@e)
		{
			$e[-1][2] .= "\n$line";
		}
	}
	return @e;
}

# The first ERROR after $offset whose message matches $re, as a hash of
# message, detail, hint and context.
sub find_error
{
	my ($node, $offset, $re) = @_;
	my @e = log_entries($node, $offset);
	for my $i (0 .. $#e)
	{
		next unless $e[$i][1] eq 'ERROR' && $e[$i][2] =~ $re;
		my %r = (message => $e[$i][2]);
		for my $j ($i + 1 .. $#e)
		{
			last unless $e[$j][0] eq $e[$i][0] && $e[$j][1] =~ /^(DETAIL|HINT|CONTEXT)$/;
			$r{ lc $e[$j][1] } = $e[$j][2];
		}
		return \%r;
	}
	return { message => '', detail => '', hint => '', context => '' };
}

# The ERROR, DETAIL and HINT of a failed psql command.
sub psql_error
{
	my ($stderr) = @_;
	my %r;
	for my $part (split /\n(?=[A-Z]+:  )/, $stderr)
	{
		$r{ lc $1 } = $2 if $part =~ /^(?:psql:<stdin>:\d+: )?([A-Z]+):  (.*)$/s;
	}
	$r{$_} //= '' for qw(error detail hint context);
	return \%r;
}

sub log_offset { return -s $target->logfile; }

# "committed at X/Y" of the failing transaction, from an error's context.
sub commit_lsn_of
{
	my ($e) = @_;
	return ($e->{context} // '') =~ /committed at ([0-9A-F]+\/[0-9A-F]+)/ ? $1 : '0/0';
}

############################################################################
# The main subscription "s" takes the tables of cases (a) to (d) and (f).
$source->safe_psql('postgres', q{
	CREATE TABLE marker (id int PRIMARY KEY);
	CREATE TABLE missing_t (id int PRIMARY KEY, v text);
	CREATE TABLE wide (id int PRIMARY KEY, a text, extra int);
	CREATE TABLE conv (id int PRIMARY KEY, x text);
	CREATE TABLE rin (id int PRIMARY KEY, v text);
	ALTER TABLE rin REPLICA IDENTITY NOTHING;
	CREATE TABLE stream_t (id int PRIMARY KEY, v text);
	CREATE TABLE act_t (id int PRIMARY KEY);
	CREATE TABLE norepl_t (id int PRIMARY KEY);
	CREATE TABLE priv_t (id int PRIMARY KEY, v text);
});
$target->safe_psql('postgres', q{
	CREATE TABLE marker (id int PRIMARY KEY);
	CREATE TABLE wide (id int PRIMARY KEY, a text);
	CREATE TABLE conv (id int PRIMARY KEY, x int);
	CREATE TABLE rin (id int PRIMARY KEY, v text);
	CREATE TABLE stream_t (id int PRIMARY KEY, v text);
	CREATE TABLE act_t (id int PRIMARY KEY);
	CREATE TABLE norepl_t (id int PRIMARY KEY);
	CREATE TABLE priv_t (id int PRIMARY KEY, v text);
	CREATE EXTENSION decoderbufs_apply;
});
# The precheck rightly rejects this subscription (missing_t has no target
# table, wide lacks a column, rin has REPLICA IDENTITY NOTHING): those are
# the worker's errors under test here; 021_precheck.pl tests the precheck's.
subscribe($target, 's', $source, precheck => 'false',
	tables => q{ARRAY['public.marker', 'public.missing_t', 'public.wide', 'public.conv',
				'public.rin', 'public.stream_t']});
wait_streaming('s') or die 'subscription s does not stream';
sub sync { wait_for_sync($source, 'dbufs_s'); }

# A failing transaction: a marker row first, then the change that fails;
# a later transaction writes another marker.  Nothing of either may apply
# until the cause is fixed.
sub failing_txn
{
	my ($marker, $sql) = @_;
	src("BEGIN; INSERT INTO marker VALUES ($marker); $sql; COMMIT;
		INSERT INTO marker VALUES ($marker + 1)");
}

sub markers
{
	my ($marker) = @_;
	return tgt("SELECT count(*) FROM marker WHERE id IN ($marker, $marker + 1)");
}

# ---- (a) the target table is missing ----
my $off = log_offset();
failing_txn(10, "INSERT INTO missing_t VALUES (1, 'one'), (2, 'two')");
my $err = wait_for_error('s', qr/missing_t/, 2);
is($err, 'target relation "public.missing_t" does not exist',
	'(a) last_error names the missing table');
my $e = find_error($target, $off, qr/missing_t/);
is($e->{message}, 'target relation "public.missing_t" does not exist', '(a) the log has the error');
is($e->{hint}, 'Create the table on the target, or exclude it from the subscription; the worker retries and resumes at this transaction.',
	'(a) with a hint');
like($e->{context}, qr/^processing remote data for decoderbufs_apply subscription "s" during "INSERT" for relation "public.missing_t" in transaction \d+ committed at [0-9A-F]+\/[0-9A-F]+$/,
	'(a) and a context naming subscription, operation, relation and transaction');
is(markers(10), '0', '(a) nothing of the failing transaction or later ones is applied');
ok(poll_until($target, "SELECT state = 'waiting_retry' FROM decoderbufs_apply.subscription_status WHERE subscription = 's'", 30),
	'(a) the subscription waits to retry');
tgt('CREATE TABLE missing_t (id int PRIMARY KEY, v text)');
sync();
is(table_rows($target, 'missing_t'), table_rows($source, 'missing_t'), '(a) after CREATE TABLE the rows arrive');
is(markers(10), '2', '(a) and the whole transaction and the next one, once each');

# ---- (b) a column the target lacks ----
$off = log_offset();
failing_txn(20, "INSERT INTO wide VALUES (1, 'a', 42)");
$err = wait_for_error('s', qr/extra/, 2);
is($err, 'target relation "public.wide" has no column "extra"', '(b) last_error names table and column');
$e = find_error($target, $off, qr/no column "extra"/);
is($e->{detail}, 'The source sends column "extra" of type integer of table "public.wide".',
	'(b) the detail gives the column\'s type and source table');
is($e->{hint}, 'Add the column to the target table, or map the source column to another one with set_table_options(column_map => ...); the worker retries and resumes at this transaction.',
	'(b) the hint says what to do');
is(markers(20), '0', '(b) nothing applied while the column is missing');
tgt('ALTER TABLE wide ADD COLUMN extra int');
sync();
is(table_rows($target, 'wide'), table_rows($source, 'wide'), '(b) after ADD COLUMN the row arrives whole');
is(markers(20), '2', '(b) with the rest of its transaction');

# ---- (c) a value the target type does not take ----
src("INSERT INTO conv VALUES (1, '42')");
sync();
is(tgt('SELECT x FROM conv WHERE id = 1'), '42', '(c) text converts to the target\'s int when it can');
$off = log_offset();
failing_txn(30, "INSERT INTO conv VALUES (2, 'abc')");
$err = wait_for_error('s', qr/integer/, 2);
like($err, qr/^invalid input syntax for type integer: "abc"/, '(c) last_error shows the rejected value');
$e = find_error($target, $off, qr/invalid input syntax for type integer/);
like($e->{context}, qr/during "INSERT" for relation "public.conv" column "x" in transaction \d+ committed at /,
	'(c) the log\'s context names relation and column');
# what the status view shows about the error, in whatever column
my $status_row = tgt("SELECT to_jsonb(s)::text FROM decoderbufs_apply.subscription_status s WHERE subscription = 's'");
ok(index($status_row, 'public.conv') >= 0 && index($status_row, '\\"x\\"') >= 0,
	'(c) the status view names the relation and the column');
is(markers(30), '0', '(c) nothing applied');
tgt('ALTER TABLE conv ALTER x TYPE text');
sync();
is(table_rows($target, 'conv'), table_rows($source, 'conv'), '(c) after the type change the value arrives');
is(markers(30), '2', '(c) with the rest of its transaction');

# ---- (d) UPDATE and DELETE of a table with REPLICA IDENTITY NOTHING ----
src("INSERT INTO rin VALUES (1, 'one'), (2, 'two')");
sync();
is(table_rows($target, 'rin'), "(1,one)\n(2,two)", '(d) inserts into a REPLICA IDENTITY NOTHING table apply');
$off = log_offset();
failing_txn(40, 'DELETE FROM rin WHERE id = 1');
$err = wait_for_error('s', qr/rin/, 2);
is($err, 'cannot apply DELETE on "public.rin": the source sends no key for it',
	'(d) DELETE: last_error says the source sends no key');
$e = find_error($target, $off, qr/cannot apply DELETE/);
is($e->{detail}, 'The source table has REPLICA IDENTITY NOTHING, or DEFAULT without a primary key.',
	'(d) DELETE: the detail gives the cause');
is($e->{hint}, 'Add a primary key to the source table or set its REPLICA IDENTITY FULL, then step over this transaction with decoderbufs_apply.skip_transaction().',
	'(d) DELETE: the hint says what to do');
is(markers(40), '0', '(d) DELETE: nothing applied');
# the way out the hint gives: skip the transaction, apply its effect by hand
tgt("DELETE FROM rin WHERE id = 1; INSERT INTO marker VALUES (40)");
tgt("SELECT decoderbufs_apply.skip_transaction('s', '" . commit_lsn_of($e) . "')");
sync();
is(markers(40), '2', '(d) DELETE: after skip_transaction the next transaction applies');

# an UPDATE that moves the row to another key: the target cannot know
# which row the source changed
$off = log_offset();
failing_txn(50, "UPDATE rin SET id = 20, v = 'moved' WHERE id = 2");
$err = wait_for_error('s', qr/rin/, 2);
is($err, 'cannot apply UPDATE on "public.rin": the source sends no key for it',
	'(d) UPDATE: last_error says the source sends no key');
is(markers(50), '0', '(d) UPDATE: nothing applied');
$e = find_error($target, $off, qr/rin/);
tgt("UPDATE rin SET id = 20, v = 'moved' WHERE id = 2; INSERT INTO marker VALUES (50)");
tgt("SELECT decoderbufs_apply.skip_transaction('s', '" . commit_lsn_of($e) . "')");
sync();
is(markers(50), '2', '(d) UPDATE: after skip_transaction the next transaction applies');
is(table_rows($target, 'rin'), table_rows($source, 'rin'), '(d) the table matches the source');

# ---- (f) connection loss: the walsender is terminated while streaming ----
my $wal_pid = src("SELECT pid FROM pg_stat_replication WHERE application_name = 's'");
ok($wal_pid, '(f) the source shows the subscription\'s walsender');
src("INSERT INTO stream_t SELECT g, 'first' FROM generate_series(1, 100000) g");
poll_until($target, "SELECT pg_relation_size('stream_t') > 1000000", 60)
  or diag('(f) did not see the large transaction being applied');
$off = log_offset();
is(src("SELECT pg_terminate_backend($wal_pid)"), 't', '(f) walsender terminated');
src("INSERT INTO stream_t SELECT g, 'second' FROM generate_series(100001, 101000) g");
$err = wait_for_error('s', qr/the source/, 1);
like($err, qr/^(?:could not (?:receive data from|send feedback to) the source: (?:FATAL:  terminating connection due to administrator command|server closed the connection unexpectedly)|the source ended the replication stream)/,
	'(f) last_error shows the lost connection');
sync();
is(tgt("SELECT count(*), count(DISTINCT id), sum(id) FROM stream_t"),
	src("SELECT count(*), count(DISTINCT id), sum(id) FROM stream_t"),
	'(f) the worker reconnected by itself and caught up, nothing lost or doubled');
my $new_wal_pid = src("SELECT pid FROM pg_stat_replication WHERE application_name = 's'");
ok($new_wal_pid && $new_wal_pid != $wal_pid, '(f) through a new walsender');
is(status($target, 's', 'state'), 'streaming', '(f) the subscription streams again');

# ---- (f) a source that goes silent: receive_timeout ----
# a slower restart here, so that each error stays in the status view long
# enough to be seen there
tgt(q{ALTER SYSTEM SET decoderbufs_apply.receive_timeout = '2s';
	ALTER SYSTEM SET decoderbufs_apply.restart_delay_min = '2s';
	ALTER SYSTEM SET decoderbufs_apply.restart_delay_max = '2s'});
$target->reload;
$wal_pid = src("SELECT pid FROM pg_stat_replication WHERE application_name = 's'");
kill 'STOP', $wal_pid;
$off = log_offset();
$err = wait_for_error('s', qr/no message/, 1, 30);
is($err, 'no message from the source for 2000 ms', '(f) a silent source times out');
$e = find_error($target, $off, qr/no message from the source/);
is($e->{hint}, 'The source or the network may be down; the worker reconnects. Raise decoderbufs_apply.receive_timeout if the source is just slow.',
	'(f) with a hint');
# the stopped walsender still holds the slot
$err = wait_for_error('s', qr/is active for PID/, 1, 30);
like($err, qr/^could not start replication on the source: ERROR:  replication slot "dbufs_s" is active for PID $wal_pid/,
	'(f) the slot is still held by the silent walsender');
kill 'CONT', $wal_pid;
src("INSERT INTO stream_t VALUES (0, 'after the silence')");
sync();
is(tgt("SELECT v FROM stream_t WHERE id = 0"), 'after the silence', '(f) once the old walsender is gone, the worker catches up');
tgt(q{ALTER SYSTEM RESET decoderbufs_apply.receive_timeout;
	ALTER SYSTEM RESET decoderbufs_apply.restart_delay_min;
	ALTER SYSTEM RESET decoderbufs_apply.restart_delay_max});
$target->reload;

# ---- (e) connection problems ----
my $conn = $source->connstr('postgres');
(my $conn_sql = $conn) =~ s/'/''/g;
my $sock = $source->host;
my $port = $source->port;
my $free_port = PostgreSQL::Test::Cluster::get_free_port();

# Call create_subscription on the target; returns the parsed error.  These
# cases are about the errors of connecting and of creating the slot, which
# the precheck would report first (021_precheck.pl checks that it does):
# without it, create_subscription meets them itself.
sub create_fails
{
	my ($name, $conninfo, $extra) = @_;
	$extra //= '';
	$conninfo =~ s/'/''/g;
	my ($ret, $out, $stderr) = $target->psql('postgres',
		"SELECT decoderbufs_apply.create_subscription('$name', '$conninfo'$extra, precheck => false)");
	isnt($ret, 0, "create_subscription('$name') fails");
	is(tgt("SELECT count(*) FROM decoderbufs_apply.subscription WHERE sub_name = '$name'"), '0',
		"create_subscription('$name') leaves no subscription behind");
	return psql_error($stderr);
}

# wrong port, over TCP: refused
$e = create_fails('e_port', "host=127.0.0.1 port=$free_port dbname=postgres");
like($e->{error}, qr/^could not connect to the source: connection to server at "127.0.0.1", port $free_port failed: Connection refused/,
	'(e) refused: the error says so');
is($e->{hint}, 'Check that the source server runs and that host and port in the connection string are right.',
	'(e) refused: the hint names host and port');
# the same for the worker of a subscription created without a slot (and
# without the precheck, which would refuse it)
$off = log_offset();
tgt("SELECT decoderbufs_apply.create_subscription('e_port', 'host=127.0.0.1 port=$free_port dbname=postgres', create_slot => false, precheck => false)");
$err = wait_for_error('e_port', qr/Connection refused/, 2);
like($err, qr/^could not connect to the source: connection to server at "127.0.0.1", port $free_port failed: Connection refused/,
	'(e) refused: last_error of the worker');
$e = find_error($target, $off, qr/Connection refused/);
is($e->{hint}, 'Check that the source server runs and that host and port in the connection string are right.',
	'(e) refused: the worker logs the hint');
# wrong port over a Unix socket
$off = log_offset();
tgt("SELECT decoderbufs_apply.alter_subscription('e_port', conninfo => 'host=$sock port=$free_port dbname=postgres')");
$err = wait_for_error('e_port', qr/No such file or directory/, 1);
like($err, qr/^could not connect to the source: connection to server on socket ".*\.s\.PGSQL\.$free_port" failed: No such file or directory/,
	'(e) no server on the socket: last_error');
$e = find_error($target, $off, qr/No such file or directory/);
is($e->{hint}, 'Check that the source server runs and that host and port in the connection string are right.',
	'(e) no server on the socket: the hint names host and port');
tgt("SELECT decoderbufs_apply.drop_subscription('e_port', drop_slot => false)");

# a source user without the REPLICATION attribute
src('CREATE ROLE norepl LOGIN');
$e = create_fails('e_norepl', "$conn user=norepl");
like($e->{error}, qr/^could not connect to the source: connection to server on socket ".*" failed: FATAL:  must be superuser or replication role to start walsender$/,
	'(e) no REPLICATION: the error says so');
is($e->{hint}, 'Grant the source user the REPLICATION attribute: ALTER ROLE ... REPLICATION on the source.',
	'(e) no REPLICATION: the hint says what to grant');
# the worker, with a slot made by someone else (without the precheck, which
# would refuse the role)
src("SELECT pg_create_logical_replication_slot('norepl_slot', 'decoderbufs')");
$off = log_offset();
tgt("SELECT decoderbufs_apply.create_subscription('e_norepl', '$conn_sql user=norepl',
	slot_name => 'norepl_slot', create_slot => false, tables => ARRAY['public.norepl_t'],
	precheck => false)");
src('INSERT INTO norepl_t VALUES (1)');
$err = wait_for_error('e_norepl', qr/replication role/, 2);
like($err, qr/must be superuser or replication role to start walsender/, '(e) no REPLICATION: last_error of the worker');
$e = find_error($target, $off, qr/replication role/);
is($e->{hint}, 'Grant the source user the REPLICATION attribute: ALTER ROLE ... REPLICATION on the source.',
	'(e) no REPLICATION: the worker logs the hint');
src('ALTER ROLE norepl REPLICATION');
wait_for_sync($source, 'norepl_slot');
is(tgt('SELECT count(*) FROM norepl_t'), '1', '(e) no REPLICATION: after ALTER ROLE the worker resumes');

# a slot in use by another consumer
subscribe($target, 'e_active', $source, enabled => 'false', tables => "ARRAY['public.act_t']");
my ($recv_out, $recv_err) = ('', '');
my $recv = IPC::Run::start(
	[ 'pg_recvlogical', '-d', $conn, '--slot', 'dbufs_e_active', '--start', '--no-loop', '-f', '/dev/null' ],
	'>', \$recv_out, '2>', \$recv_err);
poll_until($source, "SELECT active FROM pg_replication_slots WHERE slot_name = 'dbufs_e_active'", 30)
  or die "pg_recvlogical did not start: $recv_err";
my $recv_pid = src("SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'dbufs_e_active'");
$off = log_offset();
tgt("SELECT decoderbufs_apply.enable_subscription('e_active')");
$err = wait_for_error('e_active', qr/is active/, 2);
is($err, qq{could not start replication on the source: ERROR:  replication slot "dbufs_e_active" is active for PID $recv_pid},
	'(e) slot in use: last_error names the slot and the PID holding it');
$e = find_error($target, $off, qr/is active for PID/);
is($e->{hint}, 'Another process streams from this replication slot. Stop it, or give this subscription its own slot_name.',
	'(e) slot in use: the hint says what to do');
$recv->signal('TERM');
$recv->finish;
src('INSERT INTO act_t VALUES (1)');
wait_for_sync($source, 'dbufs_e_active');
is(tgt('SELECT count(*) FROM act_t'), '1', '(e) slot in use: once the other consumer stops, the worker streams');

# other sources: wal_level = replica; decoderbufs not allowed; all slots in use
my $other = new_node('other', conf => [ 'wal_level = replica', 'max_replication_slots = 1' ]);
my $other_conn = $other->connstr('postgres');
$e = create_fails('e_other', $other_conn);
is($e->{error}, 'could not create replication slot on the source: ERROR:  logical decoding requires wal_level >= logical',
	'(e) wal_level = replica: the error says so');
is($e->{hint}, 'Set wal_level = logical on the source and restart it.', '(e) wal_level = replica: the hint says what to set');

$other->append_conf('postgresql.conf', "wal_level = logical\n");
if (server_has_setting('output_plugin_libraries'))
{
	$other->append_conf('postgresql.conf', "output_plugin_libraries = 'pgoutput'\n");
	$other->restart;
	$e = create_fails('e_other', $other_conn);
	like($e->{error}, qr/^could not create replication slot on the source: ERROR:  library "decoderbufs" may not be used as an output plugin/,
		'(e) output_plugin_libraries: the error says so');
	is($e->{hint}, 'Add decoderbufs to output_plugin_libraries on the source and reload its configuration.',
		'(e) output_plugin_libraries: the hint says what to set');
	$other->append_conf('postgresql.conf', "output_plugin_libraries = 'pgoutput, decoderbufs'\n");
	$other->reload;
}
else
{
	$other->restart;
}
$other->safe_psql('postgres', "SELECT pg_create_logical_replication_slot('filler', 'pgoutput')");
$e = create_fails('e_other', $other_conn);
like($e->{error}, qr/^could not create replication slot on the source: ERROR:  all replication slots are in use/,
	'(e) no free slot: the error says so');
is($e->{hint}, 'Increase max_replication_slots on the source, or drop slots it no longer needs.',
	'(e) no free slot: the hint says what to do');
$other->safe_psql('postgres', "SELECT pg_drop_replication_slot('filler')");
(my $other_conn_sql = $other_conn) =~ s/'/''/g;
tgt("SELECT decoderbufs_apply.create_subscription('e_other', '$other_conn_sql')");
is($other->safe_psql('postgres', "SELECT plugin FROM pg_replication_slots WHERE slot_name = 'dbufs_e_other'"),
	'decoderbufs', '(e) once fixed, create_subscription makes the slot');
tgt("SELECT decoderbufs_apply.drop_subscription('e_other')");
$other->stop;

# ---- (g) privileges ----
# a source user with a password, which must never show
my $password = 'Secr3t_pw';
my $bad_password = 'Wr0ng_pw';
{
	# not in the source's log either: this statement would be
	local $ENV{PGOPTIONS} = '-c log_statement=none';
	src("CREATE ROLE repl_pw LOGIN REPLICATION PASSWORD '$password'");
}
my $hba = slurp_file($source->data_dir . '/pg_hba.conf');
open my $fh, '>', $source->data_dir . '/pg_hba.conf' or die;
print $fh "local all repl_pw scram-sha-256\n$hba";
close $fh;
$source->reload;
my $pw_conn = "host=$sock port=$port dbname=postgres user=repl_pw password=$password";

tgt(q{
	CREATE ROLE sub_admin LOGIN;
	GRANT decoderbufs_apply_admin TO sub_admin;
	-- the statements of this role hold the password: keep them out of the log
	ALTER ROLE sub_admin SET log_statement = 'none';
	CREATE ROLE nobody LOGIN;
	CREATE ROLE monitor LOGIN IN ROLE pg_monitor;
});
sub as_role
{
	my ($role, $sql) = @_;
	my ($ret, $out, $stderr) = $target->psql('postgres', $sql,
		extra_params => [ '-U', $role ]);
	return ($ret, $out, $stderr);
}

my ($ret, $out, $stderr) = as_role('sub_admin',
	"SELECT decoderbufs_apply.create_subscription('g_priv', '$pw_conn', tables => ARRAY['public.priv_t'])");
is($ret, 0, '(g) a member of decoderbufs_apply_admin creates a subscription') or diag($stderr);
is(tgt("SELECT sub_owner FROM decoderbufs_apply.subscription WHERE sub_name = 'g_priv'"), 'sub_admin',
	'(g) owned by that role');
wait_streaming('g_priv');
$off = log_offset();
src("INSERT INTO priv_t VALUES (1, 'one')");
$err = wait_for_error('g_priv', qr/permission/, 2);
is($err, 'permission denied for table priv_t', '(g) without INSERT the worker fails, naming the table');
$e = find_error($target, $off, qr/permission denied for table priv_t/);
like($e->{context}, qr/subscription "g_priv" during "INSERT" for relation "public.priv_t"/,
	'(g) the log\'s context names subscription and relation');
is(tgt('SELECT count(*) FROM priv_t'), '0', '(g) no row is written behind the owner\'s back');
tgt('GRANT INSERT ON priv_t TO sub_admin');
wait_for_sync($source, 'dbufs_g_priv');
is(table_rows($target, 'priv_t'), '(1,one)', '(g) after GRANT the worker resumes');

# a wrong password: clear error, and neither password shows anywhere
($ret, $out, $stderr) = as_role('sub_admin',
	"SELECT decoderbufs_apply.alter_subscription('g_priv', conninfo => 'host=$sock port=$port dbname=postgres user=repl_pw password=$bad_password')");
is($ret, 0, '(g) the owner changes the connection string') or diag($stderr);
$off = log_offset();
$err = wait_for_error('g_priv', qr/password/, 2);
like($err, qr/^could not connect to the source: connection to server on socket ".*" failed: FATAL:  password authentication failed for user "repl_pw"$/,
	'(g) a wrong password: last_error says so');
$e = find_error($target, $off, qr/password authentication failed/);
is($e->{hint}, 'Check the user and password in the subscription\'s connection string.',
	'(g) a wrong password: the hint');
as_role('sub_admin', "SELECT decoderbufs_apply.alter_subscription('g_priv', conninfo => '$pw_conn')");
src("INSERT INTO priv_t VALUES (2, 'two')");
wait_for_sync($source, 'dbufs_g_priv');
is(tgt('SELECT count(*) FROM priv_t'), '2', '(g) with the right password again it streams');

my $status_text = tgt('SELECT string_agg(s::text, E\'\n\') FROM decoderbufs_apply.subscription_status s');
unlike($status_text, qr/\Q$password\E|\Q$bad_password\E/, '(g) no password in the status view');
unlike(slurp_file($target->logfile), qr/\Q$password\E|\Q$bad_password\E/, '(g) no password in the target\'s log');
unlike(slurp_file($source->logfile), qr/\Q$password\E|\Q$bad_password\E/, '(g) no password in the source\'s log');
is(tgt("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query ~ '$password'"), '0',
	'(g) no password in pg_stat_activity');

# roles that may not manage subscriptions or read connection strings
for my $case (
	[ 'create_subscription', "SELECT decoderbufs_apply.create_subscription('n', '$conn_sql')" ],
	[ 'alter_subscription', "SELECT decoderbufs_apply.alter_subscription('g_priv', conninfo => '$conn_sql')" ],
	[ 'drop_subscription', "SELECT decoderbufs_apply.drop_subscription('g_priv')" ],
	[ 'SELECT FROM subscription', 'SELECT sub_conninfo FROM decoderbufs_apply.subscription' ],
	[ 'SELECT FROM subscription_status', 'SELECT * FROM decoderbufs_apply.subscription_status' ])
{
	my ($what, $sql) = @$case;
	($ret, $out, $stderr) = as_role('nobody', $sql);
	like($stderr, qr/ERROR:  permission denied for schema decoderbufs_apply/, "(g) an unprivileged role cannot $what");
}
# with USAGE on the schema, the objects themselves are closed
tgt('GRANT USAGE ON SCHEMA decoderbufs_apply TO nobody');
for my $case (
	[ 'create_subscription', "SELECT decoderbufs_apply.create_subscription('n', '$conn_sql')", 'function create_subscription' ],
	[ 'alter_subscription', "SELECT decoderbufs_apply.alter_subscription('g_priv', conninfo => '$conn_sql')", 'function alter_subscription' ],
	[ 'drop_subscription', "SELECT decoderbufs_apply.drop_subscription('g_priv')", 'function drop_subscription' ],
	[ 'SELECT FROM subscription', 'SELECT sub_conninfo FROM decoderbufs_apply.subscription', 'table subscription' ],
	[ 'SELECT FROM subscription_status', 'SELECT * FROM decoderbufs_apply.subscription_status', 'view subscription_status' ],
	[ 'call _create_slot', "SELECT decoderbufs_apply._create_slot('$conn_sql', 'x')", 'function _create_slot' ])
{
	my ($what, $sql, $object) = @$case;
	($ret, $out, $stderr) = as_role('nobody', $sql);
	like($stderr, qr/ERROR:  permission denied for \Q$object\E/, "(g) with USAGE on the schema, an unprivileged role still cannot $what");
}
is(tgt("SELECT count(*) FROM decoderbufs_apply.subscription WHERE sub_name = 'g_priv'"), '1',
	'(g) the subscription is untouched');
# pg_monitor reads the status, not the connection strings
($ret, $out, $stderr) = as_role('monitor', "SELECT state FROM decoderbufs_apply.subscription_status WHERE subscription = 'g_priv'");
is($out, 'streaming', '(g) pg_monitor reads the status view');
($ret, $out, $stderr) = as_role('monitor', 'SELECT sub_conninfo FROM decoderbufs_apply.subscription');
like($stderr, qr/permission denied for table subscription/, '(g) but not the connection strings');

# Subscriptions apply as their owner.  A member of decoderbufs_apply_admin
# must not make a subscription apply as another role: neither by changing
# the owner in the catalog (the role may write the catalog tables), nor by
# changing the connection of a subscription someone else owns.
tgt('REVOKE INSERT ON priv_t FROM sub_admin');
($ret, $out, $stderr) = as_role('sub_admin',
	"UPDATE decoderbufs_apply.subscription SET sub_owner = 'postgres' WHERE sub_name = 'g_priv'");
my $owner_changed = tgt("SELECT sub_owner = 'postgres'::regrole FROM decoderbufs_apply.subscription WHERE sub_name = 'g_priv'");
is($owner_changed, 'f', '(g) a member of decoderbufs_apply_admin cannot make a superuser own its subscription');
as_role('sub_admin', "SELECT decoderbufs_apply.alter_subscription('g_priv', conflict_policy => 'fail')");
src("INSERT INTO priv_t VALUES (3, 'three')");
poll_until($target, q{SELECT EXISTS (SELECT FROM priv_t WHERE id = 3)
	OR (SELECT last_error = 'permission denied for table priv_t' AND retry_count >= 1
		FROM decoderbufs_apply.subscription_status WHERE subscription = 'g_priv')}, 30);
is(tgt('SELECT count(*) FROM priv_t WHERE id = 3'), '0',
	'(g) so the row is not written without the real owner\'s INSERT privilege');
tgt(q{UPDATE decoderbufs_apply.subscription SET sub_owner = 'sub_admin' WHERE sub_name = 'g_priv';
	GRANT INSERT ON priv_t TO sub_admin});
tgt("SELECT decoderbufs_apply.alter_subscription('g_priv', conflict_policy => 'fail')");
wait_for_sync($source, 'dbufs_g_priv');
is(tgt('SELECT count(*) FROM priv_t'), '3', '(g) back with its real owner, the subscription streams');

($ret, $out, $stderr) = as_role('sub_admin',
	"SELECT decoderbufs_apply.alter_subscription('s', conflict_policy => 'fail')");
isnt($ret, 0, '(g) a member of decoderbufs_apply_admin cannot alter a subscription a superuser owns');

# A non-superuser must not make the server connect as itself: without a
# password in the connection string, the server's own OS user and its
# trust or peer authentication would open the connection.
($ret, $out, $stderr) = as_role('sub_admin',
	"SELECT decoderbufs_apply.create_subscription('g_nopw', 'host=$sock port=$port dbname=postgres user=postgres', create_slot => false, enabled => false)");
isnt($ret, 0, '(g) a non-superuser cannot use a connection string without a password');
tgt("SELECT decoderbufs_apply.drop_subscription('g_nopw', drop_slot => false)") if $ret == 0;

$target->stop;
$source->stop;
done_testing();
