#!/usr/bin/env bash
# Stress: the ordinary suite again with every test run by 4 threads at once
# (pytest-run-parallel), on both implementations. A test that passes alone but fails when
# 4 copies of it share the modules, the codec's caches and the interpreter points at a
# thread-safety bug. The arguments are in .ci/stress-args.sh (.ci/steps/33-free-threaded.sh runs the
# same on 3.13t).
# Run by `nox -s stress`: CI_VENV is its venv (the package and the stress dependency group),
# CI_WORK a scratch folder, cwd = repo root.
set -euo pipefail
: "${CI_VENV:?}" "${CI_WORK:?}"
python="$CI_VENV/bin/python"

"$python" -c 'import eventbus, eventbus._core; print("stress: eventbus implementation:", eventbus.implementation)'

source .ci/stress-args.sh
# No timeout of its own: .ci/run's time limit for the session stops a hang, and says so.
"$python" -m pytest "${stress_args[@]}"
