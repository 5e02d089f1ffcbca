#!/usr/bin/perl
# regress/sanitizer_scan.pl - after a test run under a memory checker
# (`make check-asan`, `make check-valgrind`), find every report it wrote,
# so that none can pass silently.  regress/run_checks.sh runs it when
# DBUFS_SANITIZER is set and counts it as one more check.
#
#   regress/sanitizer_scan.pl asan|valgrind OUTPUT_DIR
#
# Looks at:
# - OUTPUT_DIR/sanitizer: where the wrapped servers write (see
#   tools/sanitizer_postgres.sh).  There must be a server.PID file (a
#   server started by the wrapper), or nothing was checked.
#   asan: every asan.PID and ubsan.PID file is a report.
#   valgrind: every error between the markers of a valgrind.PID.log that
#   happened in our code, or on memory our code allocated or freed, is a
#   report (see valgrind_error_is_ours); the other errors, in the server
#   alone and not suppressed by tools/valgrind.supp, are listed but do not
#   fail the run.
# - the server logs (pg_regress's log/ and the TAP tests' tmp_check/log/):
#   sanitizer output that missed its file, and any server process that died
#   of SIGABRT, SIGSEGV, SIGBUS or SIGILL.
#
# Prints the reports (each cut to 80 lines) and a summary line; exits 1 when
# there is any.
use strict;
use warnings;
use File::Find;

my ($mode, $out) = @ARGV;
die "usage: $0 asan|valgrind OUTPUT_DIR\n"
  unless defined $out && $mode =~ /^(asan|valgrind)$/;

my $ours = qr{/(?:decoderbufs|apply_ext)/src/|/common/dbufs_|/gen/decoderbufs\.pb-c\.|decoderbufs(?:_apply)?\.so};
my @reports;      # [ where, text ]
my @foreign;      # valgrind errors outside our code
my $files = 0;
my $servers = 0;  # server.PID: a server the wrapper started

# Paths as seen under the output directory (run_checks.sh copies it back
# to REGRESS_OUT when it ran the tests as the postgres user).
sub rel
{
	my ($path) = @_;
	$path =~ s{^\Q$out\E/}{};
	return $path;
}

sub report
{
	my ($where, $text) = @_;
	$where = rel($where);
	my @lines = split /\n/, $text;
	splice(@lines, 80, @lines - 80, "... (cut; the whole report is in $where)")
	  if @lines > 80;
	push @reports, [ $where, join("\n", @lines) ];
}

sub slurp
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "cannot read $path: $!\n";
	local $/;
	my $text = <$fh>;
	return $text // '';
}

# Is a valgrind error ours?  Each of its stacks (where it happened; where
# the memory was allocated or freed; where an uninitialised value came from)
# is looked at from the innermost frame, skipping the libraries (libc,
# libpq, protobuf-c ...): it is ours when one of the first frames in the
# server or in our modules is in our modules.  Only the first few count: the
# bottom of every stack of our background workers is our code too.
sub valgrind_error_is_ours
{
	my ($block) = @_;
	my $app = 0;

	for my $line (split /\n/, $block)
	{
		if ($line !~ /^==\d+==\s+(?:at|by) 0x/)
		{
			$app = 0;    # the next stack starts
			next;
		}
		if ($line =~ $ours)
		{
			return 1 if $app < 3;
			$app++;
		}
		elsif ($line =~ m{/postgres(?:\.real)?\)|/postgresql[^ ]*/src/})
		{
			$app++;
		}
	}
	return 0;
}

# the checker's own files
my $logdir = "$out/sanitizer";
if (-d $logdir)
{
	opendir(my $dh, $logdir) or die "cannot list $logdir: $!\n";
	for my $name (sort readdir $dh)
	{
		my $path = "$logdir/$name";
		next unless -f $path;
		if ($name =~ /^server\./)
		{
			$servers++;
			next;
		}
		$files++;
		my $text = slurp($path);
		if ($mode eq 'asan')
		{
			report($path, $text) if $text =~ /\S/;
			next;
		}
		next unless $name =~ /^valgrind\./;
		while ($text =~ /^==\d+== VALGRIND-ERROR-BEGIN\n(.*?)^==\d+== VALGRIND-ERROR-END$/msg)
		{
			my $block = $1;
			if (valgrind_error_is_ours($block))
			{
				report($path, $block);
			}
			else
			{
				push @foreign, [ $path, $block ];
			}
		}
		# valgrind's own complaints outside error blocks (a bad suppression
		# file, an unknown option) leave the run unchecked
		report($path, $1) if $text =~ /^(==\d+== (?:FATAL|valgrind: ).*)$/m;
	}
	closedir($dh);
}

# no server started through the wrapper: nothing was checked
report($logdir, "no server was started under $mode (is PG_CONFIG the copy made by tools/sanitizer_install.sh?)")
  unless $servers;

# the server logs
my @server_logs;
for my $dir ("$out/log", "$out/tap/tmp_check/log")
{
	next unless -d $dir;
	find(
		sub {
			push @server_logs, $File::Find::name
			  if -f $_ && /\.log$/ && !/^regress_log_/;
		},
		$dir);
}
for my $path (sort @server_logs)
{
	my $text = slurp($path);
	my @hits = grep {
		/ERROR: (?:AddressSanitizer|LeakSanitizer)|Sanitizer:DEADLYSIGNAL|runtime error: |SUMMARY: \w+Sanitizer/
		  || /terminated by signal (?:4|6|7|11)\b/
	} split /\n/, $text;
	report($path, join("\n", @hits)) if @hits;
}

for my $f (@foreign)
{
	printf "valgrind error outside our code (not counted; add a suppression to tools/valgrind.supp if it is a false positive) in %s:\n%s\n",
	  rel($f->[0]), $f->[1];
}
for my $r (@reports)
{
	print "sanitizer report in $r->[0] (of the test output directory):\n$r->[1]\n\n";
}
printf "%s scan: %d report(s)%s; %d server(s) started under %s, %d server log(s) and %d file(s) of %s output looked at\n",
  $mode, scalar @reports,
  ($mode eq 'valgrind' ? sprintf(", %d valgrind error(s) outside our code", scalar @foreign) : ''),
  $servers, $mode, scalar @server_logs, $files, $mode;
exit(@reports ? 1 : 0);
