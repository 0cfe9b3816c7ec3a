"""Sandboxed code execution (read_ray.model.sandbox).

Every escape test runs a hostile program and then checks the effect from outside: the file is absent,
the listener accepted nothing, no process of the run survives. All of them are bounded (small limits)
so that a broken sandbox fails the test instead of harming the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from read_ray.model import sandbox
from read_ray.model.sandbox import (
    FULL_ISOLATION,
    SandboxError,
    SandboxLimits,
    check_program,
    run_python,
    sandbox_support,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux-only")

IS_ROOT = os.geteuid() == 0
FAST = SandboxLimits(wall_time_s=5.0, cpu_time_s=2, memory_bytes=256 * 2**20, max_processes=8)


def _need(*layers: str) -> None:
    missing = set(layers) - sandbox_support()
    if missing:
        pytest.skip(f"isolation layers {sorted(missing)} unavailable here (not root, no user namespaces)")


def _survivors(box: str, uid: int | None) -> list[str]:
    """Live (non-zombie) processes of a run: its script path on the command line, or its private uid."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        if box.encode() in cmdline or (uid is not None and fields["Uid"].split()[0] == str(uid)):
            found.append(f"{pid} {cmdline!r}")
    return found


def _assert_no_survivors(box: str, uid: int | None) -> None:
    deadline = time.monotonic() + 3.0
    while (left := _survivors(box, uid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []


def _run_info(stdout: str) -> dict:
    """The JSON line ``{"cwd": ..., "uid": ...}`` that the hostile programs print first."""
    return json.loads(stdout.splitlines()[0])


INFO = "import json, os, sys\nprint(json.dumps({'cwd': os.getcwd(), 'uid': os.getuid()}), flush=True)\n"


def _private_uid(info: dict) -> int | None:
    return info["uid"] if info["uid"] != os.getuid() else None


# --------------------------------------------------------------------------------------------------
# Ordinary programs
# --------------------------------------------------------------------------------------------------


def test_runs_program_with_stdin_and_captures_output() -> None:
    res = run_python(
        "import sys\nprint(sys.stdin.read().upper())\nprint('warn', file=sys.stderr)", stdin="hi"
    )
    assert (res.status, res.returncode) == ("ok", 0)
    assert res.stdout == "HI\n" and res.stderr == "warn\n"
    assert res.ok and res.wall_s < 5


def test_nonzero_exit_is_error_with_traceback() -> None:
    res = run_python("def f():\n    raise ValueError('boom')\nf()")
    assert (res.status, res.returncode) == ("error", 1)
    assert "ValueError: boom" in res.stderr
    assert run_python("import sys; sys.exit(3)").returncode == 3


def test_runs_isolated_stdlib_interpreter() -> None:
    src = (
        "import sys, json, collections, math, re\nprint(json.dumps([sys.flags.isolated, sys.flags.no_site]))"
    )
    res = run_python(src)
    assert res.ok, res.stderr
    assert json.loads(res.stdout) == [1, 1]


def test_working_directory_is_empty_private_and_removed_afterwards() -> None:
    src = INFO + "print(json.dumps(os.listdir('.')))\nopen('scratch.txt', 'w').write('x' * 1000)\n"
    res = run_python(src)
    assert res.ok, res.stderr
    info = _run_info(res.stdout)
    assert json.loads(res.stdout.splitlines()[1]) == []
    box = os.path.dirname(info["cwd"])
    assert os.path.basename(box).startswith("read_ray_sbx_")
    assert not os.path.exists(box)


def test_output_is_truncated_and_drained() -> None:
    limits = SandboxLimits(max_output_bytes=1000)
    res = run_python(
        "import sys\nsys.stdout.write('x' * (3 * 2**20))\nsys.stderr.write('e' * 5000)", limits=limits
    )
    assert res.ok
    assert res.stdout == "x" * 1000 and res.stderr == "e" * 1000


def test_check_program_pass_at_1() -> None:
    program = "def add(a, b):\n    return a + b\n"
    assert check_program(program, "assert add(2, 3) == 5", limits=FAST)
    assert not check_program(program, "assert add(2, 3) == 6", limits=FAST)
    assert not check_program("def add(a, b) return", "assert add(1, 1) == 2", limits=FAST)
    spin = SandboxLimits(wall_time_s=5.0, cpu_time_s=1)
    assert not check_program("def add(a, b):\n    while True: pass\n", "add(1, 2)", limits=spin)


def test_concurrent_runs_from_threads() -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: run_python(f"print({i} * {i})"), range(6)))
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(6)]


