# bench/hooks/decoderbufs_apply.sh - the "ext" engine of apply_bench.sh:
# our decoderbufs_apply extension (see apply_bench.sh for the interface).
# The source only needs the decoderbufs plugin, which the harness allows in
# output_plugin_libraries; the target preloads decoderbufs_apply.

eng_ext_conf_src() { :; }
eng_ext_conf_tgt() { echo "shared_preload_libraries = 'decoderbufs_apply'"; }
eng_ext_init() {
  q $TP $DB "CREATE EXTENSION decoderbufs_apply" >/dev/null
}
eng_ext_stream_start() {
  q $TP $DB "SELECT decoderbufs_apply.create_subscription('bench_stream', '$SRC_DSN',
      tables => ARRAY['public.bench_apply', 'public.bench_marker'])" >/dev/null
  local i
  for i in $(seq 1 600); do
    [ "$(q $TP $DB "SELECT state FROM decoderbufs_apply.subscription_status WHERE subscription = 'bench_stream'")" = streaming ] && return 0
    sleep 0.05
  done
  say "WARN: decoderbufs_apply bench_stream not streaming"
}
eng_ext_stream_slot() { echo dbufs_bench_stream; }
eng_ext_pause()  { q $TP $DB "SELECT decoderbufs_apply.disable_subscription('bench_stream')" >/dev/null; }
eng_ext_resume() { q $TP $DB "SELECT decoderbufs_apply.enable_subscription('bench_stream')" >/dev/null; }
# The initial copy (copy test): a subscription of bench_copy alone with
# copy_data, copying with COPY_PARALLELISM workers (2, as native's
# max_sync_workers_per_subscription); its tables' progress is in
# decoderbufs_apply.table_sync (waiting, copying, ready): copying once the
# table is no longer waiting, done when it is ready.  If the
# subscription cannot be created, eng_ext_copy_state says done at once, so
# the harness records the empty table as a mismatch instead of waiting for
# its 600 s timeout (the error is in the run's log).
eng_ext_copy_start() {
  local out
  rm -f "$T/ext_copy_failed"
  out=$(q $TP $DB "SELECT decoderbufs_apply.create_subscription(name => 'bench_copy', conninfo => '$SRC_DSN',
      tables => ARRAY['public.bench_copy'], copy_data => true, copy_parallelism => ${COPY_PARALLELISM:-2})" 2>&1) || {
    say "WARN: decoderbufs_apply bench_copy not created: ${out//$'\n'/ }"
    touch "$T/ext_copy_failed"
  }
}
eng_ext_copy_state() {  # -> init | copying | done
  [ -f "$T/ext_copy_failed" ] && { echo done; return; }
  local r ready total waiting
  r=$(q $TP $DB "SELECT count(*) FILTER (WHERE state = 'ready'), count(*), count(*) FILTER (WHERE state = 'waiting')
      FROM decoderbufs_apply.table_sync s JOIN decoderbufs_apply.subscription u USING (sub_id)
      WHERE u.sub_name = 'bench_copy'")
  IFS='|' read -r ready total waiting <<<"$r"
  if [ "${total:-0}" = 1 ] && [ "$ready" = 1 ]; then echo done
  elif [ "${total:-0}" != 0 ] && [ "$waiting" != "$total" ]; then echo copying
  else echo init; fi
}
eng_ext_copy_stop() {
  [ -f "$T/ext_copy_failed" ] && return 0
  q $TP $DB "SELECT decoderbufs_apply.drop_subscription('bench_copy')" >/dev/null
}
