#!/usr/bin/env bash
# bench/stream_bench.sh - one big transaction replicated while in progress:
# native logical replication with streaming = on against decoderbufs_apply
# with streaming (its default).
#
# For each size in STREAM_ROWS (default "1000000 10000000") and each engine
# in STREAM_ENGINES (default "native ext"), on a fresh source and target:
# the source commits ONE transaction of that many inserts (a 3-column table
# with a primary key) while the subscription streams; the script records
#   - when the transaction started and committed on the source,
#   - when the first streamed bytes reached the target (ours: the status
#     view's spooled bytes; native: its stream files in base/pgsql_tmp),
#   - when its rows became visible on the target (they all do at once, at
#     the local commit): commit-to-applied and first-insert-to-applied times,
#   - the peak memory of the source's walsender and of the target's apply
#     worker, sampled from /proc/<pid>/status every 0.2 s: VmHWM (peak
#     resident set, shared buffers included) and the largest RssAnon
#     (private memory: what would grow with the transaction),
#   - the bytes spooled on the target (ours: spooled_bytes; native: the
#     largest size of base/pgsql_tmp seen).
# The source keeps PostgreSQL's default logical_decoding_work_mem (64MB),
# which bounds what either walsender holds before streaming.
#
# Results: $RESULTS_DIR/stream_raw.csv (one line per measurement) and
# stream_report.md (the figures, and ours against native as ratios).
#
# Env: STREAM_ROWS ("1000000 10000000"), STREAM_ENGINES ("native ext"),
# STREAM_PORT (5551; the target is +1), RUN_ID.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

SIZES=${STREAM_ROWS:-"1000000 10000000"}
ENGINES=${STREAM_ENGINES:-"native ext"}
SP=${STREAM_PORT:-5551}
TP=$((SP + 1))
DB=bench
RUN_ID=${RUN_ID:-stream-$(date +%Y%m%dT%H%M%S)}
RAW=$RESULTS_DIR/stream_raw.csv
OUT=$RESULTS_DIR/stream_report.md
LOGF=$RESULTS_DIR/$RUN_ID.log
[ -f "$RAW" ] || echo "run_id,engine,rows,insert_s,commit_to_applied_s,total_s,first_spool_s,src_walsender_hwm_kb,src_walsender_anon_kb,tgt_worker_hwm_kb,tgt_worker_anon_kb,spooled_bytes,ok" > "$RAW"

T=$(mktemp -d /tmp/dbench.stream.XXXXXX); chown "$PGUSER_OS" "$T"
SD=$T/src; TD=$T/tgt
cleanup() { pg_stop "$TD"; pg_stop "$SD"; [ "${KEEP:-0}" = 1 ] || rm -rf "$T"; }
trap cleanup EXIT

SRC_DSN="host=127.0.0.1 port=$SP dbname=$DB user=postgres"

# The peak of VmHWM and of RssAnon (kB) over a samples file of
# "<t> <hwm> <anon>" lines.
peak() { awk -v c="$2" 'BEGIN{m=0} NF>=3 && $c+0>m {m=$c+0} END{print m}' "$1"; }

# Sample /proc/<pid>/status of the walsender and the worker, and the size
# of the target's temporary files, until $T/stop exists.
sampler() {
  local wpid=$1 apid=$2 t0=$3
  local n=0
  while [ ! -e "$T/stop" ]; do
    local t; t=$(elapsed "$t0" "$(now)")
    echo "$t $(awk '/^VmHWM/{h=$2} /^RssAnon/{a=$2} END{print h+0, a+0}' /proc/$wpid/status 2>/dev/null)" >> "$T/walsender"
    echo "$t $(awk '/^VmHWM/{h=$2} /^RssAnon/{a=$2} END{print h+0, a+0}' /proc/$apid/status 2>/dev/null)" >> "$T/worker"
    if [ $((n % 5)) = 0 ]; then
      echo "$t $(du -sb "$TD/base/pgsql_tmp" 2>/dev/null | cut -f1)" >> "$T/tmpdir"
    fi
    n=$((n + 1))
    sleep 0.2
  done
}

