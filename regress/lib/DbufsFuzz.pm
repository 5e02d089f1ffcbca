# DbufsFuzz.pm - inputs for fuzzing the apply worker's message decoding
# (regress/t/060_fuzz.pl, `make fuzz`).
#
# A tiny protobuf wire-format reader and writer that knows which fields of
# proto/decoderbufs.proto hold sub-messages, so that messages captured from
# a real decoderbufs slot (templates) can be taken apart, mutated and put
# together again: changed varints, deleted, duplicated and renumbered
# fields, wrong wire types, length prefixes that lie, overlong varints,
# unknown fields, bad strings, rows dropped, repeated or reordered.  Raw
# byte mutations (bit flips, inserted and deleted bytes, truncation) work
# below the wire format.  impossible() builds, from the same templates, a
# catalogue of well-formed messages with impossible content: unknown type
# OIDs, wrong column counts, NULL keys, values of the wrong kind or out of
# range, invalid UTF-8, operations out of order.
#
# Streamed transactions (option stream-changes) have their own tools:
# mutate_blocks() drops, repeats, moves, cuts and renumbers whole stream
# blocks (STREAM_START to STREAM_STOP), STREAM_COMMITs and STREAM_ABORTs;
# impossible_streams() is the catalogue of stream sequences that cannot be
# (a STREAM_COMMIT or STREAM_STOP without STREAM_START, nested blocks,
# changes outside a block, aborts of unknown (sub)transactions, plain
# transactions and stream blocks inside one another, absurd xids);
# as_stream() turns plain transactions into streamed ones, so that the
# catalogue of impossible content also reaches the spool.
#
# A stream is an array of CopyData messages, each 'w' + three 64-bit
# header fields + a RowBatch, as the worker receives them.  Everything is
# driven by Perl's rand(): srand($seed) makes a run repeatable.
package DbufsFuzz;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(pb_varint pb_field_varint pb_field_bytes pb_field_fixed64
  copydata copydata_payload mutate_stream impossible truncations
  shrink_values as_stream mutate_blocks impossible_streams stream_ops stream_abort_of
  stream_commit_lsn);

# Field numbers holding sub-messages, per message type.
my %SUB = (
	RowBatch => { 1 => 'RowMessage' },
	RowMessage => {
		5 => 'DatumMessage',
		6 => 'DatumMessage',
		7 => 'TypeInfo',
		29 => 'TruncateInfo',
		30 => 'LogicalMessage',
		31 => 'RelationInfo'
	},
	DatumMessage => { 10 => 'Point' },
	RelationInfo => { 4 => 'ColumnInfo' },
	ColumnInfo => {},
	TypeInfo => {},
	TruncateInfo => {},
	LogicalMessage => {},
	Point => {},);

# Varint values worth trying: boundaries of int32, uint32, int64, uint64.
my @INTERESTING = (0, 1, 2, 3, 4, 20, 21, 22, 23, 24, 25, 26, 127, 128, 255, 256,
	32767, 32768, 65535, 2147483647, 2147483648, 4294967295, 4294967296,
	9223372036854775807, 9223372036854775808, 18446744073709551615,
	18446744073709551614, 16384, 1 << 30);

# Strings worth trying: invalid UTF-8, NUL, empty, long.
my @BAD_STRINGS = ("", "\xff\xfe", "\xc3", "a\x00b", "\xed\xa0\x80",
	"\xf4\x90\x80\x80", "x" x 70000, "\"quoted\".\"name\"", "'; DROP TABLE x; --",
	"NaN", "-infinity", "{1,2", "(1,", "\\x", "9" x 400);

# ---- writing ----

sub pb_varint
{
	my ($v) = @_;
	my $out = '';
	for (my $i = 0; $i < 10; $i++)
	{
		my $b = $v & 0x7f;
		$v >>= 7;
		if ($v) { $out .= chr($b | 0x80); }
		else { $out .= chr($b); last; }
	}
	return $out;
}

sub pb_tag { my ($n, $wt) = @_; return pb_varint(($n << 3) | $wt); }
sub pb_field_varint { my ($n, $v) = @_; return pb_tag($n, 0) . pb_varint($v); }

sub pb_field_bytes
{
	my ($n, $b) = @_;
	return pb_tag($n, 2) . pb_varint(length $b) . $b;
}

sub pb_field_fixed64 { my ($n, $d) = @_; return pb_tag($n, 1) . pack('d<', $d); }

# A CopyData message of the stream: 'w', WAL start, end, send time, payload.
sub copydata
{
	my ($payload, $lsn) = @_;
	$lsn //= 0;
	return 'w' . pack('Q>Q>Q>', $lsn, $lsn, 0) . $payload;
}

sub copydata_payload { my ($m) = @_; return substr($m, 25); }

# ---- reading ----

sub read_varint
{
	my ($buf, $pos) = @_;
	my ($v, $shift) = (0, 0);
	for (my $i = 0; $i < 10; $i++)
	{
		return undef if $$pos >= length $$buf;
		my $b = ord(substr($$buf, $$pos++, 1));
		$v |= ($b & 0x7f) << $shift if $shift < 64;
		return $v unless $b & 0x80;
		$shift += 7;
	}
	return undef;
}

# A message as a tree: { type, fields => [ { n, wt, v, sub } ] }; undef
# if it does not parse.
sub parse
{
	my ($type, $bytes) = @_;
	my @fields;
	my $pos = 0;
	while ($pos < length $bytes)
	{
		my $key = read_varint(\$bytes, \$pos);
		return undef unless defined $key;
		my ($n, $wt) = ($key >> 3, $key & 7);
		my $f = { n => $n, wt => $wt };
		if ($wt == 0)
		{
			$f->{v} = read_varint(\$bytes, \$pos);
			return undef unless defined $f->{v};
		}
		elsif ($wt == 1 || $wt == 5)
		{
			my $len = $wt == 1 ? 8 : 4;
			return undef if $pos + $len > length $bytes;
			$f->{v} = substr($bytes, $pos, $len);
			$pos += $len;
		}
		elsif ($wt == 2)
		{
			my $len = read_varint(\$bytes, \$pos);
			return undef unless defined $len && $pos + $len <= length $bytes;
			$f->{v} = substr($bytes, $pos, $len);
			$pos += $len;
			my $subtype = $type ? $SUB{$type}{$n} : undef;
			$f->{sub} = parse($subtype, $f->{v}) if $subtype;
		}
		else { return undef; }
		push @fields, $f;
	}
	return { type => $type, fields => \@fields };
}

sub encode
{
	my ($msg) = @_;
	my $out = '';
	for my $f (@{ $msg->{fields} })
	{
		my $wt = $f->{wt};
		my $tag = pb_tag($f->{n}, $wt);
		# an overlong tag: zero continuation bytes, up to 11 bytes in all
		$tag = substr($tag, 0, -1) . chr(ord(substr($tag, -1)) | 0x80) . ("\x80" x 9) . "\x00"
		  if $f->{overlong_tag};
		$out .= $tag;
		if ($wt == 0)
		{
			my $v = pb_varint($f->{v});
			$v = substr($v, 0, -1) . chr(ord(substr($v, -1)) | 0x80) . ("\x80" x 10) . "\x01"
			  if $f->{overlong};
			$out .= $v;
		}
		elsif ($wt == 2)
		{
			my $b = $f->{sub} ? encode($f->{sub}) : $f->{v};
			$out .= pb_varint(defined $f->{lie} ? $f->{lie} : length $b) . $b;
		}
		else { $out .= $f->{v}; }
	}
	return $out;
}

