#!/usr/bin/env bash
# bench/run.sh - the benchmark of `make bench`: our decoderbufs plugin side by
# side with its peers, on throwaway clusters under /tmp (127.0.0.1 only).
#
# 1. decode_bench.sh: the same WAL window (about 1,000,000 changes on the
#    10-column mixed-type table: inserts, then updates and deletes with
#    REPLICA IDENTITY DEFAULT and FULL) decoded by
#      test_decoding, pgoutput (proto 1), wal2json format-version 2,
#      Debezium's decoderbufs (installed as debezium_decoderbufs),
#      ours: default (Debezium format), compact, compact batched,
#    through the SQL interface, pg_recvlogical and nullrecv (a bare libpq
#    streaming client, tools/nullrecv.c).
# 2. memory.sh: the decoding backend's memory over one 1,000,000-row
#    transaction, for our plugin in each mode.
#
# Our plugin is the build of this tree, decoderbufs/decoderbufs.so, loaded
# under the name decoderbufs_ours through dynamic_library_path
# (EXTRA_PLUGIN_SO), so it runs beside Debezium's and whatever decoderbufs.so
# is installed, and nothing needs installing.  This script builds nothing but
# nullrecv: build the plugin first (make -C decoderbufs, or make bench).
#
# 3. apply_bench.sh and 4. apply_memory.sh: decoderbufs_apply against native
#    logical replication and pglogical (see below).
# 5. copy_bench.sh: initial copy of a 2,000,000-row table (single) and of
#    the same rows in 4 tables (multi) by decoderbufs_apply (copy_data,
#    copy_parallelism 2), native logical replication (copy_data, default
#    max_sync_workers_per_subscription = 2) and pglogical
#    (synchronize_data), interleaved: rows/s and MB/s, ratios, targets.
# 6. stream_bench.sh: ONE big transaction (STREAM_ROWS: 1,000,000 and
#    10,000,000 rows) replicated while in progress, native logical
#    replication with streaming = on against decoderbufs_apply with
#    streaming: time from the source's commit to the rows applied, total
#    time, when the first bytes reach the target, peak memory of the
#    source's walsender and the target's worker, bytes spooled.
#
# Results in bench/results/ (gitignored): decode_raw.csv (one line per
# measurement), decode_report.md (medians, ratios against Debezium and
# pgoutput of the same run, targets), decode_summary.md (min/median/max),
# memory.md, apply_report.md, apply_memory.md, copy_raw.csv and
# copy_report.md, stream_raw.csv and stream_report.md, and a log per run.
#
# Env knobs: RUNS (3), N_INS (400000), N_UPD_BASE (400000; updates N/2 and
# deletes N/4 rows per identity), MODES ("sql stream nullrecv"), PHASES,
# MEM_ROWS (1000000), SKIP_DECODE=1, SKIP_MEMORY=1, SKIP_APPLY=1,
# SKIP_COPY=1, APPLY_ENGINES ("native pglogical ext"), COPY_ENGINES (the
# same), N_COPY (2000000 rows for the copy test), N_TABLES (4),
# COPY_PARALLELISM (2), SKIP_STREAM=1, STREAM_ROWS ("1000000 10000000"),
# STREAM_ENGINES ("native ext"), PLUGIN_SO (the .so to test), QUICK=1
# (RUNS=1, 100k inserts, 40k update base, 100k-row memory test, 200k-row
# copy test, one 1,000,000-row streamed transaction: a smoke run of a few
# minutes).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export PGBIN=${PGBIN:-$("${PG_CONFIG:-pg_config}" --bindir)}

if [ "${QUICK:-0}" = 1 ]; then
    : "${RUNS:=1}" "${N_INS:=100000}" "${N_UPD_BASE:=40000}" "${MEM_ROWS:=100000}"
    : "${STREAM_ROWS:=1000000}"
    export STREAM_ROWS
fi
export RUNS=${RUNS:-3}
export N_INS=${N_INS:-400000}
export N_UPD_BASE=${N_UPD_BASE:-400000}
export INS_BATCH=${INS_BATCH:-100000}
export MEM_ROWS=${MEM_ROWS:-1000000}
export RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
mkdir -p "$RESULTS_DIR"

PLUGIN_SO=${PLUGIN_SO:-$ROOT/decoderbufs/decoderbufs.so}
if [ ! -f "$PLUGIN_SO" ]; then
    echo "bench/run.sh: $PLUGIN_SO is missing; build it with: make -C decoderbufs" >&2
    exit 1
fi
libdir=$("${PG_CONFIG:-pg_config}" --pkglibdir)
if [ ! -f "$libdir/debezium_decoderbufs.so" ]; then
    echo "bench/run.sh: $libdir/debezium_decoderbufs.so is missing; run tools/install-deps.sh" >&2
    exit 1
fi

# nullrecv is the only thing built here; the clusters run as user postgres,
# the clients as whoever runs this script.
NULLRECV=$ROOT/tools/nullrecv
if [ ! -x "$NULLRECV" ] || [ "$ROOT/tools/nullrecv.c" -nt "$NULLRECV" ]; then
    gcc -O2 -Wall -o "$NULLRECV" "$ROOT/tools/nullrecv.c" \
        -I"$("$PGBIN/pg_config" --includedir)" -L"$("$PGBIN/pg_config" --libdir)" -lpq
