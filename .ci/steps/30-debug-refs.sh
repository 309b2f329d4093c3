#!/usr/bin/env bash
# References on a debug build of CPython: Debian's python3.11-dbg (sys.gettotalrefcount),
# the extension compiled against its headers (abiflags "d", suffix cpython-311d-...),
# then tests/stress/test_refs.py: the interpreter-wide reference total and the counts of
# every object the operations touch stay flat over thousands of iterations of every public
# operation and error path.  By hand: CI_WORK=/tmp/x bash .ci/steps/30-debug-refs.sh
set -euo pipefail
root=$(pwd)
source "$root/.ci/native.sh"
work=$(native_workdir debug-refs)

native_apt_install python3.11-dbg python3.11-dev python3.11-venv

python3.11-dbg -m venv "$work/venv"
python="$work/venv/bin/python"
"$python" - <<'PY'
import sys
assert "d" in sys.abiflags, f"not a debug build: abiflags {sys.abiflags!r}"
assert hasattr(sys, "gettotalrefcount"), "no sys.gettotalrefcount"
print(f"debug-refs: {sys.executable} {sys.version.split()[0]} abiflags={sys.abiflags!r}")
PY

native_copy_tree "$root" "$work/src"
# The reference test needs no model library (and pydantic-core has no debug-ABI wheel).
native_install_deps "$root" "$python" test
(cd "$work/src" && EVENTBUS_REQUIRE_EXTENSIONS=1 "$python" -m pip install -q --no-build-isolation .)
"$python" - <<'PY'
import sysconfig
import eventbus
import eventbus._core as core
suffix = sysconfig.get_config_var("EXT_SUFFIX")
assert "311d" in suffix, suffix
assert core.__file__.endswith(suffix), (core.__file__, suffix)
assert eventbus.implementation == "cython"
print(f"debug-refs: {core.__file__}")
PY

cd "$work/src"
EVENTBUS_EXPECT_DEBUG_BUILD=1 "$python" -m pytest -p no:cacheprovider -q tests/stress/test_refs.py
