#!/usr/bin/env bash
# tools/sanitizer_install.sh - a private copy of a PostgreSQL installation
# whose server runs under a memory checker, for `make check-asan` and
# `make check-valgrind` (tools/sanitizer_check.sh).
#
#   tools/sanitizer_install.sh MODE BASE_PG_CONFIG PREFIX
#
# MODE is asan or valgrind.  The installation of BASE_PG_CONFIG is copied
# under PREFIX, keeping its absolute paths (PREFIX/usr/lib/postgresql/15/...
# for Debian's), so that the copy's pg_config, server and PGXS find each
# other by their usual relative paths; the headers are linked, not copied.
# The base installation is never modified.  In the copy, bin/postgres
# becomes tools/sanitizer_postgres.sh and the real server postgres.real;
# sanitizer.env next to them says how to run it.  Prints the copy's
# pg_config.  An existing copy under PREFIX is replaced.
set -euo pipefail

mode=$1
base=$2
prefix=$3
here=$(cd "$(dirname "$0")" && pwd)

case $mode in
    asan)
        # the ASan runtime of the compiler that builds the modules; it must
        # be the first library of the server process (LD_PRELOAD)
        runtime=$(${CC:-gcc} -print-file-name=libasan.so)
        if [ ! -f "$runtime" ]; then
            echo "sanitizer_install: ${CC:-gcc} has no libasan.so (Debian: the package libasan8)" >&2
            exit 1
        fi
        runtime=$(readlink -f "$runtime")
        ;;
    valgrind)
        runtime=$(command -v valgrind || true)
        if [ -z "$runtime" ]; then
            echo "sanitizer_install: valgrind is not installed (Debian: apt-get install valgrind)" >&2
            exit 1
        fi
        ;;
    *)
        echo "usage: $0 asan|valgrind BASE_PG_CONFIG PREFIX" >&2
        exit 2
        ;;
esac

bindir=$("$base" --bindir)
pkglibdir=$("$base" --pkglibdir)
sharedir=$("$base" --sharedir)
case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
case $bindir/ in "$prefix"/*)
    echo "sanitizer_install: $base already lies under $prefix" >&2
    exit 1
esac

rm -rf "$prefix"
mkdir -p "$prefix"
# server binaries, libraries (PGXS included) and data files: real copies
for d in "$bindir" "$pkglibdir" "$sharedir"; do
    [ -e "$prefix$d" ] && continue
    mkdir -p "$(dirname "$prefix$d")"
    cp -a "$(readlink -f "$d")" "$prefix$d"
done
# headers: links
for opt in --includedir --pkgincludedir --includedir-server; do
    d=$("$base" $opt)
    [ -e "$prefix$d" ] && continue
    mkdir -p "$(dirname "$prefix$d")"
    ln -s "$(readlink -f "$d")" "$prefix$d"
done

bin=$prefix$bindir
if [ "$mode" = asan ]; then
    # see tools/sanitizer_preload.c: preloaded after the runtime
    ${CC:-gcc} -shared -fPIC -O2 -o "$prefix/sanitizer_preload.so" "$here/sanitizer_preload.c"
    runtime=$runtime:$prefix/sanitizer_preload.so
fi
mv "$bin/postgres" "$bin/postgres.real"
cp "$here/sanitizer_postgres.sh" "$bin/postgres"
chmod 755 "$bin/postgres"
cp "$here/valgrind.supp" "$prefix/valgrind.supp"
{
    echo "# written by tools/sanitizer_install.sh; read by bin/postgres"
    printf 'SANITIZER_MODE=%q\n' "$mode"
    printf 'SANITIZER_RUNTIME=%q\n' "$runtime"
    printf 'SANITIZER_SUPPRESSIONS=%q\n' "$prefix/valgrind.supp"
    printf 'SANITIZER_LOGDIR=%q\n' "$prefix/log"
} > "$bin/sanitizer.env"
mkdir -p "$prefix/log"
chmod 1777 "$prefix/log"

echo "$bin/pg_config"
