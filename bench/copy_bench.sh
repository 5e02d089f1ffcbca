#!/usr/bin/env bash
# bench/copy_bench.sh - initial-copy throughput of decoderbufs_apply ("ext")
# against native logical replication (copy_data) and pglogical
# (synchronize_data), in the same run, on one pair of throwaway clusters
# (source and target, 127.0.0.1 only, as OS user postgres).
#
# Tests, each copied into empty target tables that have a primary key:
#   single : one table, bench_copy1, of N_COPY rows (default 2,000,000);
#   multi  : the same N_COPY rows split over N_TABLES tables (default 4,
#            bench_copy_m1 .. bench_copy_m4, 500,000 rows each).
# The rows are apply_bench.sh's 10-column mixed-type rows (its COLS and
# ROWEXPR, read from that script).
#
# Engines (ENGINES, default "native pglogical ext"):
#   native    : CREATE SUBSCRIPTION ... WITH (copy_data = true), PostgreSQL's
#               defaults (max_sync_workers_per_subscription = 2: two table
#               sync workers at a time); done when every table of the test is
#               in pg_subscription_rel state s or r.
#   pglogical : pglogical.create_subscription(synchronize_data := true) with
#               pglogical's defaults (one sync process copies the tables one
#               after the other); done when the subscription's row of
#               pglogical.local_sync_status, and the row of every table of
#               the test if it has one, are ready (r / y).
#   ext       : decoderbufs_apply.create_subscription(copy_data => true,
#               copy_parallelism => COPY_PARALLELISM); done when every row of
#               decoderbufs_apply.table_sync of the subscription is 'ready'
#               and there is one per table.  The copy columns of
#               decoderbufs_apply.subscription_status are logged once
#               mid-copy when the view has them.
# An engine that cannot be set up, whose subscription cannot be created,
# that reports an error or that times out is recorded as failed, and the
# run goes on with the others.
#
# Each run (RUNS, default 3) measures every test with every engine, the
# engine order rotated from run to run.  A measurement: empty the target
# tables and CHECKPOINT both servers; time from just before the subscription
# is created to every table of the test being synced (polled every
# POLL_INTERVAL s, default 0.1); check that every target table has its
# source table's row count (if not, the measurement is recorded as mismatch,
# said loudly, and the script exits 1 at the end); drop the subscription and
# every slot left on the source.  rows/s = rows / seconds; MB/s = sum of the
# source tables' pg_table_size (10^6 bytes) / seconds.
#
# Results in $RESULTS_DIR (bench/results/): copy_raw.csv (one line per
# measurement: ts, run_id, engine, test, rows, bytes, secs, run, status,
# detail), copy_report.md (medians per engine and test, ratios ours/native
# and ours/pglogical of this run, targets: ours at least 1.5x native for
# multi, 1.0x for single; written by copy_report.py), <run id>.log, and the
# servers' logs.
#
# Env: ENGINES ("native pglogical ext"), TESTS ("single multi"), RUNS (3),
#      N_COPY (2000000), N_TABLES (4), COPY_PARALLELISM (2: ours' worker
#      budget), COPY_TIMEOUT (seconds per measurement; default
#      max(120, N_COPY / 4000)), START_TIMEOUT (60: seconds for the
#      engine to show any table sync), POLL_INTERVAL (0.1), COPY_PORT (5541: the
#      source; the target is COPY_PORT + 1), RUN_ID, KEEP=1 (keep the
#      clusters' directory), QUICK=1 (N_COPY 200000, RUNS 1: a smoke test).
#      PG_CONFIG / PGBIN pick the PostgreSQL (its pkglibdir must have
#      pglogical and, for ours, decoderbufs and decoderbufs_apply).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PGBIN=${PGBIN:-$("${PG_CONFIG:-pg_config}" --bindir)}
. "$HERE/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
  : "${N_COPY:=200000}" "${RUNS:=1}"
