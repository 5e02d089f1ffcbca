#!/usr/bin/env bash
# bench/memory.sh - the decoding backend's memory while one big transaction
# (MEM_ROWS inserts, default 1,000,000, into the 10-column table of
# decode_bench.sh) is decoded, for our plugin in each mode and, as a
# yardstick, pgoutput and Debezium's decoderbufs.
#
# Each configuration decodes the same WAL (a copy of one template slot)
# through the SQL interface (pg_logical_slot_peek_binary_changes, the rows
# counted and summed in the backend) and streamed (nullrecv over a walsender).
# While it runs, the decoding process's /proc/<pid>/status is sampled every
# 0.2 s (VmRSS, RssAnon, VmHWM), and pg_log_backend_memory_contexts() is
# called every 2 s so the server log shows its memory contexts; the
# "decoderbufs change" and "decoderbufs cache" contexts are ours.
#
# RssAnon is the process's private memory: it grows while the reorder buffer
# reads the transaction (up to logical_decoding_work_mem, then it spills to
# disk, which is PostgreSQL's own bound) and must then stay flat while the
# plugin turns the spilled changes into messages.  Shared memory touched
# (RssShmem, counted in VmRSS and VmHWM) is shared_buffers, not the plugin.
#
# Env: MEM_ROWS (1000000), PORT (5502), EXTRA_PLUGIN_SO (our .so; bench/run.sh
# sets it), MEM_PEERS=0 to skip pgoutput and Debezium, RESULTS_DIR.
# Writes $RESULTS_DIR/memory.md and appends to $RESULTS_DIR/memory_raw.csv.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

MEM_ROWS=${MEM_ROWS:-1000000}
PORT=${MEM_PORT:-5502}
DB=bench
OUT=$RESULTS_DIR/memory.md
RAW=$RESULTS_DIR/memory_raw.csv
RUN_ID=${RUN_ID:-memory-$(date +%Y%m%dT%H%M%S)}
RUNLOG=$RESULTS_DIR/$RUN_ID.log
SO=${EXTRA_PLUGIN_SO:-$HERE/../decoderbufs/decoderbufs.so}
NULLRECV=${NULLRECV:-$HERE/../tools/nullrecv}
[ -x "$NULLRECV" ] || { log "memory.sh: $NULLRECV missing (bench/run.sh builds it)"; exit 1; }

CONFIGS="ours_default|decoderbufs_ours|;ours_compact|decoderbufs_ours|compact=1;ours_compact_batched|decoderbufs_ours|compact=1,batch-size=65536"
[ "${MEM_PEERS:-1}" = 1 ] && CONFIGS="$CONFIGS;pgoutput|pgoutput|proto_version=1,publication_names=bench_pub;debezium|debezium_decoderbufs|"

