#!/usr/bin/env bash
# regress/run_checks.sh - run the whole test suite: the pg_regress suites
# (one temporary server started by pg_regress) and the TAP tests in
# regress/t (servers started by PostgreSQL::Test::Cluster).  The extensions
# must be installed.  Ends with the line "N passed, N failed".
#
# PostgreSQL refuses to run as root; as root the tests run as the OS user
# postgres in a copy of the test files that it owns, and the logs are copied
# back to regress/output/.
#
# Env: PG_CONFIG, REGRESS_TESTS (pg_regress test names, default: the
# schedule), PROVE_TESTS (TAP files, default regress/t/*.pl), SKIP_TAP=1,
# SKIP_REGRESS=1, DBUFS_PLUGIN_SO=path/to/decoderbufs.so to test that build
# of the plugin instead of the installed one without installing it: the
# servers find it first through dynamic_library_path (the SQL functions of
# CREATE EXTENSION decoderbufs still come from the installed library).
# DBUFS_SEEDS, DBUFS_NSEEDS, DBUFS_SECONDS, DBUFS_RATE, DBUFS_CLIENTS: the
# randomized two-way test's knobs (regress/t/033_twoway_random.pl; `make
# soak` sets them), passed on to the postgres user as root; so are
# DBUFS_FUZZ_SEED, DBUFS_FUZZ_ITERATIONS, DBUFS_FUZZ_SECONDS and
# DBUFS_FUZZ_REPLAY (files readable by the postgres user), the fuzz
# test's (regress/t/060_fuzz.pl; `make fuzz` sets them).
# DBUFS_SANITIZER=asan|valgrind: PG_CONFIG is a copy made by
# tools/sanitizer_install.sh (`make check-asan`, `make check-valgrind`);
# its servers write their reports to REGRESS_OUT/sanitizer, and
# regress/sanitizer_scan.pl, counted as one more check, fails on any.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
BINDIR=$("$PG_CONFIG" --bindir)
PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs)")/../..
OUT=${REGRESS_OUT:-$ROOT/regress/output}

if [ "$(id -u)" = 0 ]; then
    WORK=$(mktemp -d /tmp/dbufs-check.XXXXXX)
    cp -r "$ROOT/sql" "$ROOT/expected" "$ROOT/regress" "$ROOT/proto" "$WORK/"
    if [ -n "${DBUFS_PLUGIN_SO:-}" ]; then
        cp "$DBUFS_PLUGIN_SO" "$WORK/decoderbufs.so"
        DBUFS_PLUGIN_SO=$WORK/decoderbufs.so
    fi
    chown -R postgres "$WORK"
    rc=0
    runuser -u postgres -- env PG_CONFIG="$PG_CONFIG" \
        REGRESS_TESTS="${REGRESS_TESTS:-}" PROVE_TESTS="${PROVE_TESTS:-}" \
        SKIP_TAP="${SKIP_TAP:-}" SKIP_REGRESS="${SKIP_REGRESS:-}" REGRESS_OUT= \
        DBUFS_PLUGIN_SO="${DBUFS_PLUGIN_SO:-}" \
        DBUFS_SEEDS="${DBUFS_SEEDS:-}" DBUFS_NSEEDS="${DBUFS_NSEEDS:-}" \
        DBUFS_SECONDS="${DBUFS_SECONDS:-}" DBUFS_RATE="${DBUFS_RATE:-}" \
        DBUFS_CLIENTS="${DBUFS_CLIENTS:-}" PG_TEST_TIMEOUT_DEFAULT="${PG_TEST_TIMEOUT_DEFAULT:-}" \
        DBUFS_FUZZ_SEED="${DBUFS_FUZZ_SEED:-}" DBUFS_FUZZ_ITERATIONS="${DBUFS_FUZZ_ITERATIONS:-}" \
        DBUFS_FUZZ_SECONDS="${DBUFS_FUZZ_SECONDS:-}" DBUFS_FUZZ_REPLAY="${DBUFS_FUZZ_REPLAY:-}" \
        DBUFS_SANITIZER="${DBUFS_SANITIZER:-}" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        DBUFS_VALGRIND_OPTS="${DBUFS_VALGRIND_OPTS:-}" \
        bash "$WORK/regress/run_checks.sh" || rc=$?
    rm -rf "$OUT"
    cp -r "$WORK/regress/output" "$OUT" 2>/dev/null || true
    rm -rf "$WORK"
    exit $rc
