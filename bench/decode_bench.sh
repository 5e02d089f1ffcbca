#!/usr/bin/env bash
# decode_bench.sh -- measure logical decoding throughput and output size of
# output plugins (anchors: test_decoding, pgoutput, wal2json v1/v2, Debezium
# decoderbufs) on one throwaway PostgreSQL 15 cluster.
#
# Method
#   * One cluster (wal_level=logical, fsync=off, synchronous_commit=off,
#     autovacuum=off, full_page_writes=on) under /tmp, 127.0.0.1:$PORT.
#   * Three workload phases, each framed by a "template" slot created just
#     before the phase and an end LSN taken right after its last commit (a
#     1-row marker transaction follows every phase so streaming consumers see
#     a record past --endpos immediately):
#       ins      : N_INS inserts into a 10-column table, INS_BATCH rows/xact
#       upd_def  : UPDATE N_UPD_BASE/2 rows + DELETE N_UPD_BASE/4 rows,
#                  REPLICA IDENTITY DEFAULT (PK)
#       upd_full : same on an identical table with REPLICA IDENTITY FULL
#   * For every plugin the template slot is cloned with
#     pg_copy_logical_replication_slot(tmpl, copy, false, plugin), so every
#     plugin decodes exactly the same WAL window.
#   * mode "sql"   : SELECT count(*), sum(length(data)) FROM
#                    pg_logical_slot_peek_binary_changes(copy, end_lsn, NULL, opts)
#                    (peek: the same copy is re-used for every run)
#   * mode "stream": pg_recvlogical --start --endpos=end_lsn -F 0 -f /dev/null
#                    over TCP loopback on a fresh copy per run
#   * mode "nullrecv": tools/nullrecv.c (libpq, blocking PQgetCopyData, counts
#                    and discards messages, same --endpos rule) on a fresh copy
#                    per run: the walsender-side cost without pg_recvlogical's
#                    per-message select()/write() overhead; also counts bytes
#   * RUNS repetitions (default 3), plugins interleaved inside each run.
#   Results: one CSV line per measurement appended to results/decode_raw.csv
#   and results/decode_summary.md regenerated after every measurement.
#
# Env knobs
#   N_INS (300000) INS_BATCH (100000) N_UPD_BASE (160000) RUNS (3)
#   MODES ("sql stream nullrecv")  PHASES ("ins upd_def upd_full")  PORT (5501)
#   PLUGINS  ';'-separated "label|plugin|k=v,k=v" (default: the anchors)
#   EXTRA_PLUGIN  ';'-separated "plugin[:k=v,k=v]" appended to PLUGINS
#                 (label = plugin name, or EXTRA_PLUGIN_LABEL for a single one)
#   DBZ_PLUGIN  plugin name of Debezium's decoderbufs (debezium_decoderbufs:
#               in this repository the installed decoderbufs.so may be ours;
#               tools/install-deps.sh keeps Debezium's under that name)
#   NULLRECV  a prebuilt nullrecv binary (default: built from ../tools/nullrecv.c)
#   EXTRA_PLUGIN_SO  path to a plugin .so to benchmark side by side with the
#                 installed one; it is copied to <tmp>/lib/<EXTRA_PLUGIN_AS>.so
#                 (default name decoderbufs_ours) and dynamic_library_path is
#                 pointed there, so a build named decoderbufs.so does not
#                 clash with Debezium's decoderbufs.so in $libdir.  Use the
#                 EXTRA_PLUGIN_AS name in EXTRA_PLUGIN.
#   KEEP=1 keeps the temp dir (cluster is still stopped).
#   Option values must not contain ',' '|' ';' or quotes.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

N_INS=${N_INS:-300000}
INS_BATCH=${INS_BATCH:-100000}
N_UPD_BASE=${N_UPD_BASE:-160000}
RUNS=${RUNS:-3}
MODES=${MODES:-"sql stream nullrecv"}
PHASES=${PHASES:-"ins upd_def upd_full"}
PORT=${PORT:-5501}
DB=bench
RAW=$RESULTS_DIR/decode_raw.csv
SUMMARY=$RESULTS_DIR/decode_summary.md
RUN_ID=${RUN_ID:-decode-$(date +%Y%m%dT%H%M%S)}
RUNLOG=$RESULTS_DIR/$RUN_ID.log

