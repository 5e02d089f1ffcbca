# 052_retry.pl - the retry policy: how long errors are retried, the failed
# state, disable_on_error.
#
# Small limits are set for the test (decoderbufs_apply.retry_connection_timeout
# = 4s, retry_apply_timeout = 2s).  Subscription "r" follows them; "d" has
# disable_on_error and retries connection errors forever (its own
# retry_connection_timeout => -1).
#  (a) the source stays down past the connection limit: "r" becomes failed,
#      with the connection error, a WARNING and a hint in the log; it stays
#      failed once the source is back, until alter_subscription() resumes it;
#      "d" only waits (connection errors do not disable) and resumes by
#      itself;
#  (b) progress resets the clock: two outages, each shorter than the limit,
#      together longer, with a transaction applied in between, do not fail
#      "r";
#  (c) an apply error past the (shorter) apply limit fails "r"; an apply
#      error disables "d" at once, without a retry;
#  (d) a restart of the target keeps "r" failed and "d" disabled, with their
#      errors, and starts no worker for them;
#  (e) once the causes are fixed, enable_subscription() resumes both, at the
#      transaction that failed: nothing lost, nothing twice.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbufsTest;

my $source = new_node('source');
my $target = new_node('target', apply => 1,
	conf => [ 'decoderbufs_apply.restart_delay_min = 100',
			  'decoderbufs_apply.restart_delay_max = 500',
			  'decoderbufs_apply.naptime = 500',
			  'decoderbufs_apply.retry_connection_timeout = 4s',
			  'decoderbufs_apply.retry_apply_timeout = 2s' ]);

sub src { return $source->safe_psql('postgres', $_[0]); }
sub tgt { return $target->safe_psql('postgres', $_[0]); }

my $schema = q{
	CREATE TABLE r_t (id int PRIMARY KEY, v text);
	CREATE TABLE r_nokey (n int NOT NULL, v text);
	CREATE TABLE d_t (id int PRIMARY KEY, v text);
};
src($schema);
tgt($schema . 'CREATE EXTENSION decoderbufs_apply;');
# r_nokey has no key on purpose (a row applied twice shows as an extra row)
# and only gets INSERTs; the precheck would refuse it
subscribe($target, 'r', $source, precheck => 'false',
	tables => q{ARRAY['public.r_t', 'public.r_nokey']});
subscribe($target, 'd', $source, tables => q{ARRAY['public.d_t']},
	disable_on_error => 'true', retry_connection_timeout => '-1');

# One column (or several, joined by |) of a subscription's status row.
sub st
{
	my ($sub, $cols) = @_;
	return status($target, $sub, $cols);
}