fi
export NULLRECV

# label|plugin|options: the peers, then ours in its three configurations.
export EXTRA_PLUGIN_SO=$PLUGIN_SO
export EXTRA_PLUGIN_AS=decoderbufs_ours
export PLUGINS="test_decoding|test_decoding|;pgoutput|pgoutput|proto_version=1,publication_names=bench_pub;wal2json_v2|wal2json|format-version=2;debezium|debezium_decoderbufs|;ours_default|decoderbufs_ours|;ours_compact|decoderbufs_ours|compact=1;ours_compact_batched|decoderbufs_ours|compact=1,batch-size=65536"

t0=$(date +%s)
if [ "${SKIP_DECODE:-0}" != 1 ]; then
    export RUN_ID=${RUN_ID:-decode-$(date +%Y%m%dT%H%M%S)}
    "$HERE/decode_bench.sh"
    python3 "$HERE/summarize.py" report "$RESULTS_DIR/decode_raw.csv" \
        "$RESULTS_DIR/decode_report.md" "$RUN_ID"
    unset RUN_ID
fi
if [ "${SKIP_MEMORY:-0}" != 1 ]; then
    "$HERE/memory.sh"
fi

# 3. apply_bench.sh: decoderbufs_apply (the installed extension: it must be
#    preloaded) against native logical replication and pglogical: 500,000
#    inserts and 200,000 updates in large transactions (50,000 rows each),
#    then in single-row transactions (APPLY_SINGLE_INS / _UPD rows), each as
#    a backlog (subscription paused, then resumed) and live.
# 4. apply_memory.sh: the worker's memory over a 1,000,000-row transaction.
if [ "${SKIP_APPLY:-0}" != 1 ]; then
    stamp=$(date +%Y%m%dT%H%M%S)
    APPLY_ENGINES=${APPLY_ENGINES:-"native pglogical ext"}
    APPLY_EXT_HOOK=$HERE/hooks/decoderbufs_apply.sh ENGINES=$APPLY_ENGINES \
        TESTS="backlog live" N_INS=${APPLY_LARGE_INS:-500000} \
        N_UPD=${APPLY_LARGE_UPD:-200000} TX_ROWS=50000 \
        RUN_ID=apply-large-$stamp "$HERE/apply_bench.sh" || echo "apply_bench.sh (large) failed"
    APPLY_EXT_HOOK=$HERE/hooks/decoderbufs_apply.sh ENGINES=$APPLY_ENGINES \
        TESTS="backlog live" TX_ROWS=1 N_INS=${APPLY_SINGLE_INS:-50000} \
        N_UPD=${APPLY_SINGLE_UPD:-20000} RUN_ID=apply-single-$stamp \
        "$HERE/apply_bench.sh" || echo "apply_bench.sh (single-row) failed"
    python3 "$HERE/apply_report.py" "$RESULTS_DIR/apply_raw.csv" \
        "$RESULTS_DIR/apply_report.md" apply-large-$stamp apply-single-$stamp
    "$HERE/apply_memory.sh"
fi

# 5. copy_bench.sh: initial copy, ours against native and pglogical.  It
#    exits 1 when a copy gave other row counts than the source's: say so
#    loudly and fail the whole run, after the reports.
copy_status=0
if [ "${SKIP_COPY:-0}" != 1 ]; then
    ENGINES=${COPY_ENGINES:-"native pglogical ext"} RUN_ID=copy-$(date +%Y%m%dT%H%M%S) \
        "$HERE/copy_bench.sh" || copy_status=$?
fi

# 6. stream_bench.sh: one big transaction streamed while in progress.
if [ "${SKIP_STREAM:-0}" != 1 ]; then
    RUN_ID=stream-$(date +%Y%m%dT%H%M%S) "$HERE/stream_bench.sh" >/dev/null \
        || echo "stream_bench.sh failed"
fi

echo
[ -f "$RESULTS_DIR/decode_report.md" ] && cat "$RESULTS_DIR/decode_report.md"
[ -f "$RESULTS_DIR/memory.md" ] && cat "$RESULTS_DIR/memory.md"
[ -f "$RESULTS_DIR/apply_report.md" ] && cat "$RESULTS_DIR/apply_report.md"
[ -f "$RESULTS_DIR/apply_memory.md" ] && cat "$RESULTS_DIR/apply_memory.md"
[ "${SKIP_COPY:-0}" != 1 ] && [ -f "$RESULTS_DIR/copy_report.md" ] && cat "$RESULTS_DIR/copy_report.md"
[ "${SKIP_STREAM:-0}" != 1 ] && [ -f "$RESULTS_DIR/stream_report.md" ] && cat "$RESULTS_DIR/stream_report.md"
echo "bench/run.sh: $(( $(date +%s) - t0 )) s; results in $RESULTS_DIR"
if [ "$copy_status" != 0 ]; then
    echo "bench/run.sh: copy_bench.sh FAILED (exit $copy_status): a copy lost or added rows, or the script broke; see its log in $RESULTS_DIR" >&2
    exit 1
fi
