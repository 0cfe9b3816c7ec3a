"""Security on the running system: every listener of our Ray cluster and of Serve is on loopback, Serve
HTTP can be off, and secrets in the driver's environment never reach the run directory or the logs."""

import os
import uuid

import psutil
import pytest

from read_ray.config import load_config, replace
from read_ray.runtime.teacher import start_teacher, stop_teacher

LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}
SECRETS = ("WANDB_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "HF_TOKEN", "OPENAI_API_KEY")


def listening(port: int | None = None) -> list[tuple[str, int]]:
    """(ip, port) of every listening TCP socket of this Ray session's processes (or on `port`)."""
    import ray

    session = os.path.basename(ray._private.worker._global_node.get_session_dir_path())
    pids = set()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(session in arg for arg in proc.info["cmdline"] or ()):
            pids.add(proc.info["pid"])
    return [(c.laddr.ip, c.laddr.port) for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and (c.pid in pids if port is None else c.laddr.port == port)]


@pytest.mark.timeout(300)
def test_ray_listens_on_loopback_and_serve_http_can_be_off(ray_cluster, tiny_dir):
    ray_sockets = listening()
    assert ray_sockets and {ip for ip, _ in ray_sockets} <= LOOPBACK, ray_sockets
    cfg = replace(load_config("tiny"), teacher={"model": tiny_dir, "http_enabled": False, "http_port": 8000})
    handle = start_teacher(cfg)
    try:
        from ray import serve

        assert handle.generate.remote("Hi", 2).result(timeout_s=120)["completion_tokens"] >= 1
        assert not serve.status().proxies                     # no HTTP proxy at all
        assert listening(8000) == []
        assert {ip for ip, _ in listening()} <= LOOPBACK
    finally:
        stop_teacher()


@pytest.mark.timeout(900)
def test_secrets_never_reach_the_run_directory_or_logs(ray_cluster, tmp_path, monkeypatch, capfd):
    from read_ray.runtime.controller import run_distillation

    secret = f"sekret-{uuid.uuid4().hex}"
    for name in SECRETS:
        monkeypatch.setenv(name, f"{secret}-{name}")
    cfg = replace(load_config("tiny"), run={"name": "secrets", "runs_dir": str(tmp_path)})
    lines: list[str] = []
    run = run_distillation(cfg, max_rounds=1, log=lines.append)
    assert run.complete_rounds() == [0]
    files = [p for p in run.root.rglob("*") if p.is_file()]
    assert len(files) > 10
    leaked = [str(p) for p in files if secret.encode() in p.read_bytes()]
    assert leaked == []
    out, err = capfd.readouterr()
    assert secret not in "\n".join(lines) + out + err
