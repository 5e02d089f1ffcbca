# 060_fuzz.pl - the apply worker's message decoding, fuzzed.
#
# Messages are captured from a real decoderbufs slot with the worker's own
# options (templates), then mutated (regress/lib/DbufsFuzz.pm) and fed
# through the worker's code - unpacking, checks, relation mapping, value
# decoding, the executor - by the harness function apply_sql_fuzz_messages
# (apply_ext/src/fuzz.c), which undoes every effect.  The catalogue of
# well-formed messages with impossible content (unknown type OIDs, wrong
# column counts, NULL keys, values out of range, invalid UTF-8, operations
# out of order) runs whole; then random mutations of every template.
#
# Streamed transactions too: templates captured with stream-changes and
# logical_decoding_work_mem = 64kB (savepoints rolled back after they were
# streamed, many subtransactions, an aborted transaction, two interleaved),
# each checked with a probe to apply what committed and nothing rolled
# back; a catalogue of impossible stream sequences (impossible_streams),
# part of the plain catalogue streamed (as_stream), and mutations of whole
# blocks, commits and aborts (mutate_blocks).
#
# Every iteration must end in success or an ERROR with a proper SQLSTATE:
# never a crash (the postmaster must not have restarted a backend), never
# an internal error (XX000: an elog() that input reached, or a "cache
# lookup failed").  Afterwards the target tables hold what they held.
#
# Knobs (make fuzz sets them): DBUFS_FUZZ_SEED (default: from the clock,
# printed), DBUFS_FUZZ_ITERATIONS random mutations (default 5000),
# DBUFS_FUZZ_SECONDS (keep mutating for that long, in rounds of
# DBUFS_FUZZ_ITERATIONS), DBUFS_FUZZ_REPLAY (files of failing inputs to run
# again instead).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MIME::Base64;
use Time::HiRes ();
use DbufsTest;
use DbufsFuzz;

my $seed = $ENV{DBUFS_FUZZ_SEED} || (time() % 1000000);
my $iterations = $ENV{DBUFS_FUZZ_ITERATIONS} || 5000;
my $seconds = $ENV{DBUFS_FUZZ_SECONDS} || 0;
note "fuzz seed $seed (DBUFS_FUZZ_SEED=$seed repeats this run)";
diag "fuzz seed $seed";
srand($seed);

my $node = new_node('fuzz', apply => 1,
	conf => [ 'log_min_messages = warning', 'log_min_error_statement = panic' ]);
$node->safe_psql('postgres', q{
CREATE EXTENSION decoderbufs_apply;
CREATE FUNCTION fuzz_messages(integer, bytea[]) RETURNS text
    LANGUAGE C AS 'decoderbufs_apply', 'apply_sql_fuzz_messages';
CREATE TYPE public.fz_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN public.fz_pos AS int CHECK (VALUE > 0);
CREATE SCHEMA fz_src;
CREATE SCHEMA fz_tgt;
CREATE TABLE fz_src.narrow (k int PRIMARY KEY, v text NOT NULL, d date, n numeric);
CREATE TABLE fz_tgt.narrow (k int PRIMARY KEY, v text NOT NULL, d date DEFAULT '2000-01-01',
    n numeric DEFAULT 42);
CREATE TABLE fz_tgt.narrow2 (k int PRIMARY KEY, w text NOT NULL, d date, n numeric(10,2));
CREATE TABLE fz_src.wide (k bigint PRIMARY KEY, i2 smallint, i4 int, f4 real, f8 float8,
    b bool, t text, vc varchar(8), c char(3), ba bytea, d date, tm time, tz timetz,
    ts timestamp, tstz timestamptz, iv interval, u uuid, j json, jb jsonb, ip inet,
    pt point, arr int[], m money, o oid, bt bit(4), mood public.fz_mood,
    pos public.fz_pos, big text);
ALTER TABLE fz_src.wide ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE fz_tgt.wide (LIKE fz_src.wide INCLUDING ALL,
    extra int NOT NULL DEFAULT 7, g bigint GENERATED ALWAYS AS (k * 2) STORED);
CREATE TABLE fz_src.nokey (a int, b text);
CREATE TABLE fz_tgt.nokey (a int, b text);
CREATE TABLE fz_src.full (name text NOT NULL, qty int);
ALTER TABLE fz_src.full REPLICA IDENTITY FULL;
CREATE TABLE fz_tgt.full (name text PRIMARY KEY, qty int CHECK (qty >= 0));
CREATE TABLE fz_src.stream (k int PRIMARY KEY, v text NOT NULL, pad text);
ALTER TABLE fz_src.stream ALTER COLUMN pad SET STORAGE PLAIN;
CREATE TABLE fz_tgt.stream (k int PRIMARY KEY, v text NOT NULL, pad text);
INSERT INTO fz_tgt.narrow SELECT g, 'old ' || g, NULL, g FROM generate_series(1000, 1004) g;
INSERT INTO fz_tgt.narrow2 SELECT g, 'old ' || g, NULL, g FROM generate_series(1000, 1004) g;
INSERT INTO fz_tgt.wide (k, t) VALUES (1000, 'old');
INSERT INTO fz_tgt.full VALUES ('old', 1);
});

