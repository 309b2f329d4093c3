"""``python -m benchmarks.compare`` reports its progress on stderr, and only there."""

from __future__ import annotations

import subprocess
import sys
import timeit
from pathlib import Path

from . import interleave


def test_measure_reports_calibration_and_repetitions() -> None:
    heard: list[str] = []
    groups = {"g": {"base": timeit.Timer("pass"), "other": timeit.Timer("pass")}}
    result = interleave.measure(groups, {"g": "base"}, 20, 1e-5, 1, 0, heard.append)
    assert heard[0] == "calibrating 2 cells"
    assert heard[1:] == [f"repetition {n}/20" for n in range(2, 21, 2)]
    assert len(result.seconds["g", "other"]) == 20


def test_compare_prints_progress_to_stderr_and_the_tables_to_stdout() -> None:
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "benchmarks.compare", "--markdown", "--repetitions", "2"]
    command += ["--processes", "2", "--rounds", "1", "--sample-ms", "0.01"]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600, check=True)
    progress = done.stderr.splitlines()
    assert progress[0] == "benchmarks.compare: 2 worker processes, one after another, 1 repetitions each"
    assert "benchmarks.compare: worker 2/2 starting" in progress
    assert "benchmarks.compare: worker 2: repetition 1/1" in progress
    assert progress[-1] == "benchmarks.compare: done"
    assert done.stdout.startswith("| dispatch (ratio to the floor")
    assert "benchmarks.compare:" not in done.stdout
