# 012_apply_twoway.pl - two servers subscribed to each other.
#
# A and B both take writes at the same time (pgbench clients on each side)
# to the same tables, in disjoint key ranges.  Every row must arrive once on
# the other side and never come back: asserted with the workers' counters
# (each side applied exactly what the other wrote), with the commit origins
# of the rows, and with WAL volume (once quiet, neither side writes WAL: no
# ping-pong).  Both sides end identical.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbufsTest;

# (no autovacuum: an ANALYZE in the quiet window below would write WAL)
my @conf = ('decoderbufs_apply.restart_delay_min = 100',
			'decoderbufs_apply.restart_delay_max = 1000',
			'autovacuum = off');
my $a = new_node('node_a', apply => 1, conf => \@conf);
my $b = new_node('node_b', apply => 1, conf => \@conf);

my $schema = q{
	CREATE TABLE account (id bigint PRIMARY KEY, node text NOT NULL, balance numeric NOT NULL,
						  note text, updated_at timestamptz DEFAULT now());
	CREATE TABLE event (node text NOT NULL, seq bigint NOT NULL, payload text,
						PRIMARY KEY (node, seq));
	CREATE SEQUENCE event_seq;
	CREATE EXTENSION decoderbufs_apply;
};
$a->safe_psql('postgres', $schema);
$b->safe_psql('postgres', $schema);

# each subscribes to the other; only_local (the default) stops loops
subscribe($a, 'from_b', $b);
subscribe($b, 'from_a', $a);
for my $n ($a, $b)
{
	$n->poll_query_until('postgres',
		"SELECT state = 'streaming' FROM decoderbufs_apply.subscription_status")
	  or die 'subscription did not start';
}

# Concurrent writes on both sides: inserts, updates and deletes of the
# node's own key range (A: odd ids, B: even ids) plus an event log.
my $script = sub {
	my ($node, $parity) = @_;
	return {
		"write_$node" => qq{
\\set id random(0, 999) * 2 + $parity
BEGIN;
INSERT INTO account VALUES (:id, '$node', 0, 'created') ON CONFLICT (id) DO UPDATE SET balance = account.balance + 1, note = 'bumped';
INSERT INTO event VALUES ('$node', nextval('event_seq'), 'write ' || :id);
COMMIT;
},
		"delete_$node" => qq{
\\set id random(0, 999) * 2 + $parity
DELETE FROM account WHERE id = :id;
},
	};
};

my @runs;
for ([ $a, 'a', 1 ], [ $b, 'b', 0 ])
{
	my ($node, $name, $parity) = @$_;
	my $files = $script->($name, $parity);
	my @args;
	for my $f (sort keys %$files)
	{
		my $path = $node->basedir . "/$f.sql";
		PostgreSQL::Test::Utils::append_to_file($path, $files->{$f});
		push @args, '-f', $path . ($f =~ /^delete/ ? '@1' : '@5');
	}
	my ($out, $err) = ('', '');
	push @runs, [ $name, \$out, \$err, IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-j', '2', '-t', '400', @args,
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$out, '2>', \$err) ];
}
for my $r (@runs)
{
	my ($name, $out, $err, $h) = @$r;
	ok($h->finish, "pgbench on node $name finished") or diag($$err);
}

wait_for_sync($a, 'dbufs_from_a');
wait_for_sync($b, 'dbufs_from_b');
wait_for_sync($a, 'dbufs_from_a');

is(table_rows($a, 'account', 'id'), table_rows($b, 'account', 'id'), 'account converges');
is(table_rows($a, 'event', 'node, seq'), table_rows($b, 'event', 'node, seq'), 'event converges');
my $events = $a->safe_psql('postgres', "SELECT count(*) FILTER (WHERE node = 'a') || '/' || count(*) FILTER (WHERE node = 'b') FROM event");
my ($ea, $eb) = split m{/}, $events;
cmp_ok($ea, '>', 0, 'node a wrote events');
cmp_ok($eb, '>', 0, 'node b wrote events');
is($b->safe_psql('postgres', "SELECT count(*) FROM event WHERE node = 'a'"), $ea,
	'B has each of A\'s events exactly once');

# Counters: each worker applied exactly what the other side wrote, with no
# conflicts (an echoed row would be an insert_exists or an extra row).
is($b->safe_psql('postgres', q{SELECT insert_exists + update_missing + update_exists + delete_missing
	FROM decoderbufs_apply.subscription_status}), '0', 'B met no conflicts');
is($a->safe_psql('postgres', q{SELECT insert_exists + update_missing + update_exists + delete_missing
	FROM decoderbufs_apply.subscription_status}), '0', 'A met no conflicts');

# Origins: on each side, the other side's rows carry this side's
# subscription origin, and its own rows no origin.
my $origin_check = sub {
	my ($node, $remote_name, $sub) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) FILTER (WHERE e.node = '$remote_name' AND o.roname = s.sub_origin_name) || '/' ||
		       count(*) FILTER (WHERE e.node = '$remote_name' AND o.roname IS DISTINCT FROM s.sub_origin_name) || '/' ||
		       count(*) FILTER (WHERE e.node <> '$remote_name' AND (pg_xact_commit_timestamp_origin(e.xmin)).roident <> 0)
		FROM event e
		LEFT JOIN pg_replication_origin o ON o.roident = (pg_xact_commit_timestamp_origin(e.xmin)).roident
		CROSS JOIN decoderbufs_apply.subscription s WHERE s.sub_name = '$sub'});
};
is($origin_check->($b, 'a', 'from_a'), "$ea/0/0", "on B, A's rows carry the subscription's origin and B's rows none");
is($origin_check->($a, 'b', 'from_b'), "$eb/0/0", "on A, B's rows carry the subscription's origin and A's rows none");

# Nothing comes back: once quiet, transactions stop flowing and no WAL is written.
my $tx_a = $a->safe_psql('postgres', 'SELECT transactions FROM decoderbufs_apply.subscription_status');
my $tx_b = $b->safe_psql('postgres', 'SELECT transactions FROM decoderbufs_apply.subscription_status');
my $wal_a = $a->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my $wal_b = $b->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
# a quiet window long enough for several feedback rounds: an echo loop would
# apply transactions and write WAL in it
sleep 3;
is($a->safe_psql('postgres', 'SELECT transactions FROM decoderbufs_apply.subscription_status'), $tx_a,
	'A applies nothing more once both sides are quiet');
is($b->safe_psql('postgres', 'SELECT transactions FROM decoderbufs_apply.subscription_status'), $tx_b,
	'B applies nothing more once both sides are quiet');
cmp_ok($a->safe_psql('postgres', "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal_a')"), '<', 8192,
	'A writes (almost) no WAL while quiet');
cmp_ok($b->safe_psql('postgres', "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal_b')"), '<', 8192,
	'B writes (almost) no WAL while quiet');

# A change made on A reaches B once, and B's copy does not return to A.
$a->safe_psql('postgres', "INSERT INTO event VALUES ('a', 1000000, 'last')");
wait_for_sync($a, 'dbufs_from_a');
wait_for_sync($b, 'dbufs_from_b');
is($b->safe_psql('postgres', "SELECT count(*) FROM event WHERE seq = 1000000"), '1', 'the last row reached B');
is($a->safe_psql('postgres', 'SELECT transactions FROM decoderbufs_apply.subscription_status'), $tx_a,
	'and nothing came back to A');

$a->stop;
$b->stop;
done_testing();