# Three subscriptions that never run (disabled, no slot) - the harness
# loads them as their worker would: each conflict policy, mapped schemas,
# one with a renaming table option.
my %sub;
for my $p ([ 'fz_fail', 'fail' ], [ 'fz_over', 'overwrite' ], [ 'fz_lww', 'last_update_wins' ])
{
	my ($name, $policy) = @$p;
	$sub{$name} = $node->safe_psql('postgres', qq{
		SELECT decoderbufs_apply.create_subscription('$name', 'host=source.invalid dbname=app',
		    create_slot => false, enabled => false, precheck => false,
		    conflict_policy => '$policy')});
	$node->safe_psql('postgres',
		"SELECT decoderbufs_apply.set_schema_mapping('$name', 'fz_src', 'fz_tgt')");
}
$node->safe_psql('postgres', q{
	SELECT decoderbufs_apply.set_table_options('fz_over', 'fz_src.narrow',
	    target_table => 'fz_tgt.narrow2', column_map => '{"v": "w"}')});
my @subs = map { $sub{$_} } sort keys %sub;

# ---- templates: real traffic, with the worker's plugin options ----

$node->safe_psql('postgres',
	"SELECT pg_create_logical_replication_slot('fz_slot', 'decoderbufs')");

# What the slot has, decoded as the worker asks: with $streaming, as a
# worker of a subscription with the option streaming (on by default) asks,
# and with logical_decoding_work_mem at its least, so that a transaction of
# ten rows of fz_src.stream (7 kB each) is streamed.  With $peek, the slot
# keeps it.
sub slot_changes
{
	my ($streaming, $peek) = @_;
	my $opts = $streaming ? q{, 'stream-changes', 'true'} : '';
	my $fn = $peek ? 'peek' : 'get';
	my $out = $node->safe_psql('postgres', qq{
		SET logical_decoding_work_mem = '64kB';
		SELECT lsn, translate(encode(data, 'base64'), E'\\n', '') FROM pg_logical_slot_${fn}_binary_changes('fz_slot', NULL, NULL,
		    'proto-version', '1', 'compact', 'true', 'batch-size', '65536',
		    'only-local', 'true', 'exclude-tables', 'decoderbufs_apply.*'$opts)});
	my @stream;
	for my $line (split /\n/, $out)
	{
		my ($lsn, $b64) = split /\|/, $line, 2;
		my ($hi, $lo) = split m{/}, $lsn;
		push @stream, copydata(decode_base64($b64), hex($hi) * 2**32 + hex($lo));
	}
	return \@stream;
}

# What the slot has for $sql: statements, or code that runs them and
# returns what it captured on the way.
sub capture
{
	my ($sql, $streaming) = @_;
	my $before = [];
	if (ref $sql) { $before = $sql->(); }
	else { $node->safe_psql('postgres', $sql); }
	return [ @$before, @{ slot_changes($streaming) } ];
}

