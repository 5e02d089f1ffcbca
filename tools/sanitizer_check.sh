#!/usr/bin/env bash
# tools/sanitizer_check.sh - `make check-asan` and `make check-valgrind`:
# build both modules for a memory checker, install them into a private copy
# of PostgreSQL whose server runs under that checker, and run the tests
# there.  Ends with regress/run_checks.sh's line "N passed, N failed", where
# one check is the scan for reports (regress/sanitizer_scan.pl).
#
#   tools/sanitizer_check.sh asan|valgrind
#
# asan: the modules are built with AddressSanitizer and UndefinedBehavior-
# Sanitizer; the server (not instrumented) gets the ASan runtime preloaded.
# valgrind: the modules are built as usual; the server runs under memcheck.
# The base installation (PG_CONFIG) is only read: objects go to
# SANITIZER_DIR/build (not to the source tree, so a normal `make` never
# picks them up) and the copy to SANITIZER_DIR/install.
#
# Env: PG_CONFIG (the base), SANITIZER_DIR (default build/MODE, or
# /var/tmp/decoderbufs-MODE as root when the postgres user cannot read the
# source tree), SANITIZER_CFLAGS (the compiler flags for asan), and
# run_checks.sh's own: REGRESS_TESTS, PROVE_TESTS (for valgrind, by default
# 001_debezium_compat and 010_apply_oneway only), SKIP_REGRESS, SKIP_TAP,
# REGRESS_OUT (default regress/output-MODE), PG_TEST_TIMEOUT_DEFAULT.
set -euo pipefail

mode=${1:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
PG_CONFIG=$(command -v "$PG_CONFIG")

case $mode in
    asan)
        # -fno-omit-frame-pointer: whole stacks in the reports
        cflags=${SANITIZER_CFLAGS:--fsanitize=address,undefined -fno-omit-frame-pointer}
        ;;
    valgrind)
        cflags=
        ;;
    *)
        echo "usage: $0 asan|valgrind" >&2
        exit 2
        ;;
esac

dir=${SANITIZER_DIR:-}
if [ -z "$dir" ]; then
    dir=$ROOT/build/$mode
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -r "$ROOT/Makefile" 2>/dev/null; then
        dir=/var/tmp/decoderbufs-$mode
    fi
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

echo "== $mode: a copy of $("$PG_CONFIG" --bindir)/.. in $dir/install"
pgc=$("$ROOT/tools/sanitizer_install.sh" "$mode" "$PG_CONFIG" "$dir/install")

echo "== $mode: build (${cflags:-the usual flags}) in $dir/build"
# objects built with other flags are stale: make does not know
if [ "$(cat "$dir/build/flags" 2>/dev/null)" != "$cflags" ]; then
    rm -rf "$dir/build"
    mkdir -p "$dir/build"
    echo "$cflags" > "$dir/build/flags"
fi
for m in decoderbufs apply_ext; do
    mkdir -p "$dir/build/$m/src"
    # a VPATH build: PGXS takes the sources from the Makefile's directory
    make -s -C "$dir/build/$m" -f "$ROOT/$m/Makefile" PG_CONFIG="$pgc" \
        COMMON_DIR="$ROOT/common" PROTO_DIR="$ROOT/proto" COPT="$cflags" all install
done

echo "== $mode: test"
# valgrind is slow: by default the pg_regress suites and two TAP tests, and
# the TAP tests wait five times longer (PostgreSQL::Test::Utils's timeout)
if [ "$mode" = valgrind ]; then
    if [ -z "${PROVE_TESTS:-}" ] && [ -z "${SKIP_TAP:-}" ]; then
        export PROVE_TESTS="regress/t/001_debezium_compat.pl regress/t/010_apply_oneway.pl"
    fi
    export PG_TEST_TIMEOUT_DEFAULT=${PG_TEST_TIMEOUT_DEFAULT:-900}
fi
export PG_CONFIG=$pgc DBUFS_SANITIZER=$mode
export REGRESS_OUT=${REGRESS_OUT:-$ROOT/regress/output-$mode}
exec "$ROOT/regress/run_checks.sh"
