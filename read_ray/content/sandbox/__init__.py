"""Sandboxed execution of generated Python code (code probes, HumanEval/MBPP pass@1).

``run_python(source)`` runs ``source`` in a fresh isolated interpreter (``python -I -S -B``, the base
interpreter behind ``sys.executable``, so no site-packages) and returns a ``SandboxResult``; it never
raises for anything the program does (exits, signals, stops, ``ptrace``, odd exit codes: each is a
result). ``check_program(program, tests)`` is the pass@1 helper: it passes only if the tests ran to
their end (see "pass@1 harness" below).

How the program is contained (Linux). The parent starts a small bootstrap (``bootstrap.py`` run as a
script, stdlib only, single-threaded, so no ``preexec_fn`` runs in a possibly multi-threaded Ray worker) in a new
session. The bootstrap sets up the layers below and then ``execve``s the program. It writes what it
managed to apply to a report pipe; ``SandboxResult.isolation`` lists it.

* Time: ``RLIMIT_CPU`` (``cpu_time_s`` of CPU time: SIGXCPU, then SIGKILL one second later) is the limit
  that decides; the wall clock (``wall_time_s``) is only a generous backstop for programs that sleep or
  block, so a correct program is not killed because the machine is busy. At the wall limit the parent
  SIGKILLs the whole process group; the pid namespace below kills anything that escaped the group.
* Memory: ``RLIMIT_AS`` (an allocation past the limit raises ``MemoryError``: status ``"memory"``).
* Processes (fork bombs): ``RLIMIT_NPROC``. The kernel ignores it for root, so as root the program runs
  under a fresh, otherwise unused uid/gid (random, in ``[0x70000000, 0x7fff0000)``), never ``nobody``:
  a fresh uid starts at a process count of zero, owns no file, and cannot signal other sandboxes.
* Filesystem (``mntns``): in a private mount namespace the program gets a new root, a small tmpfs that
  holds only the interpreter's own directories and the system's ``/usr`` and library directories
  (bound read-only), the dynamic loader's files from ``/etc``, the device nodes ``null zero full random
  urandom``, its own ``/proc`` (pid namespace), and fresh size-limited tmpfs mounts as the only writable
  places: its working directory (under the same path as outside), ``/tmp``, ``/var/tmp`` and
  ``/dev/shm``, which vanish with the namespace. The rest of the host (the project checkout, ``/home``,
  ``/root``, ``/etc``, ``/run``, ``/var``, other users' files, sockets in the filesystem) does not exist
  for it. The bootstrap enters the new root with ``pivot_root`` (``chroot`` where that fails) and detaches
  the old one. ``RLIMIT_FSIZE`` bounds every file. ``PR_SET_NO_NEW_PRIVS`` stops setuid binaries from
  giving privileges back.
* Network: a new, empty network namespace (its loopback is down), so even 127.0.0.1 and abstract Unix
  sockets of the host are unreachable.
* System calls (``seccomp``): a seccomp filter (classic BPF, installed with ``prctl`` through ``ctypes``,
  x86_64 and aarch64) makes ``socket()``, ``unshare``, ``setns``, ``clone`` with any ``CLONE_NEW*`` flag,
  ``mount``, ``umount2``, ``pivot_root``, ``chroot``, ``bpf``, ``perf_event_open``, ``userfaultfd``, the
  key-ring calls and ``io_uring_setup`` fail with ``EPERM``, and ``clone3`` (whose flags a filter cannot
  read) with ``ENOSYS``, so the C library falls back to ``clone``. The program can therefore create no
  namespace and no socket (``socketpair``, which reaches nothing, stays allowed: asyncio needs it); any
  other system-call ABI (e.g. 32-bit ``int 0x80`` on x86_64) kills it.
* Environment: only ``PATH``, ``LANG``, ``HOME`` and ``TMPDIR`` (both the working directory); nothing from
  ``os.environ`` is passed on. In the new pid namespace (with its own ``/proc``) the parent's processes,
  and so their ``/proc/<pid>/environ``, are not visible either.
* Stops: the pid-1 helper reaps with ``WUNTRACED``; a program that stops (``SIGSTOP``, or any signal
  after ``ptrace(PTRACE_TRACEME)``) is killed and reported as ``"killed"``.
* Output: stdout/stderr are read through pipes and truncated to ``max_output_bytes`` (the rest is
  drained and dropped, so a chatty program cannot block or fill memory).

pass@1 harness (``check_program``). Program and tests are compiled as one module and ``exec``-ed by a
small harness with ``__name__ == "__candidate__"``, so an ``if __name__ == "__main__":`` block is not run.
The harness reads a fresh random token from stdin (then replaces stdin with ``/dev/null``), sends the
program's own stdout to stderr, and writes the token to its private copy of stdout only after the last
statement of the tests returned. The run passes iff it exits 0 and stdout is exactly the token, so
``sys.exit(0)``, ``raise SystemExit``, ``os._exit(0)``, a ``__main__`` block, a crash or a kill before
the end all fail. Not covered: a program that deliberately reads the token out of the harness's memory
(introspection of the calling frame) could forge a pass; this guards against code that exits or crashes
early, not against code written to attack the harness.

Degraded modes. Namespaces need root with ``CAP_SYS_ADMIN`` (or unprivileged user namespaces); the uid
change needs root. Without root the bootstrap tries an unprivileged user namespace (same network, mount
and pid isolation; the program keeps the caller's uid, without capabilities, and ``RLIMIT_NPROC`` is set
to the caller's current process count plus ``max_processes``, i.e. only approximately). As root without
namespaces (e.g. a container without ``CAP_SYS_ADMIN``) the fresh uid still gives process and write
containment, but not network isolation or a private root, and ``/tmp`` stays writable; leftover processes
are killed by uid. With neither, only the limits, the seccomp filter, the session kill and the clean
environment apply. Each missing layer is logged once (warning) with its reason;
``SandboxLimits(require_isolation=True)`` turns a missing layer into ``SandboxError``, raised before the
program runs. ``sandbox_support()`` reports what this machine gives.

Stdlib only (``ctypes`` for ``unshare``/``mount``/``pivot_root``/``prctl``). Modules: ``limits`` (what a run
may use and what it gave), ``runner`` (``run_python``: the caller's side), ``supervise`` (reading, killing and
reaping the bootstrap, classifying the end), ``seccomp`` (the filter as BPF data, built by the caller),
``bootstrap`` (the standalone script that sets the layers up and ``execve``s the program), ``harness``
(``check_program``).
"""

from read_ray.content.sandbox.harness import check_program
from read_ray.content.sandbox.limits import (
    DEFAULT_LIMITS,
    FULL_ISOLATION,
    STATUSES,
    SandboxError,
    SandboxLimits,
    SandboxResult,
)
from read_ray.content.sandbox.runner import run_python, sandbox_support

__all__ = [
    "DEFAULT_LIMITS",
    "FULL_ISOLATION",
    "STATUSES",
    "SandboxError",
    "SandboxLimits",
    "SandboxResult",
    "check_program",
    "run_python",
    "sandbox_support",
]