my %tpl;
$tpl{narrow} = capture(q{
	BEGIN;
	INSERT INTO fz_src.narrow VALUES (1, 'one', '2020-01-01', 1.5), (2, 'two', NULL, NULL);
	COMMIT;
	UPDATE fz_src.narrow SET v = 'uno', n = 2.5 WHERE k = 1;
	UPDATE fz_src.narrow SET k = 3 WHERE k = 2;
	DELETE FROM fz_src.narrow WHERE k = 1;
});
$tpl{wide} = capture(q{
	INSERT INTO fz_src.wide VALUES (1, -32768, 2147483647, 'NaN', '-Infinity', true,
	    E'h\u00e9llo', 'abc', 'xy', '\x00ff', 'infinity', '24:00', '12:00+05:30',
	    '2000-01-01 00:00', '-infinity', '1 year 2 mons -3 days 04:05:06.789', gen_random_uuid(),
	    '{"a": [1, 2]}', '{"b": null}', '10.0.0.1/8', '(1.5,-2)', '{1,NULL,3}', '12.34',
	    4294967295, B'1010', 'happy', 5, repeat('0123456789abcdef', 160));
	INSERT INTO fz_src.wide (k) VALUES (2);
	UPDATE fz_src.wide SET i4 = 7, mood = 'sad' WHERE k = 1;
	DELETE FROM fz_src.wide WHERE k = 2;
});
$tpl{other} = capture(q{
	BEGIN;
	INSERT INTO fz_src.nokey VALUES (1, 'a'), (NULL, NULL);
	INSERT INTO fz_src.full VALUES ('x', 1), ('y', 2);
	UPDATE fz_src.full SET qty = 3 WHERE name = 'x';
	DELETE FROM fz_src.full WHERE name = 'y';
	SELECT pg_logical_emit_message(true, 'fz', 'transactional');
	COMMIT;
	SELECT pg_logical_emit_message(false, 'decoderbufs_apply_heartbeat', 'not a heartbeat');
	TRUNCATE fz_src.nokey;
});

