"""The ``python`` examples of the README and of every docs page run, on both implementations.

Each document's blocks run in order as one program (a page is self-contained: it imports
and defines what it uses).  The same programs are what ``.ci/steps/40-typing.sh``
type-checks with mypy --strict and pyright: ``python tests/docs/test_readme_examples.py DIR``
writes one module per document into DIR (``readme.py``, ``docs_guide_events.py``, ...);
given a path ending in ``.py`` it writes the README's program alone there.  Blocks fenced
as ``console`` or ``text`` are not code and are left out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

if __name__ == "__main__":  # run as a script (.ci/steps/40-typing.sh): conftest is in tests/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import COMPILED_WANTED  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# The README is also the package's long description: the anchors keep theirs at 1-7 kB and
# point to a docs site; what is longer belongs in docs/.
README_MAX_BYTES = 8000
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def documents() -> list[Path]:
    """The README and every page of the docs site, in a stable order."""
    pages = sorted(path for path in DOCS.rglob("*.md") if "_build" not in path.parts)
    return [README, *pages]


def module_name(document: Path) -> str:
    """``readme`` for the README, ``docs_guide_events`` for docs/guide/events.md."""
    if document == README:
        return "readme"
    return "_".join(document.relative_to(ROOT).with_suffix("").parts)


def examples(text: str) -> list[tuple[int, str]]:
    """Each ``python`` block of ``text`` with the line its code starts on."""
    return [
        (text.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in _PYTHON_BLOCK.finditer(text)
    ]


def program(text: str, name: str = "README.md") -> str:
    """The blocks as one module, each headed by where it comes from."""
    parts = [f"# Generated from {name} by tests/docs/test_readme_examples.py: do not edit.\n"]
    parts += [f"\n# {name} line {line}\n{code}" for line, code in examples(text)]
    return "".join(parts)


def _with_examples() -> list[Path]:
    return [path for path in documents() if examples(path.read_text(encoding="utf-8"))]


def test_the_readme_has_examples() -> None:
    found = examples(README.read_text(encoding="utf-8"))
    assert len(found) >= 1
    assert all(code.strip() for _, code in found)


def test_every_guide_has_examples() -> None:
    guides = sorted((DOCS / "guide").glob("*.md"))
    assert len(guides) >= 6
    assert [path.name for path in guides if path not in _with_examples()] == []


def test_extraction_keeps_python_blocks_only() -> None:
    text = "x\n```python\na = 1\n```\n```console\n$ pip\n```\n```python\nb = a\n```\n"
    assert examples(text) == [(3, "a = 1\n"), (9, "b = a\n")]
    assert "a = 1\n" in program(text) and "$ pip" not in program(text)


def test_module_names_are_distinct_identifiers() -> None:
    names = [module_name(path) for path in documents()]
    assert len(set(names)) == len(names)
    assert all(name.isidentifier() for name in names)
    assert module_name(DOCS / "guide" / "events.md") == "docs_guide_events"


def test_the_readme_is_short() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes: move the detail into docs/"


@pytest.mark.parametrize("document", [README, DOCS / "index.md"], ids=["README", "docs-index"])
def test_relative_links_point_to_files_that_exist(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    links = [link for link in _LINK.findall(text) if "://" not in link and not link.startswith("#")]
    assert links  # both link into the docs
    missing = [link for link in links if not (document.parent / link.split("#")[0]).exists()]
    assert missing == []


@pytest.mark.parametrize("document", _with_examples(), ids=lambda path: module_name(path))
@pytest.mark.parametrize(
    "implementation",
    ["cython", "python"] if COMPILED_WANTED else ["python"],
)
def test_examples_run(document: Path, implementation: str, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "EVENTBUS_NO_EXTENSIONS"}
    if implementation == "python":
        env["EVENTBUS_NO_EXTENSIONS"] = "1"
    source = program(document.read_text(encoding="utf-8"), str(document.relative_to(ROOT)))
    source += "\nimport eventbus as _eventbus\nprint(_eventbus.implementation)\n"
    script = tmp_path / f"{module_name(document)}.py"
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


def write_programs(target: Path) -> list[Path]:
    """One module per document with examples into the directory ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for document in _with_examples():
        path = target / f"{module_name(document)}.py"
        text = document.read_text(encoding="utf-8")
        path.write_text(program(text, str(document.relative_to(ROOT))), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1])
    if out.suffix == ".py":
        out.write_text(program(README.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        for written in write_programs(out):
            print(written)
