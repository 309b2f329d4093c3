# shellcheck shell=bash
# Helpers for the native-code steps (.ci/steps/30-debug-refs.sh, 31-asan.sh, 32-coverage.sh),
# sourced by them.  Each step builds its own extension from a copy of the tree in CI_WORK,
# never in the checkout.

# native_workdir NAME: a fresh CI_WORK/NAME (CI_WORK defaults to a new temporary folder).
native_workdir() {
  local dir="${CI_WORK:-$(mktemp -d /tmp/eventbus-ci.XXXXXX)}/$1"
  rm -rf "$dir" && mkdir -p "$dir/src"
  echo "$dir"
}

# native_copy_tree ROOT DEST: the checkout without .git, build/, nox's venvs or a generated _core.c
# (cythonize would reuse a .c newer than the .pyx, whatever directives it was made with).
native_copy_tree() {
  tar -C "$1" --exclude=./.git --exclude=./build --exclude=./.nox -cf - . | tar -C "$2" -xf -
  rm -f "$2"/src/eventbus/_core.c "$2"/src/eventbus/_core.html "$2"/src/eventbus/*.so
}

# native_install_deps ROOT PYTHON GROUP...: the build dependency group (the pinned Cython,
# setuptools, wheel) and the PEP 735 dependency GROUPs of ROOT/pyproject.toml, into PYTHON's
# environment, with a pip that reads dependency groups (25.1+; a venv may come with an older one).
native_install_deps() {
  local root=$1 python=$2
  shift 2
  local group args=(--group "$root/pyproject.toml:build")
  for group in "$@"; do
    args+=(--group "$root/pyproject.toml:$group")
  done
  if ! "$python" -c 'import sys; from importlib.metadata import version; sys.exit(tuple(map(int, version("pip").split(".")[:2])) < (25, 1))'; then
    "$python" -m pip install -q "pip>=25.1"
  fi
  "$python" -m pip install -q "${args[@]}"
}

# native_run_halves LOGDIR COMMAND...: COMMAND with half the test files, twice at once (the
# files, largest first, dealt alternately); logs in LOGDIR/half-{a,b}.log; the exit status
# is the first non-zero one.
native_run_halves() {
  local logs=$1
  shift
  local files half_a=() half_b=() i status=0 pid_a pid_b
  mapfile -t files < <(find tests -name 'test_*.py' -printf '%s %p\n' | sort -rn | cut -d' ' -f2)
  for i in "${!files[@]}"; do
    if ((i % 2 == 0)); then half_a+=("${files[$i]}"); else half_b+=("${files[$i]}"); fi
  done
  "$@" "${half_a[@]}" >"$logs/half-a.log" 2>&1 &
  pid_a=$!
  "$@" "${half_b[@]}" >"$logs/half-b.log" 2>&1 &
  pid_b=$!
  wait "$pid_a" || status=$?
  wait "$pid_b" || { local b=$?; [ "$status" -ne 0 ] || status=$b; }
  tail -n 1 "$logs/half-a.log" "$logs/half-b.log"
  if [ "$status" -ne 0 ]; then
    cat "$logs/half-a.log" "$logs/half-b.log" >&2
  fi
  return "$status"
}