sub wait_state
{
	my ($sub, $state, $secs) = @_;
	return poll_until($target, "SELECT state = '$state' FROM decoderbufs_apply.subscription_status
		WHERE subscription = '$sub'", $secs // 60);
}

# Poll for $secs seconds that a worker never runs for $sub and its state
# stays $state: true if so.
sub stays
{
	my ($sub, $state, $secs) = @_;
	return !poll_until($target, "SELECT pid IS NOT NULL OR state <> '$state'
		FROM decoderbufs_apply.subscription_status WHERE subscription = '$sub'", $secs);
}

# The log entries (with their DETAIL and HINT lines) after $offset.
sub log_since { return slurp_file($target->logfile, $_[0]); }

sub same_rows
{
	my ($table, $what) = @_;
	is(table_rows($target, $table), table_rows($source, $table), $what);
}

wait_state('r', 'streaming') or die 'r does not stream';
wait_state('d', 'streaming') or die 'd does not stream';
src(q{INSERT INTO r_t VALUES (1, 'one'); INSERT INTO r_nokey VALUES (1, 'one');
	INSERT INTO d_t VALUES (1, 'one')});
wait_for_sync($source, 'dbufs_r');
wait_for_sync($source, 'dbufs_d');

# ---- (a) the source stays down past retry_connection_timeout ----
my $off = -s $target->logfile;
my $t0 = tgt('SELECT clock_timestamp()');
$source->stop('fast');
ok(wait_state('r', 'failed', 30), '(a) r becomes failed while the source is down');
my ($state, $enabled, $class, $err, $retries, $failed_late) = split /\|/,
  st('r', "state, enabled, last_error_class, last_error, retry_count,
	failed_at >= '$t0'::timestamptz + interval '4 s'");
is("$state|$enabled|$class", 'failed|t|connection', '(a) failed, still enabled, by a connection error');
like($err, qr/^could not connect to the source: connection to server .* failed: /,
	'(a) last_error is the connection error');
cmp_ok($retries, '>=', 2, '(a) after retrying');
is($failed_late, 't', '(a) not before retry_connection_timeout passed');
is(tgt("SELECT sub_error_class || ': ' || sub_last_error FROM decoderbufs_apply.subscription WHERE sub_name = 'r'"),
	"connection: $err", '(a) the catalog keeps the failure');
like(log_since($off),
	qr/WARNING:  decoderbufs_apply subscription "r" has failed and is not retried any more\n[^\n]*DETAIL:  Its connection errors went on for longer than retry_connection_timeout \(4 s\); the last one: could not connect to the source: [^\n]*(?:\n\t[^\n]*)*\n[^\n]*HINT:  Fix the cause, then resume the subscription with decoderbufs_apply.enable_subscription\(\); a change made with alter_subscription\(\) resumes it too./,
	'(a) the log says so, why, and what resumes it');
# "d" retries connection errors forever and is not disabled by them
ok(poll_until($target, q{SELECT enabled AND state = 'waiting_retry' AND last_error_class = 'connection'
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'd'}, 10),
	'(a) d waits to retry: connection errors do not disable it');
$source->start;
src(q{INSERT INTO r_t VALUES (2, 'two'); INSERT INTO r_nokey VALUES (2, 'two');
	INSERT INTO d_t VALUES (2, 'two')});
wait_for_sync($source, 'dbufs_d');
is(tgt('SELECT count(*) FROM d_t'), '2', '(a) d resumes by itself once the source is back');
ok(stays('r', 'failed', 3), '(a) r stays failed, no worker runs for it');
is(tgt('SELECT count(*) FROM r_t'), '1', '(a) and it applies nothing');
tgt("SELECT decoderbufs_apply.alter_subscription('r', retry_connection_timeout => 8)");
wait_for_sync($source, 'dbufs_r');
is(st('r', 'state, failed_at IS NULL'), 'streaming|t',
	'(a) alter_subscription() resumes it');
same_rows('r_t', '(a) r_t equals the source');
same_rows('r_nokey', '(a) r_nokey equals the source');

# ---- (b) progress resets the clock ----
# r's own limit is now 8 s: an outage of 3 s, a transaction applied, and a
# second outage that lasts past the first one's deadline (about 5.5 s)
$source->stop('fast');
ok(poll_until($target, q{SELECT retry_count >= 2 AND clock_timestamp() > retry_until - interval '5 s'
	FROM decoderbufs_apply.subscription_status WHERE subscription = 'r'}, 30),
	'(b) first outage: r retries for 3 s');
my $until1 = st('r', 'retry_until');
$source->start;
src(q{INSERT INTO r_t VALUES (3, 'three')});
wait_for_sync($source, 'dbufs_r');
is(st('r', 'state, retry_until IS NULL'), 'streaming|t',
	'(b) a transaction applied: the clock stopped');
$source->stop('fast');
ok(poll_until($target, "SELECT retry_until > '$until1' FROM decoderbufs_apply.subscription_status
	WHERE subscription = 'r'", 30), '(b) second outage: the clock started again');
# wait past the first outage's deadline: r must not fail
ok(poll_until($target, "SELECT clock_timestamp() > '$until1'::timestamptz + interval '0.5 s'", 30),
	'(b) past the first outage\'s deadline');
isnt(st('r', 'state'), 'failed', '(b) r is not failed: the outages were each shorter than the limit');
$source->start;
src(q{INSERT INTO r_nokey VALUES (3, 'three')});
wait_for_sync($source, 'dbufs_r');
same_rows('r_nokey', '(b) r caught up');

# ---- (c) apply errors: past retry_apply_timeout for r, at once for d ----
$off = -s $target->logfile;
src(q{ALTER TABLE r_t ADD COLUMN extra int});
$t0 = tgt('SELECT clock_timestamp()');
src(q{BEGIN; INSERT INTO r_nokey VALUES (4, 'four'); INSERT INTO r_t VALUES (4, 'four', 4); COMMIT;
	INSERT INTO r_nokey VALUES (5, 'five')});
tgt(q{INSERT INTO d_t VALUES (3, 'local')});
src(q{INSERT INTO d_t VALUES (3, 'remote'), (4, 'four')});
ok(wait_state('r', 'failed', 30), '(c) r becomes failed on its apply error');
($state, $class, $err, $retries, $failed_late) = split /\|/,
  st('r', "state, last_error_class, last_error, retry_count,
	failed_at >= '$t0'::timestamptz + interval '2 s'");
is("$class|$err", 'apply|target relation "public.r_t" has no column "extra"',
	'(c) r: the apply error, classed so');
cmp_ok($retries, '>=', 2, '(c) r: after retrying');
is($failed_late, 't', '(c) r: not before retry_apply_timeout passed');
like(log_since($off),
	qr/DETAIL:  Its apply errors went on for longer than retry_apply_timeout \(2 s\); the last one: target relation "public.r_t" has no column "extra"/,
	'(c) r: the log names the limit and the error');
ok(wait_state('d', 'disabled', 30), '(c) d is disabled by its apply error');
($enabled, $class, $err) = split /\|/, st('d', 'enabled, last_error_class, last_error');
is("$enabled|$class", 'f|apply', '(c) d: disabled by an apply error');
my $d_errors = () = log_since($off) =~ /ERROR:  conflict detected on relation "public.d_t"/g;
is($d_errors, 1, '(c) d: at the first one, not retried');
like($err, qr/^conflict detected on relation "public.d_t": conflict=insert_exists/,
	'(c) d: last_error is the conflict');
like(log_since($off),
	qr/WARNING:  decoderbufs_apply subscription "d" is disabled because of an error\n[^\n]*DETAIL:  Its disable_on_error option is on, and applying failed: conflict detected on relation "public.d_t": conflict=insert_exists[^\n]*(?:\n\t[^\n]*)*\n[^\n]*HINT:  Fix the cause, then enable the subscription with decoderbufs_apply.enable_subscription\(\)./,
	'(c) d: the log says it is disabled, why, and what enables it');

# a failed subscription that is disabled shows as disabled, and stays
# failed underneath
tgt("SELECT decoderbufs_apply.disable_subscription('r')");
is(st('r', 'state, enabled, failed_at IS NOT NULL'), 'disabled|f|t', '(c) r disabled: shown as disabled');
tgt("UPDATE decoderbufs_apply.subscription SET sub_enabled = true WHERE sub_name = 'r'");

# ---- (d) a restart of the target keeps both stopped ----
$target->restart;
my $r_status = 'failed|t|apply|target relation "public.r_t" has no column "extra"';
my $d_err = st('d', 'last_error');
ok(stays('r', 'failed', 3), '(d) after a restart r is still failed, no worker runs');
is(st('r', "state, enabled, last_error_class, last_error"), $r_status,
	'(d) with its error, from the catalog');
ok(stays('d', 'disabled', 1), '(d) d is still disabled');
is(st('d', 'enabled, last_error'), "f|$d_err", '(d) with its error');
is(tgt('SELECT count(*) FROM r_nokey WHERE n >= 4') . '|' . tgt('SELECT count(*) FROM d_t WHERE id = 4'),
	'0|0', '(d) nothing of the failed transactions was applied');

# ---- (e) fixed, then enabled: both resume where they stopped ----
tgt(q{ALTER TABLE r_t ADD COLUMN extra int; DELETE FROM d_t WHERE id = 3});
tgt("SELECT decoderbufs_apply.enable_subscription('r', precheck => false)");
tgt("SELECT decoderbufs_apply.enable_subscription('d')");
wait_for_sync($source, 'dbufs_r');
wait_for_sync($source, 'dbufs_d');
is(st('r', 'state, failed_at IS NULL'), 'streaming|t', '(e) enable_subscription() resumes r');
is(st('d', 'state, enabled'), 'streaming|t', '(e) and d');
same_rows('r_t', '(e) r_t equals the source');
same_rows('r_nokey', '(e) r_nokey equals the source: nothing lost, nothing twice');
same_rows('d_t', '(e) d_t equals the source');

$target->stop;
$source->stop;
done_testing();
