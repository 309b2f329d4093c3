#!/usr/bin/env bash
# Benchmarks: every benchmark body once as a test, the comparison command from this clone, and
# the dispatch gate (compiled vs pure vs the hand-written loop, ratios measured in one run).
# Run by `nox -s bench`: CI_VENV is its venv (the package and the bench dependency group),
# CI_WORK a scratch folder, cwd = repo root.
set -euo pipefail
: "${CI_VENV:?}" "${CI_WORK:?}"
python="$CI_VENV/bin/python"

"$python" -c 'import eventbus, eventbus._core; print("bench: eventbus implementation:", eventbus.implementation)'

# Each body once; the same files time under pytest-benchmark, or pytest-codspeed with --codspeed.
"$python" -m pytest benchmarks --benchmark-disable -p no:cacheprovider

# The README's comparison command works from a fresh clone (a short run: the table is not judged).
"$python" -m benchmarks.compare --quick --json "$CI_WORK/compare.json"

# The gate (see benchmarks/gate.py --help).  Each limit sits between what the code measures and
# what a known regression measures, so that the regression fails (the figures, and the command:
# docs/benchmarks.md, "The CI gate"):
# - compiled call <= 1.5x the floor: a (domain, action) tuple built per dispatch exceeds it;
# - pure call <= 3.5x the floor: a lock taken per dispatch exceeds it;
# - end to end (must_data, call, decode of a small dataclass on the compiled core and its codec
#   engine) <= 1.0x pyee emit(obj) and <= 0.55x blinker send(obj), the peers passing the object
#   by reference: the stdlib engine, or the compiled one calling a dataclass's __init__, fail.
"$python" -m benchmarks.gate --max-compiled 1.5 --max-pure 3.5 --max-e2e-pyee 1.0 --max-e2e-blinker 0.55

# Cold import against blinker's (medians of interleaved cold interpreters).
"$python" -m benchmarks.import_time --runs 11 --max-ratio 1.0
