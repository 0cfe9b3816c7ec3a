"""Sandboxed execution of generated Python code (code probes, HumanEval/MBPP pass@1).

``run_python(source)`` runs ``source`` in a fresh isolated interpreter (``python -I -S -B``, the base
interpreter behind ``sys.executable``, so no site-packages) and returns a ``SandboxResult``; it never
raises for anything the program does (exits, signals, stops, ``ptrace``, odd exit codes: each is a
result). ``check_program(program, tests)`` is the pass@1 helper: it passes only if the tests ran to
their end (see "pass@1 harness" below).

How the program is contained (Linux). The parent starts a small bootstrap (this file run as a script,
stdlib only, single-threaded, so no ``preexec_fn`` runs in a possibly multi-threaded Ray worker) in a new
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

Stdlib only (``ctypes`` for ``unshare``/``mount``/``pivot_root``/``prctl``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_LIMITS",
    "FULL_ISOLATION",
    "SandboxError",
    "SandboxLimits",
    "SandboxResult",
    "check_program",
    "run_python",
    "sandbox_support",
]

log = logging.getLogger(__name__)

FULL_ISOLATION = frozenset({"netns", "mntns", "pidns", "nproc", "seccomp"})
"""Layers ``require_isolation`` insists on: no network, private read-only root, pid namespace, process cap,
system-call filter."""

STATUSES = ("ok", "error", "timeout", "memory", "killed")

_UID_LOW, _UID_HIGH = 0x70000000, 0x7FFF0000
_ENV_PATH = "/usr/local/bin:/usr/bin:/bin"
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""Bound read-only into the private root (the interpreter's shared libraries live there)."""
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime")
_DEV_NODES = ("null", "zero", "full", "random", "urandom")
_SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
_SETUP_FAILED = 125
_REPORT_CAP = 1 << 16
_GRACE_S = 2.0
_DRAIN_S = 0.25
_POLL_S = 0.05


class SandboxError(RuntimeError):
    """The sandbox itself could not be set up (never raised for what the program does)."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandboxed run."""

    wall_time_s: float = 40.0
    """Backstop only (programs that sleep or block); keep it well above ``cpu_time_s`` so load never decides."""
    cpu_time_s: int = 10
    """``RLIMIT_CPU`` of the program's process (and of each process it forks): the limit that decides."""
    memory_bytes: int = 512 * 2**20
    max_processes: int = 16
    max_output_bytes: int = 1 << 20
    disk_bytes: int = 64 * 2**20
    """Size of each private tmpfs (working directory, /tmp, ...) and the largest file (RLIMIT_FSIZE)."""
    require_isolation: bool = False
    """Raise ``SandboxError`` (without running the program) unless every layer of ``FULL_ISOLATION`` applies."""

    def __post_init__(self) -> None:
        if not self.wall_time_s > 0:
            raise ValueError(f"wall_time_s must be > 0, got {self.wall_time_s}")
        if self.cpu_time_s < 1:
            raise ValueError(f"cpu_time_s must be >= 1, got {self.cpu_time_s}")
        if self.memory_bytes < 64 * 2**20:
            raise ValueError(
                f"memory_bytes must be >= 64 MiB (the interpreter needs it), got {self.memory_bytes}"
            )
        if self.max_processes < 1:
            raise ValueError(f"max_processes must be >= 1, got {self.max_processes}")
        if self.max_output_bytes < 0:
            raise ValueError(f"max_output_bytes must be >= 0, got {self.max_output_bytes}")
        if self.disk_bytes < 2**20:
            raise ValueError(f"disk_bytes must be >= 1 MiB, got {self.disk_bytes}")


DEFAULT_LIMITS = SandboxLimits()