fi
RUNS=${RUNS:-3}
N_COPY=${N_COPY:-2000000}
N_TABLES=${N_TABLES:-4}
ENGINES=${ENGINES:-"native pglogical ext"}
TESTS=${TESTS:-"single multi"}
COPY_PARALLELISM=${COPY_PARALLELISM:-2}
COPY_TIMEOUT=${COPY_TIMEOUT:-$(( N_COPY / 4000 > 120 ? N_COPY / 4000 : 120 ))}
START_TIMEOUT=${START_TIMEOUT:-60}
POLL_INTERVAL=${POLL_INTERVAL:-0.1}
SP=${COPY_PORT:-5541}; TP=$((SP + 1))
DB=bench
RAW=$RESULTS_DIR/copy_raw.csv
REPORT=$RESULTS_DIR/copy_report.md
RUN_ID=${RUN_ID:-copy-$(date +%Y%m%dT%H%M%S)}
RUNLOG=$RESULTS_DIR/$RUN_ID.log
SETTINGS=$RESULTS_DIR/$RUN_ID.settings
exec 3>>"$RUNLOG"
say() { log "$*"; echo "[$(date +%H:%M:%S)] $*" >&3; }
loud() { # a failure nobody should miss
  echo "************************************************************" >&2
  say "FAIL: $*"
  echo "************************************************************" >&2
}

# The row shape of apply_bench.sh, taken from it so the two stay the same.
eval "$(grep -E '^(COLS|ROWEXPR)="' "$HERE/apply_bench.sh")"
if [ -z "${COLS:-}" ] || [ -z "${ROWEXPR:-}" ]; then
  echo "copy_bench.sh: COLS / ROWEXPR not found in $HERE/apply_bench.sh" >&2; exit 1
fi

for t in $TESTS; do
  case $t in single|multi) ;; *) echo "copy_bench.sh: unknown test '$t' (single, multi)" >&2; exit 1 ;; esac
done
for E in $ENGINES; do
  case $E in native|pglogical|ext) ;; *) echo "copy_bench.sh: unknown engine '$E' (native, pglogical, ext)" >&2; exit 1 ;; esac
done
if [ "$N_TABLES" -lt 2 ] || [ "$N_COPY" -lt "$N_TABLES" ]; then
  echo "copy_bench.sh: N_TABLES must be at least 2 and at most N_COPY" >&2; exit 1
fi

# test -> its tables; table -> its rows
declare -A TABLES SRC_ROWS BYTES NROWS
TABLES[single]=bench_copy1
TABLES[multi]=$(for i in $(seq 1 "$N_TABLES"); do printf 'bench_copy_m%d ' "$i"; done)
TABLES[multi]=${TABLES[multi]% }
sql_list() { # "a b" -> 'public.a', 'public.b'
  local t out=""
  for t in $1; do out="$out, 'public.$t'"; done
  echo "${out#, }"
}

