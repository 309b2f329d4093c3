#!/usr/bin/env bash
# Typing and typed payloads:
# - mypy --strict and pyright (strict; see [tool.pyright]) over src/ and tests/, and over the
#   python examples of the README and of each docs page, extracted into one module per document;
# - .ci/typing/events_misuse.py: each checker reports errors on exactly its marked lines;
# - stubtest: the compiled core against src/eventbus/_core.pyi;
# - the typed-payload, test-helper and README tests with pydantic and msgspec installed (the
#   `typed` extra), where a missing library fails instead of skipping.
# Run by `nox -s typing`: CI_VENV is its venv, with the package and the typing dependency group
# (the pinned checkers, the test and typed groups), CI_WORK a scratch folder, cwd = repo root.
set -euo pipefail
: "${CI_VENV:?}" "${CI_WORK:?}"
python="$CI_VENV/bin/python"
tools="$CI_VENV"
root=$(pwd)

echo "typing: mypy --strict src tests"
"$tools/bin/mypy" --python-executable "$python" --cache-dir "$CI_WORK/mypy-cache"

echo "typing: pyright src tests"
"$tools/bin/pyright" --pythonpath "$python"

echo "typing: the examples of the README and the docs pages"
examples="$CI_WORK/doc-examples"
rm -rf "$examples"
"$python" tests/docs/test_readme_examples.py "$examples"
printf '{"typeCheckingMode": "strict", "pythonVersion": "3.11"}\n' >"$examples/pyrightconfig.json"
(
  # Outside the clone: eventbus comes from the installed package, as for a user.
  cd "$examples"
  "$tools/bin/mypy" --strict --python-version 3.11 --python-executable "$python" \
    --cache-dir "$CI_WORK/mypy-cache-readme" ./*.py
  "$tools/bin/pyright" --pythonpath "$python" ./*.py
) || {
  echo "typing: the README's and docs' python examples must pass mypy --strict and pyright strict" >&2
  echo "typing: (annotate handlers: def handler(ctx: list[str], data: eventbus.Data) -> None)" >&2
  exit 1
}

echo "typing: misuses of declared events are errors for both checkers, on exactly the marked lines"
"$python" .ci/typing/expect_errors.py "$tools/bin/mypy" "$tools/bin/pyright" "$python" \
  .ci/typing/events_misuse.py

echo "typing: stubtest eventbus._core against _core.pyi"
(
  # Outside the clone: the installed eventbus._core, not src/.
  cd "$CI_WORK"
  "$python" -m mypy.stubtest eventbus._core --allowlist "$root/.ci/stubtest-allowlist.txt"
)

echo "typing: typed payloads with pydantic and msgspec"
EVENTBUS_TYPED_DEPS_REQUIRED=1 "$python" -m pytest -q -p no:cacheprovider \
  tests/codec tests/twins/test_codec_engines_models.py tests/core/test_testing_helpers.py tests/docs
