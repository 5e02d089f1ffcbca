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
# A stream is an array of CopyData messages, each 'w' + three 64-bit
# header fields + a RowBatch, as the worker receives them.  Everything is
# driven by Perl's rand(): srand($seed) makes a run repeatable.
package DbufsFuzz;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(pb_varint pb_field_varint pb_field_bytes pb_field_fixed64
  copydata copydata_payload mutate_stream impossible truncations);

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
my @INTERESTING = (0, 1, 2, 3, 4, 20, 21, 22, 23, 127, 128, 255, 256,
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
		$f->{n} = pick([ $f->{n} + 1, $f->{n} - 1, 1 .. 12, 20 .. 31, 99, 536870911, 0 ]);
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

1;