# Streamed traffic.  The source's rows are big (pad, 7 kB) so that ten of
# them stream a transaction; the templates keep 16 bytes of each value.
my $big = q{repeat('p', 7000)};
my %probe;
sub capture_stream
{
	my ($name, $sql, $probe) = @_;
	$tpl{$name} = shrink_values(capture($sql, 1), 16);
	$probe{$name} = capture($probe) if $probe;
	my $ops = join(' ', grep { /:/ } @{ stream_ops($tpl{$name}) });
	note "template $name: $ops";
	ok(scalar(() = $ops =~ /\b23:/g) >= 2, "template $name is streamed in blocks");
}
# savepoints rolled back after their rows were streamed (nested, and one
# that was not streamed), released ones, a transactional message, updates
# and deletes; its probe inserts what was rolled back and deleted, and
# updates what must be there
capture_stream('stream_savepoints', qq{
	BEGIN;
	INSERT INTO fz_src.stream SELECT g, 'top', $big FROM generate_series(1, 10) g;
	SAVEPOINT a;
	INSERT INTO fz_src.stream SELECT g, 'rolled back', $big FROM generate_series(11, 20) g;
	ROLLBACK TO a;
	UPDATE fz_src.stream SET v = 'updated' WHERE k <= 3;
	SAVEPOINT b;
	DELETE FROM fz_src.stream WHERE k = 4;
	SELECT pg_logical_emit_message(true, 'fz', 'in a stream');
	RELEASE b;
	SAVEPOINT c;
	INSERT INTO fz_src.stream SELECT g, 'rolled back', $big FROM generate_series(21, 30) g;
	SAVEPOINT d;
	INSERT INTO fz_src.stream VALUES (31, 'rolled back', NULL);
	RELEASE d;
	ROLLBACK TO c;
	SAVEPOINT e;
	INSERT INTO fz_src.stream VALUES (32, 'not streamed', NULL);
	ROLLBACK TO e;
	INSERT INTO fz_src.stream SELECT g, 'top', $big FROM generate_series(41, 50) g;
	COMMIT;
}, q{
	BEGIN;
	INSERT INTO fz_src.stream SELECT g, 'probe', NULL FROM unnest('{4,11,21,31,32}'::int[]) g;
	UPDATE fz_src.stream SET v = 'probe' WHERE k IN (1, 50);
	COMMIT;
});
# 40 subtransactions (exception blocks, past the spool's hash threshold),
# every third rolled back
capture_stream('stream_subxacts', qq{
	DO \$\$ BEGIN FOR i IN 1..40 LOOP
		BEGIN
			INSERT INTO fz_src.stream VALUES (100 + i, 'sub', $big);
			IF i % 3 = 0 THEN RAISE EXCEPTION 'undo'; END IF;
		EXCEPTION WHEN raise_exception THEN NULL;
		END;
	END LOOP; END \$\$;
}, q{
	BEGIN;
	INSERT INTO fz_src.stream SELECT 100 + g, 'probe', NULL FROM generate_series(3, 39, 3) g;
	UPDATE fz_src.stream SET v = 'probe' WHERE k IN (101, 140);
	COMMIT;
});
# a streamed transaction that aborts, a small one after it.  The SQL
# interface cannot stream a transaction that has aborted (it finds the
# abort when it reads the catalogue for the first change, and sends
# nothing), so its blocks are read while it is in progress, and its
# STREAM_ABORT is the plugin's message for a subtransaction (in
# stream_savepoints) naming the transaction itself, as the plugin does
capture_stream('stream_abort', sub {
	my $bg = $node->background_psql('postgres');
	$bg->query_safe('BEGIN');
	$bg->query_safe("INSERT INTO fz_src.stream SELECT g, 'aborted', $big FROM generate_series(201, 225) g");
	# decoding reads only WAL that is flushed
	$node->safe_psql('postgres', 'CHECKPOINT');
	my $blocks = slot_changes(1, 1);
	$bg->query_safe('ROLLBACK');
	$bg->quit;
	$node->safe_psql('postgres', "INSERT INTO fz_src.stream VALUES (200, 'after the abort', NULL)");
	return [ @$blocks, stream_abort_of($tpl{stream_savepoints}, $blocks) ];
}, q{
	BEGIN;
	INSERT INTO fz_src.stream SELECT g, 'probe', NULL FROM generate_series(201, 225) g;
	UPDATE fz_src.stream SET v = 'probe' WHERE k = 200;
	COMMIT;
});
# two streamed transactions at once, small ones committed between their
# blocks, the one that started last committed first
capture_stream('stream_interleaved', sub {
	my @bg = map { $node->background_psql('postgres') } 1 .. 2;
	$_->query_safe('BEGIN') for @bg;
	$bg[0]->query_safe("INSERT INTO fz_src.stream SELECT g, 'one', $big FROM generate_series(301, 308) g");
	$bg[1]->query_safe("INSERT INTO fz_src.stream SELECT g, 'two', $big FROM generate_series(401, 408) g");
	$node->safe_psql('postgres', "INSERT INTO fz_src.stream VALUES (300, 'between', NULL)");
	$bg[0]->query_safe("INSERT INTO fz_src.stream SELECT g, 'one', $big FROM generate_series(309, 316) g");
	$bg[1]->query_safe("INSERT INTO fz_src.stream SELECT g, 'two', $big FROM generate_series(409, 416) g");
	$bg[1]->query_safe("UPDATE fz_src.stream SET v = 'two updated' WHERE k = 401");
	$node->safe_psql('postgres', "INSERT INTO fz_src.stream VALUES (400, 'between', NULL)");
	$bg[1]->query_safe('COMMIT');
	$bg[0]->query_safe("DELETE FROM fz_src.stream WHERE k = 301");
	$bg[0]->query_safe('COMMIT');
	$_->quit for @bg;
	return [];
}, q{
	BEGIN;
	INSERT INTO fz_src.stream VALUES (301, 'probe', NULL);
	UPDATE fz_src.stream SET v = 'probe' WHERE k IN (300, 316, 400, 401, 416);
	COMMIT;
});

for my $name (sort keys %tpl)
{
	PostgreSQL::Test::Utils::append_to_file("$PostgreSQL::Test::Utils::tmp_check/fuzz_template_$name.b64",
		join('', map { encode_base64($_, '') . "\n" } @{ $tpl{$name} }));
	ok(@{ $tpl{$name} } > 0, "template $name: " . scalar(@{ $tpl{$name} }) . ' messages captured');
}

# One more subscription, whose skip_transaction() names the streamed
# transaction of stream_savepoints (the harness undoes the skip's clearing).
$sub{fz_skip} = $node->safe_psql('postgres', q{
	SELECT decoderbufs_apply.create_subscription('fz_skip', 'host=source.invalid dbname=app',
	    create_slot => false, enabled => false, precheck => false)});
$node->safe_psql('postgres', qq{
	SELECT decoderbufs_apply.set_schema_mapping('fz_skip', 'fz_src', 'fz_tgt');
	SELECT decoderbufs_apply.skip_transaction('fz_skip', '} . stream_commit_lsn($tpl{stream_savepoints}) . q{')});

# ---- the harness ----

my $tapdir = $PostgreSQL::Test::Utils::tmp_check;
my %outcomes;
my ($passed, $failed) = (0, 0);
my @failures;