T=$(mktemp -d /tmp/dbench.memory.XXXXXX)
chown "$PGUSER_OS" "$T"
DD=$T/data
cleanup() { pg_stop "$DD"; [ "${KEEP:-0}" = 1 ] || rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
exec 3>>"$RUNLOG"
say() { log "$*"; echo "[$(date +%H:%M:%S)] $*" >&3; }

mkdir -p "$T/lib"
cp "$SO" "$T/lib/decoderbufs_ours.so"
chmod -R a+rX "$T/lib"
pg_new "$DD" "$PORT" \
    "output_plugin_libraries = 'pgoutput, test_decoding, decoderbufs, debezium_decoderbufs, decoderbufs_ours'" \
    "dynamic_library_path = '$T/lib:\$libdir'" \
    "log_line_prefix = '%m [%p] '"
pg_start "$DD" || { cat "$DD/server.log"; exit 1; }
q "$PORT" postgres "CREATE DATABASE $DB" >/dev/null
WMEM=$(q "$PORT" $DB "SHOW logical_decoding_work_mem")

ROWEXPR="g, g::bigint*1000003, substr(repeat(md5(g::text),4),1,100), (g*1.2345)::numeric(14,4), '2024-01-01'::timestamptz + g*interval '1 second', g%2=0, jsonb_build_object('k',g,'s',md5(g::text)), g*0.5, md5(g::text)::uuid, decode(md5(g::text),'hex')"
qf "$PORT" $DB - >/dev/null <<EOF
CREATE TABLE bench_mem (
  id int PRIMARY KEY, b bigint, t text, n numeric(14,4), ts timestamptz,
  f bool, j jsonb, d float8, u uuid, by bytea);
CREATE TABLE bench_marker (id serial PRIMARY KEY);
CREATE PUBLICATION bench_pub FOR ALL TABLES;
SELECT pg_create_logical_replication_slot('tmpl', 'test_decoding');
INSERT INTO bench_mem SELECT $ROWEXPR FROM generate_series(1, $MEM_ROWS) g;
EOF
END_LSN=$(q "$PORT" $DB "SELECT pg_current_wal_insert_lsn()")
q "$PORT" $DB "INSERT INTO bench_marker DEFAULT VALUES; CHECKPOINT" >/dev/null
say "memory: one transaction of $MEM_ROWS inserts, end $END_LSN, logical_decoding_work_mem=$WMEM"

# status field in kB (0 if the process is gone)
field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mb() { awk -v k="${1:-0}" 'BEGIN{printf "%.1f", k/1024}'; }

[ -f "$RAW" ] || echo "ts,run_id,label,interface,rows,secs,rss_anon_first_kb,rss_anon_mid_kb,rss_anon_max_kb,rss_anon_last_kb,vmhwm_kb,ctx_total_first,ctx_total_max,ctx_total_last,ours_ctx_max,status" > "$RAW"
{
    echo "## Decoding memory: one transaction of $(printf "%'d" "$MEM_ROWS") inserts"
    echo
    echo "Run \`$RUN_ID\`, PostgreSQL $(pg_version | awk '{print $3}'), logical_decoding_work_mem=$WMEM."
    echo "RssAnon (private memory of the decoding process, MB) sampled every 0.2 s from"
    echo "/proc/<pid>/status: first sample, at half time, the largest and the last one;"
    echo "VmHWM is the peak of VmRSS (includes shared_buffers pages touched)."
    echo "Memory contexts (bytes) from pg_log_backend_memory_contexts() every 2 s: the"
    echo "process's grand total first, largest and last, and the largest total of our"
    echo "plugin's contexts (decoderbufs change + decoderbufs cache, relation entries)."
    echo "RssAnon peaks while the reorder buffer reads the transaction (up to"
    echo "logical_decoding_work_mem, then it spills to disk), the same for every plugin;"
    echo "while the spilled changes are turned into messages it must stay flat, and the"
    echo "plugin's own contexts must stay at a few kB whatever the transaction's size."
    echo
    echo "| plugin | interface | secs | RssAnon first | RssAnon half | RssAnon max | RssAnon last | VmHWM | contexts first | contexts max | contexts last | plugin contexts max |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$OUT.tmp"

measure() {  # label plugin opts interface
    local label=$1 plugin=$2 opts=$3 iface=$4 app slot pid cpid t0 t1 st=ok hwm=0
    app="mem_${label}_$iface"
    slot="m_${label}_$iface"
    q "$PORT" $DB "SELECT pg_copy_logical_replication_slot('tmpl', '$slot', false, '$plugin')" >/dev/null
    local args=()
    [ -n "$opts" ] && IFS=',' read -ra args <<<"$opts"
    t0=$(now)
    if [ "$iface" = sql ]; then
        PGAPPNAME=$app q "$PORT" $DB "SELECT count(*), sum(length(data)) FROM pg_logical_slot_peek_binary_changes('$slot', '$END_LSN', NULL, $(sql_opts "$opts"))" >>"$RUNLOG" 2>&1 &
    else
        "$NULLRECV" "host=127.0.0.1 port=$PORT user=postgres dbname=$DB replication=database application_name=$app" "$slot" "$END_LSN" "${args[@]}" >>"$RUNLOG" 2>&1 &
    fi
    cpid=$!
    pid=""
    while [ -z "$pid" ] && kill -0 "$cpid" 2>/dev/null; do
        pid=$(q "$PORT" $DB "SELECT pid FROM pg_stat_activity WHERE application_name = '$app'")
        [ -n "$pid" ] || sleep 0.05
    done
    local samples=() last_ctx_call=0 i=0 a
    while kill -0 "$cpid" 2>/dev/null && [ -n "$pid" ] && [ -d "/proc/$pid" ]; do
        a=$(field "$pid" RssAnon)
        [ -n "$a" ] && [ "$a" != 0 ] && samples+=("$a")
        hwm=$(field "$pid" VmHWM)
        if [ $((i % 10)) = 0 ]; then
            q "$PORT" $DB "SELECT pg_log_backend_memory_contexts($pid)" >/dev/null 2>&1
        fi
        i=$((i + 1))
        sleep 0.2
    done
    wait "$cpid" || st=error
    t1=$(now)
    q "$PORT" $DB "SELECT pg_drop_replication_slot('$slot')" >/dev/null 2>>"$RUNLOG"
    local n=${#samples[@]} first=0 mid=0 max=0 lastv=0
    if [ "$n" -gt 0 ]; then
        first=${samples[0]}; mid=${samples[$((n / 2))]}; lastv=${samples[$((n - 1))]}
        max=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
    fi
    # memory context reports of that process in the server log
    local ctx
    ctx=$(awk -v p="[$pid]" '
        index($0, p) == 0 { next }
        /Grand total:/ { for (i = 1; i <= NF; i++) if ($i == "total:") { g[++ng] = $(i + 1) }; if (cur > om) om = cur; cur = 0; next }
        /decoderbufs (change|cache|relation entry):/ { for (i = 1; i <= NF; i++) if ($i == "total") { cur += $(i - 1) } }
        END {
            if (ng == 0) { print "- - - -"; exit }
            m = 0; for (i = 1; i <= ng; i++) if (g[i] + 0 > m) m = g[i] + 0
            if (cur > om) om = cur
            print g[1] + 0, m, g[ng] + 0, om
        }' "$DD/server.log")
    read -r cfirst cmax clast omax <<<"$ctx"
    echo "$(date -Iseconds),$RUN_ID,$label,$iface,$MEM_ROWS,$(elapsed "$t0" "$t1"),$first,$mid,$max,$lastv,${hwm:-0},$cfirst,$cmax,$clast,$omax,$st" >> "$RAW"
    echo "| $label | $iface | $(elapsed "$t0" "$t1") | $(mb "$first") | $(mb "$mid") | $(mb "$max") | $(mb "$lastv") | $(mb "${hwm:-0}") | $cfirst | $cmax | $clast | $omax |" >> "$OUT.tmp"
    say "memory $label $iface pid=$pid secs=$(elapsed "$t0" "$t1") rss_anon_kb first=$first mid=$mid max=$max last=$lastv vmhwm_kb=${hwm:-0} ctx first=$cfirst max=$cmax last=$clast ours_max=$omax $st"
}

IFS=';' read -ra _cfg <<<"$CONFIGS"
for spec in "${_cfg[@]}"; do
    IFS='|' read -r l p o <<<"$spec"
    for iface in sql stream; do
        measure "$l" "$p" "${o:-}" "$iface"
    done
done
mv "$OUT.tmp" "$OUT"
say "done; $OUT"
