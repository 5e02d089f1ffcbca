# 001_debezium_compat.pl - wire compatibility with Debezium's plugin.
#
# Debian's postgresql-15-decoderbufs (Debezium's plugin) runs beside ours
# as debezium_decoderbufs.so.  Both decode the same WAL; every message must
# be byte-for-byte identical, except where Debezium is wrong (listed in the
# README): date +-infinity, which it overflows into garbage, and UPDATE on a
# table without a key, where it drops the new row.  All messages are also
# parsed by Google's protoc with our .proto, a parser independent of ours.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbufsTest;

my $node = new_node('compat');
$node->safe_psql('postgres', q{
	CREATE EXTENSION decoderbufs;
	CREATE TYPE mood AS ENUM ('sad', 'happy');
	CREATE DOMAIN posint AS int CHECK (VALUE > 0);
	CREATE TYPE pair AS (a int, b text);
	CREATE TABLE typed (
		id int PRIMARY KEY, i2 smallint, i8 bigint, o oid, f4 real, f8 float8,
		n numeric(20,5), nn numeric, b bool, c "char", vc varchar(10), bp char(3),
		t text, nm name, by bytea, d date, tm time, ttz timetz, ts timestamp(3),
		tstz timestamptz, iv interval, u uuid, j json, jb jsonb, x xml,
		bt bit(4), vb varbit, m money, p point, ln line, bx box, ci circle,
		inet_ inet, cidr_ cidr, mac macaddr, mac8 macaddr8, tsv tsvector,
		ia int[], ta text[][], e mood, dom posint, comp pair, r int4range,
		mr int4multirange, lsn pg_lsn);
	CREATE TABLE "Mixed Case" ("Key" int PRIMARY KEY, "Value" text);
	CREATE TABLE full_ri (id int, v text);
	ALTER TABLE full_ri REPLICA IDENTITY FULL;
	CREATE TABLE idx_ri (a int NOT NULL, b int NOT NULL, v text);
	CREATE UNIQUE INDEX idx_ri_ab ON idx_ri (b, a);
	ALTER TABLE idx_ri REPLICA IDENTITY USING INDEX idx_ri_ab;
	CREATE TABLE nokey (id int, v text);
	CREATE TABLE toasted (id int PRIMARY KEY, big text, small int);
	ALTER TABLE toasted ALTER big SET STORAGE EXTERNAL;
});
$node->safe_psql('postgres', q{
	SELECT pg_create_logical_replication_slot('ours', 'decoderbufs');
	SELECT pg_create_logical_replication_slot('dbz', 'debezium_decoderbufs');
});

# Changes both plugins encode the same way.
$node->safe_psql('postgres', q{
	INSERT INTO typed VALUES (1, -32768, 9223372036854775807, 4294967295,
		'NaN', '-Infinity', -12345.6789, 'Infinity', true, 'x', 'varchar', 'ab',
		E'multi\nline \u00e9', 'nm', '\x00ff', '2024-02-29', '24:00:00',
		'12:34:56.789+05:30', '2024-01-01 12:00:00.123',
		'infinity', '1 year 2 mons -3 days 04:05:06.7', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
		'{"a": [1, 2]}', '{"b": null}', '<x>1</x>', B'1010', B'101', 12.34,
		'(1.5,-2)', '{1,2,3}', '((0,0),(1,1))', '<(1,1),2>', '192.168.0.1/24',
		'10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
		'a fat cat', '{1,NULL,3}', '{{"a b",NULL},{"c","d\"e"}}', 'happy', 7,
		ROW(1, 'x y'), '[1,5)', '{[1,3),[7,9)}', '16/B374D848');
	INSERT INTO typed (id) VALUES (2);
	INSERT INTO typed (id, t, by, ts, tstz, n, f4, f8) VALUES
		(3, '', '', '-infinity', '1970-01-01 00:00:00+00', 'NaN', 'Infinity', 1e-300);
	UPDATE typed SET t = 'changed' WHERE id = 1;
	UPDATE typed SET id = 10 WHERE id = 2;
	DELETE FROM typed WHERE id = 3;
	INSERT INTO "Mixed Case" VALUES (1, 'x');
	UPDATE "Mixed Case" SET "Value" = 'y';
	INSERT INTO full_ri VALUES (1, 'a'), (2, NULL);
	UPDATE full_ri SET v = 'b' WHERE id = 1;
	DELETE FROM full_ri WHERE id = 2;
	INSERT INTO idx_ri VALUES (1, 2, 'v');
	UPDATE idx_ri SET v = 'w';
	UPDATE idx_ri SET a = 3;
	DELETE FROM idx_ri;
	INSERT INTO nokey VALUES (1, 'a');
	DELETE FROM nokey;
	INSERT INTO toasted VALUES (1, repeat('x', 100000), 1);
	UPDATE toasted SET small = 2;
	TRUNCATE nokey;
	SELECT pg_logical_emit_message(true, 'p', 'transactional');
	SELECT pg_logical_emit_message(false, 'p', 'not transactional');
});

# Changes where Debezium is wrong.
$node->safe_psql('postgres', q{
	INSERT INTO typed (id, d) VALUES (20, 'infinity'), (21, '-infinity');
	INSERT INTO nokey VALUES (2, 'b');
	UPDATE nokey SET v = 'c';
});

