"""Security on the running system: no process of our Ray session listens outside loopback while the teacher
app serves and a student fit trains, Serve HTTP can be off, and secrets in the driver's environment never
reach the run directory or the logs.

Listeners are found by PID from Ray's own records, never by command-line name (Ray renames its workers
`ray::...`): the processes this session's node started (GCS, raylet, agents, log monitor: the node's
`all_processes` table), every descendant of them (all workers: the Serve controller, HTTP proxy and
replicas, the Train controller and workers, the probe and learner actors of a run) and the driver.
"""

import os
import threading

import psutil
import pytest

from read_ray.config import ResourcesConfig, TrainConfig, load_config, replace
from read_ray.runtime.cluster import free_ports
from read_ray.runtime.teacher import start_teacher, stop_teacher

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def session_pids() -> set[int]:
    """The driver, every process Ray's node table holds for this session, and all their descendants."""
    import ray

    node = ray._private.worker._global_node
    roots = {info.process.pid for infos in node.all_processes.values() for info in infos}
    assert roots, "Ray's node table lists no process: this test needs the session's own local Ray"
    pids = {os.getpid()}
    for pid in roots:
        try:
            pids.add(pid)
            pids.update(child.pid for child in psutil.Process(pid).children(recursive=True))
        except psutil.NoSuchProcess:
            pass
    return pids


def listeners(pids: set[int]) -> set[tuple[int, str, str, int]]:
    """(pid, process name, ip, port) of every listening TCP socket and every bound, unconnected UDP socket
    of `pids` (a process may end while we look)."""
    found = set()
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            name = proc.name()
            for conn in proc.net_connections(kind="inet"):
                if conn.laddr and (conn.status == psutil.CONN_LISTEN or (conn.status == psutil.CONN_NONE
                                                                           and not conn.raddr)):
                    found.add((pid, name, conn.laddr.ip, conn.laddr.port))
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            pass
    return found


class ListenerWatch:
    """Polls the session's listeners in a thread while a block runs (a Train fit's workers live seconds)."""

    def __init__(self, interval_s: float = 0.5):
        self.interval_s, self.seen, self.rounds = interval_s, set(), 0
        self._stop = threading.Event()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.seen |= listeners(session_pids())
            self.rounds += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "ListenerWatch":
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def replica_grpc_listeners(app_name: str) -> dict[int, int]:
    """{pid: port} of each teacher replica's inter-deployment gRPC server, asked of the replica actors that
    Serve registers by name (Ray 2.60 binds that server to [::]:0, with no setting: docs/RELIABILITY.md)."""
    import ray

    found = {}
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["namespace"] == "serve" and "SERVE_REPLICA" in entry["name"] and app_name in entry["name"]:
            actor = ray.get_actor(entry["name"], namespace="serve")
            pid, port = ray.get(actor.__ray_call__.remote(
                lambda replica: (os.getpid(), replica._replica_impl._internal_grpc_port)), timeout=60)
            found[pid] = port
    return found


def tiny_samples(tiny_dir: str) -> list:
    from read_ray.model.loading import load_tokenizer
    from read_ray.model.training import make_sample

    tok = load_tokenizer(tiny_dir)
    texts = [("What is 2+3?", "5", "math"), ("Say hi.", "Hi there!", "general_knowledge"),
             ("Reverse 'ab'.", "ba", "code"), ("7*6?", "42", "math")]
    return [make_sample(tok, q, a, c) for q, a, c in texts]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_no_process_of_the_session_listens_outside_loopback(ray_cluster, tiny_dir, tmp_path):
    """While the teacher app serves (HTTP on) and a 2-worker student fit trains: every listener of every
    process of the session is on loopback, except each Serve replica's inter-deployment gRPC server, which
    Ray binds to all interfaces with no setting (the one documented exception, checked port by port)."""
    from read_ray.runtime.student import fit_student

    app = "read_ray_teacher_listeners"
    http_port, = free_ports(1)
    cfg = replace(load_config("tiny"), teacher={"model": tiny_dir, "http_enabled": True,
                                                "http_host": "127.0.0.1", "http_port": http_port})
    try:                        # Serve is shut down even when the app failed to start
        handle = start_teacher(cfg, app_name=app)
        assert handle.generate.remote("Hi", 2).result(timeout_s=120)["completion_tokens"] >= 1
        replica_grpc = replica_grpc_listeners(app)
        with ListenerWatch() as watch:
            update = fit_student(
                tiny_samples(tiny_dir), init_dir=tiny_dir, training_cap_tokens=60,
                train=TrainConfig(micro_batch_size=1), resources=ResourcesConfig(train_workers=2,
                                                                                 train_cpus_per_worker=0.5),
                storage_dir=str(tmp_path), name="listeners", seed=0)
        assert update.steps >= 1
    finally:
        stop_teacher(app)

    seen = watch.seen
    assert watch.rounds >= 3, "the watch did not poll while the fit ran"
    assert replica_grpc, "no teacher replica found in Ray's named actors"
    by_name = {name for _, name, _, _ in seen}
    # the watch saw the processes that matter (names only to check coverage; selection was by PID)
    assert any("RayTrainWorker" in n for n in by_name) and any("ServeReplica" in n for n in by_name), by_name
    assert any(port == http_port and ip in LOOPBACK for _, _, ip, port in seen), "no Serve HTTP proxy listener"
    train_workers = {pid for pid, name, _, _ in seen if "RayTrainWorker" in name}
    train_listeners = {(ip, port) for pid, _, ip, port in seen if pid in train_workers}
    # the torch rendezvous (TCPStore on rank 0) and gloo's sockets: more than one core gRPC server per worker
    assert len(train_listeners) > len(train_workers) >= 2, train_listeners
    outside = sorted(x for x in seen if x[2] not in LOOPBACK)
    documented = [x for x in outside if replica_grpc.get(x[0]) == x[3]]
    assert [x for x in outside if x not in documented] == [], "\n".join(map(str, outside))
    assert {(pid, port) for pid, _, _, port in documented} <= set(replica_grpc.items())


@pytest.mark.timeout(300)
def test_serve_http_can_be_off(ray_cluster, tiny_dir):
    cfg = replace(load_config("tiny"), teacher={"model": tiny_dir, "http_enabled": False, "http_port": 8000})
    try:
        from ray import serve

        handle = start_teacher(cfg)
        assert handle.generate.remote("Hi", 2).result(timeout_s=120)["completion_tokens"] >= 1
        assert not serve.status().proxies                     # no HTTP proxy at all
        assert not any(port == 8000 for *_, port in listeners(session_pids()))
    finally:
        stop_teacher()


@pytest.mark.slow          # inspects the shared tiny run, made with the secrets in the driver's environment
@pytest.mark.timeout(1800)   # the first test to use a shared run also pays for making it
def test_secrets_never_reach_the_run_directory_or_logs(tiny_run):
    secret = tiny_run.secret
    assert secret and not any(secret in value for value in os.environ.values())     # planted, then restored
    files = [p for p in tiny_run.run.root.rglob("*") if p.is_file()]
    assert len(files) > 10 and any(p.name == "ray.log" for p in files)     # Ray's and Serve's records too
    leaked = [str(p) for p in files if secret.encode() in p.read_bytes()]
    assert leaked == []
    # its log lines, console and everything written to stdout and stderr while it ran
    assert "round 1" in tiny_run.output and secret not in tiny_run.output