setup() {
  local engine=$1
  rm -rf "$SD" "$TD"
  pg_new "$SD" $SP "output_plugin_libraries = 'pgoutput, decoderbufs'"
  pg_new "$TD" $TP "output_plugin_libraries = 'pgoutput, decoderbufs'" \
    "shared_preload_libraries = 'decoderbufs_apply'"
  pg_start "$SD" && pg_start "$TD" || { tail "$SD/server.log" "$TD/server.log"; return 1; }
  for P in $SP $TP; do
    q $P postgres "CREATE DATABASE $DB" >/dev/null
    q $P $DB "CREATE TABLE stream_big (id bigint PRIMARY KEY, v int NOT NULL, t text)" >/dev/null
  done
  if [ "$engine" = native ]; then
    q $SP $DB "CREATE PUBLICATION stream_pub FOR TABLE stream_big" >/dev/null
    q $TP $DB "CREATE SUBSCRIPTION stream_native CONNECTION '$SRC_DSN' PUBLICATION stream_pub
               WITH (copy_data = false, streaming = on)" >/dev/null
  else
    q $TP $DB "CREATE EXTENSION decoderbufs_apply" >/dev/null
    q $TP $DB "SELECT decoderbufs_apply.create_subscription('stream_ext', '$SRC_DSN',
               tables => ARRAY['public.stream_big'], streaming => true)" >/dev/null
  fi
}

# The PIDs of the walsender and of the apply worker, once both run.
pids() {
  local engine=$1 w="" a="" i
  for i in $(seq 1 600); do
    w=$(q $SP $DB "SELECT pid FROM pg_stat_replication WHERE application_name = 'stream_$engine'")
    if [ "$engine" = native ]; then
      a=$(q $TP $DB "SELECT pid FROM pg_stat_subscription WHERE subname = 'stream_native' AND relid IS NULL")
    else
      a=$(q $TP $DB "SELECT pid FROM decoderbufs_apply.subscription_status WHERE subscription = 'stream_ext' AND state = 'streaming'")
    fi
    [ -n "$w" ] && [ -n "$a" ] && { echo "$w $a"; return 0; }
    sleep 0.1
  done
  return 1
}