def test_limits_are_validated() -> None:
    for bad in ({"wall_time_s": 0}, {"cpu_time_s": 0}, {"memory_bytes": 2**20}, {"max_processes": 0}):
        with pytest.raises(ValueError):
            SandboxLimits(**bad)


# --------------------------------------------------------------------------------------------------
# Hostile programs
# --------------------------------------------------------------------------------------------------


def test_infinite_loop_is_stopped_by_the_cpu_limit() -> None:
    res = run_python("while True:\n    pass", limits=SandboxLimits(wall_time_s=20, cpu_time_s=1))
    assert res.status == "timeout"
    assert res.wall_s < 6


def test_sleeping_program_is_stopped_by_the_wall_clock_with_its_children() -> None:
    src = INFO + "import time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(120)\ntime.sleep(120)\n"
    res = run_python(src, limits=SandboxLimits(wall_time_s=1.5))
    assert (res.status, res.returncode) == ("timeout", None)
    assert 1.4 < res.wall_s < 5
    info = _run_info(res.stdout)
    _assert_no_survivors(os.path.dirname(info["cwd"]), _private_uid(info))


def test_memory_hog_is_stopped() -> None:
    src = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 2**20))"
    res = run_python(src, limits=SandboxLimits(memory_bytes=128 * 2**20, wall_time_s=20))
    assert res.status == "memory", res.stderr
    assert "MemoryError" in res.stderr and res.wall_s < 5
    assert run_python("x = bytearray(2**40)", limits=FAST).status == "memory"


def test_fork_bomb_is_bounded_and_cleaned_up() -> None:
    _need("nproc")
    # A counted bomb: 64 attempts; the children sleep, so they stay counted until the run ends.
    src = INFO + textwrap.dedent(
        """
        import time
        made = 0
        for _ in range(64):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(120)
                os._exit(0)
            made += 1
        print(made)
        """
    )
    res = run_python(src, limits=FAST)
    assert res.ok, res.stderr
    info = _run_info(res.stdout)
    made = int(res.stdout.splitlines()[1])
    assert 1 <= made < FAST.max_processes
    _assert_no_survivors(os.path.dirname(info["cwd"]), _private_uid(info))

    # The classic bomb: every process forks forever. Bounded by the process cap and the wall clock.
    bomb = INFO + "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    limits = SandboxLimits(wall_time_s=1.5, cpu_time_s=2, max_processes=8)
    res = run_python(bomb, limits=limits)
    assert res.status == "timeout" and res.wall_s < 5
    info = _run_info(res.stdout)
    _assert_no_survivors(os.path.dirname(info["cwd"]), _private_uid(info))


