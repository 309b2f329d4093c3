#!/usr/bin/env bash
# Line coverage over the whole suite: the compiled modules (_core.pyx, _fastcodec.pyx) through
# Cython's coverage plugin on a line-tracing build (EVENTBUS_CYTHON_TRACE=1, built in place inside
# a copy of the tree, so the plugin finds each .pyx and .c beside its extension), the pure modules
# as usual.  Fails when a module of FLOORS falls under its floor.  The suite runs in two halves at
# once, split by their measured time (.ci/test-times/coverage.tsv).
#
# Why the core's last lines stay missing in this step (it runs with the GIL, on one thread):
# - free-threaded builds only (33-free-threaded.sh runs the suite there): the per-thread registry
#   copies, the pure Data() through slot descriptors, the pure dispatch reading with _lookup;
# - an allocation failure (MemoryError in __cinit__), a race between two dict reads
#   (_core_py._lookup's KeyError), and lines unreachable by construction (a return after a call
#   that always raises, branches whose cases every caller handles first);
# - in a forked child (the locks made anew there: coverage does not follow the child);
# - an asynchronous exception at one given line, which the fault tests inject into the registry
#   (tests/core/test_registry_faults.py, test_registry_paths.py) under their own sys.settrace,
#   which displaces coverage's tracer for that test: those lines count as missing.
set -euo pipefail
root=$(pwd)
source "$root/.ci/native.sh"
work=$(native_workdir coverage)

# Each module with a floor (its path under src/eventbus; several, comma-separated, share one)
# and the floor in percent: what this step measures, rounded down, so that a test removed or a
# new path left untested fails it.  The twins are the hot path only; the registry, the handler
# helpers and the observed dispatch are one source both implementations run, measured together.
FLOORS=(
  "_core.pyx 96"
  "_core_py.py 91"
  "_registry.py,_handlers.py,_observe.py 96"
  "_codec/_fastcodec.pyx 95"
  "_codec/encode.py 92"
  "_codec/decode.py 96"
  "_codec/plans.py 84"
  "_codec/engine.py 78"
  "_codec/types.py 94"
)

"${CI_VENV:+$CI_VENV/bin/}python3" -m venv "$work/venv"
python="$work/venv/bin/python"
native_copy_tree "$root" "$work/src"
native_install_deps "$root" "$python" test typed coverage

cd "$work/src"
EVENTBUS_CYTHON_TRACE=1 EVENTBUS_REQUIRE_EXTENSIONS=1 "$python" setup.py -q build_ext --inplace \
  >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
for module in "${FLOORS[@]}"; do
  pyx=src/eventbus/${module%% *}
  [[ $pyx == *.pyx ]] || continue
  traced_lines=$(grep -c '__Pyx_TraceLine(' "${pyx%.pyx}.c" || true)
  if [ "$traced_lines" -lt 50 ] || ! grep -q '"CYTHON_TRACE_NOGIL"' "${pyx%.pyx}.c"; then
    echo "coverage: ${pyx%.pyx}.c was not generated for line tracing" >&2
    exit 1
  fi
done
export PYTHONPATH="$work/src/src"
"$python" -c 'import eventbus, eventbus._core as c; assert eventbus.implementation == "cython"; print("coverage:", c.__file__)'

rcfile="$root/.ci/coveragerc"
# Not under a line tracer: what happens at the recursion limit.  The tracer's own calls run
# at the limit too, so a 300-deep payload can decode there and the deep re-dispatch leaves
# references with the tracer; both tests run untraced in the main test command and (the
# references) on python3.11-dbg in 30-debug-refs.sh.
untraced=(
  --deselect "tests/codec/test_decode.py::test_deeply_nested_valid_json_is_a_decode_error[py-300]"
  --deselect "tests/codec/test_decode.py::test_deeply_nested_valid_json_is_a_decode_error[c-300]"
  --deselect "tests/stress/test_refs.py::test_references_stay_flat[c-recursion]"
  # A Python tracer of its own, raising at a line of the registry under a compiled bus whose
  # frames are line-traced: Cython hands it f_trace = None (they run in the main test command).
  --deselect "tests/core/test_registry_paths.py::test_unregister_by_handler_passes_a_registration_an_interruption_left_removed_unmarked[c]"
  --deselect "tests/core/test_registry_paths.py::test_a_queued_mute_applied_again_after_an_interruption_takes_effect_once[c]"
  --deselect "tests/core/test_registry_paths.py::test_a_dispatch_reading_the_mutes_as_the_last_one_ends_never_fails[c]"
)
native_run_halves "$root/.ci/test-times/coverage.tsv" "$work" \
  "$python" -m coverage run --rcfile="$rcfile" -m pytest -p no:cacheprovider -q "${untraced[@]}"
"$python" -m coverage combine --rcfile="$rcfile" -q
"$python" -m coverage report --rcfile="$rcfile"
failed=()
for module in "${FLOORS[@]}"; do
  read -r path floor <<<"$module"
  echo "coverage: $path, floor $floor%"
  "$python" -m coverage report --rcfile="$rcfile" --include="*/src/eventbus/${path//,/,*/src/eventbus/}" \
    -m --fail-under="$floor" || failed+=("$path")
done
if [ "${#failed[@]}" -ne 0 ]; then
  echo "coverage: under the floor: ${failed[*]}" >&2
  exit 1
fi
