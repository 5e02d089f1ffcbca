#!/usr/bin/env bash
# bench/compare_builds.sh - is a build of the plugin byte-identical to
# another one, and to Debezium's plugin, on the same WAL?
#
#   bench/compare_builds.sh [NEW_SO [BASE_SO]]
#
# NEW_SO (default: decoderbufs/decoderbufs.so of this tree) and BASE_SO
# (default: the installed decoderbufs.so) are copied as decoderbufs_new.so
# and decoderbufs_base.so into a directory put first in dynamic_library_path
# of a throwaway cluster, so neither needs installing.  One workload (every
# type Debezium maps, NULLs, empty values, values longer than 127 and 16383
# bytes, unchanged TOAST, each replica identity, updates under FULL that keep
# long values, TRUNCATE, logical messages, and the benchmark's 10-column
# table) is decoded through copies of one slot
# by both builds with several option sets, and by Debezium's plugin
# (debezium_decoderbufs).  The outputs of the two builds must be identical
# for every option set; our default output must differ from Debezium's in
# exactly the messages where the base build differs from it too (the known
# fixes: date +-infinity, UPDATE of a keyless table).
# Prints one line per check and "N passed, N failed"; exits non-zero on a
# failure.  This is how a build is checked before it is installed, since the
# TAP tests run against the installed plugin.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

NEW_SO=${1:-$HERE/../decoderbufs/decoderbufs.so}
BASE_SO=${2:-$("${PG_CONFIG:-pg_config}" --pkglibdir)/decoderbufs.so}
PORT=${PORT:-5503}
DB=cmp

