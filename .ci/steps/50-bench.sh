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

# The gate (see benchmarks/gate.py --help), with two limits moved from the defaults:
# - compiled <= 1.5x the floor, not 2.0x: it measures 1.13-1.28x, and a (domain, action) tuple
#   built per dispatch measured 1.58x in a prototype, which 2.0x would let through;
# - pure <= 3.5x the floor, not 2.0x: a pure method that only loops already costs 1.5x, the pure
#   call measures 2.6-3.0x (quartiles), and a lock per dispatch (+2.4-3.5x) still fails 3.5x.
# - end to end (must_data, call, decode of a small dataclass on the compiled core and its codec
#   engine) against the peers passing the object by reference: issue 12's targets, 1.0x pyee
#   emit(obj) and 0.55x blinker send(obj) (the target is 0.5x): it measures 0.84-0.87x and
#   0.46-0.49x (quartiles 0.83-0.86 and 0.47-0.49) on this 2-core machine under load.  The stdlib
#   engine measures 4.0x and 2.2x, and the compiled engine calling a dataclass's generated
#   __init__ instead of building the instance about +18% (1.0x, 0.57x), so both fail.
"$python" -m benchmarks.gate --max-compiled 1.5 --max-pure 3.5 --max-e2e-pyee 1.0 --max-e2e-blinker 0.55

# Cold import against blinker's (medians of interleaved cold interpreters).
"$python" -m benchmarks.import_time --runs 11 --max-ratio 1.0