@dataclass(frozen=True)
class SandboxResult:
    """Outcome of one run. ``status``: ok | error (nonzero exit) | timeout | memory | killed (signal, stop)."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    isolation: frozenset[str] = field(default_factory=frozenset)
    """Layers actually applied, e.g. ``{"uid", "netns", "mntns", "pidns", "ipcns", "nproc", "seccomp"}``."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_python(source: str, *, stdin: str = "", limits: SandboxLimits = DEFAULT_LIMITS) -> SandboxResult:
    """Run ``source`` as a Python program in the sandbox; see the module docstring for the guarantees."""
    exe = _interpreter()
    root = os.geteuid() == 0
    box = tempfile.mkdtemp(prefix="read_ray_sbx_")
    script, work = os.path.join(box, "main.py"), os.path.join(box, "work")
    proc: subprocess.Popen[bytes] | None = None
    rep_r = rep_w = -1
    t0 = time.monotonic()
    try:
        os.chmod(box, 0o755)
        with open(script, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(source)
        os.chmod(script, 0o644)
        os.mkdir(work, 0o700)
        stdin_path = os.path.join(box, "stdin")
        with open(
            os.open(stdin_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8"
        ) as f:
            f.write(stdin)  # mode 0600: a fresh uid cannot reopen it by name
        uid = gid = None
        if root:
            uid = gid = _UID_LOW + int.from_bytes(os.urandom(4), "little") % (_UID_HIGH - _UID_LOW)
            os.chown(work, uid, gid)
        rep_r, rep_w = os.pipe()
        cfg = {
            "exe": exe,
            "box": box,
            "script": script,
            "work": work,
            "uid": uid,
            "gid": gid,
            "report_fd": rep_w,
            "env": _child_env(work),
            "limits": {
                "cpu": limits.cpu_time_s,
                "mem": limits.memory_bytes,
                "nproc": limits.max_processes,
                "disk": limits.disk_bytes,
            },
            "namespaces": not _FORCE_NO_NAMESPACES,
            # without a private root the fresh uid cannot reach an interpreter under e.g. /root (mode 0700)
            "exe_for_uid": exe if not (root and _untraversable_ancestors(exe)) else _public_interpreter(),
            "keep": _interpreter_dirs(exe),
            "system": list(_SYSTEM_DIRS),
            "scratch": list(_SCRATCH_DIRS),
            "require": sorted(FULL_ISOLATION) if limits.require_isolation else [],
        }
        t0 = time.monotonic()
        with open(stdin_path, "rb") as stdin_f:
            proc = subprocess.Popen(
                [exe, "-I", "-S", "-B", os.path.abspath(__file__), json.dumps(cfg)],
                stdin=stdin_f,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(rep_w,),
                start_new_session=True,
                cwd=box,
                env=_child_env(work),
            )
        os.close(rep_w)
        rep_w = -1
        out, err, rep, timed_out = _collect(proc, rep_r, limits, t0)
        wall = time.monotonic() - t0
    finally:
        if proc is not None:
            _kill_group(proc)
            _reap(proc)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for fd in (rep_r, rep_w):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(box, ignore_errors=True)

    events = _parse_report(rep)
    setup = next((e for e in events if "setup" in e), {})
    started = next((e for e in events if "exec" in e), {})
    applied = frozenset(setup.get("setup", ())) | frozenset(started.get("layers", ()))
    if uid is not None and "pidns" not in applied:
        _kill_uid(exe, uid)  # no pid namespace: kill whatever escaped the process group
    _note_missing(applied, [*setup.get("notes", ()), *started.get("notes", ())])
    errors = [e["error"] for e in events if "error" in e]
    if errors or (not timed_out and not started):
        detail = errors[0] if errors else err.decode("utf-8", "replace")[-2000:]
        raise SandboxError(f"sandbox setup failed: {detail}")

    status_events = [e["status"] for e in events if isinstance(e.get("status"), int)]
    returncode: int | None
    if status_events:
        returncode = _exit_code(status_events[-1])
    elif "pidns" in applied or timed_out:
        returncode = None  # the pid-1 helper died before the program did: it was killed from outside
    else:
        returncode = proc.returncode
    return SandboxResult(
        status=_classify(timed_out, returncode, err),
        returncode=None if timed_out else returncode,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        wall_s=wall,
        isolation=applied,
    )


_HARNESS = """\
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
    see "pass@1 harness" in the module docstring.
    """
    token = secrets.token_hex(16)
    res = run_python(_HARNESS % (program + "\n" + test_code), stdin=token, limits=limits)
    return res.status == "ok" and res.stdout == token


@functools.lru_cache(maxsize=1)
def sandbox_support() -> frozenset[str]:
    """Isolation layers this machine gives (runs one trivial program; cached)."""
    return run_python("pass", limits=SandboxLimits(wall_time_s=30.0)).isolation


# --------------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------------

_FORCE_NO_NAMESPACES = False
"""Tests set this to exercise the no-namespace fallback."""

_warned: set[str] = set()


def _interpreter() -> str:
    exe = getattr(sys, "_base_executable", None) or sys.executable
    real = os.path.realpath(exe)
    return real if os.path.isfile(real) else sys.executable


def _interpreter_dirs(exe: str) -> list[str]:
    """Directories the program's interpreter needs: its prefix(es) and its bin directory."""
    dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix), os.path.dirname(exe)}
    return sorted(d for d in dirs if d != "/" and not any(o != d and d.startswith(o + "/") for o in dirs))