fi

cd "$ROOT"
rm -rf "$OUT"
mkdir -p "$OUT"
passed=0
failed=0

# Under a memory checker: where the servers write their reports (read by
# tools/sanitizer_postgres.sh, the server wrapper of PG_CONFIG's copy)
if [ -n "${DBUFS_SANITIZER:-}" ]; then
    export DBUFS_SANITIZER_LOGDIR=$OUT/sanitizer
    mkdir -p "$DBUFS_SANITIZER_LOGDIR"
    echo "servers run under $DBUFS_SANITIZER; reports go to $DBUFS_SANITIZER_LOGDIR"
fi

# A build to test in place of the installed plugin: a directory of its own,
# put before $libdir in dynamic_library_path (DbufsTest.pm does the same).
if [ -n "${DBUFS_PLUGIN_SO:-}" ]; then
    mkdir -p "$OUT/plugin"
    cp "$DBUFS_PLUGIN_SO" "$OUT/plugin/decoderbufs.so"
    export DBUFS_PLUGIN_DIR=$OUT/plugin
    echo "testing the plugin build $DBUFS_PLUGIN_SO (not the installed one)"
fi

# --- pg_regress ---------------------------------------------------------
if [ -z "${SKIP_REGRESS:-}" ]; then
    conf=$OUT/temp.conf
    cp regress/logical.conf "$conf"
    if "$BINDIR/postgres" --describe-config 2>/dev/null | grep -q '^output_plugin_libraries'; then
        echo "output_plugin_libraries = 'pgoutput, test_decoding, decoderbufs, debezium_decoderbufs'" >> "$conf"
    fi
    if [ -n "${DBUFS_PLUGIN_DIR:-}" ]; then
        echo "dynamic_library_path = '$DBUFS_PLUGIN_DIR:\$libdir'" >> "$conf"
    fi
    if [ -n "${REGRESS_TESTS:-}" ]; then
        tests=(plugin_setup $REGRESS_TESTS)
    else
        tests=(--schedule=regress/schedule)
    fi
    "$PGXS_DIR/src/test/regress/pg_regress" \
        --temp-instance="$OUT/tmp_check" --temp-config="$conf" \
        --bindir="$BINDIR" --inputdir=. --outputdir="$OUT" \
        --encoding=UTF8 --no-locale \
        --dbname=contrib_regression "${tests[@]}" 2>&1 | tee "$OUT/pg_regress.log"
    rc=${PIPESTATUS[0]}
    # pg_regress prints one line per test ending in "ok" or "FAILED"
    p=$(grep -cE '^(test| ) +[a-z_0-9]+ +\.\.\. ok' "$OUT/pg_regress.log" || true)
    f=$(grep -cE '\.\.\. FAILED' "$OUT/pg_regress.log" || true)
    # pg_regress itself failed (a missing file, a server that did not start)
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ -f "$OUT/regression.diffs" ]; then
        head -c 20000 "$OUT/regression.diffs"
        echo
    fi
fi

# --- TAP ----------------------------------------------------------------
if [ -z "${SKIP_TAP:-}" ]; then
    mkdir -p "$OUT/tap"
    if [ -n "${PROVE_TESTS:-}" ]; then tap=($PROVE_TESTS); else tap=(regress/t/*.pl); fi
    DBUFS_ROOT="$ROOT" TESTDIR="$OUT/tap" PATH="$BINDIR:$PATH" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
        prove -I "$PGXS_DIR/src/test/perl" -I regress/lib --timer "${tap[@]}" 2>&1 | tee "$OUT/prove.log"
    p=$(grep -cE '^\[[0-9:]+\] regress/t/.* ok( |$)' "$OUT/prove.log" || true)
    f=$((${#tap[@]} - p))
    grep -q '^Result: PASS' "$OUT/prove.log" || [ "$f" -gt 0 ] || f=1
    passed=$((passed + p)); failed=$((failed + f))
fi

# --- memory checker reports ------------------------------------------------
if [ -n "${DBUFS_SANITIZER:-}" ]; then
    perl regress/sanitizer_scan.pl "$DBUFS_SANITIZER" "$OUT" 2>&1 | tee "$OUT/sanitizer_scan.log"
    if [ "${PIPESTATUS[0]}" = 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