sub fetch
{
	my ($slot) = @_;
	my $out = $node->safe_psql('postgres',
		"SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('$slot', NULL, NULL)");
	return [ map { pack('H*', $_) } split /\n/, $out ];
}

my $ours = fetch('ours');
my $dbz = fetch('dbz');
cmp_ok(scalar(@$ours), '>', 40, 'a real workload was decoded');
is(scalar(@$ours), scalar(@$dbz), 'both plugins send the same number of messages');

# Decode a list of messages with protoc in one run, as one RowBatch.
sub decode_all
{
	my ($msgs) = @_;
	my $batch = '';
	for my $m (@$msgs)
	{
		my ($len, $v) = (length($m), '');
		while ($len >= 0x80) { $v .= chr(($len & 0x7f) | 0x80); $len >>= 7; }
		$batch .= "\x0a" . $v . chr($len) . $m;
	}
	my $text = protoc_decode('RowBatch', $batch);
	my @rows = ($text =~ /^rows \{\n(.*?)^\}\n/msg);
	return \@rows;
}

my $ours_text = decode_all($ours);
my $dbz_text = decode_all($dbz);
is(scalar(@$ours_text), scalar(@$ours), 'protoc parses every message of ours');
is(scalar(@$dbz_text), scalar(@$dbz), 'protoc parses every message of Debezium');

my ($identical, @different) = (0);
for my $i (0 .. $#$ours)
{
	if ($ours->[$i] eq $dbz->[$i]) { $identical++; next; }
	push @different, $i;
}

# Expected differences: the two date-infinity values and the UPDATE of a
# keyless table; nothing else.
is(scalar(@different), 3, 'exactly three messages differ')
  or diag(join("\n---\n", map { "ours:\n$ours_text->[$_]\ndebezium:\n$dbz_text->[$_]" } @different));
is($identical, scalar(@$ours) - 3, 'all other messages are byte-identical');

my ($inf) = grep { $ours_text->[$_] =~ /datum_string: "infinity"/ } @different;
ok(defined $inf, 'date infinity is sent as the text "infinity"');
like($dbz_text->[$inf], qr/datum_int32: -2147472692/, 'where Debezium sends an overflowed integer');
my ($upd) = grep { $ours_text->[$_] =~ /op: UPDATE/ } @different;
ok(defined $upd, 'UPDATE of a keyless table differs');
like($ours_text->[$upd], qr/new_tuple \{.*datum_string: "c"/s, 'ours carries the new row');
unlike($dbz_text->[$upd], qr/new_tuple/, 'Debezium drops the new row');

# Field-level equality of everything else, as protoc reads it.
my $same_fields = 1;
for my $i (0 .. $#$ours)
{
	next if grep { $_ == $i } @different;
	$same_fields = 0 if $ours_text->[$i] ne $dbz_text->[$i];
}
ok($same_fields, 'protoc reads every other message field for field the same');

# Our extras are parsed by protoc as the fields they are declared as.
$node->safe_psql('postgres', q{
	SELECT pg_create_logical_replication_slot('extras', 'decoderbufs');
	INSERT INTO typed (id, ttz) VALUES (30, '01:02:03-04');
	TRUNCATE nokey;
	SELECT pg_logical_emit_message(true, 'pfx', 'body');
});
my $extras = $node->safe_psql('postgres', q{
	SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('extras', NULL, NULL,
		'include-lsn', '1', 'include-xid64', '1', 'include-names', '1',
		'include-key-flags', '1', 'exact-values', '1', 'include-truncate', '1',
		'include-messages', '1')});
my $etext = join("\n", @{ decode_all([ map { pack('H*', $_) } split /\n/, $extras ]) });
like($etext, qr/schema_name: "public"\n\s*table_name: "typed"/, 'names decode');
like($etext, qr/datum_exact: "01:02:03-04"/, 'exact timetz decodes');
like($etext, qr/is_key: true/, 'key flags decode');
like($etext, qr/op: TRUNCATE\n(.*\n)*?\s*truncate \{\n\s*tables: "public.nokey"/, 'TRUNCATE decodes');
like($etext, qr/message \{\n\s*prefix: "pfx"\n\s*content: "body"\n\s*transactional: true/, 'logical message decodes');
like($etext, qr/commit_lsn: \d+\n\s*end_lsn: \d+/, 'commit LSNs decode');
like($etext, qr/xid64: \d+/, 'xid64 decodes');

# Compact, batched output is a RowBatch protoc can read.
$node->safe_psql('postgres', q{
	SELECT pg_create_logical_replication_slot('compact', 'decoderbufs');
	INSERT INTO typed (id, t) SELECT g, 'row ' || g FROM generate_series(100, 199) g;
});
my $batches = $node->safe_psql('postgres', q{
	SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes('compact', NULL, NULL,
		'compact', '1', 'batch-size', '4096')});
my @b = map { pack('H*', $_) } split /\n/, $batches;
cmp_ok(scalar(@b), '>', 1, '100 rows over a 4 kB batch size make several batches');
my $rows = 0;
for my $batch (@b)
{
	my $t = protoc_decode('RowBatch', $batch);
	$rows += () = $t =~ /^  op: INSERT$/mg;
}
is($rows, 100, 'protoc finds the 100 inserted rows in the batches');

$node->stop;
done_testing();
