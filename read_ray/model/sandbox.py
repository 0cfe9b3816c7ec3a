"""Sandboxed execution of generated Python code (code probes, HumanEval/MBPP pass@1).

``run_python(source)`` runs ``source`` in a fresh isolated interpreter (``python -I -S -B``, the base
interpreter behind ``sys.executable``, so no site-packages) and returns a ``SandboxResult``; it never
raises for anything the program does. ``check_program(program, tests)`` is the pass@1 helper.

How the program is contained (Linux). The parent starts a small bootstrap (this file run as a script,
stdlib only, single-threaded, so no ``preexec_fn`` runs in a possibly multi-threaded Ray worker) in a new
session. The bootstrap sets up the layers below and then ``execve``s the program. It writes what it
managed to apply to a report pipe; ``SandboxResult.isolation`` lists it.

* Time: ``RLIMIT_CPU`` (SIGXCPU, then SIGKILL one second later) and a wall clock in the parent that
  SIGKILLs the whole process group; the pid namespace below kills anything that escaped the group.
* Memory: ``RLIMIT_AS`` (an allocation past the limit raises ``MemoryError``: status ``"memory"``).
* Processes (fork bombs): ``RLIMIT_NPROC``. The kernel ignores it for root, so as root the program runs
  under a fresh, otherwise unused uid/gid (random, in ``[0x70000000, 0x7fff0000)``), never ``nobody``:
  a fresh uid starts at a process count of zero, owns no file, and cannot signal other sandboxes.
* Filesystem: three layers. (1) the fresh uid has no capabilities and owns nothing, so ordinary
  permissions refuse writes to root-owned directories; (2) in a private mount namespace every mount is
  re-mounted read-only (``MS_REMOUNT | MS_BIND``, which changes only this namespace's view, never the
  filesystem itself), so nothing outside the sandbox is writable whatever its mode; (3) the only writable
  places are fresh size-limited tmpfs mounts: the working directory, ``/tmp``, ``/var/tmp``, ``/dev/shm``
  and ``/run/lock``, which vanish with the namespace. ``/root`` and ``/home`` are hidden behind empty
  tmpfs mounts (with the interpreter's own prefix bound back in when it lives there, e.g. pyenv under
  ``/root``), so dotfiles such as ``~/.netrc`` or an HF token cannot be read. ``RLIMIT_FSIZE`` bounds every
  file. ``PR_SET_NO_NEW_PRIVS`` stops setuid binaries from giving privileges back. Dropping the uid alone
  does not work with pyenv-style interpreters under ``/root`` (mode 0700): the unprivileged child cannot
  load its own stdlib; the mount namespace fixes that by binding the prefix back, read-only.
* Network: a new, empty network namespace (its loopback is down), so even 127.0.0.1 is unreachable.
* Environment: only ``PATH``, ``LANG``, ``HOME`` and ``TMPDIR`` (both the working directory); nothing from
  ``os.environ`` is passed on. In the new pid namespace (with its own ``/proc``) the parent's processes,
  and so their ``/proc/<pid>/environ``, are not visible either.
* Output: stdout/stderr are read through pipes and truncated to ``max_output_bytes`` (the rest is
  drained and dropped, so a chatty program cannot block or fill memory).

Degraded modes. Namespaces need root with ``CAP_SYS_ADMIN`` (or unprivileged user namespaces); the uid
change needs root. Without root the bootstrap tries an unprivileged user namespace (same network, mount
and pid isolation; the program keeps the caller's uid, without capabilities, and ``RLIMIT_NPROC`` is set
to the caller's current process count plus ``max_processes``, i.e. only approximately). As root without
namespaces (e.g. a container without ``CAP_SYS_ADMIN``) the fresh uid still gives process and write
containment, but not network isolation, and ``/tmp`` stays writable; leftover processes are killed by
uid. With neither, only the limits, the session kill and the clean environment apply. Each missing layer
is logged once (warning) with its reason; ``SandboxLimits(require_isolation=True)`` turns a missing layer
into ``SandboxError``, raised before the program runs. ``sandbox_support()`` reports what this machine gives.

Stdlib only (``ctypes`` for ``unshare``/``mount``/``prctl``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import resource
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

FULL_ISOLATION = frozenset({"netns", "mntns", "pidns", "nproc"})
"""Layers ``require_isolation`` insists on: no network, read-only filesystem, pid namespace, process cap."""

STATUSES = ("ok", "error", "timeout", "memory", "killed")

_UID_LOW, _UID_HIGH = 0x70000000, 0x7FFF0000
_ENV_PATH = "/usr/local/bin:/usr/bin:/bin"
_HIDE_DIRS = ("/root", "/home")
_SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
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

    wall_time_s: float = 10.0
    cpu_time_s: int = 5
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
    """Outcome of one run. ``status``: ok | error (nonzero exit) | timeout | memory | killed (signal)."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    isolation: frozenset[str] = field(default_factory=frozenset)
    """Layers actually applied, e.g. ``{"uid", "netns", "mntns", "pidns", "ipcns", "nproc"}``."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_python(source: str, *, stdin: str = "", limits: SandboxLimits = DEFAULT_LIMITS) -> SandboxResult:
    """Run ``source`` as a Python program in the sandbox; see the module docstring for the guarantees."""
    exe = _interpreter()
    root = os.geteuid() == 0
    hidden = _untraversable_ancestors(exe) if root else []
    box = tempfile.mkdtemp(prefix="read_ray_sbx_")
    script, work = os.path.join(box, "main.py"), os.path.join(box, "work")
    proc: subprocess.Popen[bytes] | None = None
    rep_r = rep_w = -1
    t0 = time.monotonic()
    try:
        os.chmod(box, 0o755)
        with open(script, "w", encoding="utf-8") as f:
            f.write(source)
        os.chmod(script, 0o644)
        os.mkdir(work, 0o700)
        stdin_path = os.path.join(box, "stdin")
        with open(stdin_path, "w", encoding="utf-8") as f:
            f.write(stdin)
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
            "hide": list(_HIDE_DIRS) + hidden,
            # without a mount namespace the fresh uid cannot reach an interpreter under e.g. /root
            "exe_for_uid": exe if not hidden else _public_interpreter(),
            "keep": _interpreter_dirs(exe),
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
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for fd in (rep_r, rep_w):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(box, ignore_errors=True)

    events = _parse_report(rep)
    setup = next((e for e in events if "setup" in e), {})
    applied = frozenset(setup.get("setup", ()))
    if uid is not None and "pidns" not in applied:
        _kill_uid(exe, uid)  # no pid namespace: kill whatever escaped the process group
    _note_missing(applied, setup.get("notes", []))
    errors = [e["error"] for e in events if "error" in e]
    if errors or (not timed_out and not any("exec" in e for e in events)):
        detail = errors[0] if errors else err.decode("utf-8", "replace")[-2000:]
        raise SandboxError(f"sandbox setup failed: {detail}")

    status_events = [e["status"] for e in events if "status" in e]
    if status_events:
        returncode: int | None = os.waitstatus_to_exitcode(status_events[-1])
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


def check_program(program: str, test_code: str, *, limits: SandboxLimits = DEFAULT_LIMITS) -> bool:
    """pass@1 helper: True iff ``program`` followed by ``test_code`` runs to a zero exit."""
    return run_python(program + "\n" + test_code, limits=limits).status == "ok"


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
    """Whether the bootstrap has exited, without reaping it (its pid stays ours for ``killpg``)."""
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


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
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_NOATIME, _MS_NODIRATIME, _MS_BIND, _MS_REC = 32, 1024, 2048, 4096, 16384
_MS_PRIVATE, _MS_RELATIME, _MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
_MOUNT_OPT_FLAGS = {
    "nosuid": _MS_NOSUID,
    "nodev": _MS_NODEV,
    "noexec": _MS_NOEXEC,
    "noatime": _MS_NOATIME,
    "nodiratime": _MS_NODIRATIME,
    "relatime": _MS_RELATIME,
    "strictatime": _MS_STRICTATIME,
}
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS = 1, 38


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

    def prctl(self, option: int, arg: int) -> None:
        self._check(self._lib.prctl(option, arg, 0, 0, 0), f"prctl {option}")


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


def _setup_mounts(libc: _Libc, cfg: dict, notes: list[str]) -> bool:
    """Private, read-only view of the filesystem with private tmpfs scratch space. True if read-only."""
    disk = cfg["limits"]["disk"]
    libc.mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)  # nothing below may propagate to the host
    # Hide home directories, binding the interpreter's own directories back.
    keep = cfg["keep"]
    for hide in sorted(set(cfg["hide"])):
        if not os.path.isdir(hide) or hide in keep or any(hide.startswith(k + "/") for k in keep):
            continue
        inner = [k for k in keep if k.startswith(hide + "/")]
        fds = [os.open(k, os.O_PATH | os.O_DIRECTORY) for k in inner]
        try:
            _tmpfs(libc, hide, 1 << 20, 0o755, 1024)
            for k, fd in zip(inner, fds, strict=True):
                os.makedirs(k, 0o755, exist_ok=True)
                libc.mount(f"/proc/self/fd/{fd}", k, None, _MS_BIND | _MS_REC, None)
        except OSError as exc:
            notes.append(f"hide {hide}: {exc}")
        finally:
            for fd in fds:
                os.close(fd)
    # Private scratch directories, then the sandbox's own directory.
    writable = set()
    for d in cfg["scratch"]:
        real = os.path.realpath(d)
        if real == "/" or real in writable or not os.path.isdir(real):
            continue
        try:
            _tmpfs(libc, real, disk, 0o1777, 16384)
            writable.add(real)
        except OSError as exc:
            notes.append(f"scratch {real}: {exc}")
    box = cfg["box"]
    os.makedirs(box, 0o755, exist_ok=True)
    try:
        _tmpfs(libc, box, disk, 0o755, 16384)
        writable.add(box)
    except OSError as exc:
        notes.append(f"tmpfs {box}: {exc}")
    # Everything else read-only (per-mount flag in this namespace only).
    readonly_root = False
    for target, opts in _mountinfo():
        if target in writable:
            continue
        try:
            libc.remount_readonly(target, opts)
            readonly_root = readonly_root or target == "/"
        except OSError as exc:
            if target == "/":
                notes.append(f"read-only /: {exc}")
    return readonly_root


def _prepare_box(cfg: dict, source: bytes) -> None:
    """(Re)create main.py and the empty working directory, owned by the sandbox uid."""
    script, work = cfg["script"], cfg["work"]
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
    """Final limits, drop to the sandbox uid, exec. Never returns."""
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
        _report(rep, {"exec": True})
        os.execve(cfg["exe"], [cfg["exe"], "-I", "-S", "-B", cfg["script"]], cfg["env"])
    except BaseException as exc:  # noqa: BLE001 - report anything, then die
        _report(rep, {"error": f"{type(exc).__name__}: {exc}"})
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
    if ns:
        try:
            if _setup_mounts(libc, cfg, notes):
                applied.append("mntns")
        except OSError as exc:
            notes.append(f"mount namespace: {exc}")
    if cfg["uid"] is not None and "mntns" not in applied and cfg["exe_for_uid"] != cfg["exe"]:
        if cfg["exe_for_uid"] is None:
            notes.append(f"no interpreter an unprivileged uid can run ({cfg['exe']} is under {cfg['hide']})")
            cfg["uid"] = cfg["gid"] = None
        else:
            notes.append(f"{cfg['exe']} unreachable without a mount namespace; using {cfg['exe_for_uid']}")
            cfg["exe"] = cfg["exe_for_uid"]
    if cfg["uid"] is not None:
        applied.append("uid")
    _prepare_box(cfg, source)
    # A fresh uid starts at zero; otherwise the count is shared with the caller's processes: leave room.
    nproc = cfg["limits"]["nproc"] + running
    if cfg["uid"] is not None or not root:  # root without a uid change is exempt from RLIMIT_NPROC
        applied.append("nproc")
    _report(rep, {"setup": sorted(applied), "notes": notes})
    missing = sorted(set(cfg["require"]) - set(applied))
    if missing:  # refuse before the program runs, not after
        _report(rep, {"error": f"isolation incomplete (missing {missing}): {'; '.join(notes)}"})
        os._exit(_SETUP_FAILED)

    if "pidns" not in applied:
        _exec_program(libc, cfg, rep, nproc)
    pid = os.fork()
    if pid:  # outside the namespace: stay alive, the pid-1 helper dies with us (PDEATHSIG)
        os.waitpid(pid, 0)
        os._exit(0)
    # pid 1 of the new namespace: when it exits the kernel kills everything left in the namespace.
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if "mntns" in applied:
        try:
            libc.mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
        except OSError as exc:
            _report(rep, {"note": f"/proc: {exc}"})
    child = os.fork()
    if child == 0:
        _exec_program(libc, cfg, rep, nproc)
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(_SETUP_FAILED)
        if done == child:
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
