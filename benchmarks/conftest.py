"""Benchmarks over both implementations, written against the ``benchmark`` fixture only.

``python -m pytest benchmarks`` times them with pytest-benchmark; ``--benchmark-disable`` runs each
body once, as a test (what CI does); ``--codspeed`` runs the same files under pytest-codspeed.
The ``impl`` fixture is the one of tests/conftest.py: ``eventbus._core`` (ids ``c``) imported
directly, so a build that fell back to pure Python fails, and ``eventbus._core_py`` (``py``).
"""

from __future__ import annotations

import logging
from types import ModuleType

import pytest

from .workloads import IMPLEMENTATIONS, implementation


@pytest.fixture(scope="session", params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """The implementation module under test: it has Bus, Data, new_data, must_data."""
    return implementation(request.param)


@pytest.fixture(scope="session")
def quiet_logger() -> logging.Logger:
    """A logger that discards records cheaply: publish's failure path still builds and hands them over."""
    logger = logging.Logger("eventbus.benchmarks")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger
