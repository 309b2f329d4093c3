"""Sphinx configuration: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.

Sphinx + furo + MyST: the pages are Markdown, as the README is, so a page and the README
share one syntax and one test extracts and runs the python blocks of both
(``tests/test_readme_examples.py``); autodoc renders the public docstrings, which are the
API reference, and MyST gives autodoc's directives to Markdown pages.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The reference is generated from the pure twin: its docstrings are the compiled one's,
# word for word (tests/test_docstrings.py), and its source carries the annotations and
# the overloads (register(domain, action, handler) / register(event, handler)) that a
# compiled function cannot show.  The package must be installed (pip install .).
os.environ["EVENTBUS_NO_EXTENSIONS"] = "1"
if "eventbus" in sys.modules:
    raise RuntimeError("docs/conf.py must run before eventbus is imported")

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
# The public names, not the modules that define them: eventbus.Bus, not eventbus._core_py.Bus.
autodoc_type_aliases: dict[str, str] = {}
add_module_names = True
python_use_unqualified_type_names = True

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"eventbus {release}"
html_static_path = ["_static"]
html_css_files = ["eventbus.css"]
