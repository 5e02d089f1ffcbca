#!/usr/bin/env bash
# tools/sanitizer_postgres.sh - installed by tools/sanitizer_install.sh as
# bin/postgres of a private copy of PostgreSQL: starts the real server,
# bin/postgres.real, with the AddressSanitizer runtime preloaded or under
# valgrind, as bin/sanitizer.env says.
#
# pg_regress, pg_ctl and initdb find this script where they expect the
# server; the server's children are forked, so they inherit the preload or
# run under valgrind too.  The server runs with this script as its argv[0],
# so that postmaster.opts names it and `pg_ctl restart` comes back here
# (under valgrind through bash, whose exec valgrind follows).  Only a server
# that serves (a postmaster) is wrapped: version checks, --describe-config,
# -C and initdb's bootstrap run the real binary directly.
#
# Reports go to $DBUFS_SANITIZER_LOGDIR (regress/run_checks.sh sets it; by
# default log/ of the copy): asan.PID files, or valgrind.PID.log per
# process; server.PID records each server started.  ASAN_OPTIONS and
# UBSAN_OPTIONS given by the caller are added after ours, and so are the
# valgrind options in DBUFS_VALGRIND_OPTS, so they win.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/sanitizer.env"
real=$here/postgres.real

for a in "$@"; do
    case $a in
        --boot | --single | --check | -V | --version | --describe-config | -C | --help | -\?)
            exec "$real" "$@" ;;
    esac
done

logdir=${DBUFS_SANITIZER_LOGDIR:-$SANITIZER_LOGDIR}
mkdir -p "$logdir" 2>/dev/null
# the scan's proof that the servers ran under the checker
echo "$SANITIZER_MODE $*" > "$logdir/server.$$"

case $SANITIZER_MODE in
    asan)
        # detect_leaks=0: the server frees by memory context, not by
        # pointer, and exits without freeing; abort_on_error: a report ends
        # the process with SIGABRT, which the postmaster treats as a crash;
        # allocator_may_return_null: an absurd size from a malformed message
        # fails the allocation softly, as it does without ASan.  The runtime
        # is followed by tools/sanitizer_preload.c (see there why).
        export LD_PRELOAD=$SANITIZER_RUNTIME${LD_PRELOAD:+:$LD_PRELOAD}
        export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:log_path=$logdir/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
        # UBSan reports: combined with ASan, gcc's UBSan runtime ignores its
        # log_path and writes to stderr, that is the server log, which the
        # scan reads too
        export UBSAN_OPTIONS="print_stacktrace=1:log_path=$logdir/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
        exec -a "$0" "$real" "$@"
        ;;
    valgrind)
        # --trace-children: commands the server runs (archive_command ...)
        # are checked too, except the shells and the usual file tools (the
        # bash that runs the server is not a child);
        # --error-markers: regress/sanitizer_scan.pl cuts reports apart by
        # them; --fullpath-after=: full source paths, to tell our code from
        # the server's; no leak check (memory contexts, see above)
        exec "$SANITIZER_RUNTIME" --quiet --tool=memcheck \
            --trace-children=yes --trace-children-skip='*/sh,*/bash,*/dash,*/cp,*/mv,*/rm,*/test,*/true' \
            --leak-check=no --track-origins=yes --num-callers=40 \
            --read-var-info=no --vgdb=no --error-limit=no \
            --error-markers=VALGRIND-ERROR-BEGIN,VALGRIND-ERROR-END --fullpath-after= \
            --gen-suppressions=all \
            --suppressions="$SANITIZER_SUPPRESSIONS" \
            --log-file="$logdir/valgrind.%p.log" \
            ${DBUFS_VALGRIND_OPTS:-} /bin/bash -c 'exec -a "$0" "$@"' "$0" "$real" "$@"
        ;;
esac
echo "sanitizer_postgres: unknown SANITIZER_MODE \"$SANITIZER_MODE\"" >&2
exit 1