def test_writes_outside_the_working_directory_are_blocked(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    # A directory the sandbox can see (not under /tmp or /home), root-owned when run as root.
    visible = Path(__file__).resolve().parent / f".sbx_probe_{uuid.uuid4().hex}"
    visible.mkdir(mode=0o755)
    try:
        existing = visible / "existing.txt"
        existing.write_text("original")
        world = visible / "world_writable"
        world.mkdir()
        world.chmod(0o777)  # only the read-only mount layer stops this one
        host_tmp = Path("/tmp") / f"read_ray_sbx_probe_{uuid.uuid4().hex}"
        targets = {
            "tmp_path": outside / "pwned",
            "visible": visible / "pwned",
            "existing": existing,
            "world": world / "pwned",
            "host_tmp": host_tmp,
        }
        src = INFO + textwrap.dedent(
            f"""
            results = {{}}
            for name, path in {json.dumps({k: str(v) for k, v in targets.items()})}.items():
                try:
                    with open(path, "a") as f:
                        f.write("pwned")
                    results[name] = "written"
                except OSError as exc:
                    results[name] = type(exc).__name__
            with open("inside.txt", "w") as f:
                f.write("fine")
            results["inside"] = open("inside.txt").read()
            print(json.dumps(results))
            """
        )
        res = run_python(src, limits=FAST)
        assert res.ok, res.stderr
        results = json.loads(res.stdout.splitlines()[1])
        assert results["inside"] == "fine"
        support = sandbox_support()
        checked = ["tmp_path", "visible", "existing"]
        if "mntns" in support:
            checked.append("world")  # without a mount namespace a world-writable directory is writable
        elif not IS_ROOT:
            pytest.skip("no mount namespace and no uid change: writes are not contained here")
        for name in checked:
            assert results[name] != "written", name
        assert not (outside / "pwned").exists()
        assert not (visible / "pwned").exists()
        assert existing.read_text() == "original"
        if "mntns" in support:
            assert not (world / "pwned").exists()
            # /tmp inside is a private tmpfs: the write may succeed there, but never reaches the host
            assert not host_tmp.exists()
    finally:
        shutil.rmtree(visible, ignore_errors=True)
        if host_tmp.exists():
            host_tmp.unlink()


def test_network_connection_to_a_local_listener_fails() -> None:
    _need("netns")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        src = textwrap.dedent(
            f"""
            import socket
            for family, addr in ((socket.AF_INET, ("127.0.0.1", {port})), (socket.AF_INET6, ("::1", {port}))):
                try:
                    socket.create_connection(addr, timeout=2).close()
                    print("CONNECTED", addr)
                except OSError as exc:
                    print("blocked", addr, type(exc).__name__, exc.errno)
            """
        )
        res = run_python(src, limits=FAST)
        assert res.ok, res.stderr
        assert "CONNECTED" not in res.stdout
        assert res.stdout.count("blocked") == 2
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_parent_environment_is_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "WANDB_API_KEY": f"wandb-{uuid.uuid4().hex}",
        "AWS_SECRET_ACCESS_KEY": f"aws-{uuid.uuid4().hex}",
        "HF_TOKEN": f"hf_{uuid.uuid4().hex}",
    }
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    src = textwrap.dedent(
        f"""
        import json, os
        print(json.dumps(dict(os.environ)))
        for pid in ({os.getpid()}, os.getppid(), 1):
            try:
                print(open(f"/proc/{{pid}}/environ", "rb").read().decode(errors="replace"))
            except OSError as exc:
                print("unreadable", pid, type(exc).__name__)
        """
    )
    res = run_python(src, limits=FAST)
    assert res.ok, res.stderr
    env = json.loads(res.stdout.splitlines()[0])
    assert set(env) <= {"PATH", "LANG", "HOME", "TMPDIR"}
    for key, value in secrets.items():
        assert key not in res.stdout + res.stderr
        assert value not in res.stdout + res.stderr


# --------------------------------------------------------------------------------------------------
# Isolation report and degraded modes
# --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not IS_ROOT, reason="full isolation (fresh uid) needs root")
def test_root_gets_every_isolation_layer() -> None:
    assert FULL_ISOLATION | {"uid", "ipcns"} <= sandbox_support()
    res = run_python("pass", limits=SandboxLimits(require_isolation=True))
    assert res.ok and FULL_ISOLATION <= res.isolation


def test_require_isolation_refuses_before_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_FORCE_NO_NAMESPACES", True)
    with pytest.raises(SandboxError, match="isolation incomplete"):
        run_python("print('ran')", limits=SandboxLimits(require_isolation=True))


@pytest.mark.skipif(not IS_ROOT, reason="the no-namespace fallback contains only as root (fresh uid)")
def test_fallback_without_namespaces_still_contains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_FORCE_NO_NAMESPACES", True)
    target = Path(__file__).resolve().parent / f".sbx_probe_{uuid.uuid4().hex}"
    src = INFO + textwrap.dedent(
        f"""
        import time
        if os.fork() == 0:  # escapes the process group; only the kill-by-uid catches it
            os.setsid()
            time.sleep(120)
            os._exit(0)
        made = 0
        for _ in range(32):
            try:
                if os.fork() == 0:
                    time.sleep(120)
                    os._exit(0)
                made += 1
            except OSError:
                break
        try:
            open({str(target)!r}, "w").write("pwned")
            print("written")
        except OSError as exc:
            print(type(exc).__name__)
        print(made)
        """
    )
    try:
        res = run_python(src, limits=FAST)
        assert res.ok, res.stderr
        assert {"uid", "nproc"} <= res.isolation and "pidns" not in res.isolation
        lines = res.stdout.splitlines()
        info = _run_info(res.stdout)
        assert lines[1] != "written" and not target.exists()
        assert int(lines[2]) < FAST.max_processes
        assert res.wall_s < 3  # the program's own exit ends the run, not the sleeping strays
        _assert_no_survivors(os.path.dirname(info["cwd"]), info["uid"])
    finally:
        if target.exists():
            target.unlink()