sub sql_array
{
	my ($stream) = @_;
	return "ARRAY[" . join(',', map { "decode('" . encode_base64($_, '') . "','base64')" } @$stream)
	  . "]::bytea[]";
}

# Run [name, sub_id, stream] cases; returns their results in order (undef
# for NULL).  A case with no result (the backend died) or an internal error
# is a failure, kept with its input.
sub run_cases
{
	my ($cases) = @_;
	my @results;
	for (my $start = 0; $start < @$cases; $start += 200)
	{
		my $end = $start + 199 < $#$cases ? $start + 199 : $#$cases;
		my $script = '';
		for my $i ($start .. $end)
		{
			my ($name, $subid, $stream) = @{ $cases->[$i] };
			$script .= "SELECT 'R$i|' || coalesce(fuzz_messages($subid, " . sql_array($stream)
			  . "), '(ok)');\n";
		}
		my ($stdout, $stderr) = ('', '');
		$node->psql('postgres', $script, stdout => \$stdout, stderr => \$stderr,
			on_error_stop => 0);
		my %got;
		for my $line (split /\n/, $stdout)
		{
			$got{$1} = $2 if $line =~ /^R(\d+)\|(.*)$/s;
		}
		# after a crash, wait for the server to be back before going on
		$node->poll_query_until('postgres', 'SELECT 1', '1')
		  if grep { !defined $got{$_} } $start .. $end;
		for my $i ($start .. $end)
		{
			my $r = $got{$i};
			push @results, $r;
			my ($state) = defined $r ? ($r =~ /^(\(ok\)|[0-9A-Z]{5})/) : ('(no result)');
			$state //= '(unparsed)';
			$outcomes{$state}++;
			if (!defined $r || $state eq 'XX000' || $state eq '(unparsed)')
			{
				$failed++;
				my $file = "$tapdir/fuzz_failure_" . scalar(@failures) . '.sql';
				PostgreSQL::Test::Utils::append_to_file($file,
					"-- seed $seed, case $i: $cases->[$i][0]\n-- result: "
					  . ($r // "none: $stderr") . "\nSELECT fuzz_messages($cases->[$i][1], "
					  . sql_array($cases->[$i][2]) . ");\n");
				push @failures, "$cases->[$i][0]: " . ($r // 'no result') . " ($file)";
			}
			else { $passed++; }
		}
	}
	return \@results;
}

# DBUFS_FUZZ_REPLAY="file ...": run failing inputs again (the files
# 060_fuzz writes, fuzz_failure_*.sql), on a server set up as above.
if ($ENV{DBUFS_FUZZ_REPLAY})
{
	for my $file (split ' ', $ENV{DBUFS_FUZZ_REPLAY})
	{
		my ($call) = grep { /^SELECT fuzz_messages/ } split /\n/, slurp_file($file);
		my ($ret, $out, $err) = $node->psql('postgres', $call);
		note "$file: " . ($ret == 0 ? ($out eq '' ? '(ok)' : $out) : "psql failed: $err");
		ok($ret == 0 && $out !~ /^XX000/, "replay of $file");
	}
	done_testing();
	exit 0;
}

# The templates apply cleanly (positive controls); applied twice, the
# second time conflicts: the harness reaches the executor.
my $base = run_cases([ map { [ "template $_", $sub{fz_fail}, $tpl{$_} ] } sort keys %tpl ]);
is_deeply($base, [ ('(ok)') x scalar(keys %tpl) ], 'every template applies under every check');
my $twice = run_cases([
	[ 'narrow twice, fail', $sub{fz_fail}, [ @{ $tpl{narrow} }, @{ $tpl{narrow} } ] ],
	[ 'narrow twice, overwrite', $sub{fz_over}, [ @{ $tpl{narrow} }, @{ $tpl{narrow} } ] ],
	[ 'narrow twice, last_update_wins', $sub{fz_lww}, [ @{ $tpl{narrow} }, @{ $tpl{narrow} } ] ],
]);
like($twice->[0], qr/^23505: conflict detected on relation "fz_tgt.narrow": conflict=update_exists/,
	'applied twice under fail: the conflict stops it');
is($twice->[1], '(ok)', 'applied twice under overwrite');
is($twice->[2], '(ok)', 'applied twice under last_update_wins');

# Streamed templates: the rows committed are applied at STREAM_COMMIT,
# those rolled back (to a savepoint, or with the whole transaction) never.
# Each probe inserts the rows that must not be there and updates some that
# must: alone it fails (update_missing), after its template it applies.
my @streams = grep { /^stream_/ } sort keys %tpl;
my $probes = run_cases([ map { (
	[ "probe $_ alone", $sub{fz_fail}, $probe{$_} ],
	[ "probe $_ after its template", $sub{fz_fail}, [ @{ $tpl{$_} }, @{ $probe{$_} } ] ],
	[ "$_ twice", $sub{fz_fail}, [ @{ $tpl{$_} }, @{ $tpl{$_} } ] ]) } @streams ]);
for my $i (0 .. $#streams)
{
	my $name = $streams[$i];
	like($probes->[ 3 * $i ], qr/^[0-9A-Z]{5}: conflict detected on relation "fz_tgt.stream": conflict=update_missing/,
		"$name: its probe alone finds rows missing");
	is($probes->[ 3 * $i + 1 ], '(ok)', "$name: what was committed is applied, what was rolled back is not");
	like($probes->[ 3 * $i + 2 ], qr/^23505: conflict detected on relation "fz_tgt.stream": conflict=insert_exists/,
		"$name applied twice: the conflict stops it");
}

# skip_transaction() of a streamed transaction: at its STREAM_COMMIT its
# spool is dropped, nothing of it applied.
my $skipped = run_cases([
	[ 'stream_savepoints skipped', $sub{fz_skip}, $tpl{stream_savepoints} ],
	[ 'stream_savepoints skipped, then its probe', $sub{fz_skip},
		[ @{ $tpl{stream_savepoints} }, @{ $probe{stream_savepoints} } ] ],
	[ 'stream_savepoints skipped, sent again, then its probe', $sub{fz_skip},
		[ @{ $tpl{stream_savepoints} }, @{ $tpl{stream_savepoints} }, @{ $probe{stream_savepoints} } ] ] ]);
is($skipped->[0], '(ok)', 'a streamed transaction named by skip_transaction() is skipped');
like($skipped->[1], qr/^[0-9A-Z]{5}: conflict detected on relation "fz_tgt.stream": conflict=update_missing/,
	'nothing of it is applied');
is($skipped->[2], '(ok)', 'the skip is used up: the same transaction sent again is applied');

# Every call starts afresh and leaves nothing behind: after a call that
# leaves a stream block open, no spool file is left, and the next call
# cannot continue that transaction.
my @sp = @{ $tpl{stream_savepoints} };
my @shape = map { my $o = stream_ops([$_]); "$o->[0]..$o->[-1]" } @sp[ 0 .. 3 ];
like("@shape", qr/^23:(\d+)\.\.0 24:\1\.\.24:\1 23:\1\.\.0 24:\1\.\.24:\1$/,
	'stream_savepoints: a first block (rows), its STREAM_STOP, a second block, its STREAM_STOP');
my $left = $node->safe_psql('postgres', qq{
	SELECT coalesce(fuzz_messages($sub{fz_fail}, } . sql_array([ $sp[0] ]) . qq{), '(ok)');
	SELECT count(*) FROM pg_ls_tmpdir();
	SELECT fuzz_messages($sub{fz_fail}, } . sql_array([ @sp[ 2, 3 ] ]) . ')');
like($left, qr/^\(ok\)\n0\n08P01: the source continued streamed transaction \d+, whose start this worker did not receive$/,
	'a stream block left open by a call leaves no spool file, and the next call cannot continue it');

# The catalogue of impossible content, against each policy in turn, and
# truncation at every length of the shortest message; every third case
# also in streamed transactions (reaching the spool); the catalogue of
# impossible stream sequences.
my @catalogue;
my $k = 0;
for my $tname ('narrow', 'wide', 'other')
{
	for my $case (@{ impossible($tpl{$tname}) })
	{
		my $subid = $subs[ $k++ % @subs ];
		push @catalogue, [ "$tname: $case->[0]", $subid, $case->[1] ];
		my $streamed = $k % 3 == 0 ? as_stream($case->[1]) : undef;
		push @catalogue, [ "$tname streamed: $case->[0]", $subid, $streamed ] if $streamed;
	}
}
push @catalogue, map { [ 'truncated narrow', $sub{fz_fail}, $_ ] } @{ truncations($tpl{narrow}) };
for my $sname (@streams)
{
	for my $case (@{ impossible_streams($tpl{$sname}, $tpl{narrow}) })
	{
		push @catalogue, [ "$sname: $case->[0]", $subs[ $k++ % @subs ], $case->[1] ];
		# the same commit LSN: skipped
		push @catalogue, [ "$sname skipped: $case->[0]", $sub{fz_skip}, $case->[1] ]
		  if $sname eq 'stream_savepoints';
	}
}
my $t0 = Time::HiRes::time();
my $cat_results = run_cases(\@catalogue);
# what each case ended in, for the reader (tmp_check/fuzz_catalogue.txt)
PostgreSQL::Test::Utils::append_to_file("$tapdir/fuzz_catalogue.txt",
	join('', map { "$catalogue[$_][0]: " . ($cat_results->[$_] // 'no result') . "\n" } 0 .. $#catalogue));
note sprintf('catalogue: %d cases in %.1f s', scalar(@catalogue), Time::HiRes::time() - $t0);

# Random mutations: one to three at a time, of one template or of two run
# one after the other; streamed templates (and now and then a plain one
# turned into a streamed one) also get stream-level mutations first, of
# whole blocks, commits and aborts, or only those.
my @names = sort keys %tpl;
my $deadline = time() + $seconds;
my $rounds = 0;
my %applied;    # per kind of mutation: [inputs, inputs that applied]
do
{
	my (@cases, @kinds);
	for my $i (1 .. $iterations)
	{
		my $name = $names[ int(rand(@names)) ];
		my $stream = $tpl{$name};
		$stream = [ @$stream, @{ $tpl{ $names[ int(rand(@names)) ] } } ] if rand() < 0.1;
		$stream = as_stream($stream) // $stream if $name !~ /^stream_/ && rand() < 0.1;
		my $blocks = $name =~ /^stream_/ && rand() < 0.5;
		$stream = mutate_blocks($stream) if $blocks;
		$stream = mutate_stream($stream) for 1 .. ($blocks ? int(rand(3)) : 1 + int(rand(3)));
		my $kind = $blocks ? 'stream-level' : $name =~ /^stream_/ ? 'streamed' : 'plain';
		push @cases, [ "round $rounds mutation $i ($name, $kind)", $subs[ int(rand(@subs)) ], $stream ];
		push @kinds, $kind;
	}
	$t0 = Time::HiRes::time();
	my $results = run_cases(\@cases);
	note sprintf('round %d: %d mutations in %.1f s', $rounds, $iterations, Time::HiRes::time() - $t0);
	for my $i (0 .. $#kinds)
	{
		$applied{ $kinds[$i] }[0]++;
		$applied{ $kinds[$i] }[1]++ if ($results->[$i] // '') eq '(ok)';
	}
	$rounds++;
} while (time() < $deadline);
note 'mutations that applied: '
  . join(', ', map { "$_ " . ($applied{$_}[1] // 0) . " of $applied{$_}[0]" } sort keys %applied);

note "outcomes: " . join(', ', map { "$_ $outcomes{$_}" } sort keys %outcomes);
diag "fuzz: $passed passed, $failed failed (seed $seed)";
diag "failed: $_" for @failures[ 0 .. ($#failures < 19 ? $#failures : 19) ];
is($failed, 0, 'every input ended in success or a proper ERROR');
ok($outcomes{'(ok)'} && keys(%outcomes) > 3, 'the inputs reached both success and several errors');

# The server never restarted a backend, and the tables are as they were.
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|was terminated by|server process .* exited with exit code [^01]/,
	'no backend crashed');
is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM fz_tgt.narrow) || ' ' || (SELECT count(*) FROM fz_tgt.narrow2)
	    || ' ' || (SELECT count(*) FROM fz_tgt.wide) || ' ' || (SELECT count(*) FROM fz_tgt.full)
	    || ' ' || (SELECT count(*) FROM fz_tgt.nokey) || ' ' || (SELECT count(*) FROM fz_tgt.stream)
	    || ' ' || (SELECT string_agg(k || ':' || v, ',' ORDER BY k) FROM fz_tgt.narrow)
	    || ' ' || (SELECT count(*) FROM decoderbufs_apply.conflict_log)
	    || ' ' || (SELECT count(*) FROM decoderbufs_apply.tombstone)}),
	'5 5 1 1 0 0 1000:old 1000,1001:old 1001,1002:old 1002,1003:old 1003,1004:old 1004 0 0',
	'the target tables, the conflict log and the tombstones are as they were');

done_testing();
