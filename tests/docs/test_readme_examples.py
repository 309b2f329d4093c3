"""The README's ``python`` examples run, in order, as one program, on both implementations.

The same program is what ``.ci/steps/40-typing.sh`` type-checks with mypy --strict
and pyright (``python tests/docs/test_readme_examples.py OUT.py`` writes it).  Blocks
fenced as ``console`` or ``text`` are not code and are left out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import COMPILED_WANTED

README = Path(__file__).resolve().parents[2] / "README.md"
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def examples(text: str) -> list[tuple[int, str]]:
    """Each ``python`` block of ``text`` with the line its code starts on."""
    return [
        (text.count("\n", 0, match.start(1)) + 1, match.group(1))
        for match in _PYTHON_BLOCK.finditer(text)
    ]


def program(text: str) -> str:
    """The blocks as one module, each headed by where it comes from."""
    parts = ["# Generated from README.md by tests/docs/test_readme_examples.py: do not edit.\n"]
    parts += [f"\n# README.md line {line}\n{code}" for line, code in examples(text)]
    return "".join(parts)


def test_the_readme_has_examples() -> None:
    found = examples(README.read_text(encoding="utf-8"))
    assert len(found) >= 2
    assert all(code.strip() for _, code in found)


def test_extraction_keeps_python_blocks_only() -> None:
    text = "x\n```python\na = 1\n```\n```console\n$ pip\n```\n```python\nb = a\n```\n"
    assert examples(text) == [(3, "a = 1\n"), (9, "b = a\n")]
    assert "a = 1\n" in program(text) and "$ pip" not in program(text)


@pytest.mark.parametrize(
    "implementation",
    ["cython", "python"] if COMPILED_WANTED else ["python"],
)
def test_readme_examples_run(implementation: str, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "EVENTBUS_NO_EXTENSIONS"}
    if implementation == "python":
        env["EVENTBUS_NO_EXTENSIONS"] = "1"
    source = program(README.read_text(encoding="utf-8"))
    source += "\nimport eventbus as _eventbus\nprint(_eventbus.implementation)\n"
    script = tmp_path / "readme_examples.py"
    script.write_text(source, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == implementation


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(program(README.read_text(encoding="utf-8")), encoding="utf-8")
