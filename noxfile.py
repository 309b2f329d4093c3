"""Every check CI runs, as a nox session: ``nox -l`` lists them, ``nox -s NAME`` runs one.

``bash .ci/run`` (CI) runs the sessions of ``CI_STAGES`` below, and the GitHub
workflows call the same ones, so what a contributor runs is what CI runs.  Dependencies come
from the PEP 735 groups in pyproject.toml.  The sessions that need a special interpreter or
build (the debug build, the sanitizers, free-threaded 3.13t, coverage's line tracing, the
release archives) run the scripts in ``.ci/steps/``, which build into ``$CI_WORK`` (default:
``.nox/.cache/ci-work``) and may install Debian packages (they expect root on Debian, as CI).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups
nox.options.default_venv_backend = "virtualenv"
nox.options.error_on_missing_interpreters = True
# A bare `nox` runs the quick checks only; CI names every session (CI_SESSIONS).
nox.options.sessions = ["lint", "tests(3.11-compiled)", "typing"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
# The README's test command, run verbatim by the tests sessions (which check that the README
# still says it): what a user is told to run is what CI runs.
README_TEST_COMMAND = 'python -m pip install ".[test,typed]" && python -m pytest'
# The CPythons `bash .ci/run` runs the suite on (compiled); the workflows add 3.14, 3.14t, PyPy
# and the pure twin everywhere (.ci/run tests the pure twin as the pure wheel, in packaging).
CI_PYTHONS = ["3.11", "3.12", "3.13"]
TESTS = [
    *(
        (python, implementation)
        for python in [*CI_PYTHONS, "3.14", "3.14t"]
        for implementation in ("compiled", "pure")
    ),
    ("pypy3.11", "pure"),  # PyPy has no compiled core: setup.py builds none there
]
# Everything `bash .ci/run` runs: stages in order, the sessions of a stage at the same time (each
# takes about one of the machine's two cores: single-process suites, a type checker, a build
# beside a suite).  The sanitizers, coverage and free-threaded use both cores and run alone, and
# so does bench, which measures.
#
# No two tests sessions share a stage: their `pip install .` builds in the checkout.
CI_STAGES = [
    ["lint"],
    ["tests(3.11-compiled)", "debug-refs"],
    ["tests(3.12-compiled)", "stress"],
    ["tests(3.13-compiled)", "typing"],
    ["databases"],
    ["asan"],
    ["coverage"],
    ["free-threaded"],
    ["tsan"],
    ["bench"],
    ["packaging", "docs"],
]
CI_SESSIONS = [name for stage in CI_STAGES for name in stage]


def groups(*names: str) -> tuple[str, ...]:
    return nox.project.dependency_groups(PYPROJECT, *names)


def ci_env(session: nox.Session) -> dict[str, str]:
    """CI_WORK for the .ci/steps scripts: the caller's, or a folder under nox's cache."""
    work = os.environ.get("CI_WORK") or str(Path(session.cache_dir) / "ci-work")
    Path(work).mkdir(parents=True, exist_ok=True)
    return {"CI_WORK": work}


# What building the package reads (setuptools takes the readme and license into the metadata).
BUILD_INPUTS = ["setup.py", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"]
GENERATED = {".c", ".so", ".pyd", ".html", ".pyc"}


def build_inputs() -> list[Path]:
    sources = sorted(
        path
        for path in (ROOT / "src").rglob("*")
        if path.is_file()
        and path.suffix not in GENERATED
        and "egg-info" not in str(path)
        and "__pycache__" not in path.parts
    )
    return [ROOT / name for name in BUILD_INPUTS] + sources


def install_eventbus(session: nox.Session, *dependency_groups: str) -> None:
    """The package, compiled (required), plus ``dependency_groups``, into the session's venv.

    The wheel is built once per interpreter and source tree and kept in nox's cache, so the
    sessions after the first install it instead of compiling the same core again.  It is built
    from a copy of the sources: a build in the checkout (the tests sessions' `pip install .`)
    may run at the same time (.ci/run's stages).
    """
    inputs = build_inputs()
    digest = hashlib.sha256()
    for path in inputs:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    tag = str(
        session.run("python", "-c", "import sys; print(sys.implementation.cache_tag)", silent=True)
    ).strip()
    wheels = Path(session.cache_dir) / "wheels" / f"{tag}-{digest.hexdigest()[:16]}"
    if not list(wheels.glob("eventbus-*.whl")):
        tree = Path(session.create_tmp()) / "eventbus-sources"
        shutil.rmtree(tree, ignore_errors=True)
        for path in inputs:
            target = tree / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        session.run(
            "python",
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            str(tree),
            env={"EVENTBUS_REQUIRE_EXTENSIONS": "1"},
        )
    (wheel,) = wheels.glob("eventbus-*.whl")
    session.install(str(wheel), *groups(*dependency_groups))


def expect_implementation(session: nox.Session, expected: str) -> None:
    session.run(
        "python",
        "-c",
        "import sys, eventbus; print('eventbus.implementation =', eventbus.implementation);"
        f" sys.exit(eventbus.implementation != {expected!r})",
    )


def step(session: nox.Session, script: str, **env: str) -> None:
    """Run ``.ci/steps/<script>`` from the repository root."""
    session.run("bash", str(ROOT / ".ci" / "steps" / script), env={**ci_env(session), **env}, external=True)


# ---------------------------------------------------------------------------
# The suite


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff's linter and formatter check over every Python file (configured in pyproject.toml)."""
    session.install(*groups("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", "--diff", ".")


@nox.session
@nox.parametrize(
    ["python", "implementation"],
    TESTS,
    ids=[f"{python}-{implementation}" for python, implementation in TESTS],
)
def tests(session: nox.Session, implementation: str) -> None:
    """The README's test command: the whole suite, compiled core required or pure twin only."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if README_TEST_COMMAND not in readme:
        session.error(f"README.md no longer says {README_TEST_COMMAND!r}: update noxfile.README_TEST_COMMAND")
    if implementation == "compiled":
        env = {"EVENTBUS_REQUIRE_EXTENSIONS": "1", "EVENTBUS_NO_EXTENSIONS": ""}
    else:
        # No extension is built, the pure twin is forced at import, twins/ is not collected.
        env = {"EVENTBUS_NO_EXTENSIONS": "1", "EVENTBUS_REQUIRE_EXTENSIONS": ""}
    session.run("bash", "-c", README_TEST_COMMAND + " " + shlex.join(session.posargs), env=env, external=True)
    expect_implementation(session, "cython" if implementation == "compiled" else "python")
    if str(session.python).endswith("t"):
        # Free-threaded: importing eventbus keeps the GIL off, and every test passes 4 threads at once.
        session.run("python", "-c", "import sys, eventbus; sys.exit(sys._is_gil_enabled())", env=env)
        session.install(*groups("stress"))
        session.run(
            "bash",
            "-c",
            'source .ci/stress-args.sh && exec python -m pytest "${stress_args[@]}"',
            env=env,
            external=True,
        )


@nox.session(python="3.11")
def stress(session: nox.Session) -> None:
    """The suite again with every test run by 4 threads at once (pytest-run-parallel), both twins."""
    install_eventbus(session, "stress", "typed")
    step(session, "20-stress.sh", CI_VENV=str(session.virtualenv.location))


# ---------------------------------------------------------------------------
# Special builds (the scripts build their own interpreter or extension)


@nox.session(name="debug-refs", venv_backend="none")
def debug_refs(session: nox.Session) -> None:
    """Reference totals flat on Debian's python3.11-dbg (sys.gettotalrefcount): tests/stress/test_refs.py."""
    step(session, "30-debug-refs.sh")


@nox.session(venv_backend="none")
def asan(session: nox.Session) -> None:
    """The whole suite against an AddressSanitizer + LeakSanitizer build of the extension."""
    step(session, "31-asan.sh")


@nox.session(venv_backend="none")
def coverage(session: nox.Session) -> None:
    """Line coverage of both twins (Cython's plugin on a line-tracing build), each above its floor."""
    step(session, "32-coverage.sh")


@nox.session(name="free-threaded", venv_backend="none")
def free_threaded(session: nox.Session) -> None:
    """Free-threaded 3.13t (built once, cached), GIL off: the suite, the 4-thread rerun, scaling."""
    step(session, "33-free-threaded.sh")


@nox.session(venv_backend="none")
def tsan(session: nox.Session) -> None:
    """ThreadSanitizer build of 3.13t and the core: storms and dispatch with the GIL off, no reports."""
    step(session, "34-tsan.sh")


# ---------------------------------------------------------------------------
# Types, speed, release, docs


@nox.session(python="3.11")
def typing(session: nox.Session) -> None:
    """mypy --strict and pyright over src, tests and the README's examples; stubtest; typed payloads."""
    install_eventbus(session, "typing")
    step(session, "40-typing.sh", CI_VENV=str(session.virtualenv.location))


@nox.session(python="3.11")
def databases(session: nox.Session) -> None:
    """The after-commit adapters on SQLite and a throwaway PostgreSQL server (tests/transactions)."""
    install_eventbus(session, "databases")
    step(session, "70-databases.sh", CI_VENV=str(session.virtualenv.location))


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmark bodies once as tests, the comparison command, the dispatch gate, the import gate."""
    install_eventbus(session, "bench")
    step(session, "50-bench.sh", CI_VENV=str(session.virtualenv.location))


@nox.session(python="3.13")
def codspeed(session: nox.Session) -> None:
    """The benchmark files under pytest-codspeed (the benchmark workflow, inside CodSpeed's runner)."""
    install_eventbus(session, "bench")
    expect_implementation(session, "cython")
    session.run("python", "-m", "pytest", "benchmarks", "--codspeed", *session.posargs)


@nox.session(python="3.11")
def packaging(session: nox.Session) -> None:
    """sdist, compiled and pure wheels built, checked and tested as installed; extras match groups."""
    check_extras_match_groups(session)
    session.install(*groups("packaging"))
    step(session, "60-packaging.sh", CI_VENV=str(session.virtualenv.location))


def check_extras_match_groups(session: nox.Session) -> None:
    """The user-facing extras and the dependency groups of the same name say the same."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    problems = [
        f"extra {name!r} {extras[name]} != dependency group {list(groups(name))}"
        for name in ("test", "typed", "bench")
        if list(extras[name]) != list(groups(name))
    ]
    cython = [r for r in PYPROJECT["build-system"]["requires"] if r.startswith("Cython")]
    if not set(cython) <= set(groups("build")):
        problems.append(f"build-system.requires {cython} not in the build group {list(groups('build'))}")
    if problems:
        session.error("pyproject.toml: " + "; ".join(problems))
    session.log("extras test, typed, bench match their dependency groups; the Cython pin matches")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """The docs site with Sphinx, warnings as errors (docs/, built into .nox/.cache/docs-html)."""
    if not (ROOT / "docs" / "conf.py").is_file():
        session.error("docs/conf.py does not exist yet: there is no docs site to build")
    install_eventbus(session, "docs")
    out = session.posargs[0] if session.posargs else str(Path(session.cache_dir) / "docs-html")
    session.run("python", "-m", "sphinx", "-W", "--keep-going", "-b", "html", "docs", out)
