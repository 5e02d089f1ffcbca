#!/usr/bin/env bash
# bench/apply_memory.sh - the apply worker's memory while it applies one big
# remote transaction (APPLY_MEM_ROWS inserts, default 1,000,000, into the
# 10-column table of apply_bench.sh).
#
# A source and a target cluster; the subscription is paused while the
# source commits the transaction, then resumed; the worker's
# /proc/<pid>/status (VmRSS, RssAnon) is sampled every 0.2 s until the last
# row is applied.  RssAnon (private memory) must stay flat: rows are decoded
# per batch, buffered at most 1,000 at a time, and their memory is reset per
# row.  Writes $RESULTS_DIR/apply_memory.md.
#
# Env: APPLY_MEM_ROWS (1000000), APPLY_MEM_PORT (5531; target is +1).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

ROWS=${APPLY_MEM_ROWS:-1000000}
SP=${APPLY_MEM_PORT:-5531}
TP=$((SP + 1))
DB=bench
OUT=$RESULTS_DIR/apply_memory.md
T=$(mktemp -d /tmp/dbench.applymem.XXXXXX); chown "$PGUSER_OS" "$T"
SD=$T/src; TD=$T/tgt
cleanup() { pg_stop "$TD"; pg_stop "$SD"; [ "${KEEP:-0}" = 1 ] || rm -rf "$T"; }
trap cleanup EXIT

COLS="id int PRIMARY KEY, b bigint, t text, n numeric(14,4), ts timestamptz, f bool, j jsonb, d float8, u uuid, by bytea"
ROWEXPR="g, g::bigint*1000003, substr(repeat(md5(g::text),4),1,100), (g*1.2345)::numeric(14,4), '2024-01-01'::timestamptz + g*interval '1 second', g%2=0, jsonb_build_object('k',g,'s',md5(g::text)), g*0.5, md5(g::text)::uuid, decode(md5(g::text),'hex')"

pg_new "$SD" $SP "output_plugin_libraries = 'pgoutput, decoderbufs'"
pg_new "$TD" $TP "output_plugin_libraries = 'pgoutput, decoderbufs'" "shared_preload_libraries = 'decoderbufs_apply'"
pg_start "$SD" && pg_start "$TD" || { tail "$SD/server.log" "$TD/server.log"; exit 1; }
for P in $SP $TP; do q $P postgres "CREATE DATABASE $DB" >/dev/null; q $P $DB "CREATE TABLE bench_mem ($COLS)" >/dev/null; done
q $TP $DB "CREATE EXTENSION decoderbufs_apply" >/dev/null
q $TP $DB "SELECT decoderbufs_apply.create_subscription('mem', 'host=127.0.0.1 port=$SP dbname=$DB user=postgres')" >/dev/null
q $TP $DB "SELECT decoderbufs_apply.disable_subscription('mem')" >/dev/null
log "apply_memory: one transaction of $ROWS inserts on the source"
q $SP $DB "INSERT INTO bench_mem SELECT $ROWEXPR FROM generate_series(1, $ROWS) g" >/dev/null
q $TP $DB "SELECT decoderbufs_apply.enable_subscription('mem')" >/dev/null

pid=""
for _ in $(seq 1 300); do
    pid=$(q $TP $DB "SELECT pid FROM decoderbufs_apply.subscription_status WHERE state = 'streaming'")
    [ -n "$pid" ] && break
    sleep 0.1
done
[ -n "$pid" ] || { log "apply_memory: the worker did not start"; exit 1; }

samples=$T/samples
: > "$samples"
t0=$(now)
while :; do
    st=$(awk '/^VmRSS|^RssAnon/ {printf "%s ", $2}' "/proc/$pid/status" 2>/dev/null)
    n=$(q $TP $DB "SELECT count(*) FROM bench_mem" 2>/dev/null || echo 0)
    echo "$(elapsed "$t0" "$(now)") $st $n" >> "$samples"
    # the rows become visible together, at the local commit
    [ "$n" = "$ROWS" ] && break
    awk -v a="$t0" -v b="$(now)" 'BEGIN{exit !((b-a) > 900)}' && { log "apply_memory: timeout"; break; }
    sleep 0.2
done
secs=$(elapsed "$t0" "$(now)")

python3 - "$samples" "$OUT" "$ROWS" "$secs" <<'PY'
import sys
path, out, rows, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = [l.split() for l in open(path) if len(l.split()) >= 4]
rss = [int(x[1]) for x in s]; anon = [int(x[2]) for x in s]
n = len(anon)
q = lambda v, f: v[min(n - 1, int(n * f))]
with open(out, "w") as o:
    o.write(f"### apply worker memory, one transaction of {rows:,} inserts\n\n")
    o.write(f"Applied in {secs:.1f} s ({rows / secs:,.0f} rows/s), {n} samples of /proc/<pid>/status every 0.2 s.\n\n")
    o.write("| | first | 25% | 50% | 75% | last | max |\n|---|---|---|---|---|---|---|\n")
    for name, v in (("RssAnon (private) kB", anon), ("VmRSS kB", rss)):
        o.write(f"| {name} | {v[0]:,} | {q(v,.25):,} | {q(v,.5):,} | {q(v,.75):,} | {v[-1]:,} | {max(v):,} |\n")
    o.write("\nRssAnon flat from first to last sample means memory does not grow with the transaction; "
            "VmRSS also counts the shared buffers the worker touches.\n")
print(open(out).read())
PY
