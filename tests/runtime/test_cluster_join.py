"""`cluster.connect`, as the CLI reaches it (a fresh interpreter, nothing of Ray imported or set yet):

- with a cluster started by `ray start --head` (clusters/local.md), it joins that cluster without asking
  for resources, found as a bare `ray.init()` finds it (the address `ray start` recorded) or through
  RAY_ADDRESS; the work runs on that cluster, which is still up after the driver leaves;
- without one, it starts a private local Ray whose every listener is on loopback, even where the machine
  has a network address (Ray would otherwise listen on every interface);
- with ray imported before it could set that up, it refuses to start a local Ray.

The head runs in the foreground (`--block`) as this test's child with its own RAY_TMPDIR (so nothing else
on the machine sees its recorded address) and its own ports, all on 127.0.0.1; it and every process it
started are ended by PID, never `ray stop`.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from read_ray.runtime.cluster import LOCAL_ENV, free_ports

REPO = Path(__file__).resolve().parents[2]

JOIN = """
import json, sys
from read_ray.config import load_config
from read_ray.runtime.cluster import connect
assert "ray" not in sys.modules
with connect(load_config("tiny")) as available:
    import ray

    @ray.remote(num_cpus=1)
    def node_of_task():
        return ray.get_runtime_context().get_node_id()

    print(json.dumps({"cpus": available.get("CPU"), "gcs": ray.get_runtime_context().gcs_address,
                      "task_node": ray.get(node_of_task.remote(), timeout=120),
                      "nodes": [n["NodeID"] for n in ray.nodes() if n["Alive"]]}))
"""

LOCAL = """
import json, os, sys
import psutil
from read_ray.config import load_config
from read_ray.runtime.cluster import connect
assert "ray" not in sys.modules
with connect(load_config("tiny"), num_cpus=2):
    import ray

    node = ray._private.worker._global_node            # Ray's own table of the processes it started
    roots = {info.process.pid for infos in node.all_processes.values() for info in infos}
    pids = {os.getpid()} | roots
    for pid in roots:
        pids |= {child.pid for child in psutil.Process(pid).children(recursive=True)}
    found = []
    for pid in pids:
        try:
            for c in psutil.Process(pid).net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN or (c.status == psutil.CONN_NONE and not c.raddr):
                    found.append([pid, psutil.Process(pid).name(), c.laddr.ip, c.laddr.port])
        except psutil.NoSuchProcess:
            pass
    print(json.dumps({"node_ip": ray.util.get_node_ip_address(), "roots": len(roots), "listeners": found}))
