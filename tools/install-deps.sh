#!/usr/bin/env bash
# tools/install-deps.sh - install what building and testing need, if missing.
#
# Debian 12 packages: PostgreSQL 15 server and headers, protobuf-c, the TAP
# test modules, and the peers used as test oracles and benchmark anchors
# (Debezium's decoderbufs, wal2json, pglogical).  Debezium's plugin installs
# a library named decoderbufs.so, like ours; before ours is installed over
# it, it is kept as debezium_decoderbufs.so so both can run side by side.
#
# Runs apt-get as root, or through sudo; does nothing when all is present.
# Packages named as arguments are installed too (`make check-valgrind`
# asks for valgrind).
set -euo pipefail

PACKAGES=(
    build-essential pkg-config
    postgresql-15 postgresql-server-dev-15 postgresql-contrib
    libpq-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
    libipc-run-perl
    postgresql-15-decoderbufs postgresql-15-wal2json postgresql-15-pglogical
    "$@"
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Keep Debezium's plugin under its own name (see above).  Our library
# exports dbufs_sql_to_json; Debezium's does not.
libdir=$(pg_config --pkglibdir)
if [ -f "$libdir/decoderbufs.so" ] && [ ! -f "$libdir/debezium_decoderbufs.so" ] &&
   ! nm -D --defined-only "$libdir/decoderbufs.so" 2>/dev/null | grep -q dbufs_sql_to_json; then
    echo "install-deps: keeping Debezium's decoderbufs.so as debezium_decoderbufs.so"
    as_root cp "$libdir/decoderbufs.so" "$libdir/debezium_decoderbufs.so"
fi
if [ ! -f "$libdir/debezium_decoderbufs.so" ]; then
    # ours may already be installed over it: fetch Debezium's from the package
    deb=$(mktemp -d)
    (cd "$deb" && apt-get download -qq postgresql-15-decoderbufs >/dev/null 2>&1 &&
        dpkg-deb -x postgresql-15-decoderbufs_*.deb x &&
        as_root cp "x/usr/lib/postgresql/15/lib/decoderbufs.so" "$libdir/debezium_decoderbufs.so") ||
        echo "install-deps: WARNING: could not set up debezium_decoderbufs.so" >&2
    rm -rf "$deb"
fi
