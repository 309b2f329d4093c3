"""Check that mypy --strict and pyright strict report errors on exactly the marked lines.

    python .ci/typing/expect_errors.py MYPY PYRIGHT PYTHON FILE...

MYPY and PYRIGHT are the checkers' executables, PYTHON the interpreter whose packages they
read.  A line marked ``# expect-error`` must get at least one error from each checker; any
other line must get none.  Exits 1 with the differences otherwise.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path


def expected(path: Path) -> set[int]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {number for number, line in enumerate(lines, 1) if line.rstrip().endswith("# expect-error")}


def mypy_errors(mypy: str, python: str, path: Path) -> set[int]:
    result = subprocess.run(
        [
            mypy,
            "--strict",
            "--python-version",
            "3.11",
            "--python-executable",
            python,
            "--no-incremental",
            "--cache-dir=/dev/null",  # no cache written into the checkout, which other sessions read
            "--hide-error-context",
            "--no-error-summary",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    found = set()
    for line in result.stdout.splitlines():
        match = re.match(rf"(?:.*/)?{re.escape(path.name)}:(\d+): error:", line)
        if match:
            found.add(int(match.group(1)))
    return found


def pyright_errors(pyright: str, python: str, path: Path) -> set[int]:
    config = path.parent / "pyrightconfig.json"
    config.write_text(json.dumps({"typeCheckingMode": "strict", "pythonVersion": "3.11"}), encoding="utf-8")
    try:
        result = subprocess.run(
            [pyright, "--outputjson", "--pythonpath", python, "--project", str(config), str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        config.unlink()
    report = json.loads(result.stdout)
    return {
        diagnostic["range"]["start"]["line"] + 1
        for diagnostic in report["generalDiagnostics"]
        if diagnostic["severity"] == "error"
    }


def main(argv: list[str]) -> int:
    mypy, pyright, python, *files = argv
    failed = False
    for name in files:
        path = Path(name).resolve()
        want = expected(path)
        for checker, found in (
            ("mypy", mypy_errors(mypy, python, path)),
            ("pyright", pyright_errors(pyright, python, path)),
        ):
            missing, extra = sorted(want - found), sorted(found - want)
            if missing or extra:
                failed = True
                print(
                    f"{path.name}: {checker}: no error on expected lines {missing}; unexpected errors on {extra}"
                )
            else:
                print(f"{path.name}: {checker}: errors on exactly the {len(want)} marked lines")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