measure() {
  local engine=$1 rows=$2
  log "stream_bench: $engine, one transaction of $rows rows"
  setup "$engine" || return 1
  local p; p=$(pids "$engine") || { log "stream_bench: $engine did not start"; return 1; }
  local wpid=${p% *} apid=${p#* }
  rm -f "$T/stop" "$T/walsender" "$T/worker" "$T/tmpdir" "$T/first"
  local t0; t0=$(now)
  sampler "$wpid" "$apid" "$t0" &
  local sp=$!

  # the first streamed bytes on the target, watched from another process
  (
    while [ ! -e "$T/stop" ]; do
      if [ "$engine" = ext ]; then
        b=$(q $TP $DB "SELECT spooled_bytes FROM decoderbufs_apply.subscription_status" 2>/dev/null)
      else
        b=$(du -sb "$TD/base/pgsql_tmp" 2>/dev/null | cut -f1)
        [ "${b:-0}" -le 4096 ] && b=0
      fi
      if [ "${b:-0}" -gt 0 ]; then elapsed "$t0" "$(now)" > "$T/first"; break; fi
      sleep 0.1
    done
  ) &
  local fp=$!

  q $SP $DB "INSERT INTO stream_big SELECT g, g, 'row ' || g FROM generate_series(1, $rows) g" >/dev/null
  local tc; tc=$(now)
  local ok=0 i
  for i in $(seq 1 36000); do
    if [ "$(q $TP $DB "SELECT EXISTS (SELECT FROM stream_big WHERE id = $rows)")" = t ]; then ok=1; break; fi
    sleep 0.1
  done
  local ta; ta=$(now)
  touch "$T/stop"
  wait "$sp" "$fp" 2>/dev/null
  local n; n=$(q $TP $DB "SELECT count(*) FROM stream_big")
  [ "$n" = "$rows" ] || ok=0

  local spooled
  if [ "$engine" = ext ]; then
    spooled=$(q $TP $DB "SELECT spooled_bytes FROM decoderbufs_apply.subscription_status")
  else
    spooled=$(awk 'BEGIN{m=0} $2+0>m {m=$2+0} END{print m}' "$T/tmpdir")
  fi
  local line
  line="$RUN_ID,$engine,$rows,$(elapsed "$t0" "$tc"),$(elapsed "$tc" "$ta"),$(elapsed "$t0" "$ta"),$(cat "$T/first" 2>/dev/null || echo),$(peak "$T/walsender" 2),$(peak "$T/walsender" 3),$(peak "$T/worker" 2),$(peak "$T/worker" 3),$spooled,$ok"
  echo "$line" >> "$RAW"
  log "stream_bench: $line"
  pg_stop "$TD"; pg_stop "$SD"
}

{
  log "stream_bench $RUN_ID: sizes $SIZES, engines $ENGINES"
  machine_info
  pg_version
  for rows in $SIZES; do
    for engine in $ENGINES; do
      measure "$engine" "$rows" || echo "$RUN_ID,$engine,$rows,,,,,,,,,,0" >> "$RAW"
    done
  done
} 2>&1 | tee -a "$LOGF"

python3 - "$RAW" "$OUT" "$RUN_ID" <<'PY'
import csv, sys
raw, out, run = sys.argv[1:4]
rows = [r for r in csv.DictReader(open(raw)) if r["run_id"] == run]
def f(r, k, scale=1.0, fmt="{:,.1f}"):
    try:
        return fmt.format(float(r[k]) / scale)
    except (ValueError, KeyError):
        return "-"
with open(out, "w") as o:
    o.write(f"### One big transaction, streamed while in progress ({run})\n\n")
    o.write("Native logical replication (`streaming = on`) and decoderbufs_apply (`streaming => true`, "
            "its default); the source at the default logical_decoding_work_mem (64MB). Times in seconds "
            "from the INSERT's start (insert = until its commit returned; applied = until its rows are "
            "visible on the target); memory in MB from /proc/<pid>/status: VmHWM is the peak resident "
            "set (shared buffers touched included), RssAnon the largest private memory seen.\n\n")
    o.write("| rows | engine | insert s | commit to applied s | total s | first bytes on target at s | "
            "walsender VmHWM | walsender RssAnon | worker VmHWM | worker RssAnon | spooled MB | ok |\n")
    o.write("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for r in rows:
        o.write(f"| {int(r['rows']):,} | {r['engine']} | {f(r,'insert_s')} | {f(r,'commit_to_applied_s')} | "
                f"{f(r,'total_s')} | {f(r,'first_spool_s')} | {f(r,'src_walsender_hwm_kb',1024)} | "
                f"{f(r,'src_walsender_anon_kb',1024)} | {f(r,'tgt_worker_hwm_kb',1024)} | "
                f"{f(r,'tgt_worker_anon_kb',1024)} | {f(r,'spooled_bytes',1048576)} | "
                f"{'yes' if r['ok'] == '1' else 'NO'} |\n")
    o.write("\nOurs against native (native / ours for times: above 1 means ours is faster; "
            "ours / native for memory and spool):\n\n")
    o.write("| rows | commit to applied | total | walsender RssAnon | worker RssAnon | worker VmHWM | spooled |\n")
    o.write("|---|---|---|---|---|---|---|\n")
    by = {(r["engine"], r["rows"]): r for r in rows}
    def ratio(a, b):
        try:
            return f"{float(a) / float(b):.2f}"
        except (ValueError, ZeroDivisionError):
            return "-"
    for n in sorted({r["rows"] for r in rows}, key=int):
        nat, ext = by.get(("native", n)), by.get(("ext", n))
        if not nat or not ext:
            continue
        o.write(f"| {int(n):,} | {ratio(nat['commit_to_applied_s'], ext['commit_to_applied_s'])} | "
                f"{ratio(nat['total_s'], ext['total_s'])} | "
                f"{ratio(ext['src_walsender_anon_kb'], nat['src_walsender_anon_kb'])} | "
                f"{ratio(ext['tgt_worker_anon_kb'], nat['tgt_worker_anon_kb'])} | "
                f"{ratio(ext['tgt_worker_hwm_kb'], nat['tgt_worker_hwm_kb'])} | "
                f"{ratio(ext['spooled_bytes'], nat['spooled_bytes'])} |\n")
    sizes = sorted({int(r["rows"]) for r in rows})
    if len(sizes) >= 2:
        lo, hi = str(sizes[0]), str(sizes[-1])
        o.write(f"\nMemory from {sizes[0]:,} to {sizes[-1]:,} rows (RssAnon, MB): flat means it does not grow "
                "with the transaction.\n\n| engine | walsender | worker |\n|---|---|---|\n")
        for e in ("native", "ext"):
            a, b = by.get((e, lo)), by.get((e, hi))
            if a and b:
                o.write(f"| {e} | {f(a,'src_walsender_anon_kb',1024)} -> {f(b,'src_walsender_anon_kb',1024)} | "
                        f"{f(a,'tgt_worker_anon_kb',1024)} -> {f(b,'tgt_worker_anon_kb',1024)} |\n")
print(open(out).read())
PY