T=$(mktemp -d /tmp/dbench.compare.XXXXXX)
chown "$PGUSER_OS" "$T"
DD=$T/data
cleanup() { pg_stop "$DD"; [ "${KEEP:-0}" = 1 ] || rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$T/lib" "$T/out"
cp "$NEW_SO" "$T/lib/decoderbufs_new.so"
cp "$BASE_SO" "$T/lib/decoderbufs_base.so"
chmod -R a+rX "$T/lib"
pg_new "$DD" "$PORT" \
    "output_plugin_libraries = 'pgoutput, test_decoding, decoderbufs, debezium_decoderbufs, decoderbufs_new, decoderbufs_base'" \
    "dynamic_library_path = '$T/lib:\$libdir'" "logical_decoding_work_mem = 64kB"
pg_start "$DD" || { cat "$DD/server.log"; exit 1; }
q "$PORT" postgres "CREATE DATABASE $DB" >/dev/null

qf "$PORT" $DB - >/dev/null <<'EOF'
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE typed (
    id int PRIMARY KEY, i2 smallint, i8 bigint, o oid, f4 real, f8 float8,
    n numeric(20,5), nn numeric, b bool, c "char", vc varchar(10), bp char(3),
    t text, nm name, by bytea, d date, tm time, ttz timetz, ts timestamp(3),
    tstz timestamptz, iv interval, u uuid, j json, jb jsonb, x xml,
    bt bit(4), vb varbit, m money, p point, ln line, bx box, ci circle,
    inet_ inet, cidr_ cidr, mac macaddr, mac8 macaddr8, tsv tsvector,
    ia int[], ta text[][], e mood, dom posint, comp pair, r int4range,
    mr int4multirange, lsn pg_lsn);
CREATE TABLE "Mixed Case" ("Key" int PRIMARY KEY, "Value" text);
CREATE TABLE full_ri (id int, v text);
ALTER TABLE full_ri REPLICA IDENTITY FULL;
CREATE TABLE idx_ri (a int NOT NULL, b int NOT NULL, v text);
CREATE UNIQUE INDEX idx_ri_ab ON idx_ri (b, a);
ALTER TABLE idx_ri REPLICA IDENTITY USING INDEX idx_ri_ab;
CREATE TABLE nokey (id int, v text);
CREATE TABLE toasted (id int PRIMARY KEY, big text, small int);
ALTER TABLE toasted ALTER big SET STORAGE EXTERNAL;
CREATE TABLE full_long (id int PRIMARY KEY, a text, b text, c text, n int);
ALTER TABLE full_long REPLICA IDENTITY FULL;
ALTER TABLE full_long ALTER c SET STORAGE EXTERNAL;
CREATE TABLE bench (
    id int PRIMARY KEY, b bigint, t text, n numeric(14,4), ts timestamptz,
    f bool, j jsonb, d float8, u uuid, by bytea);
CREATE TABLE bench_full (LIKE bench INCLUDING ALL);
ALTER TABLE bench_full REPLICA IDENTITY FULL;
SELECT pg_create_logical_replication_slot('tmpl', 'test_decoding');
EOF

qf "$PORT" $DB - >/dev/null <<'EOF'
INSERT INTO typed VALUES (1, -32768, 9223372036854775807, 4294967295,
    'NaN', '-Infinity', -12345.6789, 'Infinity', true, 'x', 'varchar', 'ab',
    E'multi\nline \u00e9', 'nm', '\x00ff', '2024-02-29', '24:00:00',
    '12:34:56.789+05:30', '2024-01-01 12:00:00.123',
    'infinity', '1 year 2 mons -3 days 04:05:06.7', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '{"a": [1, 2]}', '{"b": null}', '<x>1</x>', B'1010', B'101', 12.34,
    '(1.5,-2)', '{1,2,3}', '((0,0),(1,1))', '<(1,1),2>', '192.168.0.1/24',
    '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
    'a fat cat', '{1,NULL,3}', '{{"a b",NULL},{"c","d\"e"}}', 'happy', 7,
    ROW(1, 'x y'), '[1,5)', '{[1,3),[7,9)}', '16/B374D848');
INSERT INTO typed (id) VALUES (2);
INSERT INTO typed (id, t, by, ts, tstz, n, f4, f8, i2, d, u) VALUES
    (3, '', '', '-infinity', '1970-01-01 00:00:00+00', 'NaN', 'Infinity', 1e-300, -1, '1900-01-01', '00000000-0000-0000-0000-000000000000');
INSERT INTO typed (id, t, by, vc, ia, jb) VALUES
    (4, repeat('long text ', 20), decode(repeat('ab', 200), 'hex'), 'short',
     ARRAY(SELECT g FROM generate_series(1, 100) g), jsonb_build_object('k', repeat('v', 300))),
    (5, repeat('x', 20000), decode(repeat('cd', 10000), 'hex'), NULL, NULL, NULL);
INSERT INTO typed (id, d, ttz, p, ts) VALUES (20, 'infinity', '01:02:03-04', '(-0,1e300)', '294000-01-01'), (21, '-infinity', NULL, NULL, NULL);
UPDATE typed SET t = 'changed' WHERE id = 1;
UPDATE typed SET id = 10 WHERE id = 2;
DELETE FROM typed WHERE id = 3;
INSERT INTO "Mixed Case" VALUES (1, 'x');
UPDATE "Mixed Case" SET "Value" = 'y';
INSERT INTO full_ri VALUES (1, 'a'), (2, NULL);
UPDATE full_ri SET v = 'b' WHERE id = 1;
DELETE FROM full_ri WHERE id = 2;
INSERT INTO idx_ri VALUES (1, 2, 'v');
UPDATE idx_ri SET v = 'w';
UPDATE idx_ri SET a = 3;
DELETE FROM idx_ri;
INSERT INTO nokey VALUES (1, 'a');
UPDATE nokey SET v = 'c';
DELETE FROM nokey;
INSERT INTO toasted VALUES (1, repeat('x', 100000), 1);
UPDATE toasted SET small = 2;
DELETE FROM toasted;
INSERT INTO full_long VALUES (1, repeat('a', 300), repeat('b', 20000), repeat('c', 5000), 1),
    (2, 'short', NULL, NULL, 2);
UPDATE full_long SET n = n + 10;
UPDATE full_long SET a = a || 'x', b = NULL WHERE id = 1;
UPDATE full_long SET c = 'now short' WHERE id = 1;
DELETE FROM full_long;
TRUNCATE nokey;
SELECT pg_logical_emit_message(true, 'p', 'transactional');
SELECT pg_logical_emit_message(false, 'p', 'not transactional');
INSERT INTO bench SELECT g, g::bigint*1000003, substr(repeat(md5(g::text),4),1,100), (g*1.2345)::numeric(14,4), '2024-01-01'::timestamptz + g*interval '1 second', g%2=0, jsonb_build_object('k',g,'s',md5(g::text)), g*0.5, md5(g::text)::uuid, decode(md5(g::text),'hex') FROM generate_series(1, 2000) g;
INSERT INTO bench_full SELECT * FROM bench;
UPDATE bench SET b = b + 1, t = substr(repeat(md5((id+7)::text),4),1,100) WHERE id % 2 = 0;
DELETE FROM bench WHERE id % 4 = 1;
UPDATE bench_full SET b = b + 1, t = substr(repeat(md5((id+7)::text),4),1,100) WHERE id % 2 = 0;
DELETE FROM bench_full WHERE id % 4 = 1;
EOF
END=$(q "$PORT" $DB "SELECT pg_current_wal_insert_lsn()")
# decoding reads only flushed WAL, and commits here are asynchronous
q "$PORT" $DB "CHECKPOINT" >/dev/null

passed=0
failed=0
check() {  # description, command...
    local what=$1; shift
    if "$@"; then echo "ok: $what"; passed=$((passed + 1)); else echo "FAILED: $what"; failed=$((failed + 1)); fi
}
decode() {  # plugin name opts-as-sql-args -> $T/out/<name>
    local plugin=$1 name=$2 args=${3:-} fn=pg_logical_slot_peek_binary_changes col="encode(data, 'hex')"
    case "$args" in *debug-mode*) fn=pg_logical_slot_peek_changes; col=data ;; esac
    q "$PORT" $DB "SELECT pg_copy_logical_replication_slot('tmpl', 's_$name', false, '$plugin')" >/dev/null
    q "$PORT" $DB "SELECT $col FROM $fn('s_$name', '$END', NULL $args)" > "$T/out/$name" 2>>"$T/out/stderr"
}