DBZ_PLUGIN=${DBZ_PLUGIN:-debezium_decoderbufs}
DEFAULT_PLUGINS="test_decoding|test_decoding|;pgoutput_v1|pgoutput|proto_version=1,publication_names=bench_pub;wal2json_v1|wal2json|format-version=1;wal2json_v2|wal2json|format-version=2;decoderbufs_dbz|$DBZ_PLUGIN|"
PLUGINS=${PLUGINS:-$DEFAULT_PLUGINS}
if [ -n "${EXTRA_PLUGIN:-}" ]; then
  IFS=';' read -ra _ex <<<"$EXTRA_PLUGIN"
  for e in "${_ex[@]}"; do
    [ -z "$e" ] && continue
    name=${e%%:*}; opts=""; [[ "$e" == *:* ]] && opts=${e#*:}
    lbl=$name; [ ${#_ex[@]} -eq 1 ] && lbl=${EXTRA_PLUGIN_LABEL:-$name}
    PLUGINS="$PLUGINS;$lbl|$name|$opts"
  done
fi

T=$(mktemp -d /tmp/dbench.decode.XXXXXX)
chown "$PGUSER_OS" "$T"
DD=$T/data
cleanup() {
  pg_stop "$DD"
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

exec 3>>"$RUNLOG"
say() { log "$*"; echo "[$(date +%H:%M:%S)] $*" >&3; }

# ---- plugin list -> arrays
declare -a P_LABEL P_NAME P_OPTS
IFS=';' read -ra _pl <<<"$PLUGINS"
for spec in "${_pl[@]}"; do
  [ -z "$spec" ] && continue
  IFS='|' read -r l n o <<<"$spec"
  P_LABEL+=("$l"); P_NAME+=("$n"); P_OPTS+=("${o:-}")
done
ALLOWED="pgoutput, test_decoding, wal2json, decoderbufs"
for n in "${P_NAME[@]}"; do [[ ", $ALLOWED, " == *", $n, "* ]] || ALLOWED="$ALLOWED, $n"; done

EXTRA_CONF=()
# PG 15.19+ (CVE-2026-6471) only loads output plugins listed here.
EXTRA_CONF+=("output_plugin_libraries = '$ALLOWED'")
if [ -n "${EXTRA_PLUGIN_SO:-}" ]; then
  mkdir -p "$T/lib"
  cp "$EXTRA_PLUGIN_SO" "$T/lib/${EXTRA_PLUGIN_AS:-decoderbufs_ours}.so"
  chmod -R a+rX "$T/lib"
  EXTRA_CONF+=("dynamic_library_path = '$T/lib:\$libdir'")
fi

NULLRECV=${NULLRECV:-}
if [[ " $MODES " == *" nullrecv "* ]] && [ ! -x "$NULLRECV" ]; then
  NULLRECV=$T/nullrecv
  gcc -O2 -o "$NULLRECV" "$HERE/../tools/nullrecv.c" -I"$("$PGBIN/pg_config" --includedir)" -lpq \
    || { log "cannot build nullrecv; dropping that mode"; MODES=${MODES//nullrecv/}; }
fi

stream_opts() {  # -> -o k=v ...
  local o=$1 kv
  [ -z "$o" ] && return
  IFS=',' read -ra kvs <<<"$o"
  for kv in "${kvs[@]}"; do printf -- '-o %s ' "$kv"; done
}
safe() { echo "$1" | tr -c 'a-zA-Z0-9_\n' '_' | tr 'A-Z' 'a-z'; }

[ -f "$RAW" ] || echo "ts,run_id,pg,label,plugin,opts,phase,mode,run,rows,msgs,bytes,wal_bytes,secs,status" > "$RAW"
PGV=$(pg_version | awk '{print $3}')
record() {  # label plugin opts phase mode run rows msgs bytes wal secs status
  echo "$(date -Iseconds),$RUN_ID,$PGV,$1,$2,\"$3\",$4,$5,$6,$7,$8,$9,${10},${11},${12}" >> "$RAW"
  "$PY" "$HERE/summarize.py" decode "$RAW" "$SUMMARY" "$RUN_ID" || true
}

say "run_id=$RUN_ID tmp=$T port=$PORT"
say "$(machine_info)"
say "$(pg_version)"; pkg_versions >&3
say "N_INS=$N_INS INS_BATCH=$INS_BATCH N_UPD_BASE=$N_UPD_BASE RUNS=$RUNS MODES='$MODES' PHASES='$PHASES'"
for i in "${!P_LABEL[@]}"; do say "plugin: ${P_LABEL[$i]} = ${P_NAME[$i]} opts='${P_OPTS[$i]}'"; done

pg_new "$DD" "$PORT" "${EXTRA_CONF[@]}"
pg_start "$DD" || { cat "$DD/server.log"; exit 1; }
grep -A100 -- '--- bench settings ---' "$DD/postgresql.conf" >&3
q "$PORT" postgres "CREATE DATABASE $DB" >/dev/null

ROWEXPR="g, g::bigint*1000003, substr(repeat(md5(g::text),4),1,100), (g*1.2345)::numeric(14,4), '2024-01-01'::timestamptz + g*interval '1 second', g%2=0, jsonb_build_object('k',g,'s',md5(g::text)), g*0.5, md5(g::text)::uuid, decode(md5(g::text),'hex')"
qf "$PORT" $DB - <<EOF
CREATE TABLE bench_ins (
  id int PRIMARY KEY, b bigint, t text, n numeric(14,4), ts timestamptz,
  f bool, j jsonb, d float8, u uuid, by bytea);
CREATE TABLE bench_def  (LIKE bench_ins INCLUDING ALL);
CREATE TABLE bench_full (LIKE bench_ins INCLUDING ALL);
ALTER TABLE bench_full REPLICA IDENTITY FULL;
CREATE TABLE bench_marker (id serial PRIMARY KEY, phase text, at timestamptz DEFAULT clock_timestamp());
CREATE PUBLICATION bench_pub FOR ALL TABLES;
INSERT INTO bench_def  SELECT $ROWEXPR FROM generate_series(1,$N_UPD_BASE) g;
INSERT INTO bench_full SELECT $ROWEXPR FROM generate_series(1,$N_UPD_BASE) g;
VACUUM ANALYZE;
CHECKPOINT;
EOF

declare -A START END ROWS WAL
for ph in $PHASES; do
  START[$ph]=$(q "$PORT" $DB "SELECT lsn FROM pg_create_logical_replication_slot('tmpl_$ph','test_decoding')")
  t0=$(now)
  case $ph in
    ins)
      { lo=1; while [ $lo -le $N_INS ]; do hi=$((lo+INS_BATCH-1)); [ $hi -gt $N_INS ] && hi=$N_INS
          echo "INSERT INTO bench_ins SELECT $ROWEXPR FROM generate_series($lo,$hi) g;"; lo=$((hi+1)); done
      } | qf "$PORT" $DB -
      ROWS[$ph]=$N_INS ;;
    upd_def|upd_full)
      tb=bench_${ph#upd_}
      qf "$PORT" $DB - <<EOF
UPDATE $tb SET b = b + 1, t = substr(repeat(md5((id+7)::text),4),1,100) WHERE id % 2 = 0;
DELETE FROM $tb WHERE id % 4 = 1;
EOF
      ROWS[$ph]=$(( N_UPD_BASE/2 + (N_UPD_BASE+3)/4 )) ;;
    *) say "unknown phase $ph"; exit 1 ;;
  esac
  END[$ph]=$(q "$PORT" $DB "SELECT pg_current_wal_insert_lsn()")
  q "$PORT" $DB "INSERT INTO bench_marker(phase) VALUES ('$ph')" >/dev/null
  t1=$(now)
  WAL[$ph]=$(q "$PORT" $DB "SELECT pg_wal_lsn_diff('${END[$ph]}','${START[$ph]}')::bigint")
  say "phase $ph: rows=${ROWS[$ph]} wal_bytes=${WAL[$ph]} start=${START[$ph]} end=${END[$ph]} generated in $(elapsed $t0 $t1)s"
done
q "$PORT" $DB "CHECKPOINT" >/dev/null

# SQL-mode copies (peek does not consume, so one copy per plugin/phase)
for ph in $PHASES; do
  for i in "${!P_LABEL[@]}"; do
    s="q_$(safe "${P_LABEL[$i]}")_$ph"
    q "$PORT" $DB "SELECT pg_copy_logical_replication_slot('tmpl_$ph','$s',false,'${P_NAME[$i]}')" >/dev/null 2>>"$RUNLOG" \
      || say "WARN: cannot create slot $s for ${P_NAME[$i]}"
  done
done

measure_sql() {  # idx phase run
  local i=$1 ph=$2 r=$3 s out t0 t1 st=ok msgs=-1 bytes=-1
  s="q_$(safe "${P_LABEL[$i]}")_$ph"
  t0=$(now)
  out=$(q "$PORT" $DB "SELECT count(*), coalesce(sum(length(data)),0) FROM pg_logical_slot_peek_binary_changes('$s', '${END[$ph]}', NULL, $(sql_opts "${P_OPTS[$i]}"))" 2>>"$RUNLOG") || st=error
  t1=$(now)
  if [ $st = ok ]; then msgs=${out%%|*}; bytes=${out#*|}; fi
  record "${P_LABEL[$i]}" "${P_NAME[$i]}" "${P_OPTS[$i]}" "$ph" sql "$r" "${ROWS[$ph]}" "$msgs" "$bytes" "${WAL[$ph]}" "$(elapsed $t0 $t1)" $st
  say "sql    $ph ${P_LABEL[$i]} run=$r msgs=$msgs bytes=$bytes secs=$(elapsed $t0 $t1) $st"
}

measure_stream() {  # idx phase run
  local i=$1 ph=$2 r=$3 s t0 t1 st=ok rc
  s="s_$(safe "${P_LABEL[$i]}")_${ph}_$r"
  if ! q "$PORT" $DB "SELECT pg_copy_logical_replication_slot('tmpl_$ph','$s',false,'${P_NAME[$i]}')" >/dev/null 2>>"$RUNLOG"; then
    record "${P_LABEL[$i]}" "${P_NAME[$i]}" "${P_OPTS[$i]}" "$ph" stream "$r" "${ROWS[$ph]}" -1 -1 "${WAL[$ph]}" 0 slot_error; return
  fi
  t0=$(now)
  # shellcheck disable=SC2046
  timeout 600 "$PGBIN/pg_recvlogical" -h 127.0.0.1 -p "$PORT" -U postgres -d $DB -S "$s" --start \
      --endpos="${END[$ph]}" -F 0 --no-loop -f /dev/null $(stream_opts "${P_OPTS[$i]}") 2>>"$RUNLOG"
  rc=$?
  t1=$(now)
  [ $rc -eq 0 ] || st=error_rc$rc
  q "$PORT" $DB "SELECT pg_drop_replication_slot('$s')" >/dev/null 2>>"$RUNLOG"
  record "${P_LABEL[$i]}" "${P_NAME[$i]}" "${P_OPTS[$i]}" "$ph" stream "$r" "${ROWS[$ph]}" -1 -1 "${WAL[$ph]}" "$(elapsed $t0 $t1)" $st
  say "stream $ph ${P_LABEL[$i]} run=$r secs=$(elapsed $t0 $t1) $st"
}

measure_nullrecv() {  # idx phase run
  local i=$1 ph=$2 r=$3 s t0 t1 st=ok out msgs=-1 bytes=-1 kv
  s="n_$(safe "${P_LABEL[$i]}")_${ph}_$r"
  if ! q "$PORT" $DB "SELECT pg_copy_logical_replication_slot('tmpl_$ph','$s',false,'${P_NAME[$i]}')" >/dev/null 2>>"$RUNLOG"; then
    record "${P_LABEL[$i]}" "${P_NAME[$i]}" "${P_OPTS[$i]}" "$ph" nullrecv "$r" "${ROWS[$ph]}" -1 -1 "${WAL[$ph]}" 0 slot_error; return
  fi
  local args=()
  if [ -n "${P_OPTS[$i]}" ]; then IFS=',' read -ra args <<<"${P_OPTS[$i]}"; fi
  t0=$(now)
  out=$(timeout 600 "$NULLRECV" "host=127.0.0.1 port=$PORT user=postgres dbname=$DB replication=database" "$s" "${END[$ph]}" "${args[@]}" 2>>"$RUNLOG") || st=error
  t1=$(now)
  if [ $st = ok ]; then msgs=${out%% *}; bytes=${out#* }; fi
  q "$PORT" $DB "SELECT pg_drop_replication_slot('$s')" >/dev/null 2>>"$RUNLOG"
  record "${P_LABEL[$i]}" "${P_NAME[$i]}" "${P_OPTS[$i]}" "$ph" nullrecv "$r" "${ROWS[$ph]}" "$msgs" "$bytes" "${WAL[$ph]}" "$(elapsed $t0 $t1)" $st
  say "nullrecv $ph ${P_LABEL[$i]} run=$r msgs=$msgs bytes=$bytes secs=$(elapsed $t0 $t1) $st"
}

for r in $(seq 1 "$RUNS"); do
  for ph in $PHASES; do
    for i in "${!P_LABEL[@]}"; do
      for m in $MODES; do
        case $m in sql) measure_sql "$i" "$ph" "$r" ;; stream) measure_stream "$i" "$ph" "$r" ;;
                   nullrecv) measure_nullrecv "$i" "$ph" "$r" ;; esac
      done
    done
  done
done

if grep -E 'terminated by signal|PANIC|server process .* was terminated' "$DD/server.log" >/dev/null; then
  say "WARNING: server log shows crashes:"; grep -E 'terminated by signal|PANIC' "$DD/server.log" >&3
fi
say "done; summary in $SUMMARY"
cat "$SUMMARY"
