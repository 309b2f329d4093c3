#!/usr/bin/env bash
# Stress: the ordinary suite again with every test run by 4 threads at once
# (pytest-run-parallel), on both implementations. A test that passes alone but fails when
# 4 copies of it share the modules, the codec's caches and the interpreter points at a
# thread-safety bug. The arguments are in .ci/stress-args.sh (.ci/steps/33-free-threaded.sh runs the
# same on 3.13t).
# Env from .ci/run: CI_VENV (3.11 venv with the package and .[test]), CI_WORK, cwd = repo root.
set -euo pipefail
: "${CI_VENV:?}" "${CI_WORK:?}"
python="$CI_VENV/bin/python"

"$python" -m pip install -q "pytest-run-parallel>=0.10" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
"$python" -c 'import eventbus, eventbus._core; print("stress: eventbus implementation:", eventbus.implementation)'

source .ci/stress-args.sh
timeout 200 "$python" -m pytest "${stress_args[@]}"