# option sets both builds must encode identically
i=0
while IFS= read -r opts; do
    i=$((i + 1))
    decode decoderbufs_base "base$i" "$opts"
    decode decoderbufs_new "new$i" "$opts"
    n=$(wc -l < "$T/out/new$i")
    check "option set$( [ -n "$opts" ] && echo " ${opts#, }" || echo ' (none)'): $n messages, identical" \
        cmp -s "$T/out/base$i" "$T/out/new$i"
    [ "$n" -gt 0 ] || { echo "FAILED: no output for ${opts:-(none)}"; failed=$((failed + 1)); }
done <<'EOF'

, 'compact', '1'
, 'compact', '1', 'batch-size', '4096'
, 'compact', '1', 'include-key-flags', '1', 'include-names', '1', 'skip-empty-xacts', '0'
, 'include-lsn', '1', 'include-xid64', '1', 'include-names', '1', 'include-key-flags', '1', 'exact-values', '1', 'include-truncate', '1', 'include-messages', '1', 'include-origin', '1'
, 'batch-size', '256', 'include-type-info', '0'
, 'debug-mode', '1'
EOF

# against Debezium: the same messages differ for both builds
decode debezium_decoderbufs dbz ""
differing() {  # file -> line numbers that differ from Debezium's
    awk 'NR == FNR { d[FNR] = $0; next } d[FNR] != $0 { print FNR }' "$T/out/dbz" "$1"
}
check "as many messages as Debezium ($(wc -l < "$T/out/dbz"))" \
    [ "$(wc -l < "$T/out/dbz")" = "$(wc -l < "$T/out/new1")" ]
nd=$(differing "$T/out/new1" | wc -l)
check "the $nd messages that differ from Debezium's are the base build's known differences" \
    [ "$(differing "$T/out/new1")" = "$(differing "$T/out/base1")" ]
check "byte-identical to Debezium in $(( $(wc -l < "$T/out/dbz") - nd )) messages" [ "$nd" -le 4 ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
