"""The pass@1 harness: ``check_program`` passes only if the tests ran to their last statement (see
"pass@1 harness" in the package docstring)."""

from __future__ import annotations

import secrets

from read_ray.content.sandbox.limits import DEFAULT_LIMITS, SandboxLimits
from read_ray.content.sandbox.runner import run_python

__all__ = ["HARNESS", "check_program"]

HARNESS = """\
import os, sys


def _run_to_the_end(source):
    token = os.read(0, 256)
    try:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    except OSError:
        os.close(0)
    out = os.dup(1)  # private: only the token goes here
    os.dup2(2, 1)  # the program's own stdout goes to stderr
    write, leave = os.write, os._exit
    try:
        exec(compile(source, "<candidate>", "exec"), {"__name__": "__candidate__", "__builtins__": __builtins__})
    except BaseException:  # SystemExit included: exiting is not passing
        import traceback

        traceback.print_exc()
        leave(1)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    write(out, token)
    leave(0)


_run_to_the_end(%r)
"""


def check_program(program: str, test_code: str, *, limits: SandboxLimits = DEFAULT_LIMITS) -> bool:
    """pass@1 helper: True iff ``program`` followed by ``test_code`` ran to the last statement of the tests.

    Exits of any kind (``sys.exit(0)``, ``SystemExit``, ``os._exit(0)``), a ``__main__`` block (not run:
    ``__name__`` is ``"__candidate__"``), an exception, a signal or a limit before the end are failures;
    see "pass@1 harness" in the package docstring.
    """
    token = secrets.token_hex(16)
    res = run_python(HARNESS % (program + "\n" + test_code), stdin=token, limits=limits)
    return res.status == "ok" and res.stdout == token
