"""Check what the release ships: the sdist, the compiled wheel and the pure wheel.

Used by ``.ci/steps/60-packaging.sh``::

    python .ci/dists.py SOURCES_LIST DIST_DIR PURE_DIST_DIR

SOURCES_LIST names, one a line, the files of the tree the dists were built from (what git
tracks plus what it does not ignore).  Prints every archive's file list, then fails with one
line per problem: a source file missing from the sdist, a generated or build file in any
archive, a wheel without (or a pure wheel with) the compiled core, a wrong wheel tag.
"""

from __future__ import annotations

import fnmatch
import sys
import tarfile
import zipfile
from pathlib import Path

# What the sdist must carry besides the package: enough to build, test and benchmark.
SDIST_TOP_LEVEL = ["LICENSE", "README.md", "CHANGES.md", "pyproject.toml", "setup.py", "MANIFEST.in"]
SDIST_TREES = ("src/", "tests/", "benchmarks/")
SDIST_REQUIRED = [
    "src/eventbus/_core.pyx",
    "src/eventbus/_core.h",
    "src/eventbus/_core.pyi",
    "src/eventbus/_codec/_fastcodec.pyx",
    "src/eventbus/_codec/_fastcodec.h",
    "src/eventbus/py.typed",
]

# Generated or build files that belong in no archive (the .c is regenerated from the .pyx).
STRAY = [
    "*.c",
    "*.html",
    "*.o",
    "*.obj",
    "*.pyc",
    "*.pyo",
    "*/__pycache__/*",
    "build/*",
    "*/build/*",
    "*.egg-info/*",
    ".git/*",
    "*/.pytest_cache/*",
    "*/.hypothesis/*",
    "*/.benchmarks/*",
]
# setuptools always puts its own metadata in an sdist: that one is expected.
SDIST_METADATA = ["PKG-INFO", "setup.cfg", "src/eventbus.egg-info/*"]
COMPILED_CORE = ["eventbus/_core.*.so", "eventbus/_core.*.pyd"]
COMPILED_CODEC = ["eventbus/_codec/_fastcodec.*.so", "eventbus/_codec/_fastcodec.*.pyd"]
WHEEL_PACKAGE = [
    "eventbus/__init__.py",
    "eventbus/_awaiting.py",
    "eventbus/_codec/__init__.py",
    "eventbus/_codec/types.py",
    "eventbus/_codec/encode.py",
    "eventbus/_codec/decode.py",
    "eventbus/_codec/plans.py",
    "eventbus/_codec/engine.py",
    "eventbus/_codec/_fastcodec.pyi",
    "eventbus/_core_py.py",
    "eventbus/_errors.py",
    "eventbus/_observe.py",
    "eventbus/otel.py",
    "eventbus/py.typed",
    "eventbus/_core.pyi",
]


def matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def show(archive: Path, names: list[str]) -> None:
    print(f"--- {archive.name} ({len(names)} files)")
    for name in names:
        print(f"    {name}")


def check_sdist(sdist: Path, sources: list[str]) -> list[str]:
    with tarfile.open(sdist) as tar:
        members = [m.name for m in tar.getmembers() if m.isfile()]
    show(sdist, members)
    root = members[0].split("/", 1)[0]
    inside = {name.split("/", 1)[1] for name in members if "/" in name}
    problems = []
    wanted = (
        SDIST_TOP_LEVEL
        + SDIST_REQUIRED
        + [name for name in sources if name.startswith(SDIST_TREES) and not matches(name, STRAY)]
    )
    for name in sorted(set(wanted)):
        if name not in inside:
            problems.append(f"{sdist.name}: missing {name}")
    for name in sorted(inside):
        if matches(name, STRAY) and not matches(name, SDIST_METADATA):
            problems.append(f"{sdist.name}: stray {root}/{name}")
        elif name.startswith((".ci/", ".github/", "dist/")):
            problems.append(f"{sdist.name}: not for the sdist: {name}")
    return problems


def check_wheel(wheel: Path, *, pure: bool) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    show(wheel, names)
    problems = [f"{wheel.name}: stray {name}" for name in names if matches(name, STRAY)]
    problems += [f"{wheel.name}: missing {name}" for name in WHEEL_PACKAGE if name not in names]
    problems += [
        f"{wheel.name}: outside the package: {name}"
        for name in names
        if not name.startswith(("eventbus/", "eventbus-"))
    ]
    compiled = [name for name in names if matches(name, COMPILED_CORE)]
    codec = [name for name in names if matches(name, COMPILED_CODEC)]
    if pure:
        if not wheel.name.endswith("-py3-none-any.whl"):
            problems.append(f"{wheel.name}: the pure wheel must be tagged py3-none-any")
        problems += [f"{wheel.name}: compiled file in the pure wheel: {name}" for name in compiled + codec]
    else:
        if wheel.name.endswith("-none-any.whl"):
            problems.append(f"{wheel.name}: the compiled wheel is tagged as pure")
        if len(compiled) != 1:
            problems.append(f"{wheel.name}: expected one compiled eventbus._core, found {compiled}")
        if len(codec) != 1:
            problems.append(f"{wheel.name}: expected one compiled eventbus._codec._fastcodec, found {codec}")
    return problems


def main(sources_list: str, dist_dir: str, pure_dist_dir: str) -> int:
    sources = Path(sources_list).read_text().splitlines()
    (sdist,) = Path(dist_dir).glob("*.tar.gz")
    (wheel,) = Path(dist_dir).glob("*.whl")
    (pure_wheel,) = Path(pure_dist_dir).glob("*.whl")
    problems = check_sdist(sdist, sources)
    problems += check_wheel(wheel, pure=False)
    problems += check_wheel(pure_wheel, pure=True)
    for problem in problems:
        print(f"dists: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