# Every field of a tree, with the message type holding it.
sub all_fields
{
	my ($msg, $acc) = @_;
	$acc //= [];
	for my $i (0 .. $#{ $msg->{fields} })
	{
		my $f = $msg->{fields}[$i];
		push @$acc, [ $msg, $i ];
		all_fields($f->{sub}, $acc) if $f->{sub};
	}
	return $acc;
}

sub pick { my ($list) = @_; return $list->[ int(rand(@$list)) ]; }

sub deep_copy
{
	my ($x) = @_;
	return $x unless ref $x;
	return [ map { deep_copy($_) } @$x ] if ref $x eq 'ARRAY';
	return { map { $_ => deep_copy($x->{$_}) } keys %$x };
}

sub random_bytes { my ($n) = @_; return join('', map { chr(int(rand(256))) } 1 .. $n); }

# ---- mutations of one field ----

my @FIELD_MUTATIONS = (
	# a varint to a boundary value, or any
	sub {
		my ($f) = @_;
		return 0 unless $f->{wt} == 0;
		$f->{v} = rand() < 0.8 ? pick(\@INTERESTING) : int(rand(2**32)) * int(rand(2**32));
		return 1;
	},
	# an overlong varint or tag
	sub {
		my ($f) = @_;
		if ($f->{wt} == 0 && rand() < 0.5) { $f->{overlong} = 1; }
		else { $f->{overlong_tag} = 1; }
		return 1;
	},
	# another field number: a neighbour, one of ours, or a far one
	sub {
		my ($f) = @_;
		$f->{n} = pick([ $f->{n} + 1, $f->{n} - 1, 1 .. 12, 20 .. 33, 99, 536870911, 0 ]);
		$f->{n} = 1 if $f->{n} < 0;
		return 1;
	},
	# another wire type, the bytes reinterpreted
	sub {
		my ($f) = @_;
		my $wt = pick([ 0, 1, 2, 5 ]);
		return 0 if $wt == $f->{wt};
		my $raw = $f->{sub} ? encode($f->{sub}) : ($f->{wt} == 0 ? pb_varint($f->{v}) : $f->{v});
		delete $f->{sub};
		$f->{wt} = $wt;
		if ($wt == 0) { $f->{v} = length($raw) ? ord($raw) : 0; }
		elsif ($wt == 1) { $f->{v} = substr($raw . ("\0" x 8), 0, 8); }
		elsif ($wt == 5) { $f->{v} = substr($raw . ("\0" x 4), 0, 4); }
		else { $f->{v} = $raw; }
		return 1;
	},
	# a length prefix that lies
	sub {
		my ($f) = @_;
		return 0 unless $f->{wt} == 2;
		my $len = length($f->{sub} ? encode($f->{sub}) : $f->{v});
		$f->{lie} = pick([ $len + 1, $len - 1, $len + 1000, 1 << 30, 2**31 - 1, 2**32 + $len, 0 ]);
		$f->{lie} = 0 if $f->{lie} < 0;
		return 1;
	},
	# a string or bytes value that is not what it should be
	sub {
		my ($f) = @_;
		return 0 unless $f->{wt} == 2 && !$f->{sub};
		$f->{v} = rand() < 0.7 ? pick(\@BAD_STRINGS) : random_bytes(int(rand(40)));
		return 1;
	},
	# a sub-message's bytes garbled below the wire format
	sub {
		my ($f) = @_;
		return 0 unless $f->{wt} == 2;
		my $b = $f->{sub} ? encode($f->{sub}) : $f->{v};
		delete $f->{sub};
		$f->{v} = mutate_bytes($b);
		return 1;
	},
	# a fixed-size value to NaN, infinity or garbage
	sub {
		my ($f) = @_;
		return 0 unless $f->{wt} == 1 || $f->{wt} == 5;
		my $len = $f->{wt} == 1 ? 8 : 4;
		$f->{v} = pick([ "\xff" x $len, "\0" x $len, random_bytes($len),
			$len == 8 ? pack('d<', 9**9**9) : pack('f<', -9**9**9) ]);
		return 1;
	},);

# Mutations of a message's list of fields.
my @LIST_MUTATIONS = (
	# delete a field
	sub { my ($m, $i) = @_; splice(@{ $m->{fields} }, $i, 1); },
	# repeat it (a oneof set twice, a required field twice, a row twice)
	sub { my ($m, $i) = @_; splice(@{ $m->{fields} }, $i, 0, deep_copy($m->{fields}[$i])); },
	# move it to the end (rows out of order, BEGIN after rows)
	sub { my ($m, $i) = @_; push @{ $m->{fields} }, splice(@{ $m->{fields} }, $i, 1); },
	# move it to the front
	sub { my ($m, $i) = @_; unshift @{ $m->{fields} }, splice(@{ $m->{fields} }, $i, 1); },
	# an unknown field before it
	sub {
		my ($m, $i) = @_;
		my $wt = pick([ 0, 1, 2, 5 ]);
		my $f = { n => pick([ 13, 19, 40, 1000, 536870911 ]), wt => $wt };
		$f->{v} = $wt == 0 ? pick(\@INTERESTING) : $wt == 2 ? random_bytes(int(rand(12)))
		  : random_bytes($wt == 1 ? 8 : 4);
		splice(@{ $m->{fields} }, $i, 0, $f);
	},);

# Raw byte mutations.
sub mutate_bytes
{
	my ($b) = @_;
	my $len = length $b;
	my $op = int(rand(7));
	if ($len == 0) { return random_bytes(1 + int(rand(4))); }
	my $pos = int(rand($len));
	if ($op == 0)
	{
		# flip 1 to 8 bits
		for (1 .. 1 + int(rand(8)))
		{
			my $p = int(rand($len));
			substr($b, $p, 1) = chr(ord(substr($b, $p, 1)) ^ (1 << int(rand(8))));
		}
	}
	elsif ($op == 1) { substr($b, $pos, 1) = chr(pick([ 0, 0x7f, 0x80, 0xff, int(rand(256)) ])); }
	elsif ($op == 2) { substr($b, $pos, 0) = random_bytes(1 + int(rand(8))); }
	elsif ($op == 3) { substr($b, $pos, 1 + int(rand(8))) = ''; }
	elsif ($op == 4) { $b = substr($b, 0, $pos); }
	elsif ($op == 5) { $b .= random_bytes(1 + int(rand(16))); }
	else { substr($b, $pos, 0) = pb_varint(pick(\@INTERESTING)); }
	return $b;
}

# One mutation somewhere in a RowBatch payload; returns the new payload.
sub mutate_payload
{
	my ($payload) = @_;
	my $tree = parse('RowBatch', $payload);
	return mutate_bytes($payload) if !$tree || rand() < 0.25;
	my $fields = all_fields($tree);
	return mutate_bytes($payload) unless @$fields;
	for (1 .. 1 + int(rand(2)))
	{
		$fields = all_fields($tree);
		last unless @$fields;
		my ($m, $i) = @{ pick($fields) };
		if (rand() < 0.6)
		{
			for (1 .. 4)
			{
				last if pick(\@FIELD_MUTATIONS)->($m->{fields}[$i]);
			}
		}
		else { pick(\@LIST_MUTATIONS)->($m, $i); }
	}
	return encode($tree);
}

# A mutated copy of a stream (an array of CopyData messages).
sub mutate_stream
{
	my ($stream) = @_;
	my @s = @$stream;
	my $r = rand();
	my $i = int(rand(@s));
	if ($r < 0.70)
	{
		$s[$i] = substr($s[$i], 0, 25) . mutate_payload(copydata_payload($s[$i]));
	}
	elsif ($r < 0.80)
	{
		$s[$i] = mutate_bytes($s[$i]);    # the header too
	}
	elsif ($r < 0.85) { splice(@s, $i, 1); }
	elsif ($r < 0.90) { splice(@s, $i, 0, $s[$i]); }
	elsif ($r < 0.95) { @s = reverse @s; }
	else
	{
		my $j = int(rand(@s));
		@s[ $i, $j ] = @s[ $j, $i ];
	}
	@s = ('k') unless @s;
	return \@s;
}

# Every prefix of a stream's shortest message: truncation at every length.
sub truncations
{
	my ($stream) = @_;
	my ($short) = sort { length $a <=> length $b } @$stream;
	my @out;
	for my $len (0 .. length($short) - 1)
	{
		push @out, [ map { $_ eq $short ? substr($short, 0, $len) : $_ } @$stream ];
	}
	return \@out;
}

# ---- well-formed messages with impossible content ----

# Rows of a stream as trees, in order (one stream of RowBatches).
sub stream_rows
{
	my ($stream) = @_;
	my @rows;
	for my $m (@$stream)
	{
		my $t = parse('RowBatch', copydata_payload($m));
		push @rows, map { $_->{sub} } @{ $t->{fields} } if $t;
	}
	return \@rows;
}

# A stream of one RowBatch made of row trees.
sub rows_stream
{
	my (@rows) = @_;
	my $batch = { type => 'RowBatch',
		fields => [ map { { n => 1, wt => 2, sub => $_ } } @rows ] };
	return [ copydata(encode($batch), 0x1000000) ];
}

sub get_field
{
	my ($msg, $n) = @_;
	my ($f) = grep { $_->{n} == $n } @{ $msg->{fields} };
	return $f;
}

sub set_varint
{
	my ($msg, $n, $v) = @_;
	my $f = get_field($msg, $n);
	if ($f) { $f->{v} = $v; $f->{wt} = 0; delete $f->{sub}; }
	else { push @{ $msg->{fields} }, { n => $n, wt => 0, v => $v }; }
}

sub op_of { my ($row) = @_; my $f = get_field($row, 4); return $f ? $f->{v} : -1; }

# Field numbers of the datum oneof, and a value of each kind.
my @DATUM_KINDS = (
	[ 3, 0, 0 ], [ 3, 0, 2147483647 ], [ 3, 0, 18446744071562067968 ],    # int32 (-2^31)
	[ 4, 0, 0 ], [ 4, 0, 9223372036854775807 ], [ 4, 0, 9223372036854775808 ],
	[ 4, 0, 9223372036854775806 ], [ 4, 0, 18446744073709551615 ],
	[ 4, 0, 86400000001 ], [ 4, 0, 4294967296 ],
	[ 5, 5, pack('f<', 9**9**9) ], [ 5, 5, "\xff\xff\xff\xff" ],
	[ 6, 1, pack('d<', -9**9**9) ], [ 6, 1, "\xff" x 8 ],
	[ 7, 0, 2 ], [ 8, 2, "\xff\xfe" ], [ 8, 2, "text" ], [ 8, 2, "" ],
	[ 9, 2, "\x00\x01" ], [ 9, 2, "\xc3" ], [ 10, 2, "" ],
	[ 10, 2, pb_field_fixed64(1, 1) ], [ 11, 0, 1 ],
	[ 20, 2, "\xe2\x28\xa1" ], [ 20, 2, "1e100000" ], [ 20, 2, "" ],
	[ 22, 2, "" ], [ 22, 2, "\xff" x 3 ], [ 22, 2, "\x00\x01\x00\x00\x40\x00\x00\x00" ],
	[ 22, 2, "\x7f\xff\x7f\xff\xc0\x00\x00\x00" ], [ 22, 2, random_bytes(16) ],);

sub datum_with
{
	my ($kind) = @_;
	my ($n, $wt, $v) = @$kind;
	return { type => 'DatumMessage', fields => [ { n => $n, wt => $wt, v => $v } ] };
}

# Type OIDs a RELATION may claim for a column: none, not a type, another
# built-in type, pseudo-types, a user type's range, the largest.
my @TYPE_OIDS = (0, 1, 5, 16, 17, 18, 20, 21, 23, 25, 26, 114, 142, 600,
	700, 701, 705, 790, 1042, 1082, 1083, 1114, 1184, 1186, 1266, 1560, 1700,
	2249, 2275, 2276, 2277, 2283, 3500, 3802, 3904, 4089, 10000, 16384,
	99999, 4294967295);

# The catalogue: a list of [name, stream], built from a template stream
# that describes its relations and applies cleanly.
sub impossible
{
	my ($stream) = @_;
	my $rows = stream_rows($stream);
	my @out;
	# each relation's first description (a later one would undo a change)
	my %seen;
	my @rel = grep {
		my $info = op_of($_) == 22 ? get_field($_, 31) : undef;
		$info && $info->{sub} && !$seen{ get_field($info->{sub}, 1)->{v} }++
	} @$rows;
	my @data = grep { my $o = op_of($_); $o >= 0 && $o <= 2 } @$rows;
	my ($begin) = grep { op_of($_) == 3 } @$rows;
	my ($commit) = grep { op_of($_) == 4 } @$rows;
	return \@out unless @rel && @data && $begin && $commit;

	my $txn = sub { rows_stream(map { deep_copy($_) } @rel, $begin, @_, $commit) };

	# ops out of order
	push @out, [ 'commit without begin', rows_stream(deep_copy($commit)) ];
	push @out, [ 'row before begin', rows_stream(@rel, $data[0], $begin, $commit) ];
	push @out, [ 'nested begin', rows_stream(@rel, $begin, $data[0], $begin, $data[0], $commit) ];
	push @out, [ 'no commit', rows_stream(@rel, $begin, @data) ];
	push @out, [ 'two commits', rows_stream(@rel, $begin, @data, $commit, $commit) ];
	push @out, [ 'row without relation', rows_stream($begin, @data, $commit) ];
	push @out, [ 'relation inside the transaction', rows_stream($begin, @rel, @data, $commit) ];
	for my $op (-1, 5, 19, 23, 24, 2147483647, 4294967295)
	{
		my $r = deep_copy($data[0]);
		set_varint($r, 4, $op < 0 ? 18446744073709551615 : $op);
		push @out, [ "unknown op $op", $txn->($r) ];
	}
	for my $op (20, 21, 22)
	{
		# TRUNCATE, MESSAGE, RELATION without their payload
		my $r = { type => 'RowMessage', fields => [ { n => 4, wt => 0, v => $op } ] };
		push @out, [ "op $op without its payload", $txn->($r) ];
	}
	{
		my $t = { type => 'RowMessage', fields => [ { n => 4, wt => 0, v => 20 },
			{ n => 29, wt => 2, v => pb_field_varint(2, 424242) . pb_field_varint(3, 1)
				  . pb_field_varint(4, 1) } ] };
		push @out, [ 'truncate of an undescribed relation', $txn->($t) ];
		my $hb = { type => 'RowMessage', fields => [ { n => 4, wt => 0, v => 21 },
			{ n => 30, wt => 2, v => pb_field_bytes(1, 'decoderbufs_apply_heartbeat')
				  . pb_field_bytes(2, "\xff" x 3) . pb_field_varint(3, 0) } ] };
		push @out, [ 'heartbeat with garbage', rows_stream($hb) ];
	}

	# a relation that loses its last columns in the middle of a transaction
	# (ALTER TABLE ... DROP COLUMN on the source): then a shorter row
	for my $r (0 .. $#rel)
	{
		my $oid = get_field(get_field($rel[$r], 31)->{sub}, 1)->{v};
		my ($row) = grep { op_of($_) == 0 && get_field($_, 22) && get_field($_, 22)->{v} == $oid } @data;
		next unless $row;
		my @steps;
		for my $drop (1, 2)
		{
			my $shrunk = deep_copy($rel[$r]);
			my $info = get_field($shrunk, 31)->{sub};
			for (1 .. $drop)
			{
				my ($last) = grep { $info->{fields}[$_]{n} == 4 } reverse 0 .. $#{ $info->{fields} };
				splice(@{ $info->{fields} }, $last, 1) if defined $last;
			}
			my $short = deep_copy($row);
			for (1 .. $drop)
			{
				my ($last) = grep { $short->{fields}[$_]{n} == 5 } reverse 0 .. $#{ $short->{fields} };
				splice(@{ $short->{fields} }, $last, 1) if defined $last;
			}
			push @out, [ "relation $r loses $drop columns inside the transaction",
				rows_stream(@rel, $begin, $row, $shrunk, $short, $commit) ];
			push @steps, $shrunk, $short;
		}
		push @out, [ "relation $r loses 1, then 2 columns inside the transaction",
			rows_stream(@rel, $begin, $row, @steps, $commit) ];
	}

	# relations that cannot be
	for my $r (0 .. $#rel)
	{
		my $info = get_field($rel[$r], 31)->{sub};
		my @cols = grep { $_->{n} == 4 } @{ $info->{fields} };
		my $with = sub {
			my ($name, $change) = @_;
			my @copy = map { deep_copy($_) } @rel;
			$change->(get_field($copy[$r], 31)->{sub});
			push @out, [ "relation $r: $name", rows_stream(@copy, $begin, @data, $commit) ];
		};
		$with->('no columns', sub { $_[0]{fields} = [ grep { $_->{n} != 4 } @{ $_[0]{fields} } ] });
		$with->('2000 columns', sub {
			my @c = grep { $_->{n} == 4 } @{ $_[0]{fields} };
			for my $k (1 .. 2000)
			{
				my $c = deep_copy($c[ $k % @c ]);
				get_field($c->{sub}, 1)->{v} = "c$k";
				push @{ $_[0]{fields} }, $c;
			}
		});
		$with->('columns twice', sub { push @{ $_[0]{fields} }, map { deep_copy($_) } @cols });
		$with->('one column dropped', sub {
			my $seen = 0;
			$_[0]{fields} = [ grep { $_->{n} != 4 || $seen++ != 1 } @{ $_[0]{fields} } ];
		});
		$with->('no key', sub {
			set_varint($_->{sub}, 5, 0) for grep { $_->{n} == 4 } @{ $_[0]{fields} };
		});
		$with->('every column a key', sub {
			set_varint($_->{sub}, 5, 1) for grep { $_->{n} == 4 } @{ $_[0]{fields} };
		});
		for my $ri ('', 'x', 'nothing', "\xff")
		{
			$with->("replica identity '$ri'", sub { get_field($_[0], 5)->{v} = $ri });
		}
		for my $name ('', 'x' x 1000, "\xff\xfe", 'decoderbufs_apply')
		{
			$with->('schema ' . substr($name, 0, 20), sub { get_field($_[0], 2)->{v} = $name });
			$with->('table ' . substr($name, 0, 20), sub { get_field($_[0], 3)->{v} = $name });
		}
		for my $c (0 .. $#cols)
		{
			for my $oid (@TYPE_OIDS)
			{
				$with->("column $c type $oid", sub {
					my @cc = grep { $_->{n} == 4 } @{ $_[0]{fields} };
					set_varint($cc[$c]{sub}, 2, $oid);
				});
			}
			for my $typmod (18446744073709551615, 2147483647, 5)
			{
				$with->("column $c typmod $typmod", sub {
					my @cc = grep { $_->{n} == 4 } @{ $_[0]{fields} };
					set_varint($cc[$c]{sub}, 3, $typmod);
				});
			}
			$with->("column $c bad name", sub {
				my @cc = grep { $_->{n} == 4 } @{ $_[0]{fields} };
				get_field($cc[$c]{sub}, 1)->{v} = pick([ '', "\xff", 'nosuch', 'x' x 200 ]);
			});
		}
	}

	# rows that cannot be
	for my $d (0 .. $#data)
	{
		my $row = $data[$d];
		for my $tuple (5, 6)
		{
			my @idx = grep { $row->{fields}[$_]{n} == $tuple } 0 .. $#{ $row->{fields} };
			next unless @idx;
			my $with = sub {
				my ($name, $change) = @_;
				my $copy = deep_copy($row);
				$change->($copy);
				push @out, [ "row $d tuple $tuple: $name", $txn->($copy) ];
			};
			$with->('no values', sub { $_[0]{fields} = [ grep { $_->{n} != $tuple } @{ $_[0]{fields} } ] });
			$with->('one value less', sub { splice(@{ $_[0]{fields} }, $idx[-1], 1) });
			$with->('one value more', sub { splice(@{ $_[0]{fields} }, $idx[-1], 0, deep_copy($_[0]{fields}[ $idx[-1] ])) });
			for my $k (0 .. $#idx)
			{
				$with->("value $k NULL", sub { $_[0]{fields}[ $idx[$k] ]{sub} = { type => 'DatumMessage', fields => [] } });
				for my $kind (@DATUM_KINDS)
				{
					$with->("value $k as field $kind->[0]", sub {
						$_[0]{fields}[ $idx[$k] ]{sub} = datum_with($kind);
					});
				}
			}
		}
		# UPDATE and DELETE without their old tuple
		if (op_of($row) == 1 || op_of($row) == 2)
		{
			my $copy = deep_copy($row);
			$copy->{fields} = [ grep { $_->{n} != 6 } @{ $copy->{fields} } ];
			push @out, [ "row $d without old tuple", $txn->($copy) ];
		}
		# the change as another operation
		for my $op (0, 1, 2)
		{
			next if $op == op_of($row);
			my $copy = deep_copy($row);
			set_varint($copy, 4, $op);
			push @out, [ "row $d as op $op", $txn->($copy) ];
		}
	}

	# keepalives and headers
	push @out, [ 'empty message', [ '' ] ];
	push @out, [ 'short keepalive', [ 'k' . ("\0" x 16) ] ];
	push @out, [ 'keepalive', [ 'k' . ("\0" x 17) ] ];
	push @out, [ 'header only', [ 'w' . ("\0" x 24) ] ];
	push @out, [ 'short header', [ 'w' . ("\0" x 23) ] ];
	push @out, [ 'unknown message type', [ 'x' . ("\0" x 40) ] ];
	push @out, [ 'huge LSNs', [ map { 'w' . ("\xff" x 24) . copydata_payload($_) } @$stream ] ];
	return \@out;
}

# ---- streamed transactions ----

# The ops of the stream protocol, and plain BEGIN and COMMIT.
my ($OP_BEGIN, $OP_COMMIT) = (3, 4);
my ($OP_START, $OP_STOP, $OP_SCOMMIT, $OP_SABORT) = (23, 24, 25, 26);

# Transaction ids worth trying: invalid, bootstrap, frozen, the first
# normal one, the wraparound boundary, the largest, beyond 32 bits.
my @ABSURD_XIDS = (0, 1, 2, 3, 2147483647, 2147483648, 4294967295,
	4294967296 + 5, 18446744073709551615);

sub varint_of
{
	my ($row, $n) = @_;
	my $f = get_field($row, $n);
	return $f && $f->{wt} == 0 ? $f->{v} : undef;
}

sub delete_field
{
	my ($msg, $n) = @_;
	$msg->{fields} = [ grep { $_->{n} != $n } @{ $msg->{fields} } ];
}

sub control_row
{
	my ($op, @fields) = @_;
	my $row = { type => 'RowMessage', fields => [] };
	for (my $i = 0; $i < @fields; $i += 2)
	{
		push @{ $row->{fields} }, { n => $fields[$i], wt => 0, v => $fields[ $i + 1 ] };
	}
	set_varint($row, 4, $op);
	return $row;
}

sub start_row { my ($xid, $first) = @_; return control_row($OP_START, 1, $xid, 32, $first ? 1 : 0); }
sub stop_row { my ($xid) = @_; return control_row($OP_STOP, 1, $xid); }
sub abort_row { my ($xid, $sub) = @_; return control_row($OP_SABORT, 1, $xid, 33, $sub); }

# A copy of a change in subtransaction $sub (none if undef).
sub in_subxact
{
	my ($row, $sub) = @_;
	my $copy = deep_copy($row);
	if (defined $sub) { set_varint($copy, 33, $sub); }
	else { delete_field($copy, 33); }
	return $copy;
}

# A copy of a change whose first value (the key of fz_src.stream) is $k.
sub with_key
{
	my ($row, $k) = @_;
	my $copy = deep_copy($row);
	my ($d) = grep { $_->{n} == 5 && $_->{sub} } @{ $copy->{fields} };
	$d->{sub}{fields} = [ { n => 3, wt => 0, v => $k } ] if $d;
	return $copy;
}

# A stream whose text values longer than $max bytes are cut to $max: the
# source needs big rows to stream a transaction with few of them (past
# logical_decoding_work_mem), the fuzzer only their structure.
sub shrink_values
{
	my ($stream, $max) = @_;
	my @out;
	for my $m (@$stream)
	{
		my $t = parse('RowBatch', copydata_payload($m));
		if (!$t) { push @out, $m; next; }
		for my $row (map { $_->{sub} } @{ $t->{fields} })
		{
			next unless $row;
			for my $d (grep { ($_->{n} == 5 || $_->{n} == 6) && $_->{sub} } @{ $row->{fields} })
			{
				for my $f (@{ $d->{sub}{fields} })
				{
					$f->{v} = substr($f->{v}, 0, $max)
					  if $f->{n} == 8 && $f->{wt} == 2 && length($f->{v}) > $max;
				}
			}
		}
		push @out, substr($m, 0, 25) . encode($t);
	}
	return \@out;
}

# The rows of a stream, each parsed at its top level only (its values and
# relation description stay bytes): what stream-level changes need, at a
# fraction of the cost of a whole parse.  Undef if a message is not a
# RowBatch of RowMessages.
sub shallow_rows
{
	my ($stream) = @_;
	my @rows;
	for my $m (@$stream)
	{
		return undef unless length($m) > 25 && substr($m, 0, 1) eq 'w';
		my $batch = parse(undef, copydata_payload($m)) or return undef;
		for my $f (@{ $batch->{fields} })
		{
			return undef unless $f->{n} == 1 && $f->{wt} == 2;
			my $row = parse(undef, $f->{v}) or return undef;
			push @rows, $row;
		}
	}
	return \@rows;
}

# A stream whose plain transactions are streamed ones: BEGIN becomes a first
# STREAM_START, the changes in between carry the transaction as their
# subtransaction, COMMIT becomes STREAM_STOP and a STREAM_COMMIT with the
# COMMIT's fields.  Undef if a message does not parse.
sub as_stream
{
	my ($stream) = @_;
	my @out;
	my $xid;
	my $rows = shallow_rows($stream) or return undef;
	for my $row (@$rows)
	{
		my $op = op_of($row);
		if ($op == $OP_BEGIN && !defined $xid)
		{
			$xid = varint_of($row, 1) // 0;
			push @out, start_row($xid, 1);
		}
		elsif ($op == $OP_COMMIT && defined $xid)
		{
			push @out, stop_row($xid);
			set_varint($row, 4, $OP_SCOMMIT);
			set_varint($row, 1, $xid) unless defined varint_of($row, 1);
			push @out, $row;
			undef $xid;
		}
		else
		{
			set_varint($row, 33, $xid) if defined $xid && $op != 22;
			push @out, $row;
		}
	}
	return rows_stream(@out);
}

# The rows of a stream in the units a stream-level mutation moves whole: a
# stream block (STREAM_START to STREAM_STOP), a plain transaction (BEGIN to
# COMMIT), or one message.
sub stream_units
{
	my ($rows) = @_;
	my (@units, $cur, $end);
	for my $row (@$rows)
	{
		my $op = op_of($row);
		if (!$cur)
		{
			if ($op == $OP_START || $op == $OP_BEGIN)
			{
				$cur = [$row];
				$end = $op == $OP_START ? $OP_STOP : $OP_COMMIT;
			}
			else { push @units, [$row]; }
			next;
		}
		push @$cur, $row;
		if ($op == $end) { push @units, $cur; undef $cur; }
	}
	push @units, $cur if $cur;
	return \@units;
}

# The ops of a stream's messages, in order, as 'op' or 'op:xid' for the
# ops of the stream protocol.
sub stream_ops
{
	my ($stream) = @_;
	return [ map {
		my $op = op_of($_);
		$op >= $OP_START ? "$op:" . (varint_of($_, 1) // '') : $op
	} @{ stream_rows($stream) } ];
}

# The STREAM_ABORT of the whole transaction whose blocks $blocks holds:
# the first STREAM_ABORT of $model, naming the transaction as its own
# subtransaction (as the plugin does), as a CopyData message.
sub stream_abort_of
{
	my ($model, $blocks) = @_;
	my ($abort) = grep { op_of($_) == $OP_SABORT } @{ stream_rows($model) };
	my ($start) = grep { op_of($_) == $OP_START } @{ stream_rows($blocks) };
	die "no STREAM_ABORT to model on, or no block" unless $abort && $start;
	my $xid = varint_of($start, 1);
	$abort = deep_copy($abort);
	set_varint($abort, $_, $xid) for 1, 26, 33;
	return rows_stream($abort)->[0];
}

# The commit LSN of a stream's first STREAM_COMMIT, as a pg_lsn literal.
sub stream_commit_lsn
{
	my ($stream) = @_;
	my ($commit) = grep { op_of($_) == $OP_SCOMMIT } @{ stream_rows($stream) };
	my $lsn = $commit ? varint_of($commit, 24) : undef;
	return defined $lsn ? sprintf('%X/%X', $lsn >> 32, $lsn & 0xffffffff) : undef;
}

# Each unit one CopyData message.
sub units_stream
{
	my ($units) = @_;
	return [ map { @{ rows_stream(@$_) } } grep { @$_ } @$units ];
}

sub is_block { my ($u) = @_; return op_of($u->[0]) == $OP_START; }

# The transaction ids and subtransaction ids a stream's rows name.
sub stream_xids
{
	my ($units) = @_;
	my %x;
	for my $row (map { @$_ } @$units)
	{
		for my $n (1, 33)
		{
			my $v = varint_of($row, $n);
			$x{$v} = 1 if defined $v;
		}
	}
	return [ sort { $a <=> $b } keys %x ];
}

# An xid for a mutation: one of the stream's, one near it, or an absurd one.
sub some_xid
{
	my ($xids) = @_;
	my $r = rand();
	return pick($xids) if @$xids && $r < 0.5;
	return pick($xids) + pick([ 1, -1, 1000 ]) if @$xids && $r < 0.7;
	return pick(\@ABSURD_XIDS);
}

# Mutations of a stream's list of units; each returns whether it did one.
my @BLOCK_MUTATIONS = (
	# drop a unit: a block, a STREAM_COMMIT, a STREAM_ABORT, a transaction
	sub { my ($u) = @_; splice(@$u, int(rand(@$u)), 1); return 1; },
	# repeat one, right after it or at the end
	sub {
		my ($u) = @_;
		my $i = int(rand(@$u));
		splice(@$u, rand() < 0.5 ? $i : scalar(@$u), 0, deep_copy($u->[$i]));
		return 1;
	},
	# swap two, or move one to the front or to the end
	sub {
		my ($u) = @_;
		my ($i, $j) = (int(rand(@$u)), int(rand(@$u)));
		@$u[ $i, $j ] = @$u[ $j, $i ];
		return 1;
	},
	sub { my ($u) = @_; unshift @$u, splice(@$u, int(rand(@$u)), 1); return 1; },
	sub { my ($u) = @_; push @$u, splice(@$u, int(rand(@$u)), 1); return 1; },
	# a block loses its STREAM_START or its STREAM_STOP
	sub {
		my ($u) = @_;
		my @b = grep { is_block($_) } @$u or return 0;
		my $b = pick(\@b);
		splice(@$b, rand() < 0.5 ? 0 : $#$b, 1);
		return 1;
	},
	# a block cut in two: a STREAM_STOP and a STREAM_START in the middle
	sub {
		my ($u) = @_;
		my @b = grep { is_block($_) && @$_ > 3 } @$u or return 0;
		my $b = pick(\@b);
		my $xid = varint_of($b->[0], 1) // 0;
		splice(@$b, 1 + int(rand(@$b - 2)), 0, stop_row($xid), start_row($xid, rand() < 0.2));
		return 1;
	},
	# stream_first turned on or off, or gone
	sub {
		my ($u) = @_;
		my @b = grep { is_block($_) } @$u or return 0;
		my $start = pick(\@b)->[0];
		if (rand() < 0.2) { delete_field($start, 32); }
		else { set_varint($start, 32, (varint_of($start, 32) // 0) ? 0 : 1); }
		return 1;
	},
	# a block's changes in another subtransaction, or in none
	sub {
		my ($u, $xids) = @_;
		my @b = grep { is_block($_) } @$u or return 0;
		my $b = pick(\@b);
		my $sub = rand() < 0.15 ? undef : some_xid($xids);
		for my $row (grep { defined varint_of($_, 33) } @$b)
		{
			next if rand() < 0.3;
			if (defined $sub) { set_varint($row, 33, $sub); }
			else { delete_field($row, 33); }
		}
		return 1;
	},
	# a unit's transaction id (in every message naming it) another one
	sub {
		my ($u, $xids) = @_;
		my $unit = pick($u);
		my $xid = some_xid($xids);
		for my $row (grep { defined varint_of($_, 1) } @$unit) { set_varint($row, 1, $xid); }
		return 1;
	},
	# a STREAM_ABORT of a subtransaction for the whole transaction, or the
	# other way round; another subtransaction
	sub {
		my ($u, $xids) = @_;
		my @a = grep { op_of($_->[0]) == $OP_SABORT } @$u or return 0;
		my $a = pick(\@a)->[0];
		my $r = rand();
		if ($r < 0.3) { delete_field($a, 33); }
		elsif ($r < 0.6) { set_varint($a, 33, varint_of($a, 1) // 0); }
		else { set_varint($a, 33, some_xid($xids)); }
		return 1;
	},
	# a control message of one kind turned into another
	sub {
		my ($u) = @_;
		my @c = grep { my $o = op_of($_->[0]); $o >= $OP_START || $o == $OP_COMMIT || $o == $OP_BEGIN } @$u
		  or return 0;
		my $unit = pick(\@c);
		my $row = rand() < 0.5 ? $unit->[0] : $unit->[-1];
		set_varint($row, 4, pick([ $OP_BEGIN, $OP_COMMIT, $OP_START, $OP_STOP, $OP_SCOMMIT, $OP_SABORT ]));
		return 1;
	},
	# a STREAM_ABORT of a subtransaction of the stream, at a random place
	sub {
		my ($u, $xids) = @_;
		my @b = grep { is_block($_) } @$u or return 0;
		my $b = pick(\@b);
		my $xid = varint_of($b->[0], 1) // 0;
		my @subs = map { varint_of($_, 33) } grep { defined varint_of($_, 33) } @$b;
		splice(@$u, int(rand(@$u + 1)), 0, [ abort_row($xid, @subs ? pick(\@subs) : $xid) ]);
		return 1;
	},);

# One to three stream-level mutations of a stream.
sub mutate_blocks
{
	my ($stream) = @_;
	my $rows = shallow_rows($stream) or return $stream;
	my $units = stream_units($rows);
	return $stream unless @$units;
	my $xids = stream_xids($units);
	for (1 .. 1 + int(rand(3)))
	{
		last unless @$units;
		for (1 .. 4)
		{
			last if pick(\@BLOCK_MUTATIONS)->($units, $xids);
		}
	}
	my $out = units_stream($units);
	return @$out ? $out : ['k' . ("\0" x 17)];
}

# The catalogue of stream sequences that cannot be: a list of [name,
# stream], from a template of streamed traffic whose first block describes
# its relations and is committed by a STREAM_COMMIT, and a template with a
# plain transaction (for its BEGIN and COMMIT).
sub impossible_streams
{
	my ($stream, $plain) = @_;
	my $rows = stream_rows($stream);
	my ($begin) = grep { op_of($_) == $OP_BEGIN } @{ stream_rows($plain) };
	my ($pcommit) = grep { op_of($_) == $OP_COMMIT } @{ stream_rows($plain) };
	my $units = stream_units($rows);
	my @out;
	my ($block) = grep { is_block($_) } @$units;
	return \@out unless $block;
	my $x = varint_of($block->[0], 1);
	# a STREAM_COMMIT of the template, or its plain COMMIT made one
	my ($commit) = grep { op_of($_) == $OP_SCOMMIT } @$rows;
	if (!$commit && $pcommit)
	{
		$commit = deep_copy($pcommit);
		set_varint($commit, 4, $OP_SCOMMIT);
	}
	my @rel = grep { op_of($_) == 22 } @$block;
	my @chg = grep { my $o = op_of($_); $o >= 0 && $o <= 2 } @$block;
	return \@out unless defined $x && $commit && @chg && $begin && $pcommit;
	my $y = $x + 1000;
	my $sub = $x + 500;

	my $scommit = sub {
		my ($xid) = @_;
		my $c = deep_copy($commit);
		set_varint($c, 1, $xid);
		return $c;
	};
	# a block of xid $xid with the relations, first or not, changes in $sub
	my $blk = sub {
		my ($xid, $first, $s, @c) = @_;
		@c = @chg unless @c;
		return (start_row($xid, $first), (map { deep_copy($_) } @rel),
			(map { in_subxact($_, $s) } @c), stop_row($xid));
	};
	my $case = sub { my ($name, @r) = @_; push @out, [ "stream: $name", rows_stream(@r) ]; };

	$case->('as captured, one block', $blk->($x, 1, $x), $scommit->($x));
	# ops out of order
	$case->('STREAM_COMMIT without STREAM_START', $scommit->($x));
	$case->('STREAM_COMMIT of another xid', $blk->($x, 1, $x), $scommit->($y));
	$case->('STREAM_COMMIT twice', $blk->($x, 1, $x), $scommit->($x), $scommit->($x));
	$case->('STREAM_COMMIT inside the block', start_row($x, 1), @rel, in_subxact($chg[0], $x),
		$scommit->($x), stop_row($x));
	$case->('STREAM_STOP without STREAM_START', stop_row($x));
	$case->('STREAM_STOP twice', $blk->($x, 1, $x), stop_row($x), $scommit->($x));
	$case->('nested STREAM_START', start_row($x, 1), start_row($x, 0), @rel,
		in_subxact($chg[0], $x), stop_row($x), stop_row($x), $scommit->($x));
	$case->('nested STREAM_START of another xid', start_row($x, 1), @rel, in_subxact($chg[0], $x),
		$blk->($y, 1, $y), stop_row($x), $scommit->($y), $scommit->($x));
	$case->('no STREAM_STOP, then the commit', start_row($x, 1), @rel,
		map({ in_subxact($_, $x) } @chg), $scommit->($x));
	$case->('no STREAM_STOP at the end', start_row($x, 1), @rel, map { in_subxact($_, $x) } @chg);
	$case->('changes outside a block', $blk->($x, 1, $x), in_subxact($chg[0], $x), $scommit->($x));
	$case->('changes outside a block, before it', @rel, in_subxact($chg[0], $x), $blk->($x, 1, $x),
		$scommit->($x));
	$case->('a streamed change without its subtransaction', $blk->($x, 1, undef), $scommit->($x));
	$case->('continued without stream_first', $blk->($x, 0, $x), $scommit->($x));
	$case->('stream_first missing', do { my @b = $blk->($x, 1, $x); delete_field($b[0], 32); @b },
		$scommit->($x));
	$case->('continued after its STREAM_COMMIT', $blk->($x, 1, $x), $scommit->($x), $blk->($x, 0, $x));
	$case->('continued after its STREAM_ABORT', $blk->($x, 1, $x), abort_row($x, $x),
		$blk->($x, 0, $x), $scommit->($x));
	$case->('stream_first on a known xid', $blk->($x, 1, $x), $blk->($x, 1, $sub), $scommit->($x));
	$case->('stream_first on a known xid after a subtransaction abort', $blk->($x, 1, $sub),
		abort_row($x, $sub), $blk->($x, 1, $sub), $scommit->($x));
	$case->('restarted after its STREAM_ABORT', $blk->($x, 1, $x), abort_row($x, $x),
		$blk->($x, 1, $x), $scommit->($x));
	$case->('STREAM_START without a transaction id',
		do { my @b = $blk->($x, 1, $x); delete_field($b[0], 1); @b }, $scommit->($x));
	$case->('STREAM_COMMIT without a transaction id', $blk->($x, 1, $x),
		do { my $c = $scommit->($x); delete_field($c, 1); $c });
	$case->('STREAM_COMMIT with absurd LSNs and time', $blk->($x, 1, $x),
		do { my $c = $scommit->($x); set_varint($c, $_, 18446744073709551615) for 2, 24, 25; $c });
	$case->('STREAM_COMMIT with no LSNs and time', $blk->($x, 1, $x),
		do { my $c = $scommit->($x); delete_field($c, $_) for 2, 24, 25; $c });
	$case->('an empty block', start_row($x, 1), stop_row($x), $scommit->($x));
	$case->('an empty block, then changes', start_row($x, 1), stop_row($x), $blk->($x, 0, $x),
		$scommit->($x));

	# aborts
	$case->('STREAM_ABORT of an unknown xid', abort_row($y, $y));
	$case->('STREAM_ABORT of a subtransaction of an unknown xid', abort_row($y, $sub));
	$case->('STREAM_ABORT of an unknown subtransaction', $blk->($x, 1, $x), abort_row($x, $sub),
		$scommit->($x));
	$case->('STREAM_ABORT with subxact_id == xid', $blk->($x, 1, $sub), abort_row($x, $x),
		$scommit->($x));
	$case->('STREAM_ABORT without subxact_id', $blk->($x, 1, $x),
		do { my $a = abort_row($x, $x); delete_field($a, 33); $a }, $scommit->($x));
	$case->('STREAM_ABORT without a transaction id', $blk->($x, 1, $x),
		do { my $a = abort_row($x, $x); delete_field($a, 1); $a }, $scommit->($x));
	$case->('STREAM_ABORT inside the block', start_row($x, 1), @rel, in_subxact($chg[0], $sub),
		abort_row($x, $sub), stop_row($x), $scommit->($x));
	$case->('STREAM_ABORT of a subtransaction twice', $blk->($x, 1, $sub), abort_row($x, $sub),
		abort_row($x, $sub), $scommit->($x));
	$case->('STREAM_ABORT of the transaction twice', $blk->($x, 1, $x), abort_row($x, $x),
		abort_row($x, $x));
	$case->('subtransaction aborted, then changes in it again', $blk->($x, 1, $sub),
		abort_row($x, $sub), $blk->($x, 0, $sub), $scommit->($x));
	$case->('subtransaction of another transaction aborted', $blk->($x, 1, $sub),
		$blk->($y, 1, $sub), abort_row($y, $sub), $scommit->($x), $scommit->($y));
	$case->('subtransaction id of another top-level transaction', $blk->($x, 1, $y),
		$blk->($y, 1, $x), abort_row($x, $y), $scommit->($y), $scommit->($x));
	$case->('earlier subtransaction aborted after a later one was continued',
		start_row($x, 1), @rel, in_subxact($chg[0], $sub), in_subxact($chg[-1], $sub + 1),
		stop_row($x), $blk->($x, 0, $sub), abort_row($x, $sub + 1), abort_row($x, $sub),
		$scommit->($x));

	# plain transactions and stream blocks inside one another
	$case->('plain COMMIT inside a stream block', start_row($x, 1), @rel, in_subxact($chg[0], $x),
		deep_copy($pcommit), stop_row($x), $scommit->($x));
	$case->('plain BEGIN inside a stream block', start_row($x, 1), @rel, deep_copy($begin),
		in_subxact($chg[0], $x), stop_row($x), $scommit->($x));
	$case->('plain transaction inside a stream block', start_row($x, 1), @rel, deep_copy($begin),
		in_subxact($chg[0], undef), deep_copy($pcommit), stop_row($x), $scommit->($x));
	$case->('stream block inside a plain transaction', deep_copy($begin), $blk->($x, 1, $x),
		deep_copy($pcommit), $scommit->($x));
	$case->('STREAM_COMMIT inside a plain transaction', $blk->($x, 1, $x), deep_copy($begin),
		$scommit->($x), deep_copy($pcommit));
	$case->('STREAM_ABORT inside a plain transaction', $blk->($x, 1, $x), deep_copy($begin),
		abort_row($x, $x), deep_copy($pcommit));
	$case->('STREAM_STOP inside a plain transaction', deep_copy($begin), stop_row($x),
		deep_copy($pcommit));
	$case->('plain rows of the streamed xid between its blocks', $blk->($x, 1, $x),
		deep_copy($begin), in_subxact($chg[0], $x), deep_copy($pcommit), $blk->($x, 0, $x),
		$scommit->($x));

	# absurd transaction and subtransaction ids
	for my $a (@ABSURD_XIDS)
	{
		$case->("xid $a", $blk->($a, 1, $a), $scommit->($a));
		$case->("subxact_id $a", $blk->($x, 1, $a), abort_row($x, $a), $blk->($x, 0, $a),
			$scommit->($x));
		$case->("STREAM_ABORT of xid $a", $blk->($x, 1, $x), abort_row($a, $x), $scommit->($x));
	}

	# many subtransactions (past the spool's hash threshold), one aborted
	# halfway with everything after it, then changes again, some in ids
	# aborted before; and many blocks
	my ($keyed) = grep { my $d = get_field($_, 5); $d && $d->{sub} && get_field($d->{sub}, 3) } @chg;
	if ($keyed)
	{
		my @many = map { in_subxact(with_key($keyed, 100000 + $_), $sub + $_) } 1 .. 100;
		$case->('100 subtransactions, the 40th aborted', start_row($x, 1), @rel, @many[ 0 .. 59 ],
			stop_row($x), abort_row($x, $sub + 40), start_row($x, 0), @many[ 60 .. 99 ],
			in_subxact(with_key($keyed, 200000), $sub + 45), stop_row($x),
			abort_row($x, $sub + 2), abort_row($x, $sub + 90), $scommit->($x));
		$case->('1200 changes, applied with feedback between', start_row($x, 1), @rel,
			(map { in_subxact(with_key($keyed, 300000 + $_), $x) } 1 .. 1200), stop_row($x),
			$scommit->($x));
		$case->('100 blocks', start_row($x, 1), @rel, stop_row($x),
			(map { (start_row($x, 0), $_, stop_row($x)) } @many), $scommit->($x));
		$case->('100 transactions open at once',
			(map { (start_row($x + $_, 1), @rel, in_subxact(with_key($keyed, 100000 + $_), $x + $_),
				stop_row($x + $_)) } 1 .. 100),
			(map { $_ % 2 ? $scommit->($x + $_) : abort_row($x + $_, $x + $_) } reverse 1 .. 100));
		$case->('the same key in two subtransactions, the first aborted',
			start_row($x, 1), @rel, in_subxact($keyed, $sub), in_subxact($keyed, $sub + 1),
			stop_row($x), abort_row($x, $sub), $scommit->($x));
		$case->('the same key in two subtransactions, the second aborted',
			start_row($x, 1), @rel, in_subxact($keyed, $sub), in_subxact($keyed, $sub + 1),
			stop_row($x), abort_row($x, $sub + 1), $scommit->($x));
	}

	# other messages inside a block
	my $msg = { type => 'RowMessage', fields => [ { n => 4, wt => 0, v => 21 },
		{ n => 30, wt => 2, v => pb_field_bytes(1, 'fz') . pb_field_bytes(2, 'x')
			  . pb_field_varint(3, 1) } ] };
	my $hb = { type => 'RowMessage', fields => [ { n => 4, wt => 0, v => 21 },
		{ n => 30, wt => 2, v => pb_field_bytes(1, 'decoderbufs_apply_heartbeat')
			  . pb_field_bytes(2, "\xff" x 3) . pb_field_varint(3, 0) } ] };
	my $trunc = { type => 'RowMessage', fields => [ { n => 4, wt => 0, v => 20 },
		{ n => 29, wt => 2, v => pb_field_varint(2, 424242) . pb_field_varint(3, 1)
			  . pb_field_varint(4, 1) } ] };
	$case->('transactional message without subtransaction', start_row($x, 1), @rel,
		deep_copy($msg), stop_row($x), $scommit->($x));
	$case->('transactional message in a subtransaction', start_row($x, 1), @rel,
		in_subxact($msg, $sub), stop_row($x), $scommit->($x));
	$case->('heartbeat in a block', start_row($x, 1), @rel, in_subxact($hb, $x), deep_copy($hb),
		stop_row($x), $scommit->($x));
	$case->('TRUNCATE of an undescribed relation in a block', $blk->($x, 1, $x),
		start_row($x, 0), in_subxact($trunc, $x), stop_row($x), $scommit->($x));
	$case->('TRUNCATE without its subtransaction', $blk->($x, 1, $x), start_row($x, 0),
		deep_copy($trunc), stop_row($x), $scommit->($x));
	$case->('unknown op in a block', start_row($x, 1), @rel,
		do { my $r = in_subxact($chg[0], $x); set_varint($r, 4, 19); $r }, stop_row($x), $scommit->($x));

	# relations described in a block
	if (@rel)
	{
		my $shrunk = deep_copy($rel[0]);
		my $info = get_field($shrunk, 31)->{sub};
		my ($last) = grep { $info->{fields}[$_]{n} == 4 } reverse 0 .. $#{ $info->{fields} };
		splice(@{ $info->{fields} }, $last, 1) if defined $last;
		$case->('relation loses a column in the block, rows after it spooled before',
			start_row($x, 1), @rel, map({ in_subxact($_, $x) } @chg), $shrunk, stop_row($x),
			$scommit->($x));
		$case->('relation loses a column in an aborted transaction, plain rows after',
			start_row($x, 1), @rel, $shrunk, stop_row($x), abort_row($x, $x), deep_copy($begin),
			map({ in_subxact($_, undef) } @chg), deep_copy($pcommit));
		$case->('relation described only in an aborted transaction', start_row($x, 1), @rel,
			stop_row($x), abort_row($x, $x), deep_copy($begin),
			map({ in_subxact($_, undef) } @chg), deep_copy($pcommit));
		$case->('block without its relation', start_row($x, 1), map({ in_subxact($_, $x) } @chg),
			stop_row($x), $scommit->($x));
	}
	return \@out;
}

1;
