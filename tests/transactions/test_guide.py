"""The SQLAlchemy examples of docs/guide/transactions.md run (they need SQLAlchemy installed).

Its ``python`` blocks need nothing but eventbus and run with every document's
(tests/docs/test_readme_examples.py); its ``{code-block} python`` blocks use SQLAlchemy or
Django.  The SQLAlchemy ones run here, in order, as one program on both implementations; the
Django ones show a project's own models and test case, and are left out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_databases import missing

try:
    import sqlalchemy  # noqa: F401  # pyright: ignore[reportUnusedImport]
except ImportError as error:
    missing(error)
    raise

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "transactions.md"
_BLOCK = re.compile(r"^```\{code-block\} python\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def sqlalchemy_blocks() -> list[str]:
    blocks = _BLOCK.findall(GUIDE.read_text(encoding="utf-8"))
    return [block for block in blocks if "django" not in block and "TestCase" not in block]


def test_the_guide_has_sqlalchemy_examples() -> None:
    assert len(sqlalchemy_blocks()) >= 2


@pytest.mark.parametrize("pure", [False, True], ids=["default", "pure"])
def test_the_sqlalchemy_examples_run(pure: bool, tmp_path: Path) -> None:
    script = tmp_path / "guide.py"
    script.write_text("\n".join(sqlalchemy_blocks()), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "EVENTBUS_NO_EXTENSIONS"}
    if pure:
        env["EVENTBUS_NO_EXTENSIONS"] = "1"
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
