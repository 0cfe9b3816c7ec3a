"""The caller's side of the sandbox: ``run_python`` writes the program into a fresh folder, starts the
bootstrap (``bootstrap.py``, a standalone script) with its JSON configuration, and turns what comes back
into a ``SandboxResult`` (see the package docstring for the guarantees)."""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time

from read_ray.content.sandbox.limits import (
    DEFAULT_LIMITS,
    FULL_ISOLATION,
    SandboxError,
    SandboxLimits,
    SandboxResult,
)
from read_ray.content.sandbox.seccomp import seccomp_program, syscall_number
from read_ray.content.sandbox.supervise import (
    classify,
    collect,
    exit_code,
    kill_group,
    parse_report,
    reap,
)

__all__ = ["interpreter", "interpreter_dirs", "run_python", "sandbox_support"]

log = logging.getLogger(__name__)

BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py")
"""The script the sandbox starts (stdlib only: run with ``-I -S``, it cannot import this package)."""
UID_LOW, UID_HIGH = 0x70000000, 0x7FFF0000
ENV_PATH = "/usr/local/bin:/usr/bin:/bin"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""Bound read-only into the private root (the interpreter's shared libraries live there)."""
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime")
"""The only files of ``/etc`` in the private root (the dynamic loader's)."""
DEV_NODES = ("null", "zero", "full", "random", "urandom")
SCRATCH_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
"""Fresh size-limited tmpfs mounts in the private root: with the working directory, the only writable places."""

FORCE_NO_NAMESPACES = False
"""Tests set this to exercise the no-namespace fallback."""

warned: set[str] = set()
"""Missing-layer sets already logged (each is logged once per process)."""


def run_python(source: str, *, stdin: str = "", limits: SandboxLimits = DEFAULT_LIMITS) -> SandboxResult:
    """Run ``source`` as a Python program in the sandbox; see the package docstring for the guarantees."""
    exe = interpreter()
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
            uid = gid = UID_LOW + int.from_bytes(os.urandom(4), "little") % (UID_HIGH - UID_LOW)
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
            "env": child_env(work),
            "limits": {
                "cpu": limits.cpu_time_s,
                "mem": limits.memory_bytes,
                "nproc": limits.max_processes,
                "disk": limits.disk_bytes,
            },
            "namespaces": not FORCE_NO_NAMESPACES,
            # without a private root the fresh uid cannot reach an interpreter under e.g. /root (mode 0700)
            "exe_for_uid": exe if not (root and untraversable_ancestors(exe)) else public_interpreter(),
            "keep": interpreter_dirs(exe),
            "system": list(SYSTEM_DIRS),
            "scratch": list(SCRATCH_DIRS),
            "etc": list(ETC_FILES),
            "devices": list(DEV_NODES),
            **_seccomp_config(os.uname().machine),
            "require": sorted(FULL_ISOLATION) if limits.require_isolation else [],
        }
        t0 = time.monotonic()
        with open(stdin_path, "rb") as stdin_f:
            proc = subprocess.Popen(
                [exe, "-I", "-S", "-B", BOOTSTRAP, json.dumps(cfg)],
                stdin=stdin_f,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(rep_w,),
                start_new_session=True,
                cwd=box,
                env=child_env(work),
            )
        os.close(rep_w)
        rep_w = -1
        out, err, rep, timed_out = collect(proc, rep_r, limits, t0)
        wall = time.monotonic() - t0
    finally:
        if proc is not None:
            kill_group(proc)
            reap(proc)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for fd in (rep_r, rep_w):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(box, ignore_errors=True)

    events = parse_report(rep)
    setup = next((e for e in events if "setup" in e), {})
    started = next((e for e in events if "exec" in e), {})
    applied = frozenset(setup.get("setup", ())) | frozenset(started.get("layers", ()))
    if uid is not None and "pidns" not in applied:
        kill_uid(exe, uid)  # no pid namespace: kill whatever escaped the process group
    note_missing(applied, [*setup.get("notes", ()), *started.get("notes", ())])
    errors = [e["error"] for e in events if "error" in e]
    if errors or (not timed_out and not started):
        detail = errors[0] if errors else err.decode("utf-8", "replace")[-2000:]
        raise SandboxError(f"sandbox setup failed: {detail}")

    status_events = [e["status"] for e in events if isinstance(e.get("status"), int)]
    returncode: int | None
    if status_events:
        returncode = exit_code(status_events[-1])
    elif "pidns" in applied or timed_out:
        returncode = None  # the pid-1 helper died before the program did: it was killed from outside
    else:
        returncode = proc.returncode
    return SandboxResult(
        status=classify(timed_out, returncode, err),
        returncode=None if timed_out else returncode,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        wall_s=wall,
        isolation=applied,
    )


@functools.lru_cache(maxsize=1)
def sandbox_support() -> frozenset[str]:
    """Isolation layers this machine gives (runs one trivial program; cached)."""
    return run_python("pass", limits=SandboxLimits(wall_time_s=30.0)).isolation


def interpreter() -> str:
    exe = getattr(sys, "_base_executable", None) or sys.executable
    real = os.path.realpath(exe)
    return real if os.path.isfile(real) else sys.executable


def interpreter_dirs(exe: str) -> list[str]:
    """Directories the program's interpreter needs: its prefix(es) and its bin directory."""
    dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix), os.path.dirname(exe)}
    return sorted(d for d in dirs if d != "/" and not any(o != d and d.startswith(o + "/") for o in dirs))


def untraversable_ancestors(exe: str, dirs: list[str] | None = None) -> list[str]:
    """Ancestors of the interpreter's directories that an unprivileged uid cannot enter (mode o-x)."""
    found = []
    for d in interpreter_dirs(exe) if dirs is None else dirs:
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


def public_interpreter() -> str | None:
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
            if os.stat(real).st_mode & 0o005 == 0o005 and not untraversable_ancestors(
                real, [os.path.dirname(real)]
            ):
                return real
        except OSError:
            continue
    return None


def child_env(work: str) -> dict[str, str]:
    return {"PATH": ENV_PATH, "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work}


def kill_uid(exe: str, uid: int) -> None:
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
            env={"PATH": ENV_PATH},
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:  # pragma: no cover - best effort
        log.warning("sandbox: could not kill leftover processes of uid %d: %s", uid, exc)


def note_missing(applied: frozenset[str], notes: list[str]) -> None:
    missing = sorted(FULL_ISOLATION - applied)
    if not missing:
        return
    key = ",".join(missing)
    if key not in warned:
        warned.add(key)
        log.warning("sandbox: isolation layers %s unavailable on this machine: %s", missing, "; ".join(notes))


def _seccomp_config(machine: str) -> dict:
    """The bootstrap's seccomp filter and ``pivot_root`` number for ``machine`` (a reason where none exists)."""
    try:
        program, reason = seccomp_program(machine), None
    except ValueError as exc:
        program, reason = None, str(exc)
    return {
        "seccomp": program,
        "seccomp_error": reason,
        "pivot_root_nr": syscall_number(machine, "pivot_root"),
    }
