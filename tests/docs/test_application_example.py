"""The shop of docs/guide/application.md runs, and the catalogue the guide shows is its own.

The guide includes ``docs/examples/shop/`` and the three outputs of ``python -m eventbus catalog
shop.app:bus`` committed under ``docs/guide/catalog/``, with the Mermaid one rendered as
``shop.svg``: each committed output must be what the command prints now, on both
implementations, and the picture must be rendered from the committed Mermaid source (its last
line records the source's sha256; re-render with ``mmdc -i shop.mmd -o shop.svg`` and append
``<!-- rendered from shop.mmd, sha256 HEX -->``).
"""

from __future__ import annotations

import hashlib
import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest import COMPILED_WANTED
from helpers_core import run_python

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
CATALOG = ROOT / "docs" / "guide" / "catalog"
IMPLEMENTATIONS = ["cython", "python"] if COMPILED_WANTED else ["python"]


def run(implementation: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_python(*args, pure=implementation == "python", cwd=EXAMPLES)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    ("file", "fmt"), [("shop.txt", "text"), ("shop.json", "json"), ("shop.mmd", "mermaid")]
)
def test_the_committed_catalogue_is_what_the_command_prints(implementation: str, file: str, fmt: str) -> None:
    result = run(implementation, "-m", "eventbus", "catalog", "shop.app:bus", "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (CATALOG / file).read_text(encoding="utf-8")


def test_the_picture_is_rendered_from_the_committed_mermaid_source() -> None:
    source = (CATALOG / "shop.mmd").read_bytes()
    picture = (CATALOG / "shop.svg").read_text(encoding="utf-8")
    assert picture.lstrip().startswith("<svg")
    assert picture.rstrip().endswith(
        f"<!-- rendered from shop.mmd, sha256 {hashlib.sha256(source).hexdigest()} -->"
    )
    # Every pair and every module of the source is drawn.
    for label in ("orders/placed", "users/created", "shop.billing", "shop.notifications", "Mailer.welcome"):
        assert label in picture


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_the_shop_runs(implementation: str) -> None:
    script = textwrap.dedent(
        """
        import eventbus
        from eventbus.testing import record

        import shop.app
        from shop.contracts import USER_CREATED, UserCreated
        from shop.uow import UnitOfWork
        from shop.users import create_user

        uow = UnitOfWork()
        with record(shop.app.bus, USER_CREATED) as created:
            create_user(uow, 7, "a@example.com")
        assert created.one() == UserCreated(7, "a@example.com")
        assert uow.written == ["user 7", "account for user 7"], uow
        assert uow.outbox == ["welcome a@example.com"], uow
        print(eventbus.implementation)
        """
    )
    result = run(implementation, "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{implementation}\n"
