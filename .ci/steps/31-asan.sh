#!/usr/bin/env bash
# The whole suite, compiled core only, against an AddressSanitizer + LeakSanitizer build of the
# extensions: built with -fsanitize=address into a venv of its own, run with PYTHONMALLOC=malloc
# (every object allocation goes through ASan's malloc) and libasan preloaded into the interpreter,
# leaks checked at exit with .ci/lsan.supp.  Any ASan or LSan report, from the test processes or
# their subprocesses, fails the step, and so does a failing test.  The pure twin's tests are left
# out (EVENTBUS_TEST_IMPLEMENTATIONS=c): they run no instrumented code of ours.  The two halves
# run at once, split by their measured time (.ci/test-times/asan.tsv).
set -euo pipefail
root=$(pwd)
source "$root/.ci/native.sh"
work=$(native_workdir asan)
mkdir -p "$work/logs"

native_apt_install gcc libasan8
asan_runtime=$(gcc -print-file-name=libasan.so)
[ -e "$asan_runtime" ] || { echo "asan: no libasan.so ($asan_runtime)" >&2; exit 1; }

"${CI_VENV:+$CI_VENV/bin/}python3" -m venv "$work/venv"
python="$work/venv/bin/python"
native_copy_tree "$root" "$work/src"
native_install_deps "$root" "$python" test typed
(
  cd "$work/src"
  CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g -O1" LDFLAGS="-fsanitize=address" \
    EVENTBUS_REQUIRE_EXTENSIONS=1 "$python" -m pip install -q --no-build-isolation .
)
# Found, not imported: without the runtime preloaded the instrumented module cannot load.
so=$(find "$work/venv" -path '*/site-packages/eventbus/_core.*.so')
if [ -z "$so" ] || ! nm -D "$so" | grep __asan_init >/dev/null; then  # not grep -q: nm would die of SIGPIPE (pipefail)
  echo "asan: no instrumented _core ($so)" >&2
  exit 1
fi
echo "asan: $so"

cd "$work/src"
status=0
# Through env, so that only the test processes (and their children) get the runtime.
native_run_halves "$root/.ci/test-times/asan.tsv" "$work/logs" env EVENTBUS_TEST_IMPLEMENTATIONS=c LD_PRELOAD="$asan_runtime" PYTHONMALLOC=malloc \
  ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$work/logs/asan" \
  LSAN_OPTIONS="suppressions=$root/.ci/lsan.supp:print_suppressions=0" \
  "$python" -m pytest -p no:cacheprovider -q || status=$?

reports=("$work"/logs/asan.*)
if [ -e "${reports[0]}" ]; then
  cat "${reports[@]}" >&2
  echo "asan: ${#reports[@]} sanitizer report(s), above" >&2
  exit 1
fi
if grep -l "AddressSanitizer\|LeakSanitizer" "$work"/logs/half-*.log >&2; then
  echo "asan: sanitizer output in the test logs" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "asan: the suite failed (exit $status)" >&2
  exit 1
fi
echo "asan: no AddressSanitizer or LeakSanitizer report"
