"""Cold ``import eventbus`` against cold ``import blinker``, side by side.

    python -m benchmarks.import_time [--runs 21] [--module blinker] [--show]

Each run is a fresh interpreter under ``python -X importtime -c "import X"``, eventbus and the
peers interleaved; the figure is the median over the runs of the top-level module's cumulative
import time (what importing it costs beyond the interpreter's own start-up).  ``--show`` lists the
modules eventbus loads that the peer does not, by their median own time.  A first, untimed
import of each writes its bytecode (as installing it would).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys


def import_times(module: str, env: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Module -> (own, cumulative) microseconds, from one cold interpreter."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    times: dict[str, tuple[int, int]] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        times[name.strip()] = (int(own), int(cumulative))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.import_time", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=21, help="cold imports of each module, interleaved")
    parser.add_argument("--module", action="append", help="the peers (default: blinker)")
    parser.add_argument("--show", action="store_true", help="list what eventbus loads beyond the first peer")
    parser.add_argument("--max-ratio", type=float, help="fail when eventbus / the first peer exceeds this")
    args = parser.parse_args(argv)
    peers = args.module or ["blinker"]
    # Installed packages come with their bytecode (pip compiles on install): so does eventbus
    # here, whatever PYTHONDONTWRITEBYTECODE says, or each run would time the compiler.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    for name in ["eventbus", *peers]:
        import_times(name, env)
    runs: dict[str, list[dict[str, tuple[int, int]]]] = {name: [] for name in ["eventbus", *peers]}
    for _ in range(args.runs):
        for name in runs:
            runs[name].append(import_times(name, env))
    medians = {name: statistics.median(run[name][1] for run in found) for name, found in runs.items()}
    ratios = [
        statistics.median(
            a["eventbus"][1] / b[peers[0]][1] for a, b in zip(runs["eventbus"], runs[peers[0]], strict=True)
        )
    ]
    print(f"cold import, median of {args.runs} interleaved runs (python -X importtime, cumulative):")
    for name, median in medians.items():
        print(f"  {name:<12} {median / 1000:6.2f} ms")
    print(f"  eventbus / {peers[0]}: {ratios[0]:.2f}x (median of per-run ratios)")
    if args.show:
        extra: dict[str, float] = {}
        for name in {module for run in runs["eventbus"] for module in run}:
            if all(name not in run for run in runs[peers[0]]):
                extra[name] = statistics.median(run.get(name, (0, 0))[0] for run in runs["eventbus"])
        print(f"  loaded by eventbus, not by {peers[0]} (median own time):")
        for name, own in sorted(extra.items(), key=lambda item: -item[1])[:25]:
            print(f"    {name:<28} {own / 1000:6.2f} ms")
    if args.max_ratio is not None and ratios[0] > args.max_ratio:
        print(f"import_time: FAIL eventbus costs {ratios[0]:.2f}x {peers[0]}, required <= {args.max_ratio:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
