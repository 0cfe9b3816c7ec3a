"""`ray start --head` + `ray job submit -- python jobs/distill.py --config ...`, as clusters/local.md shows.

The job resumes a copy of the session's shared `tiny` run (conftest.py) cut back to round 0, so it runs
round 1 only: the whole path (head, job agent, working-dir upload, entrypoint, controller) at the cost of
one round. The head runs in the foreground (`--block`) as this test's child, with its own temp dir (so no
other `ray.init` on the machine attaches to it) and its own ports; it is ended by its PID, never `ray stop`.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from read_ray.config import to_yaml
from read_ray.runtime.cluster import LOCAL_ENV, free_ports

REPO = Path(__file__).resolve().parents[2]


class HeadExited(RuntimeError):
    """`ray start --head` ended before its job server answered (e.g. a chosen port was taken meanwhile)."""


def wait_for_job_agent(url: str, head: subprocess.Popen, timeout_s: float = 180) -> None:
    """The dashboard answers before the node's job agent registers; wait until jobs can be listed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise HeadExited("ray start --head exited early: " + head.stderr.read()[-2000:])
        try:
            with urllib.request.urlopen(f"{url}/api/jobs/", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    raise TimeoutError(f"no Ray job server at {url} after {timeout_s:.0f} s")


def start_head(bin_dir: Path, env: dict[str, str], temp_dir: str, attempts: int = 3) -> tuple[subprocess.Popen, str]:
    """A foreground `ray start --head` on ports of its own, and its dashboard URL once jobs can be submitted.
    The ports are free when chosen but released before Ray binds them, so another process can take one in
    between: then the head exits, and it is started again on fresh ports."""
    flags = ("port", "dashboard-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
             "metrics-export-port", "runtime-env-agent-port", "ray-client-server-port", "node-manager-port",
             "object-manager-port")
    for attempt in range(1, attempts + 1):
        # every fixed default port of its own (another Ray on this machine may hold the defaults), all distinct
        ports = dict(zip(flags, free_ports(len(flags)), strict=True))
        url = f"http://127.0.0.1:{ports['dashboard-port']}"
        head = subprocess.Popen(
            [str(bin_dir / "ray"), "start", "--head", "--block", "--num-cpus=2",
             "--include-dashboard=true", "--dashboard-host=127.0.0.1",
             f"--temp-dir={temp_dir}", f"--object-store-memory={512 * 2**20}", "--disable-usage-stats",
             *(f"--{flag}={port}" for flag, port in ports.items())],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_job_agent(url, head)
            return head, url
        except HeadExited:
            end_head(head, temp_dir)
            if attempt == attempts:
                raise
        except BaseException:
            end_head(head, temp_dir)
            raise
    raise AssertionError("unreachable")


def end_head(head: subprocess.Popen, temp_dir: str) -> None:
    """SIGTERM the foreground `ray start`, which stops what it started; then any straggler of our temp dir."""
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        head.kill()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if temp_dir in cmdline:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the first test to use a shared run also pays for making it
def test_ray_job_submit_runs_tiny(tiny_run, tmp_path):
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, **LOCAL_ENV, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("RAY_ADDRESS", None)
    temp_dir = tempfile.mkdtemp(prefix="rrjob", dir="/tmp")     # short: Ray's socket paths have a length limit
    head, url = start_head(bin_dir, env, temp_dir)
    try:
        runs_dir = tmp_path / "runs"
        tiny_run.copy(runs_dir, "job", rounds=1)            # the job resumes it and runs round 1
        config = tmp_path / "job.yaml"
        config.write_text(to_yaml(tiny_run.cfg))
        runtime_env = {"excludes": [".venv", "runs", ".git", "**/__pycache__"],
                       "env_vars": {"READ_RAY_RUNS_DIR": str(runs_dir)}}
        command = [str(bin_dir / "ray"), "job", "submit", "--address", url, "--working-dir", str(REPO),
                   "--runtime-env-json", json.dumps(runtime_env), "--",
                   sys.executable, "jobs/distill.py", "--config", str(config), "run.name=job"]
        for _ in range(10):      # until the node's job agent has registered (it starts after the dashboard)
            submit = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)
            if "No available agent" not in submit.stdout + submit.stderr:
                break
            time.sleep(5)
        assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
        assert "succeeded" in submit.stdout.lower(), submit.stdout[-3000:]
        assert "resuming after round 1" in submit.stdout, submit.stdout[-3000:]
        run_dir = runs_dir / "job"
        assert (run_dir / "report.md").is_file()
        records = sorted((run_dir / "rounds").glob("round_*/MANIFEST.json"))
        assert len(records) == 2
        last_ledger = json.loads((run_dir / "ledger.jsonl").read_text().splitlines()[-1])
        assert 0 < last_ledger["generation_tokens"] + last_ledger["training_tokens"] <= last_ledger["total_tokens"]
    finally:
        end_head(head, temp_dir)
