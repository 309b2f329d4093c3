"""The test files in two halves of about equal measured time, for the steps that run two at once.

    python .ci/test_times.py split TABLE            # "a<TAB>file" / "b<TAB>file" lines
    python .ci/test_times.py update TABLE JUNIT...  # TABLE rewritten from a run's junit reports

TABLE (``.ci/test-times/<step>.tsv``) holds "<seconds><TAB><file>" lines: each file's time in
that step, under its sanitizer or tracer, summed from the junit reports the step writes.  The
split deals the files, slowest first, each to the half with less time so far.  A test file the
table does not name yet counts as the median of those it does, so a new file is split too;
``update`` after a run makes the table current (the steps print the command).
"""

from __future__ import annotations

import statistics
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def read_table(table: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    if table.is_file():
        for line in table.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                seconds, name = line.split("\t")
                times[name] = float(seconds)
    return times


def test_files() -> list[str]:
    return sorted(str(path) for path in Path("tests").rglob("test_*.py"))


def split(table: Path) -> None:
    known = read_table(table)
    default = statistics.median(known.values()) if known else 1.0
    files = test_files()
    weights = {name: known.get(name, default) for name in files}
    halves: dict[str, float] = {"a": 0.0, "b": 0.0}
    for name in sorted(files, key=lambda name: (-weights[name], name)):
        half = min(halves, key=lambda half: (halves[half], half))
        halves[half] += weights[name]
        print(f"{half}\t{name}")
    print(f"test_times: halves of {halves['a']:.0f} s and {halves['b']:.0f} s by {table}", file=sys.stderr)


def file_of(classname: str) -> str | None:
    """``tests.core.test_bus`` or ``tests.core.test_bus.TestX`` -> ``tests/core/test_bus.py``."""
    parts = classname.split(".")
    while parts:
        candidate = Path(*parts).with_suffix(".py")
        if candidate.is_file():
            return str(candidate)
        parts.pop()
    return None


def update(table: Path, reports: list[Path]) -> None:
    times: dict[str, float] = {}
    for report in reports:
        for case in ET.parse(report).iter("testcase"):
            name = file_of(case.get("classname", ""))
            if name is not None:
                times[name] = times.get(name, 0.0) + float(case.get("time", "0"))
    lines = [
        f"{seconds:.1f}\t{name}" for name, seconds in sorted(times.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"test_times: {table} from {len(reports)} report(s), {sum(times.values()):.0f} s in all")


def main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "split":
        split(Path(argv[1]))
    elif len(argv) >= 3 and argv[0] == "update":
        update(Path(argv[1]), [Path(name) for name in argv[2:]])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
