"""Benchmarks of eventbus: pytest-benchmark files, the comparison with its peers, the CI gate.

- ``python -m pytest benchmarks`` times every body (``--benchmark-disable`` runs each once, as a
  test; ``--codspeed`` runs the same files under pytest-codspeed);
- ``python -m benchmarks.compare`` prints one table of ratios to a hand-written loop, eventbus
  beside blinker, Django, psygnal, pyee and zope.event (``pip install ".[bench]"``);
- ``python -m benchmarks.gate`` is the CI gate: compiled vs pure vs the loop, in one run.

Run them from the repository root against the *installed* package (the src layout keeps the
checkout's sources off ``sys.path``).
"""