"""

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


@pytest.fixture
def ray_tmpdir():
    """A short private RAY_TMPDIR (Ray's socket paths have a length limit), removed afterwards."""
    path = tempfile.mkdtemp(prefix="rrc")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def driver_env(ray_tmpdir: str, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: no RAY_ADDRESS, none of LOCAL_ENV (the conftest set them here)."""
    env = {k: v for k, v in os.environ.items() if k not in LOCAL_ENV and k != "RAY_ADDRESS"}
    env.update({"RAY_TMPDIR": ray_tmpdir, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0",
                "RAY_AUTH_MODE": "disabled", **extra})
    return env


def run_driver(code: str, env: dict[str, str], timeout_s: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout_s)


def processes_of(head: subprocess.Popen, ray_tmpdir: str) -> set[int]:
    """PIDs this test started for the head: its process tree, and any process whose command line names the
    head's own RAY_TMPDIR (unique to this test; Ray passes its session folder to every process it starts)."""
    pids = set()
    try:
        pids |= {p.pid for p in psutil.Process(head.pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        pass
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(ray_tmpdir in arg for arg in proc.info["cmdline"] or ()):
            pids.add(proc.info["pid"])
    return pids - {os.getpid()}


def end_started(head: subprocess.Popen, started: set[int]) -> None:
    """SIGTERM the foreground `ray start` (it stops what it started), then SIGKILL any process it started that
    is still there, by the PIDs recorded while it ran."""
    if head.poll() is None:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait(timeout=30)
    for pid in started:
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass


def start_head(ray_tmpdir: str, started: set[int], attempts: int = 3) -> tuple[subprocess.Popen, str]:
    """`ray start --head --block` on 127.0.0.1 with 2 CPUs and ports of its own; returns it and its GCS address
    once it has recorded that address. On a loaded machine Ray's fixed 30 s wait for its own raylet can run
    out: then what it started is ended and it is started again."""
    bin_dir = Path(sys.executable).parent
    head_env = {**driver_env(ray_tmpdir), **LOCAL_ENV, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    recorded = Path(ray_tmpdir, "ray", "ray_current_cluster")
    flags = ("port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
             "runtime-env-agent-port", "ray-client-server-port", "node-manager-port", "object-manager-port")
    for attempt in range(attempts):
        ports = dict(zip(flags, free_ports(len(flags)), strict=True))
        head = subprocess.Popen(
            [str(bin_dir / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
             "--dashboard-host=127.0.0.1", "--include-dashboard=false", "--num-cpus=2",
             f"--object-store-memory={256 * 2**20}", "--disable-usage-stats",
             *(f"--{flag}={port}" for flag, port in ports.items())],
            env=head_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while not recorded.is_file() and head.poll() is None and time.monotonic() < deadline:
            started |= processes_of(head, ray_tmpdir)
            time.sleep(1)
        started |= processes_of(head, ray_tmpdir)
        if recorded.is_file() and head.poll() is None:
            return head, f"127.0.0.1:{ports['port']}"
        error = head.stderr.read()[-2000:] if head.poll() is not None else "no address recorded in 180 s"
        end_started(head, started)
        if attempt == attempts - 1:
            raise AssertionError(f"ray start --head failed {attempts} times; the last: {error}")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_connect_joins_a_cluster_started_by_ray_start_without_asking_for_resources(ray_tmpdir):
    started: set[int] = set()
    head = None
    try:
        head, gcs = start_head(ray_tmpdir, started)
        assert Path(ray_tmpdir, "ray", "ray_current_cluster").read_text().strip() == gcs

        # as the CLI after `ray start --head`: no RAY_ADDRESS; then with RAY_ADDRESS, and with `auto`
        for extra, notice in (({}, True), ({"RAY_ADDRESS": gcs}, False), ({"RAY_ADDRESS": "auto"}, False)):
            done = run_driver(JOIN, driver_env(ray_tmpdir, **extra))
            assert done.returncode == 0, done.stderr[-3000:]
            assert "must not be provided" not in done.stderr
            seen = json.loads(done.stdout.strip().splitlines()[-1])
            assert seen["gcs"] == gcs, (extra, seen)
            assert seen["cpus"] == 2.0, seen                    # the head's CPUs, not this machine's count
            assert seen["nodes"] == [seen["task_node"]], seen   # the task ran on the head's node
            assert ("joined the Ray cluster at " + gcs in done.stderr) == notice, done.stderr[-2000:]
            started |= processes_of(head, ray_tmpdir)
            assert head.poll() is None, "the driver's exit stopped the cluster it had joined"
    finally:
        if head is not None:
            end_started(head, started)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_connect_starts_a_local_ray_that_listens_only_on_loopback(ray_tmpdir):
    """In a fresh interpreter with none of LOCAL_ENV set (a user's shell), as `read-ray run` does."""
    done = run_driver(LOCAL, driver_env(ray_tmpdir))
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["node_ip"] == "127.0.0.1" and seen["roots"] >= 2, seen
    assert len(seen["listeners"]) >= 4, seen            # GCS, raylet, agents, the driver's core worker
    outside = [x for x in seen["listeners"] if x[2] not in LOOPBACK]
    assert outside == [], outside


def test_connect_refuses_a_local_ray_that_ray_imported_earlier_would_open_to_the_network(ray_tmpdir):
    code = ("import ray\nfrom read_ray.config import load_config\nfrom read_ray.runtime.cluster import connect\n"
            "with connect(load_config('tiny'), num_cpus=2):\n    pass\n")
    done = run_driver(code, driver_env(ray_tmpdir), timeout_s=180)
    assert done.returncode != 0
    assert "ray was imported before read_ray could set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0" in done.stderr, \
        done.stderr[-2000:]
    assert "Started a local Ray instance" not in done.stderr
