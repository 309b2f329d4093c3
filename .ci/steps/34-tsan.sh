#!/usr/bin/env bash
# ThreadSanitizer: free-threaded CPython 3.13t built with --with-thread-sanitizer (by
# .ci/build-ft-python.sh, cached under ~/.cache/eventbus-ci) and the compiled core built with
# -fsanitize=thread, then the compiled core's multi-threaded tests with the GIL off: every test
# whose name or file names threads (-k thread: the thread storms, the registry's paths taken
# while another thread holds the lock, the codec's first decodes from many threads).  A
# single-threaded test cannot race, and under the sanitizer it only costs time.  Any
# ThreadSanitizer report outside .ci/tsan.supp fails the step, and so does a failing test.  The
# storms run at EVENTBUS_STORM_SCALE=0.1 with a 300 s watchdog (tests/helpers_core.py): the
# sanitizer makes each operation several times slower.
# Env from .ci/run: CI_WORK, cwd = repo root.
set -euo pipefail
root=$(pwd)
source "$root/.ci/native.sh"
work=$(native_workdir tsan)
mkdir -p "$work/logs"
unset PYTHON_GIL

tsan_python=$(bash "$root/.ci/build-ft-python.sh" tsan)
"$tsan_python" -m venv "$work/venv"
python="$work/venv/bin/python"
quiet() { grep -v "^WARNING: Location '.*' is ignored" || true; }
# pip itself runs under the sanitizer here: its own reports are not ours.
export TSAN_OPTIONS="report_bugs=0"
"$python" -m pip install -q --only-binary hypothesis hypothesis 2>&1 | quiet
native_install_deps "$root" "$python" test 2>&1 | quiet
native_copy_tree "$root" "$work/src"
(
  cd "$work/src"
  CFLAGS="-fsanitize=thread -fno-omit-frame-pointer -g -O1" LDFLAGS="-fsanitize=thread" \
    EVENTBUS_REQUIRE_EXTENSIONS=1 "$python" -m pip install -q --no-build-isolation . 2>&1 | quiet
)
so=$(find "$work/venv" -path '*/site-packages/eventbus/_core.*.so')
if [ -z "$so" ] || ! nm "$so" | grep __tsan_func_entry >/dev/null; then  # not grep -q: nm would die of SIGPIPE (pipefail)
  echo "tsan: no instrumented _core ($so)" >&2
  exit 1
fi
echo "tsan: $so"

cd "$work/src"
export PYTHONPATH="$root/.ci"
export EVENTBUS_TEST_IMPLEMENTATIONS=c EVENTBUS_STORM_SCALE=0.1 EVENTBUS_STORM_TIMEOUT=300
# history_size=7 (the most): the other access's stack must be restorable, or a suppression of
# CPython's optimistic reads (tsan.supp) cannot match it ("[failed to restore the stack]").
export TSAN_OPTIONS="suppressions=$root/.ci/tsan.supp:halt_on_error=0:log_path=$work/logs/tsan:second_deadlock_stack=1:history_size=7"
status=0
"$python" -m pytest -p no:cacheprovider -p gil_guard -q tests -k thread \
  >"$work/logs/tests.log" 2>&1 || status=$?
tail -n 3 "$work/logs/tests.log"

reports=("$work"/logs/tsan.*)
if [ -e "${reports[0]}" ]; then
  cat "${reports[@]}" >&2
  count=$(cat "${reports[@]}" | grep -c "WARNING: ThreadSanitizer" || true)
  echo "tsan: $count ThreadSanitizer report(s), above" >&2
  exit 1
fi
if grep -l "ThreadSanitizer" "$work/logs/tests.log" >&2; then
  cat "$work/logs/tests.log" >&2
  echo "tsan: sanitizer output in the test log" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  cat "$work/logs/tests.log" >&2
  echo "tsan: the tests failed (exit $status)" >&2
  exit 1
fi
echo "tsan: no ThreadSanitizer report"