def _untraversable_ancestors(exe: str, dirs: list[str] | None = None) -> list[str]:
    """Ancestors of the interpreter's directories that an unprivileged uid cannot enter (mode o-x)."""
    found = []
    for d in _interpreter_dirs(exe) if dirs is None else dirs:
        parts = d.strip("/").split("/")
        for i in range(1, len(parts)):
            anc = "/" + "/".join(parts[:i])
            try:
                if not os.stat(anc).st_mode & 0o001:
                    found.append(anc)
                    break
            except OSError:
                break
    return sorted(set(found))


def _public_interpreter() -> str | None:
    """A Python of the same (else any 3.x) version that an unprivileged uid can run, or None."""
    ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for cand in (
        f"/usr/bin/python{ver}",
        f"/usr/local/bin/python{ver}",
        "/usr/bin/python3",
        "/usr/local/bin/python3",
    ):
        real = os.path.realpath(cand)
        try:
            if os.stat(real).st_mode & 0o005 == 0o005 and not _untraversable_ancestors(
                real, [os.path.dirname(real)]
            ):
                return real
        except OSError:
            continue
    return None


def _child_env(work: str) -> dict[str, str]:
    return {"PATH": _ENV_PATH, "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work}


def _collect(
    proc: subprocess.Popen[bytes], rep_r: int, limits: SandboxLimits, t0: float
) -> tuple[bytes, bytes, bytes, bool]:
    """Read stdout/stderr/report until EOF and the bootstrap exits, enforcing the wall clock."""
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray(), rep_r: bytearray()}
    caps = {out_fd: limits.max_output_bytes, err_fd: limits.max_output_bytes, rep_r: _REPORT_CAP}
    deadline = t0 + limits.wall_time_s
    timed_out = exited = False
    with selectors.DefaultSelector() as sel:
        for fd in bufs:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            now = time.monotonic()
            if not exited and _exited(proc):
                # With a pid namespace everything is gone by now and EOF follows at once; without one,
                # processes that escaped may still hold the pipes: read what is there, then stop.
                exited = True
                deadline = min(deadline, now + _DRAIN_S)
            if not timed_out and not exited and now >= deadline:
                timed_out = True
                _kill_group(proc)
                deadline = now + _GRACE_S  # the kill closes the pipes (pid namespace); bounded anyway
            elif now >= deadline:
                break
            for key, _ in sel.select(min(deadline - now, _POLL_S)):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                buf = bufs[key.fd]
                room = caps[key.fd] - len(buf)
                if room > 0:
                    buf += chunk[:room]
    # Wait for the bootstrap without reaping it, so its pid (= our process group) stays ours for the kill.
    while not _exited(proc):
        if time.monotonic() >= deadline:
            timed_out = True
            break
        time.sleep(0.005)
    return bytes(bufs[out_fd]), bytes(bufs[err_fd]), bytes(bufs[rep_r]), timed_out


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the bootstrap has exited, without reaping it (its pid stays ours for ``killpg``).

    Without a pid namespace the program itself is our child: if it stopped (``SIGSTOP``, or a signal after
    ``ptrace(PTRACE_TRACEME)``, which makes us its tracer) it can make no progress, so it is killed.
    """
    info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WSTOPPED | os.WNOHANG | os.WNOWAIT)
    if info is None:
        return False
    if info.si_code in (os.CLD_STOPPED, os.CLD_TRAPPED):
        _kill_group(proc)
        os.waitid(os.P_PID, proc.pid, os.WSTOPPED | os.WNOHANG)  # consume the stop report
        return False
    return True


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Reap the (killed) bootstrap, skipping stop reports (``Popen.wait`` would take a stop for the exit)."""
    while proc.returncode is None:
        try:
            pid, status = os.waitpid(proc.pid, 0)
        except ChildProcessError:  # pragma: no cover - reaped elsewhere
            proc.returncode = -signal.SIGKILL
            return
        if pid == proc.pid and not os.WIFSTOPPED(status):
            proc.returncode = _exit_code(status)
            return
        _kill_group(proc)