# ------------------------------------------------------------- clusters
T=$(mktemp -d /tmp/dbench.copy.XXXXXX); chown "$PGUSER_OS" "$T"
SD=$T/src; TD=$T/tgt
SRC_DSN="host=127.0.0.1 port=$SP dbname=$DB user=postgres"
cleanup() {
  pg_stop "$TD"; pg_stop "$SD"
  cp "$SD/server.log" "$RESULTS_DIR/$RUN_ID.src.server.log" 2>/dev/null
  cp "$TD/server.log" "$RESULTS_DIR/$RUN_ID.tgt.server.log" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A BROKEN   # engine -> why it cannot run at all
LIBDIR=$("$PGBIN/pg_config" --pkglibdir)
src_pre=() tgt_pre=()
if [ -f "$LIBDIR/pglogical.so" ]; then src_pre+=(pglogical); tgt_pre+=(pglogical)
else BROKEN[pglogical]="pglogical is not installed in $LIBDIR"; fi
if [ -f "$LIBDIR/decoderbufs_apply.so" ]; then tgt_pre+=(decoderbufs_apply)
else BROKEN[ext]="decoderbufs_apply is not installed in $LIBDIR (make PG_CONFIG=... install)"; fi
join() { local IFS=,; echo "$*" | sed 's/,/, /g'; }
conf_src=() conf_tgt=()
# PostgreSQL 15.19+ only loads the output plugins listed here.
if "$PGBIN/postgres" --describe-config 2>/dev/null | grep -c '^output_plugin_libraries' >/dev/null; then
  conf_src+=("output_plugin_libraries = 'pgoutput, decoderbufs, pglogical_output'")
  conf_tgt+=("output_plugin_libraries = 'pgoutput, decoderbufs, pglogical_output'")
fi
[ ${#src_pre[@]} -gt 0 ] && conf_src+=("shared_preload_libraries = '$(join "${src_pre[@]}")'")
[ ${#tgt_pre[@]} -gt 0 ] && conf_tgt+=("shared_preload_libraries = '$(join "${tgt_pre[@]}")'")
pg_new "$SD" "$SP" "${conf_src[@]}"
pg_new "$TD" "$TP" "${conf_tgt[@]}"
pg_start "$SD" || { tail "$SD/server.log"; exit 1; }
pg_start "$TD" || { tail "$TD/server.log"; exit 1; }

say "run_id=$RUN_ID engines='$ENGINES' tests='$TESTS' RUNS=$RUNS N_COPY=$N_COPY N_TABLES=$N_TABLES COPY_PARALLELISM=$COPY_PARALLELISM source :$SP target :$TP ($T)"
say "$(machine_info)"; say "$(pg_version)"
pkg_versions >&3
{ echo "source:"; grep -A100 -- '--- bench settings ---' "$SD/postgresql.conf"
  echo "target:"; grep -A100 -- '--- bench settings ---' "$TD/postgresql.conf"; } >&3

for P in $SP $TP; do q $P postgres "CREATE DATABASE $DB" >/dev/null || exit 1; done
ddl=""
for t in ${TABLES[single]} ${TABLES[multi]}; do ddl="$ddl CREATE TABLE $t ($COLS);"; done
q $SP $DB "$ddl" >/dev/null && q $TP $DB "$ddl" >/dev/null || exit 1

# Source data: bench_copy1 has rows 1..N_COPY; the multi tables split the
# same rows into N_TABLES ranges.
tl=$(now)
{
  echo "INSERT INTO bench_copy1 SELECT $ROWEXPR FROM generate_series(1, $N_COPY) g;"
  for i in $(seq 1 "$N_TABLES"); do
    lo=$(( (i - 1) * N_COPY / N_TABLES + 1 )); hi=$(( i * N_COPY / N_TABLES ))
    echo "INSERT INTO bench_copy_m$i SELECT $ROWEXPR FROM generate_series($lo, $hi) g;"
  done
  echo "VACUUM ANALYZE; CHECKPOINT;"
} | qf $SP $DB - >/dev/null || { say "loading the source failed"; exit 1; }
for test in single multi; do
  rows=0; bytes=0
  for t in ${TABLES[$test]}; do
    IFS='|' read -r n b < <(q $SP $DB "SELECT count(*), pg_table_size('$t') FROM $t")
    SRC_ROWS[$t]=$n; rows=$((rows + n)); bytes=$((bytes + b))
  done
  NROWS[$test]=$rows; BYTES[$test]=$bytes
done
say "source loaded in $(elapsed "$tl" "$(now)") s: single ${NROWS[single]} rows, ${BYTES[single]} bytes (pg_table_size); multi ${NROWS[multi]} rows in $N_TABLES tables, ${BYTES[multi]} bytes"

# ------------------------------------------------------------- engines
# eng_<E>_setup            : once, after the tables exist
# eng_<E>_start <test>     : create the subscription that copies the test's tables
# eng_<E>_state <test>     : echo init | copying | done | error <message>
# eng_<E>_stop <test>      : drop the subscription (and its slot)
# eng_<E>_settings         : echo the settings the engine copies with

eng_native_setup() {
  q $SP $DB "CREATE PUBLICATION pub_copy_single FOR TABLE $(echo ${TABLES[single]} | sed 's/ /, /g');
             CREATE PUBLICATION pub_copy_multi FOR TABLE $(echo ${TABLES[multi]} | sed 's/ /, /g')" >/dev/null
}
# The launcher starts apply workers at most once per wal_retrieve_retry_interval
# (5 s by default): a subscription created sooner after the previous start
# would wait for it.  A first subscription does not, so neither does this
# benchmark's: eng_native_start first waits out the interval (untimed).
# DROP SUBSCRIPTION counts as a start too: the launcher sees the stopped
# worker's subscription before the drop commits, starts a worker for it
# (which gives up at once), and so holds back the next subscription; the
# interval is therefore counted from the later of the previous native
# subscription's creation and its drop.
NATIVE_LAST=""
eng_native_wait() {
  [ -n "$NATIVE_LAST" ] || return 0
  local iv; iv=$(q $TP $DB "SELECT setting::int / 1000.0 + 0.5 FROM pg_settings WHERE name = 'wal_retrieve_retry_interval'")
  local w; w=$(awk -v a="$NATIVE_LAST" -v b="$(now)" -v i="$iv" 'BEGIN{w = i - (b - a); printf "%.2f", (w > 0 ? w : 0)}')
  [ "$w" = 0.00 ] || { echo "  native: waiting $w s for the launcher's wal_retrieve_retry_interval" >&3; sleep "$w"; }
}
eng_native_start() {
  q $TP $DB "CREATE SUBSCRIPTION copy_$1 CONNECTION '$SRC_DSN' PUBLICATION pub_copy_$1 WITH (copy_data = true)" >/dev/null
}
eng_native_state() {
  local r ready total errs
  r=$(q $TP $DB "SELECT count(*) FILTER (WHERE r.srsubstate IN ('s', 'r')), count(*),
                        coalesce((SELECT st.sync_error_count + st.apply_error_count FROM pg_stat_subscription_stats st WHERE st.subname = 'copy_$1'), 0),
                        coalesce(string_agg(r.srrelid::regclass::text || '=' || r.srsubstate::text, ',' ORDER BY r.srrelid::regclass::text), '')
                 FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
                 WHERE s.subname = 'copy_$1'" 2>&1) || { echo "error state query: $r"; return; }
  IFS='|' read -r ready total errs states <<<"$r"
  # this runs in a subshell: keep the last state in a file to log changes only
  [ "$states" != "$(cat "$T/last_state" 2>/dev/null)" ] && echo "  [$(date +%T.%N | cut -c1-12)] native copy_$1 srsubstate: $states" >&3
  echo "$states" > "$T/last_state"
  if [ "$errs" != 0 ]; then echo "error pg_stat_subscription_stats counts $errs errors (see the target's log)"
  elif [ "$total" = "$(echo ${TABLES[$1]} | wc -w)" ] && [ "$ready" = "$total" ]; then echo done
  elif [ "$total" != 0 ]; then echo copying
  else echo init; fi
}
eng_native_stop() { q $TP $DB "DROP SUBSCRIPTION IF EXISTS copy_$1" >/dev/null; }
eng_native_settings() {
  echo "native: CREATE SUBSCRIPTION ... WITH (copy_data = true), other options default (binary = false, streaming = off); $(q $TP $DB "SELECT string_agg(name || ' = ' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('max_sync_workers_per_subscription', 'max_logical_replication_workers', 'max_worker_processes')")"
}

eng_pglogical_setup() {
  local sets="" t
  for t in ${TABLES[single]}; do sets="$sets SELECT pglogical.replication_set_add_table('copy_single', '$t', true);"; done
  for t in ${TABLES[multi]}; do sets="$sets SELECT pglogical.replication_set_add_table('copy_multi', '$t', true);"; done
  qf $SP $DB - >/dev/null <<EOF || return 1
CREATE EXTENSION pglogical;
SELECT pglogical.create_node(node_name := 'src', dsn := '$SRC_DSN');
SELECT pglogical.create_replication_set('copy_single');
SELECT pglogical.create_replication_set('copy_multi');
$sets
EOF
  qf $TP $DB - >/dev/null <<EOF
CREATE EXTENSION pglogical;
SELECT pglogical.create_node(node_name := 'tgt', dsn := 'host=127.0.0.1 port=$TP dbname=$DB user=postgres');
EOF
}
eng_pglogical_start() {
  q $TP $DB "SELECT pglogical.create_subscription(subscription_name := 'copy_$1', provider_dsn := '$SRC_DSN',
             replication_sets := ARRAY['copy_$1'], synchronize_structure := false, synchronize_data := true,
             forward_origins := '{}')" >/dev/null
}
eng_pglogical_state() {
  # sync_relname NULL is the subscription's own row: i -> d (data) -> c
  # (constraints) -> u (catching up) -> r / y (ready)
  local st e name status sub="" bad=0 n=0
  st=$(q $TP $DB "SELECT coalesce(string_agg(coalesce(l.sync_relname::text, '*') || '=' || l.sync_status::text, ',' ORDER BY l.sync_relname NULLS FIRST), '')
                  FROM pglogical.local_sync_status l JOIN pglogical.subscription s ON s.sub_id = l.sync_subid
                  WHERE s.sub_name = 'copy_$1'" 2>&1) || { echo "error state query: $st"; return; }
  # this runs in a subshell: keep the last state in a file to log changes only
  [ "$st" != "$(cat "$T/last_state" 2>/dev/null)" ] && echo "  [$(date +%T.%N | cut -c1-12)] pglogical copy_$1 sync status: $st" >&3
  echo "$st" > "$T/last_state"
  IFS=',' read -ra es <<<"$st"
  for e in "${es[@]}"; do
    name=${e%=*}; status=${e##*=}
    if [ "$name" = '*' ]; then sub=$status
    elif [[ " ${TABLES[$1]} " == *" $name "* ]]; then
      n=$((n + 1)); [[ $status == [ry] ]] || bad=1
    fi
  done
  # pglogical counts no errors: a worker that fails (and is restarted) only
  # says so in the target's log
  local err; err=$(tail -c +"$(( $(cat "$T/tgt_log_offset") + 1 ))" "$TD/server.log" | grep -m1 'ERROR:')
  if [ -n "$err" ]; then echo "error target log: ${err#*ERROR:  }"
  elif [[ $sub == [ry] ]] && [ $bad = 0 ]; then echo done
  elif [ -n "$st" ]; then echo copying
  else echo init; fi
}
eng_pglogical_stop() { q $TP $DB "SELECT pglogical.drop_subscription('copy_$1', true)" >/dev/null; }
eng_pglogical_settings() {
  echo "pglogical $(q $TP $DB "SELECT extversion FROM pg_extension WHERE extname = 'pglogical'"): create_subscription(synchronize_data := true, synchronize_structure := false), defaults: $(q $TP $DB "SELECT string_agg(name || ' = ' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name LIKE 'pglogical.%'")"
}

eng_ext_setup() { q $TP $DB "CREATE EXTENSION decoderbufs_apply" >/dev/null; }
eng_ext_start() {
  q $TP $DB "SELECT decoderbufs_apply.create_subscription(name => 'bench_copy', conninfo => '$SRC_DSN',
             tables => ARRAY[$(sql_list "${TABLES[$1]}")], copy_data => true, copy_parallelism => $COPY_PARALLELISM)" >/dev/null
}
# One query per poll, as for the other engines: a poll is a psql process and
# a backend, a cost on the machine the copy runs on.
eng_ext_state() {
  local r ready total states err
  r=$(q $TP $DB "SELECT count(*) FILTER (WHERE s.state = 'ready'), count(*), coalesce(string_agg(DISTINCT s.state, '/'), ''),
                        coalesce((SELECT replace(st.last_error, E'\n', ' ') FROM decoderbufs_apply.subscription_status st
                                  WHERE st.subscription = 'bench_copy' AND st.last_error IS NOT NULL), '')
                 FROM decoderbufs_apply.table_sync s JOIN decoderbufs_apply.subscription u USING (sub_id)
                 WHERE u.sub_name = 'bench_copy'" 2>&1) || { echo "error state query: $r"; return; }
  IFS='|' read -r ready total states err <<<"$r"
  [ "$states" != "$(cat "$T/last_state" 2>/dev/null)" ] && echo "  [$(date +%T.%N | cut -c1-12)] ours table_sync states: $states ($ready of $total ready)" >&3
  echo "$states" > "$T/last_state"
  if [ -n "$err" ]; then echo "error $err"
  elif [ "$total" = "$(echo ${TABLES[$1]} | wc -w)" ] && [ "$ready" = "$total" ]; then echo done
  elif [ "$total" != 0 ]; then echo copying
  else echo init; fi
}
eng_ext_progress() { # the copy columns of the status view, if it has them
  local r
  if r=$(q $TP $DB "SELECT copy_tables_done, copy_tables_total, copy_rows, copy_bytes, copy_current_table, copy_rate
                    FROM decoderbufs_apply.subscription_status WHERE subscription = 'bench_copy'" 2>&1); then
    say "  ours mid-copy (copy_tables_done|copy_tables_total|copy_rows|copy_bytes|copy_current_table|copy_rate): $r"
  else
    say "  ours mid-copy: subscription_status has no copy columns (${r//$'\n'/ })"
  fi
}
eng_ext_stop() { q $TP $DB "SELECT decoderbufs_apply.drop_subscription('bench_copy')" >/dev/null; }
eng_ext_settings() {
  echo "ours: decoderbufs_apply $(q $TP $DB "SELECT extversion FROM pg_extension WHERE extname = 'decoderbufs_apply'" 2>/dev/null) create_subscription(copy_data => true, copy_parallelism => $COPY_PARALLELISM)"
}

# ------------------------------------------------------------- helpers
[ -f "$RAW" ] || echo "ts,run_id,engine,test,rows,bytes,secs,run,status,detail" > "$RAW"
record() { # engine test run status secs detail
  local d=${6//\"/\'}; d=${d//$'\n'/ }
  echo "$(date -Iseconds),$RUN_ID,$1,$2,${NROWS[$2]},${BYTES[$2]},$5,$3,$4,\"$d\"" >> "$RAW"
  if [ "$4" = ok ]; then
    say "$1 $2 run=$3: ${NROWS[$2]} rows in $5 s = $(awk -v n="${NROWS[$2]}" -v b="${BYTES[$2]}" -v s="$5" 'BEGIN{printf "%.0f rows/s, %.1f MB/s", n/s, b/1e6/s}') $6"
  else
    say "$1 $2 run=$3: $4 $6"
  fi
}
over() { awk -v a="$1" -v b="$(now)" -v t="$2" 'BEGIN{exit !((b-a) > t)}'; }
# Drop whatever slot an engine left on the source (after waiting for its
# own drop to go through).
clear_slots() {
  local i left
  for i in $(seq 1 300); do
    [ "$(q $SP $DB "SELECT count(*) FROM pg_replication_slots")" = 0 ] && return 0
    sleep 0.1
  done
  left=$(q $SP $DB "SELECT string_agg(slot_name || coalesce(' (pid ' || active_pid || ')', ''), ', ') FROM pg_replication_slots")
  say "WARN: slots left on the source after the subscription was dropped: $left; dropping them"
  q $SP $DB "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active_pid IS NOT NULL" >/dev/null
  sleep 1
  q $SP $DB "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots" >/dev/null
}
log_errors() { # new ERROR / FATAL lines of both servers since the offsets given
  local s
  s=$( { tail -c +"$(( $1 + 1 ))" "$SD/server.log" | sed 's/^/  source: /'
         tail -c +"$(( $2 + 1 ))" "$TD/server.log" | sed 's/^/  target: /'; } | grep -E 'ERROR|FATAL|PANIC|terminated by signal' | grep -v 'due to administrator command' | head -10)
  [ -n "$s" ] && { say "  server log errors during this measurement:"; echo "$s" >&3; echo "$s" >&2; }
}
logsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

MISMATCH=0
measure() { # engine test run
  local E=$1 test=$2 r=$3 t out st c0 c1="" progress=0 started=0 ls0 lt0 why
  if [ -n "${BROKEN[$E]:-}" ]; then record "$E" "$test" "$r" failed 0 "${BROKEN[$E]}"; return; fi
  q $TP $DB "TRUNCATE $(echo ${TABLES[$test]} | sed 's/ /, /g'); CHECKPOINT" >/dev/null
  q $SP $DB "CHECKPOINT" >/dev/null
  rm -f "$T/last_state"
  [ "$E" = native ] && eng_native_wait
  ls0=$(logsize "$SD/server.log"); lt0=$(logsize "$TD/server.log"); echo "$lt0" > "$T/tgt_log_offset"
  c0=$(now)
  [ "$E" = native ] && NATIVE_LAST=$c0
  if ! out=$(eng_${E}_start "$test" 2>&1); then
    record "$E" "$test" "$r" failed 0 "create subscription: $out"
    eng_${E}_stop "$test" >/dev/null 2>&1; clear_slots; log_errors "$ls0" "$lt0"
    return
  fi
  why=""
  while :; do
    st=$(eng_${E}_state "$test" 2>&3)
    case $st in
      done) c1=$(now); break ;;
      error*) why=${st#error }; break ;;
    esac
    [ "$st" != init ] && started=1
    if [ "$E" = ext ] && [ $progress = 0 ] && over "$c0" 1; then eng_ext_progress; progress=1; fi
    [ $started = 0 ] && over "$c0" "$START_TIMEOUT" && { why="no table sync started within $START_TIMEOUT s"; break; }
    over "$c0" "$COPY_TIMEOUT" && { why="not synced after $COPY_TIMEOUT s (state: $st)"; break; }
    sleep "$POLL_INTERVAL"
  done
  if [ -n "$c1" ]; then
    local secs bad="" n
    secs=$(elapsed "$c0" "$c1")
    for t in ${TABLES[$test]}; do
      n=$(q $TP $DB "SELECT count(*) FROM $t")
      [ "$n" = "${SRC_ROWS[$t]}" ] || bad="$bad $t: $n rows on the target, ${SRC_ROWS[$t]} on the source;"
    done
    if [ -z "$bad" ]; then
      record "$E" "$test" "$r" ok "$secs" ""
    else
      record "$E" "$test" "$r" mismatch "$secs" "row counts differ:$bad"
      loud "$E $test run $r: row counts differ after the copy:$bad"
      MISMATCH=1
    fi
  else
    [[ $why == no\ table* || $why == not\ synced* ]] && st=timeout || st=failed
    record "$E" "$test" "$r" $st 0 "$why"
  fi
  out=$(eng_${E}_stop "$test" 2>&1) || say "WARN: $E: dropping the subscription failed: $out"
  [ "$E" = native ] && NATIVE_LAST=$(now)
  clear_slots
  log_errors "$ls0" "$lt0"
}

# ------------------------------------------------------------- run
for E in $ENGINES; do
  [ -n "${BROKEN[$E]:-}" ] && { say "$E: ${BROKEN[$E]}"; continue; }
  if ! out=$(eng_${E}_setup 2>&1); then
    BROKEN[$E]="setup failed: ${out//$'\n'/ }"
    say "$E: ${BROKEN[$E]}"
  fi
done
{
  echo "run_id $RUN_ID; $(pg_version); $(machine_info)"
  echo "rows: single ${NROWS[single]} in 1 table (${BYTES[single]} bytes), multi ${NROWS[multi]} in $N_TABLES tables (${BYTES[multi]} bytes); RUNS=$RUNS; fsync=off, synchronous_commit=off, autovacuum=off"
  for E in $ENGINES; do
    if [ -n "${BROKEN[$E]:-}" ]; then echo "$E: not run: ${BROKEN[$E]}"; else eng_${E}_settings 2>/dev/null; fi
  done
} > "$SETTINGS"
cat "$SETTINGS" >&3

read -ra ENG <<<"$ENGINES"
for r in $(seq 1 "$RUNS"); do
  order=()
  for i in $(seq 0 $(( ${#ENG[@]} - 1 ))); do order+=("${ENG[$(( (i + r - 1) % ${#ENG[@]} ))]}"); done
  say "run $r of $RUNS: engine order ${order[*]}"
  for test in $TESTS; do
    for E in "${order[@]}"; do measure "$E" "$test" "$r"; done
  done
done

"$PY" "$HERE/copy_report.py" "$RAW" "$REPORT" "$RUN_ID" "$SETTINGS" >/dev/null || say "copy_report.py failed"
say "done; report in $REPORT"
[ "$MISMATCH" = 0 ] || { loud "some copies did not give the source's row counts: see $RUNLOG"; exit 1; }
exit 0
