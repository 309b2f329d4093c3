#!/usr/bin/env bash
# Line coverage of both implementations over the whole suite: _core.pyx through Cython's
# coverage plugin on a line-tracing build (EVENTBUS_CYTHON_TRACE=1, built in place inside a
# copy of the tree, so the plugin finds _core.pyx and _core.c beside the extension) and
# _core_py.py and the single source as usual.  Fails when any falls under its floor.
set -euo pipefail
root=$(pwd)
source "$root/.ci/native.sh"
work=$(native_workdir coverage)
# The twins are the hot path only; the registry, the handler helpers and the observed dispatch
# are one source both implementations run (_registry.py, _handlers.py, _observe.py), measured
# together.  On 2026-12-06: _core.pyx 96.6% (8 of 232 lines missing), _core_py.py 92.5% (19 of
# 255), the single source 97.0% (26 of 875).  What stays missing is never run in this step, and why:
# - free-threaded builds only (this step runs with the GIL; 33-free-threaded.sh runs the suite
#   there): the per-thread registry copies (_core.pyx __cinit__/_bump/_slow/_local_of, the
#   registry's _bump calls), the pure Data() through slot descriptors, the pure call/publish
#   reading the registry with _lookup;
# - an allocation failure (MemoryError in __cinit__) and a race between two dict reads
#   (_core_py._lookup's KeyError: a writer on another thread between the test and the read);
# - in a forked child (the locks made anew there: coverage does not follow the child);
# - unreachable by construction: _raise_noted's return after a call that always raises,
#   _Index.usable()'s `others` test, the index fast path's `return False`;
# - only after an asynchronous exception at one given line (a signal handler's), which the
#   fault tests (tests/core/test_registry_faults.py, test_registry_paths.py) inject under their
#   own sys.settrace, displacing coverage's tracer for that test, so they count as missing.
floor_pyx=96
floor_py=92
floor_single=96.5

"${CI_VENV:+$CI_VENV/bin/}python3" -m venv "$work/venv"
python="$work/venv/bin/python"
native_copy_tree "$root" "$work/src"
native_install_deps "$root" "$python" test typed coverage

cd "$work/src"
EVENTBUS_CYTHON_TRACE=1 EVENTBUS_REQUIRE_EXTENSIONS=1 "$python" setup.py -q build_ext --inplace \
  >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
traced_lines=$(grep -c '__Pyx_TraceLine(' src/eventbus/_core.c || true)
if [ "$traced_lines" -lt 50 ] || ! grep -q '"CYTHON_TRACE_NOGIL"' src/eventbus/_core.c; then
  echo "coverage: _core.c was not generated for line tracing" >&2
  exit 1
fi
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
native_run_halves "$work" "$python" -m coverage run --rcfile="$rcfile" -m pytest -p no:cacheprovider -q "${untraced[@]}"
"$python" -m coverage combine --rcfile="$rcfile" -q
"$python" -m coverage report --rcfile="$rcfile"
echo "coverage: the compiled twin, floor $floor_pyx%"
"$python" -m coverage report --rcfile="$rcfile" --include='*/_core.pyx' -m --fail-under="$floor_pyx"
echo "coverage: the pure twin, floor $floor_py%"
"$python" -m coverage report --rcfile="$rcfile" --include='*/_core_py.py' -m --fail-under="$floor_py"
echo "coverage: the single source both run, floor $floor_single%"
"$python" -m coverage report --rcfile="$rcfile" --include='*/_registry.py,*/_handlers.py,*/_observe.py' -m \
  --fail-under="$floor_single"
