"""Build the optional Cython core.

The extension is optional: where no C compiler works the install still succeeds,
with the pure-Python implementation, and says so.  ``EVENTBUS_REQUIRE_EXTENSIONS=1``
(set in CI and by cibuildwheel) turns a failed build into an error instead, so a
broken ``.pyx`` can never pass as pure Python.  ``EVENTBUS_NO_EXTENSIONS=1`` skips
the build altogether (the pure ``py3-none-any`` wheel).  ``EVENTBUS_CYTHON_TRACE=1``
builds with line tracing for coverage.
"""

import os
import platform
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


REQUIRE = _flag("EVENTBUS_REQUIRE_EXTENSIONS") or _flag("CIBUILDWHEEL")
SKIP = _flag("EVENTBUS_NO_EXTENSIONS") or platform.python_implementation() != "CPython"
TRACE = _flag("EVENTBUS_CYTHON_TRACE")


class OptionalBuildExt(build_ext):
    """Report a failed compile loudly, then fall back to pure Python unless required."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._fallback(exc, None)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fallback(exc, ext.name)

    def _fallback(self, exc: Exception, name: str | None) -> None:
        if REQUIRE:
            raise
        print(fallback_message(exc, name), file=sys.stderr)


def fallback_message(exc: Exception, name: str | None) -> str:
    """What a failed build of extension ``name`` (None: all of them) leaves installed."""
    banner = "*" * 75
    if name == "eventbus._codec._fastcodec":
        # The core stays compiled; only the codec runs on its stdlib engine.
        what = (
            f"eventbus: building the compiled codec engine (eventbus._codec._fastcodec) failed ({exc!r}).\n"
            "eventbus: the compiled core is installed all the same; payloads are encoded and\n"
            "eventbus: decoded by the stdlib codec (eventbus.codec_engine == 'python'), which\n"
            "eventbus: gives the same bytes, values and errors, more slowly."
        )
    else:
        what = (
            f"eventbus: building the Cython core failed ({exc!r}).\n"
            "eventbus: installing the pure-Python implementation instead; it behaves the\n"
            "eventbus: same, dispatch is slower."
        )
    return (
        f"\n{banner}\n{what} Set EVENTBUS_REQUIRE_EXTENSIONS=1 to make\neventbus: this an error.\n{banner}\n"
    )


def extensions() -> list[Extension]:
    if SKIP:
        print("eventbus: EVENTBUS_NO_EXTENSIONS is set: pure-Python build", file=sys.stderr)
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if REQUIRE:
            raise
        print("eventbus: Cython is not available: pure-Python build", file=sys.stderr)
        return []
    macros = [("CYTHON_TRACE_NOGIL", "1"), ("CYTHON_USE_SYS_MONITORING", "0")] if TRACE else []
    # The core, and the compiled codec engine (eventbus._codec._fastcodec): each optional on its
    # own.  Their C is in a header beside each .pyx (found beside the generated .c; a change rebuilds).
    modules = {
        "eventbus._core": ["src/eventbus/_core.h"],
        "eventbus._codec._fastcodec": ["src/eventbus/_codec/_fastcodec.h"],
    }
    extensions = [
        Extension(
            name,
            [f"src/{name.replace('.', '/')}.pyx"],
            depends=depends,
            define_macros=macros,
            optional=not REQUIRE,
        )
        for name, depends in modules.items()
    ]
    directives = {"linetrace": True, "profile": False} if TRACE else {}
    return cythonize(extensions, compiler_directives=directives, quiet=True)


if __name__ == "__main__":  # as pip's build backend runs it; tests import it for its messages
    setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
