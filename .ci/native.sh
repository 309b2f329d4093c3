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

# native_copy_tree ROOT DEST: the checkout's sources, as git lists them (tracked and untracked, not
# ignored): never build/, nox's venvs, caches or a generated _core.c (cythonize would reuse a .c
# newer than the .pyx, whatever directives it was made with).
native_copy_tree() {
  git -C "$1" ls-files -z -co --exclude-standard --deduplicate |
    tar -C "$1" --null --ignore-failed-read -T - -cf - | tar -C "$2" -xf -
}

# native_apt_install PACKAGE...: apt-get install, waiting for apt's lock (another step of the same
# stage may be installing too).
native_apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
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

# native_run_halves TABLE LOGDIR COMMAND...: COMMAND with half the test files, twice at once,
# the halves of about equal time by TABLE (.ci/test_times.py split); logs in LOGDIR/half-{a,b}.log,
# junit reports in LOGDIR/half-{a,b}.xml (to refresh TABLE); the exit status is the first non-zero
# one.  Run from the copy's root.
native_run_halves() {
  local table=$1 logs=$2
  shift 2
  local half name half_a=() half_b=() status=0 pid_a pid_b
  while IFS=$'\t' read -r half name; do
    if [ "$half" = a ]; then half_a+=("$name"); else half_b+=("$name"); fi
  done < <(python3 "$(dirname "${BASH_SOURCE[0]}")/test_times.py" split "$table")
  "$@" --junitxml="$logs/half-a.xml" "${half_a[@]}" >"$logs/half-a.log" 2>&1 &
  pid_a=$!
  "$@" --junitxml="$logs/half-b.xml" "${half_b[@]}" >"$logs/half-b.log" 2>&1 &
  pid_b=$!
  wait "$pid_a" || status=$?
  wait "$pid_b" || { local b=$?; [ "$status" -ne 0 ] || status=$b; }
  tail -n 1 "$logs/half-a.log" "$logs/half-b.log"
  echo "halves: to refresh the split from this run, in the checkout:" \
    "python .ci/test_times.py update $table $logs/half-a.xml $logs/half-b.xml"
  if [ "$status" -ne 0 ]; then
    cat "$logs/half-a.log" "$logs/half-b.log" >&2
  fi
  return "$status"
}
