#!/usr/bin/env bash
# Free-threaded CPython 3.13 ("3.13t"), built once and cached outside the clone.
#
#   bash .ci/build-ft-python.sh [ft|tsan]     # prints the interpreter's path on stdout
#
#   ft    ./configure --disable-gil                          -> $CACHE/python3.13t
#   tsan  ./configure --disable-gil --with-thread-sanitizer  -> $CACHE/python3.13t-tsan
#
# CACHE is $EVENTBUS_CI_CACHE, default ~/.cache/eventbus-ci.  An existing build (its
# prefix holds a .complete stamp naming the sources and flags) is reused and nothing is
# downloaded; otherwise the sources come from Debian trixie's python3.13 *source package*
# (a throwaway sources list under the cache, so the system's apt setup is never touched;
# apt checks the tarball against trixie's signed Release file) and are built with make -j2
# (build times: docs/benchmarks.md, "CI").  One build of each variant at a time: a lock per
# variant under the cache serialises the callers that want the same one (ft and tsan build at
# once), and a build installs into a temporary prefix that is renamed into place only once
# complete, so an interrupted build is never reused.
# Progress goes to stderr, the build's own output to $CACHE/<name>.build.log.
set -euo pipefail

variant=${1:-ft}
case "$variant" in
  ft) name=python3.13t; flags=(--disable-gil) ;;
  # No test package, and its byte-code compiled by the plain build (below).
  tsan) name=python3.13t-tsan; flags=(--disable-gil --with-thread-sanitizer --disable-test-modules) ;;
  *) echo "build-ft-python: unknown variant '$variant' (ft or tsan)" >&2; exit 2 ;;
esac
# The Debian revision that was verified here; any 3.13.5 revision ships the same
# upstream tarball, so a mirror that has moved on falls back to its current one.
debian_version=3.13.5-2+deb13u5
upstream=3.13.5
cache=${EVENTBUS_CI_CACHE:-$HOME/.cache/eventbus-ci}
prefix=$cache/$name
stamp="cpython $upstream ${flags[*]}"
python=$prefix/bin/python3.13t

install_args=()
if [ "$variant" = tsan ]; then
  # make altinstall byte-compiles the whole standard library three times with the
  # interpreter just built: under ThreadSanitizer that took longer than the build.  Only
  # the top-level modules are compiled (-l); the rest compile at first import.  (Another
  # interpreter cannot do it: the build's module check loads the instrumented modules.)
  install_args=(COMPILEALL_OPTS="-j0 -l")
fi
mkdir -p "$cache"
exec 9>"$cache/$name.lock"
flock 9
if [ -x "$python" ] && [ "$(cat "$prefix/.complete" 2>/dev/null)" = "$stamp" ]; then
  echo "$python"
  exit 0
fi

log=$cache/$name.build.log
: >"$log"
echo "build-ft-python: building $name ($stamp), log in $log" >&2
start=$SECONDS

src=$cache/src
tarball=$src/python3.13_$upstream.orig.tar.xz
# The sources are shared by both variants: fetched under a lock of their own.
mkdir -p "$src"
exec 8>"$src.lock"
flock 8
if [ ! -s "$tarball" ]; then
  mkdir -p "$src/lists/partial"
  echo "deb-src http://deb.debian.org/debian trixie main" >"$src/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$src/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$src/lists" -o Dir::Etc::Preferences=/dev/null
    -o Dir::Etc::PreferencesParts=/dev/null)
  apt-get "${apt_opts[@]}" update >>"$log" 2>&1
  (
    cd "$src"
    apt-get "${apt_opts[@]}" source --download-only --tar-only "python3.13=$debian_version" >>"$log" 2>&1 ||
      apt-get "${apt_opts[@]}" source --download-only --tar-only python3.13 >>"$log" 2>&1
  )
  [ -s "$tarball" ] || { echo "build-ft-python: no $tarball (see $log)" >&2; exit 1; }
fi
exec 8>&-

build=$(mktemp -d "$cache/build-$name.XXXXXX")
trap 'rm -rf "$build" "$prefix.tmp"' EXIT
tar -C "$build" -xf "$tarball"
rm -rf "$prefix.tmp"
(
  cd "$build/Python-$upstream"
  ./configure "${flags[@]}" --prefix="$prefix" --without-ensurepip
  make -j2
  # Staged: installed under $prefix.tmp, with $prefix as its prefix.
  make altinstall DESTDIR="$prefix.tmp" "${install_args[@]}"
) >>"$log" 2>&1 || { tail -n 30 "$log" >&2; echo "build-ft-python: build failed (log: $log)" >&2; exit 1; }
rm -rf "$prefix"
mv "$prefix.tmp$prefix" "$prefix"
"$python" -m ensurepip --altinstall >>"$log" 2>&1
echo "$stamp" >"$prefix/.complete"
echo "build-ft-python: $name built in $((SECONDS - start)) s" >&2
echo "$python"
