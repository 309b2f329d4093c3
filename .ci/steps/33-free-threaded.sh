#!/usr/bin/env bash
# Free-threaded CPython 3.13t with the GIL off: the compiled core built for it, then the whole
# suite (thread storms and concurrency tests included, at full size), the pytest-run-parallel
# rerun (.ci/stress-args.sh, as in 20-stress.sh) and the scaling benchmark's quick run.  The
# interpreter is built once by .ci/build-ft-python.sh and cached under ~/.cache/eventbus-ci.
# .ci/gil_guard.py fails a run in which the GIL was enabled at any point, or the compiled core
# was not the one imported.
#
# Typed payloads: pydantic-core (Rust) and msgspec (an explicit #error before 3.14) have no
# 3.13t wheels and cannot be built here, so EVENTBUS_TYPED_DEPS_REQUIRED does not apply on
# this interpreter: the step tries binary wheels of the typed group, and when there are none,
# the run may skip the typed-payload tests for that reason only, and any skip for another
# reason fails the step.  (The same tests run, required, on 3.11-3.13 in the main test command.)
# Once wheels exist they are installed and required here too.
# Env from .ci/run: CI_WORK, cwd = repo root.
set -euo pipefail
root=$(pwd)
source "$root/.ci/native.sh"
source "$root/.ci/stress-args.sh"
work=$(native_workdir free-threaded)
mkdir -p "$work/logs"
unset PYTHON_GIL

ft=$(bash "$root/.ci/build-ft-python.sh" ft)
"$ft" -m venv "$work/venv"
python="$work/venv/bin/python"
quiet() { grep -v "^WARNING: Location '.*' is ignored" || true; }
# Recent hypothesis releases need a Rust build: the newest binary wheel instead.
"$python" -m pip install -q --only-binary hypothesis hypothesis 2>&1 | quiet
native_install_deps "$root" "$python" stress 2>&1 | quiet
if "$python" -m pip install -q --only-binary :all: --group "$root/pyproject.toml:typed" >"$work/logs/typed.log" 2>&1; then
  export EVENTBUS_TYPED_DEPS_REQUIRED=1
  echo "free-threaded: typed dependency group installed: typed-payload tests required"
else
  unset EVENTBUS_TYPED_DEPS_REQUIRED
  echo "free-threaded: no 3.13t wheels for the typed dependency group (pydantic, msgspec): typed-payload tests skip here, for that reason only"
fi
native_copy_tree "$root" "$work/src"
(cd "$work/src" && EVENTBUS_REQUIRE_EXTENSIONS=1 "$python" -m pip install -q --no-build-isolation . 2>&1 | quiet)

cd "$work/src"
export PYTHONPATH="$root/.ci"
# -rs lists every skip with its reason, for the check below.
status=0
# This step shares its stage with ThreadSanitizer: a storm of 12 threads on 2 busy cores gets
# twice the usual 60 s before its watchdog calls it a deadlock (a real one still fails there).
EVENTBUS_STORM_TIMEOUT=120 "$python" -m pytest -p no:cacheprovider -p gil_guard -q -rs tests \
  >"$work/logs/suite.log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  cat "$work/logs/suite.log" >&2
  echo "free-threaded: the suite failed (exit $status)" >&2
  exit 1
fi
grep -E "^SKIPPED|passed|gil_guard" "$work/logs/suite.log"
grep -q "gil_guard: the GIL stayed disabled" "$work/logs/suite.log" || { echo "free-threaded: no GIL report" >&2; exit 1; }
# The only skips allowed: the typed extra (no 3.13t wheels) and the database drivers, whose
# tests the databases session runs.
if grep "^SKIPPED" "$work/logs/suite.log" | grep -v -e "needs the typed extra (pydantic, msgspec)" \
  -e "is not installed (pip install --group databases .)"; then
  echo "free-threaded: tests skipped for another reason than the typed extra or a database driver (above)" >&2
  exit 1
fi

# 4 threads per test over the whole suite.  A thread test runs four times at once here (3
# threads become 12 on 2 cores), so its watchdog gets 4x the usual 60 s: on a loaded machine a
# slow test still making progress must not count as a deadlock.  A real deadlock still fails,
# at 240 s, with every thread's stack.
EVENTBUS_STORM_TIMEOUT=240 "$python" -m pytest -p gil_guard "${stress_args[@]}"

# The scaling benchmark runs (a short run: its numbers are not judged here, see the README).
"$python" -m benchmarks.scaling --scale 0.1 --repetitions 1
