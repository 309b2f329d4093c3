# shellcheck shell=bash
# The pytest-run-parallel rerun's arguments, shared by .ci/steps/20-stress.sh (3.11) and
# .ci/steps/33-free-threaded.sh (3.13t): every test run by 4 threads at once.  Tests that are
# thread-unsafe by design run on one thread (the plugin's detection, plus the fixtures and
# functions named below) instead of being deselected.
stress_args=(
  tests -q -p no:cacheprovider --parallel-threads=4
  # caplog's handler is shared by the 4 threads (each would see 4x the records);
  # sys.getrefcount counts the other threads' references to shared objects (stress/test_refs);
  # sys.setswitchinterval is process-wide; sys.settrace (the fault tests' injected interrupts)
  # instruments code objects for every thread on 3.12+; ast.parse from several threads at once
  # fails on 3.11 (SystemError: AST constructor recursion depth mismatch; twins/test_contract);
  # pydoc.render_doc (help()) reads a class's __annotations__, which 3.11 creates in the class
  # dict on first access, while another thread's help() iterates that dict (RuntimeError:
  # dictionary changed size during iteration; docs/test_reference_docstrings);
  # helpers_core.tracing_the_pure_core is sys.settrace in a context manager, where the plugin
  # does not look (the fault tests that inject an interruption at a line).
  -o "thread_unsafe_fixtures=caplog"
  -o "thread_unsafe_functions=sys.getrefcount
sys.setswitchinterval
sys.settrace
ast.parse
pydoc.render_doc
helpers_core.tracing_the_pure_core"
  # Not meant for this: thread storms of their own (they set the switch interval from a
  # fixture, which the plugin cannot see) and hypothesis state machines sized for one
  # thread (and the codec engines' differential, sized alike); all three files run in the main test command.
  --ignore=tests/stress/test_threads.py
  --ignore=tests/twins/test_differential.py
  --ignore=tests/twins/test_codec_engines.py
)
