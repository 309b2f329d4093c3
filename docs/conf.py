"""Sphinx configuration: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.

Sphinx + furo + MyST: the pages are Markdown, as the README is, so a page and the README
share one syntax and one test extracts and runs the python blocks of both
(``tests/docs/test_readme_examples.py``); autodoc renders the public docstrings, which are the
API reference, and MyST gives autodoc's directives to Markdown pages.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

# The reference is generated from the pure twin: its docstrings are the compiled one's,
# word for word (tests/twins/test_docstrings.py), and its source carries the annotations and
# the overloads (register(domain, action, handler) / register(event, handler)) that a
# compiled function cannot show.  The package must be installed (pip install .).
os.environ["EVENTBUS_NO_EXTENSIONS"] = "1"
if "eventbus" in sys.modules:
    raise RuntimeError("docs/conf.py must run before eventbus is imported")

from docutils import nodes  # noqa: E402
from sphinx import addnodes  # noqa: E402

import eventbus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

project = "eventbus"
author = "The eventbus maintainers"
copyright = "2026, the eventbus maintainers"  # noqa: A001
release = eventbus.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
# `Name` in a docstring is a cross-reference (and reads as plain code in help()).
default_role = "py:obj"

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# Private names the annotations use, shown as what a reader knows them by.
autodoc_type_aliases = {
    "EventLike": "Data",
    "_T": "T",
    "_S": "T",
    "_F": "F",
    "_C": "C",
    "_R": "R",
    "Pair": "tuple[str, str]",
}
add_module_names = True
python_use_unqualified_type_names = True
# Long signatures (register, the observer hooks) one parameter a line, not wrapped anywhere.
python_maximum_signature_line_length = 72

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = False
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"eventbus {release}"


# The overloads' signatures come from the pure twin's source, where type variables and
# aliases have private names (_T, EventLike) that autodoc_type_aliases does not reach there:
# show every signature with the names a reader knows.
_PRIVATE_NAMES = re.compile(r"\b(" + "|".join(map(re.escape, autodoc_type_aliases)) + r")\b")


def _rename_private_names(app: Any, doctree: nodes.document) -> None:
    for signature in doctree.findall(addnodes.desc_signature):
        for text in list(signature.findall(nodes.Text)):
            renamed = _PRIVATE_NAMES.sub(lambda match: autodoc_type_aliases[match.group(1)], str(text))
            if renamed != str(text):
                text.parent.replace(text, nodes.Text(renamed))


def setup(app: Any) -> None:
    app.connect("doctree-read", _rename_private_names)
