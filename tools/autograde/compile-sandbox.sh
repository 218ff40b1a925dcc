#!/bin/sh
# The compiler launcher of the autograder's tree (CMAKE_CXX_COMPILER_LAUNCHER="this;CONF[;ccache]").
#   compile-sandbox.sh CONF [ccache] COMPILER ARGS...
# A compile of a file under $SRC_PREFIX (a student's file) runs sandboxed; any other compile runs as is.
# Sandboxed (see tools/autograde/SECURITY.md): a new mount and network namespace (as root) in which
# every folder in $MASKS and $SRC_PREFIX itself are hidden under empty tmpfs mounts, the one source
# being compiled is put back alone at its own path, the compiler runs as $GRADER_USER with limits on
# CPU time, address space, file size and processes, under a wall-clock timeout, and writes its object
# into a fresh temporary folder; the object is copied to where ninja expects it afterwards.
set -eu
conf=$1
shift
. "$conf"   # SRC_PREFIX MASKS GRADER_USER CPU_SECONDS MEM_KB WALL_SECONDS FSIZE_KB

# The grader builds the instructor's solutions (its setup, before any student file is written) with
# NIBBLE_COMPILE_TRUSTED=1: compiled as is. Student builds never have it in their environment.
if [ "${NIBBLE_COMPILE_TRUSTED:-}" = 1 ]; then
  exec "$@"
fi
src=""
for a in "$@"; do
  case "$a" in "$SRC_PREFIX"*) src=$a ;; esac
done
if [ -z "$src" ]; then
  exec "$@"
fi
if [ "${1##*/}" = ccache ]; then shift; fi   # no shared cache for a student's compile

tmp=$(mktemp -d /tmp/nibble-compile.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp "$src" "$tmp/src.cpp"
obj="" dep=""
# The arguments, with the object and the depfile redirected into $tmp.
set -- "$@" --end--
prev=""
for a in "$@"; do
  shift
  if [ "$a" = --end-- ]; then break; fi
  if [ "$prev" = -o ]; then obj=$a; a=$tmp/out.o; fi
  if [ "$prev" = -MF ]; then dep=$a; a=$tmp/out.d; fi
  set -- "$@" "$a"
  prev=$a
  if [ "$a" = "$tmp/out.o" ] || [ "$a" = "$tmp/out.d" ]; then prev=""; fi
done
chmod 755 "$tmp"
if [ -n "$GRADER_USER" ]; then
  chown "$GRADER_USER" "$tmp"
  # shellcheck disable=SC2016
  unshare -m -n -- sh -c '
    set -eu
    src=$1 tmp=$2; shift 2
    mount --make-rprivate /
    for m in $MASKS "$SRC_PREFIX"; do
      if [ -d "$m" ]; then mount -t tmpfs -o size=64k,mode=755 nibble-masked "$m"; fi
    done
    mkdir -p "$(dirname "$src")"
    cp "$tmp/src.cpp" "$src"
    exec setpriv --reuid "$GRADER_USER" --regid "$GRADER_USER" --clear-groups --inh-caps=-all --no-new-privs -- \
      env TMPDIR="$tmp" prlimit --cpu="$CPU_SECONDS" --as="$((MEM_KB * 1024))" --fsize="$((FSIZE_KB * 1024))" \
      --nproc=256 --nofile=256 -- timeout -k 2 "$WALL_SECONDS" "$@"
  ' compile-sandbox "$src" "$tmp" "$@"
else
  TMPDIR=$tmp prlimit --cpu="$CPU_SECONDS" --as="$((MEM_KB * 1024))" --fsize="$((FSIZE_KB * 1024))" -- \
    timeout -k 2 "$WALL_SECONDS" "$@"
fi
cp "$tmp/out.o" "$obj"
if [ -n "$dep" ] && [ -f "$tmp/out.d" ]; then cp "$tmp/out.d" "$dep"; fi
