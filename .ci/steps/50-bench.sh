#!/usr/bin/env bash
# Benchmarks: every benchmark body once as a test, the comparison command from this clone, and
# the dispatch gate (compiled vs pure vs the hand-written loop, ratios measured in one run).
# Env from .ci/run: CI_VENV (3.11 venv with the package and .[test]), CI_WORK, cwd = repo root.
set -euo pipefail
: "${CI_VENV:?}" "${CI_WORK:?}"
python="$CI_VENV/bin/python"

# The bench extra, read from pyproject.toml so that the package CI built and tested is not
# rebuilt: `pip install ".[bench]"` would compile it a second time for the same result.
"$python" - >"$CI_WORK/bench-requirements.txt" <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["bench"]))
PY
"$python" -m pip install -q -r "$CI_WORK/bench-requirements.txt"
"$python" -c 'import eventbus, eventbus._core; print("bench: eventbus implementation:", eventbus.implementation)'

# Each body once; the same files time under pytest-benchmark, or pytest-codspeed with --codspeed.
"$python" -m pytest benchmarks --benchmark-disable -p no:cacheprovider

# The README's comparison command works from a fresh clone (a short run: the table is not judged).
"$python" -m benchmarks.compare --quick --json "$CI_WORK/compare.json"

# The gate: thresholds are the issue's defaults, see benchmarks/gate.py --help.
"$python" -m benchmarks.gate
