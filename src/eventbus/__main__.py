"""``python -m eventbus catalog MODULE:ATTR [--format text|json|mermaid]`` (see ``_catalog``)."""

from __future__ import annotations

import sys

from ._catalog import main

if __name__ == "__main__":
    sys.exit(main())
