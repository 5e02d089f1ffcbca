# DbufsTest.pm - helpers shared by the TAP tests in regress/t.
#
# new_node(name, %opts) starts a PostgreSQL::Test::Cluster set up for
# logical decoding with our plugin allowed (output_plugin_libraries on the
# server versions that have it) and, with apply => 1, the apply extension
# preloaded.  Extra postgresql.conf lines go in conf => [...].
package DbufsTest;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Exporter 'import';
use Time::HiRes ();

our @EXPORT = qw(new_node server_has_setting protoc_decode subscribe wait_for_sync
  table_rows status poll_until);

my %has_setting;

# Does this server build know the named setting?
sub server_has_setting
{
	my ($name) = @_;
	return $has_setting{$name} if exists $has_setting{$name};
	my $out = `postgres --describe-config 2>/dev/null`;
	$has_setting{$name} = ($out =~ /^\Q$name\E\t/m) ? 1 : 0;
	return $has_setting{$name};
}

sub new_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	my @conf = (
		"max_replication_slots = 16",
		"max_wal_senders = 16",
		"max_worker_processes = 16",
		"track_commit_timestamp = on",
		"log_min_messages = info",
	);
	push @conf,
	  "output_plugin_libraries = 'pgoutput, test_decoding, decoderbufs, debezium_decoderbufs'"
	  if server_has_setting('output_plugin_libraries');
	# regress/run_checks.sh with DBUFS_PLUGIN_SO: a build under test, found
	# before the installed plugin
	push @conf, "dynamic_library_path = '$ENV{DBUFS_PLUGIN_DIR}:\$libdir'"
	  if $ENV{DBUFS_PLUGIN_DIR};
	push @conf, "shared_preload_libraries = 'decoderbufs_apply'" if $opts{apply};
	push @conf, @{ $opts{conf} } if $opts{conf};
	$node->append_conf('postgresql.conf', join("\n", @conf) . "\n");
	$node->start unless $opts{no_start};
	return $node;
}

# Decode one binary protobuf message with Google's protoc and our .proto:
# a parser independent of protobuf-c.  Returns protoc's text format.
sub protoc_decode
{
	my ($type, $bytes) = @_;
	my $proto_dir = "$ENV{DBUFS_ROOT}/proto";
	my ($out, $err);
	IPC::Run::run([ 'protoc', "--proto_path=$proto_dir",
			"--decode=decoderbufs.$type", "$proto_dir/decoderbufs.proto" ],
		'<', \$bytes, '>', \$out, '2>', \$err)
	  or die "protoc failed to decode a $type: $err";
	return $out;
}

# Create a subscription on $target to $source's database postgres; extra
# named arguments of create_subscription go in %args (SQL literals).
sub subscribe
{
	my ($target, $name, $source, %args) = @_;
	(my $conninfo = $source->connstr('postgres')) =~ s/'/''/g;
	my $extra = join('', map { ", $_ => $args{$_}" } sort keys %args);
	$target->safe_psql('postgres',
		"SELECT decoderbufs_apply.create_subscription('$name', '$conninfo'$extra)");
}

# Wait until the target has applied and flushed everything $source wrote so
# far: the source slot's confirmed_flush_lsn moves only on our feedback,
# which reports a position only once its local commit is flushed.
sub wait_for_sync
{
	my ($source, $slot) = @_;
	my $lsn = $source->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	$source->poll_query_until('postgres',
		"SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = '$slot'")
	  or die "timed out waiting for slot $slot to reach $lsn";
}

# A table's rows as text, ordered, for exact comparison between servers.
sub table_rows
{
	my ($node, $table, $order) = @_;
	$order //= '1';
	return $node->safe_psql('postgres',
		"SELECT t::text FROM $table t ORDER BY $order");
}

# One column of a subscription's status row.
sub status
{
	my ($node, $sub, $column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'");
}

# Poll a query until it returns 't', for at most $secs seconds (default 60):
# a failure must not hang the suite.  Returns whether it did.
sub poll_until
{
	my ($node, $query, $secs) = @_;
	my $deadline = time() + ($secs // 60);
	while (time() < $deadline)
	{
		my ($ret, $out) = $node->psql('postgres', $query);
		return 1 if $ret == 0 && $out eq 't';
		Time::HiRes::usleep(100_000);
	}
	return 0;
}

1;
