"""The caller's side of a sandboxed run once the bootstrap is started: read its output and report pipe
under the wall clock, kill and reap it (through stops), and classify how the program ended."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time

from read_ray.content.sandbox.limits import SandboxLimits

__all__ = ["classify", "collect", "exit_code", "has_exited", "kill_group", "parse_report", "reap"]

REPORT_CAP = 1 << 16
"""Bytes of the bootstrap's report pipe kept."""
GRACE_S = 2.0
"""After a wall-clock kill: how long the pipes may take to close."""
DRAIN_S = 0.25
"""After the bootstrap exited: how long to read what escaped processes still write."""
POLL_S = 0.05


def collect(
    proc: subprocess.Popen[bytes], rep_r: int, limits: SandboxLimits, t0: float
) -> tuple[bytes, bytes, bytes, bool]:
    """Read stdout/stderr/report until EOF and the bootstrap exits, enforcing the wall clock."""
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray(), rep_r: bytearray()}
    caps = {out_fd: limits.max_output_bytes, err_fd: limits.max_output_bytes, rep_r: REPORT_CAP}
    deadline = t0 + limits.wall_time_s
    timed_out = exited = False
    with selectors.DefaultSelector() as sel:
        for fd in bufs:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            now = time.monotonic()
            if not exited and has_exited(proc):
                # With a pid namespace everything is gone by now and EOF follows at once; without one,
                # processes that escaped may still hold the pipes: read what is there, then stop.
                exited = True
                deadline = min(deadline, now + DRAIN_S)
            if not timed_out and not exited and now >= deadline:
                timed_out = True
                kill_group(proc)
                deadline = now + GRACE_S  # the kill closes the pipes (pid namespace); bounded anyway
            elif now >= deadline:
                break
            for key, _ in sel.select(min(deadline - now, POLL_S)):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                buf = bufs[key.fd]
                room = caps[key.fd] - len(buf)
                if room > 0:
                    buf += chunk[:room]
    # Wait for the bootstrap without reaping it, so its pid (= our process group) stays ours for the kill.
    while not has_exited(proc):
        if time.monotonic() >= deadline:
            timed_out = True
            break
        time.sleep(0.005)
    return bytes(bufs[out_fd]), bytes(bufs[err_fd]), bytes(bufs[rep_r]), timed_out


def has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the bootstrap has exited, without reaping it (its pid stays ours for ``killpg``).

    Without a pid namespace the program itself is our child: if it stopped (``SIGSTOP``, or a signal after
    ``ptrace(PTRACE_TRACEME)``, which makes us its tracer) it can make no progress, so it is killed.
    """
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WSTOPPED | os.WNOHANG | os.WNOWAIT)
        if info is None:
            return False
        if info.si_code in (os.CLD_STOPPED, os.CLD_TRAPPED):
            kill_group(proc)
            os.waitid(os.P_PID, proc.pid, os.WSTOPPED | os.WNOHANG)  # consume the stop report
            return False
    except ChildProcessError:   # no such child any more: it exited and was reaped elsewhere (see `reap`)
        return True
    return True


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Reap the (killed) bootstrap, skipping stop reports (``Popen.wait`` would take a stop for the exit)."""
    while proc.returncode is None:
        try:
            pid, status = os.waitpid(proc.pid, 0)
        except ChildProcessError:  # pragma: no cover - reaped elsewhere
            proc.returncode = -signal.SIGKILL
            return
        if pid == proc.pid and not os.WIFSTOPPED(status):
            proc.returncode = exit_code(status)
            return
        kill_group(proc)


def exit_code(status: int) -> int | None:
    """``os.waitstatus_to_exitcode`` that gives None (not ``ValueError``) for a stop or an odd status."""
    try:
        return os.waitstatus_to_exitcode(status)
    except ValueError:
        return None


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def parse_report(raw: bytes) -> list[dict]:
    events = []
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            events.append(obj)
    return events


def classify(timed_out: bool, returncode: int | None, stderr: bytes) -> str:
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