def _exit_code(status: int) -> int | None:
    """``os.waitstatus_to_exitcode`` that gives None (not ``ValueError``) for a stop or an odd status."""
    try:
        return os.waitstatus_to_exitcode(status)
    except ValueError:
        return None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_uid(exe: str, uid: int) -> None:
    """SIGKILL every process of the sandbox uid: ``kill(-1)`` sent as that uid (unique to this run)."""
    code = (
        "import os, signal\n"
        f"os.setgroups([]); os.setresgid({uid}, {uid}, {uid}); os.setresuid({uid}, {uid}, {uid})\n"
        "for _ in range(5):\n"
        "    try:\n"
        "        os.kill(-1, signal.SIGKILL)\n"
        "    except OSError:\n"
        "        break\n"
    )
    try:
        subprocess.run(
            [exe, "-I", "-S", "-c", code],
            env={"PATH": _ENV_PATH},
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:  # pragma: no cover - best effort
        log.warning("sandbox: could not kill leftover processes of uid %d: %s", uid, exc)


def _parse_report(raw: bytes) -> list[dict]:
    events = []
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            events.append(obj)
    return events


def _note_missing(applied: frozenset[str], notes: list[str]) -> None:
    missing = sorted(FULL_ISOLATION - applied)
    if not missing:
        return
    key = ",".join(missing)
    if key not in _warned:
        _warned.add(key)
        log.warning("sandbox: isolation layers %s unavailable on this machine: %s", missing, "; ".join(notes))


def _classify(timed_out: bool, returncode: int | None, stderr: bytes) -> str:
    if timed_out:
        return "timeout"
    if returncode is None:
        return "killed"
    if returncode == 0:
        return "ok"
    if returncode == -signal.SIGXCPU:
        return "timeout"
    if returncode < 0:
        return "killed"
    if b"MemoryError" in stderr[-4096:]:
        return "memory"
    return "error"


# --------------------------------------------------------------------------------------------------
# Bootstrap side (this file run as a script by ``run_python``; stdlib only, single-threaded)
# --------------------------------------------------------------------------------------------------

_CLONE_NEWNS, _CLONE_NEWIPC, _CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
_CLONE_NEWPID, _CLONE_NEWNET = 0x20000000, 0x40000000
_CLONE_NEW_ANY = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_NOATIME, _MS_NODIRATIME, _MS_BIND, _MS_REC = 32, 1024, 2048, 4096, 16384
_MS_PRIVATE, _MS_RELATIME, _MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
_MNT_DETACH = 2
_MOUNT_OPT_FLAGS = {
    "nosuid": _MS_NOSUID,
    "nodev": _MS_NODEV,
    "noexec": _MS_NOEXEC,
    "noatime": _MS_NOATIME,
    "nodiratime": _MS_NODIRATIME,
    "relatime": _MS_RELATIME,
    "strictatime": _MS_STRICTATIME,
}
_PR_SET_PDEATHSIG, _PR_SET_SECCOMP, _PR_SET_NO_NEW_PRIVS = 1, 22, 38
_SECCOMP_MODE_FILTER = 2
_EPERM, _ENOSYS = 1, 38

# Per machine: (AUDIT_ARCH, pivot_root, clone, clone3, denied system calls by name).
_SYSCALLS = {
    "x86_64": (
        0xC000003E,
        {
            "socket": 41, "clone": 56, "clone3": 435, "unshare": 272, "setns": 308,
            "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "bpf": 321,
            "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249,
            "io_uring_setup": 425,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "socket": 198, "clone": 220, "clone3": 435, "unshare": 97, "setns": 268,
            "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "bpf": 280,
            "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217, "request_key": 218,
            "io_uring_setup": 425,
        },
    ),
}  # fmt: skip
_DENIED = (
    "socket", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "bpf", "perf_event_open",
    "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup",
)  # fmt: skip


def _seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The seccomp filter as classic BPF instructions ``(code, jt, jf, k)`` (see the module docstring)."""
    if machine not in _SYSCALLS:
        raise ValueError(f"no seccomp filter for machine {machine!r} (only {', '.join(_SYSCALLS)})")
    arch, nr = _SYSCALLS[machine]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JGE, JSET, RET|K
    allow, kill, errno = 0x7FFF0000, 0x80000000, 0x00050000
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, kill), (ld, 0, 0, 0)]
    if machine == "x86_64":  # the x32 ABI: same arch, syscall numbers with bit 30 set
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, errno | _EPERM)]
    for name in _DENIED:
        prog += [(jeq, 0, 1, nr[name]), (ret, 0, 0, errno | _EPERM)]
    prog += [(jeq, 0, 1, nr["clone3"]), (ret, 0, 0, errno | _ENOSYS)]
    # clone: refuse any CLONE_NEW* flag (arg 0, low 32 bits at offset 16 of struct seccomp_data)
    prog += [
        (jeq, 0, 3, nr["clone"]),
        (ld, 0, 0, 16),
        (jset, 0, 1, _CLONE_NEW_ANY),
        (ret, 0, 0, errno | _EPERM),
    ]
    prog += [(ret, 0, 0, allow)]
    return prog


class _Libc:
    def __init__(self) -> None:
        import ctypes

        self._ctypes = ctypes
        try:
            lib = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            lib = ctypes.CDLL(None, use_errno=True)
        lib.unshare.argtypes = [ctypes.c_int]
        lib.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
        lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self._lib = lib

    def _check(self, rc: int, what: str) -> None:
        if rc != 0:
            err = self._ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def unshare(self, flags: int) -> None:
        self._check(self._lib.unshare(flags), "unshare")

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        args = [None if a is None else os.fsencode(a) for a in (source, target, fstype)]
        self._check(self._lib.mount(*args, flags, None if data is None else data.encode()), f"mount {target}")

    def remount_readonly(self, target: str, opts: str) -> None:
        """Read-only view of one mount in this namespace: MS_BIND makes it a per-mount (not superblock) change."""
        flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID
        for opt in opts.split(","):
            flags |= _MOUNT_OPT_FLAGS.get(opt, 0)
        self.mount(None, target, None, flags, None)

    def pivot_root(self, new_root: str) -> None:
        """Make ``new_root`` the root of this mount namespace and detach the old root (the "." "." idiom)."""
        machine = os.uname().machine
        if machine not in _SYSCALLS:
            raise OSError(_ENOSYS, f"pivot_root: unknown system call number on {machine}")
        os.chdir(new_root)
        lib = self._lib
        self._check(lib.syscall(_SYSCALLS[machine][1]["pivot_root"], b".", b"."), "pivot_root")
        self._check(lib.umount2(b".", _MNT_DETACH), "umount old root")
        os.chdir("/")

    def prctl(self, option: int, arg: int) -> None:
        self._check(self._lib.prctl(option, arg, 0, 0, 0), f"prctl {option}")

    def seccomp(self, program: list[tuple[int, int, int, int]]) -> None:
        ct = self._ctypes

        class SockFilter(ct.Structure):
            _fields_ = [("code", ct.c_ushort), ("jt", ct.c_ubyte), ("jf", ct.c_ubyte), ("k", ct.c_uint)]

        class SockFprog(ct.Structure):
            _fields_ = [("len", ct.c_ushort), ("filter", ct.POINTER(SockFilter))]

        insns = (SockFilter * len(program))(*(SockFilter(*insn) for insn in program))
        fprog = SockFprog(len(program), ct.cast(insns, ct.POINTER(SockFilter)))
        self._check(
            self._lib.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ct.addressof(fprog), 0, 0), "seccomp"
        )


def _report(fd: int, obj: dict) -> None:
    try:
        os.write(fd, (json.dumps(obj) + "\n").encode())
    except OSError:
        pass


def _mountinfo() -> list[tuple[str, str]]:
    unescape = functools.partial(re.sub, r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)))
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return [(unescape(p[4]), p[5]) for p in (line.split() for line in f) if len(p) > 5]


def _tmpfs(libc: _Libc, target: str, size: int, mode: int, inodes: int) -> None:
    data = f"size={size},nr_inodes={inodes},mode={mode:o}"
    libc.mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, data)


def _mirror(libc: _Libc, path: str, new_root: str) -> str | None:
    """Make ``path`` of the host appear at the same place under ``new_root``: a symlink is copied, a
    directory or file is bind-mounted. Returns the target if something was mounted."""
    target = new_root + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return None
    if os.path.isdir(path):
        os.makedirs(target, 0o755, exist_ok=True)
        libc.mount(path, target, None, _MS_BIND | _MS_REC, None)
        return target
    if os.path.exists(path):
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        with open(target, "a"):
            pass
        libc.mount(path, target, None, _MS_BIND, None)
        return target
    return None


def _build_root(libc: _Libc, cfg: dict, notes: list[str]) -> str:
    """A new root on a tmpfs over the sandbox folder, entered later by pid 1 (see the module docstring).

    Returns its path. Everything in it is read-only except the scratch tmpfs mounts and the sandbox's own
    folder (mounted at its host path inside the new root) and the device nodes.
    """
    disk = cfg["limits"]["disk"]
    libc.mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)  # nothing below may propagate to the host
    new = cfg["box"]
    _tmpfs(libc, new, 1 << 20, 0o755, 4096)
    system = cfg["system"]
    inside_system = [k for k in cfg["keep"] if any(k == s or k.startswith(s + "/") for s in system)]
    for path in [*system, *(k for k in cfg["keep"] if k not in inside_system)]:
        _mirror(libc, path, new)
    for name in _ETC_FILES:
        _mirror(libc, f"/etc/{name}", new)
    os.makedirs(f"{new}/dev", 0o755, exist_ok=True)
    devices = {t for t in (_mirror(libc, f"/dev/{name}", new) for name in _DEV_NODES) if t}
    for name, link in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1")):
        os.symlink(link, f"{new}/dev/{name}")
    os.symlink("/proc/self/fd/2", f"{new}/dev/stderr")
    os.makedirs(f"{new}/proc", 0o555, exist_ok=True)
    writable = set()
    for d in cfg["scratch"]:
        os.makedirs(new + d, 0o1777, exist_ok=True)
        _tmpfs(libc, new + d, disk, 0o1777, 16384)
        writable.add(new + d)
    box = new + cfg["box"]
    os.makedirs(box, 0o755, exist_ok=True)
    _tmpfs(libc, box, disk, 0o755, 16384)
    writable.add(box)
    for target, opts in _mountinfo():  # read-only view (per mount, in this namespace only)
        if (target == new or target.startswith(new + "/")) and target not in writable | devices:
            try:
                libc.remount_readonly(target, opts)
            except OSError as exc:  # still private and without the host's files; writable though
                notes.append(f"read-only {target[len(new) :] or '/'}: {exc}")
    return new


def _prepare_box(cfg: dict, source: bytes, prefix: str) -> None:
    """(Re)create main.py and the empty working directory (under ``prefix``), owned by the sandbox uid."""
    script, work = prefix + cfg["script"], prefix + cfg["work"]
    if not os.path.exists(script):
        with open(script, "wb") as f:
            f.write(source)
        os.chmod(script, 0o644)
    if not os.path.isdir(work):
        os.mkdir(work, 0o700)
    if cfg["uid"] is not None:
        os.chown(work, cfg["uid"], cfg["gid"])


def _count_tasks(uid: int) -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
    return n


def _exec_program(libc: _Libc, cfg: dict, rep: int, nproc: int) -> None:
    """Final limits, drop to the sandbox uid, seccomp filter, exec. Never returns."""
    try:
        lim = cfg["limits"]
        os.chdir(cfg["work"])
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu"], lim["cpu"] + 1))
        resource.setrlimit(resource.RLIMIT_AS, (lim["mem"], lim["mem"]))
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim["disk"], lim["disk"]))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        cap = 1024 if hard == resource.RLIM_INFINITY else min(hard, 1024)
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (min(soft, cap) if soft != resource.RLIM_INFINITY else cap, cap)
        )
        if cfg["uid"] is not None:
            os.setgroups([])
            os.setresgid(cfg["gid"], cfg["gid"], cfg["gid"])
            os.setresuid(cfg["uid"], cfg["uid"], cfg["uid"])
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        layers, notes = [], []
        try:
            libc.seccomp(_seccomp_program(os.uname().machine))
            layers.append("seccomp")
        except (OSError, ValueError) as exc:
            notes.append(f"seccomp: {exc}")
            if "seccomp" in cfg["require"]:
                _report(rep, {"error": f"isolation incomplete (missing ['seccomp']): {exc}"})
                os._exit(_SETUP_FAILED)
        _report(rep, {"exec": True, "layers": layers, "notes": notes})
        os.execve(cfg["exe"], [cfg["exe"], "-I", "-S", "-B", cfg["script"]], cfg["env"])
    except BaseException as exc:  # noqa: BLE001 - report anything, then die
        _report(rep, {"error": f"{type(exc).__name__}: {exc}"})
    os._exit(_SETUP_FAILED)


def _finish_setup(rep: int, cfg: dict, applied: list[str], notes: list[str]) -> None:
    """Report the layers applied; refuse (before the program runs) if a required one is missing."""
    _report(rep, {"setup": sorted(applied), "notes": notes})
    missing = sorted(set(cfg["require"]) - set(applied) - {"seccomp"})  # seccomp: checked at exec
    if missing:
        _report(rep, {"error": f"isolation incomplete (missing {missing}): {'; '.join(notes)}"})
        os._exit(_SETUP_FAILED)


def _bootstrap(cfg: dict) -> None:
    rep = cfg["report_fd"]
    os.set_inheritable(rep, False)  # the program itself never gets the report pipe
    libc = _Libc()
    with open(cfg["script"], "rb") as f:
        source = f.read()
    root = os.geteuid() == 0
    applied: list[str] = []
    notes: list[str] = []
    uid, gid = os.getuid(), os.getgid()
    running = 0 if cfg["uid"] is not None else _count_tasks(uid)  # before a user namespace hides owners
    flags = _CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWIPC
    ns = False
    if cfg["namespaces"]:
        attempts = [(flags, "")] if root else []
        attempts.append((flags | _CLONE_NEWUSER, "userns"))
        for attempt, extra in attempts:
            try:
                libc.unshare(attempt)
            except OSError as exc:
                notes.append(f"unshare{'(user)' if extra else ''}: {exc}")
                continue
            if extra:
                try:
                    with open("/proc/self/setgroups", "w") as f:
                        f.write("deny")
                    with open("/proc/self/uid_map", "w") as f:
                        f.write(f"{uid} {uid} 1")
                    with open("/proc/self/gid_map", "w") as f:
                        f.write(f"{gid} {gid} 1")
                except OSError as exc:
                    notes.append(f"user namespace maps: {exc}")
                applied.append(extra)
            applied += ["netns", "pidns", "ipcns"]
            ns = True
            break
    else:
        notes.append("namespaces disabled")
    new_root = None
    if ns:
        try:
            new_root = _build_root(libc, cfg, notes)
        except OSError as exc:
            notes.append(f"private root: {exc}")
    if cfg["uid"] is not None and new_root is None and cfg["exe_for_uid"] != cfg["exe"]:
        if cfg["exe_for_uid"] is None:
            notes.append(f"no interpreter an unprivileged uid can run ({cfg['exe']} is not reachable)")
            cfg["uid"] = cfg["gid"] = None
        else:
            notes.append(f"{cfg['exe']} unreachable without a private root; using {cfg['exe_for_uid']}")
            cfg["exe"] = cfg["exe_for_uid"]
    if cfg["uid"] is not None:
        applied.append("uid")
    _prepare_box(cfg, source, new_root or "")
    # A fresh uid starts at zero; otherwise the count is shared with the caller's processes: leave room.
    nproc = cfg["limits"]["nproc"] + running
    if cfg["uid"] is not None or not root:  # root without a uid change is exempt from RLIMIT_NPROC
        applied.append("nproc")

    if "pidns" not in applied:
        _finish_setup(rep, cfg, applied, notes)
        _exec_program(libc, cfg, rep, nproc)
    pid = os.fork()
    if pid:  # outside the namespace: stay alive, the pid-1 helper dies with us (PDEATHSIG)
        os.waitpid(pid, 0)
        os._exit(0)
    # pid 1 of the new namespace: when it exits the kernel kills everything left in the namespace.
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if new_root is not None:
        try:  # mounted before the old root goes: a user namespace may mount proc only while one is visible
            libc.mount("proc", f"{new_root}/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
        except OSError as exc:
            notes.append(f"/proc: {exc}")
        try:
            libc.pivot_root(new_root)
            applied.append("mntns")
        except OSError as exc:
            try:
                os.chroot(new_root)
                os.chdir("/")
                applied.append("mntns")
                notes.append(f"{exc}; used chroot")
            except OSError as exc2:
                notes.append(f"{exc}; chroot: {exc2}")
    _finish_setup(rep, cfg, applied, notes)
    child = os.fork()
    if child == 0:
        _exec_program(libc, cfg, rep, nproc)
    while True:
        try:
            done, status = os.waitpid(-1, os.WUNTRACED)
        except ChildProcessError:
            os._exit(_SETUP_FAILED)
        if done != child:
            continue
        if os.WIFSTOPPED(status):  # stopped (SIGSTOP, or traced after PTRACE_TRACEME): no progress; kill
            os.kill(child, signal.SIGKILL)
            continue
        _report(rep, {"status": status})
        os._exit(0)


def _bootstrap_main(argv: list[str]) -> None:
    cfg = json.loads(argv[0])
    try:
        _bootstrap(cfg)
    except BaseException as exc:  # noqa: BLE001 - report anything, then die
        import traceback

        _report(cfg["report_fd"], {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
        os._exit(_SETUP_FAILED)


if __name__ == "__main__":
    _bootstrap_main(sys.argv[1:])
