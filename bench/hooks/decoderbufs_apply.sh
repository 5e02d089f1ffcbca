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
# The initial copy is not part of decoderbufs_apply yet: no copy engine.
eng_ext_copy_start() { :; }
eng_ext_copy_state() { echo init; }
eng_ext_copy_stop() { :; }
