"""Ratios measured side by side: every candidate interleaved with its baseline, many times.

Absolute times on a shared machine move by 1.5x within minutes; a ratio of two timings taken a
few milliseconds apart does not.  So each repetition visits the groups (the columns of a table)
in a shuffled order and, within a group, times the baseline and every candidate round-robin,
``rounds`` times over, each with ``timeit`` and a loop count fixed once for the whole run.  A
cell's time in that repetition is the best of its ``rounds`` timings (a timing that another
process preempted is not the cell's cost), its ratio is that time over the baseline's time in
the *same* repetition, and the reported figure is the median of those per-repetition ratios.

The repetitions are split over several worker processes run one after another and pooled
(``in_processes``), as pyperf does: a process can be slow or fast at one cell for its whole life
(memory layout, address randomisation, the interpreter's specialisation of a call site that
several cells share), which no number of repetitions inside that one process averages out.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import timeit
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

Cell = tuple[Hashable, str]  # (group, candidate): group is a column, e.g. a handler count


@dataclass
class Result:
    """Per-call seconds of every cell in every repetition, and the ratios derived from them."""

    baselines: dict[Hashable, str]
    loops: dict[Cell, list[int]]  # the loop count of each process that measured the cell
    seconds: dict[Cell, list[float]] = field(default_factory=dict)

    def ratios(self, group: Hashable, name: str, over: str | None = None) -> list[float]:
        """Per-repetition ratios of ``name`` to ``over`` (default: the group's baseline)."""
        base = self.seconds[group, over or self.baselines[group]]
        return [mine / theirs for mine, theirs in zip(self.seconds[group, name], base, strict=True)]

    def median_ratio(self, group: Hashable, name: str, over: str | None = None) -> float:
        return statistics.median(self.ratios(group, name, over))

    def quartiles(self, group: Hashable, name: str, over: str | None = None) -> tuple[float, float]:
        q1, _, q3 = statistics.quantiles(self.ratios(group, name, over), n=4)
        return q1, q3

    def median_ns(self, group: Hashable, name: str) -> float:
        return statistics.median(self.seconds[group, name]) * 1e9


def calibrate(timer: timeit.Timer, sample_seconds: float) -> int:
    """A loop count that makes one timing of ``timer`` last about ``sample_seconds``.

    Every estimate is the best of three timings: one timing that another process preempted
    would otherwise fix a loop count far too small for the whole run.
    """
    loops = 1
    while True:
        elapsed = min(timer.repeat(3, loops))
        if elapsed >= sample_seconds / 5 or loops >= 1 << 24:
            break
        loops *= 2 if elapsed * 20 >= sample_seconds else 10
    loops = max(1, math.ceil(loops * sample_seconds / max(elapsed, 1e-9)))
    elapsed = min(timer.repeat(3, loops))  # check the extrapolation at the real count
    return max(1, math.ceil(loops * sample_seconds / max(elapsed, 1e-9)))


def measure(
    groups: Mapping[Hashable, Mapping[str, timeit.Timer]],
    baselines: Mapping[Hashable, str],
    repetitions: int,
    sample_seconds: float,
    rounds: int = 3,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Result:
    """Time every cell of ``groups`` in every repetition, interleaved as the module says.

    ``progress``, if given, hears what is happening: after the calibration, and after about
    every tenth of the repetitions.
    """
    cells = [(group, name) for group, timers in groups.items() for name in timers]
    if progress is not None:
        progress(f"calibrating {len(cells)} cells")
    loops = {cell: calibrate(groups[cell[0]][cell[1]], sample_seconds) for cell in cells}
    every = max(1, repetitions // 10)
    result = Result(dict(baselines), {cell: [loops[cell]] for cell in cells}, {cell: [] for cell in cells})
    shuffler = random.Random(seed)
    group_order = list(groups)
    cell_orders = {group: [(group, name) for name in timers] for group, timers in groups.items()}
    for repetition in range(1, repetitions + 1):
        shuffler.shuffle(group_order)
        for group in group_order:
            best = {cell: math.inf for cell in cell_orders[group]}
            for _ in range(rounds):
                order = cell_orders[group]
                shuffler.shuffle(order)
                for cell in order:
                    elapsed = groups[group][cell[1]].timeit(loops[cell])
                    best[cell] = min(best[cell], elapsed / loops[cell])
            for cell, seconds in best.items():
                result.seconds[cell].append(seconds)
        if progress is not None and (repetition % every == 0 or repetition == repetitions):
            progress(f"repetition {repetition}/{repetitions}")
    return result


def save(result: Result, path: str) -> None:
    """Write ``result`` for ``in_processes`` (groups keep their JSON type: int or str)."""
    cells = [
        [group, name, result.loops[group, name], seconds] for (group, name), seconds in result.seconds.items()
    ]
    baselines = [[group, name] for group, name in result.baselines.items()]
    with open(path, "w", encoding="utf-8") as out:
        json.dump({"baselines": baselines, "cells": cells}, out)


def load(path: str) -> Result:
    with open(path, encoding="utf-8") as source:
        saved = json.load(source)
    result = Result({group: name for group, name in saved["baselines"]}, {}, {})
    for group, name, loops, seconds in saved["cells"]:
        result.loops[group, name] = loops
        result.seconds[group, name] = seconds
    return result


def in_processes(
    module: str, arguments: list[str], processes: int, progress: Callable[[str], None] | None = None
) -> Result:
    """Run ``python -m module ARGUMENTS --seed I --worker PATH`` ``processes`` times, one after
    another, and pool the repetitions each worker saved at PATH (see ``save``).  ``progress``
    hears of each worker as it starts (the workers report their own progress on stderr)."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    pooled: Result | None = None
    with tempfile.TemporaryDirectory(prefix="eventbus-bench-") as scratch:
        for index in range(processes):
            path = os.path.join(scratch, f"worker-{index}.json")
            command = [sys.executable, "-m", module, *arguments, "--seed", str(index), "--worker", path]
            if progress is not None:
                progress(f"worker {index + 1}/{processes} starting")
            subprocess.run(command, check=True, env=env)
            result = load(path)
            if pooled is None:
                pooled = result
                continue
            for cell, seconds in result.seconds.items():
                pooled.seconds[cell] += seconds
                pooled.loops[cell] += result.loops[cell]
    if pooled is None:
        raise ValueError("in_processes needs at least one process")
    return pooled
