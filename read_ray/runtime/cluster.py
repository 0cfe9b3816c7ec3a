"""Connecting to Ray, and checking that the cluster can hold every role before anything starts.

`connect(cfg)` joins an existing cluster without asking it for resources (the cluster has its own): the
one at RAY_ADDRESS when that is set (`ray job submit` sets it; `auto` finds a local one), else the one the
last `ray start` on this machine recorded, which is what a bare `ray.init()` joins. Otherwise (or with
RAY_ADDRESS=local) it starts a private local Ray with the settings that avoid silent hangs on small
machines (PLATFORM.md): no dashboard, no telemetry, a bounded object store, and every listener on
127.0.0.1. Ray fixes its node address when it is imported (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 makes it
127.0.0.1; otherwise it is the machine's network address and Ray's servers listen on every interface), so
`connect` sets LOCAL_ENV before it imports ray, and refuses to start a local Ray that ray, imported
earlier, would open to the network. A role that cannot be placed would make Serve or Train wait forever,
so `check_resources` turns that into an error naming the role and the missing resource.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from read_ray.config import ReadConfig

LOCAL_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # DeepSpeed's CPU op is compiled per Python environment: two environments sharing the user-wide
    # cache rebuild each other's op, and a build killed half-way leaves a lock every worker waits on.
    "TORCH_EXTENSIONS_DIR": os.path.join(sys.prefix, "torch_extensions"),
}


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports: every socket stays bound until all are chosen, so the OS
    never hands out the same port twice (one port per call can repeat, which made `ray start` refuse)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def interface_of(address: str) -> str | None:
    """Name of the network interface that holds `address` (e.g. `lo` for 127.0.0.1), or None."""
    import psutil

    wanted = ipaddress.ip_address(address)
    for name, addrs in psutil.net_if_addrs().items():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    if ipaddress.ip_address(a.address.split("%")[0]) == wanted:
                        return name
                except ValueError:
                    continue
    return None


def resource_plan(cfg: ReadConfig) -> dict[str, dict[str, float]]:
    """CPUs and GPUs each role asks for (totals over its replicas, actors or workers)."""
    r, t = cfg.resources, cfg.teacher
    return {
        "teacher": {"count": t.replicas, "CPU": t.replicas * r.teacher_cpus_per_replica,
                    "GPU": t.replicas * r.teacher_gpus_per_replica},
        "probes": {"count": cfg.probes.num_actors, "CPU": cfg.probes.num_actors * r.probe_cpus_per_actor,
                   "GPU": cfg.probes.num_actors * r.probe_gpus_per_actor},
        "learner": {"count": 1, "CPU": r.learner_cpus, "GPU": 0.0},
        "train": {"count": r.train_workers, "CPU": r.train_workers * r.train_cpus_per_worker,
                  "GPU": r.train_workers * r.train_gpus_per_worker},
    }


def check_resources(cfg: ReadConfig, available: dict[str, float]) -> dict[str, dict[str, float]]:
    """Raise ValueError when the roles (all alive at once) need more than the cluster has."""
    plan = resource_plan(cfg)
    for kind in ("CPU", "GPU"):
        need = sum(role[kind] for role in plan.values())
        have = float(available.get(kind, 0.0))
        if need > have + 1e-9:
            roles = ", ".join(f"{name} {role[kind]:g}" for name, role in plan.items() if role[kind])
            raise ValueError(
                f"the config needs {need:g} {kind} at once ({roles}) but the cluster has {have:g}: lower "
                f"resources.* (e.g. resources.train_cpus_per_worker) or add nodes; otherwise Ray would wait forever"
            )
    return plan


def runs_that_fit(cfg: ReadConfig, available: dict[str, float]) -> int:
    """How many runs of `cfg` the cluster holds at once: every role of the resource plan alive together,
    plus one downstream-evaluation task (it takes a probe actor's share), per run; at least 1."""
    plan = resource_plan(cfg)
    fits = []
    for kind in ("CPU", "GPU"):
        need = sum(role[kind] for role in plan.values())
        need += cfg.resources.probe_cpus_per_actor if kind == "CPU" else cfg.resources.probe_gpus_per_actor
        if need > 0:
            fits.append(int((float(available.get(kind, 0.0)) + 1e-9) // need))
    return max(1, min(fits, default=1))


def peak_rss_bytes() -> int:
    """Peak resident set size of the calling process (Linux: ru_maxrss is in KiB); actors report it."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def recorded_cluster_address() -> str | None:
    """The address the last `ray start` on this machine recorded (a bare `ray.init()` joins it), read without
    importing ray: `<RAY_TMPDIR, else TMPDIR on Linux, else /tmp>/ray/ray_current_cluster`, where Ray 2.60
    writes it and `ray stop` removes it."""
    if os.environ.get("RAY_TMPDIR"):
        base = os.environ["RAY_TMPDIR"]
    elif sys.platform.startswith("linux") and os.environ.get("TMPDIR"):
        base = os.environ["TMPDIR"]
    elif sys.platform.startswith(("linux", "darwin")):
        base = "/tmp"
    else:
        base = tempfile.gettempdir()
    try:
        return Path(base, "ray", "ray_current_cluster").read_text().strip() or None
    except OSError:
        return None


def cluster_to_join() -> tuple[str, str] | None:
    """(address, where it came from) of the cluster `connect` joins, or None to start a local Ray. `auto`
    becomes the recorded address when there is one (Ray's `auto` prefers it too)."""
    address = os.environ.get("RAY_ADDRESS", "").strip()
    recorded = recorded_cluster_address()
    if address == "local":
        return None
    if address == "auto" and recorded:
        return recorded, "RAY_ADDRESS=auto: recorded by `ray start` on this machine"
    if address:
        return address, "RAY_ADDRESS"
    return (recorded, "recorded by `ray start` on this machine") if recorded else None


def is_loopback_address(address: str) -> bool:
    """Whether a GCS address `host:port` names this machine's loopback (not `auto`, not a `ray://` client)."""
    if "://" in address or ":" not in address:
        return False
    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def start_local_ray(num_cpus: int | None = None, *, verbose: bool = False) -> None:
    """A private local Ray whose every listener is on 127.0.0.1 (ray must not have been imported before
    LOCAL_ENV was set: see the module docstring). Its INFO lines and worker logs reach the console only
    when `verbose` (they stay in Ray's session logs)."""
    for key, value in LOCAL_ENV.items():
        os.environ.setdefault(key, value)
    loopback_only = os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    constants = sys.modules.get("ray._private.ray_constants")
    if loopback_only and getattr(constants, "ENABLE_RAY_CLUSTER", False):
        raise RuntimeError(_IMPORTED_TOO_EARLY)
    import ray

    ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
             object_store_memory=512 * 2**20, log_to_driver=verbose, logging_level=_ray_log_level(verbose))
    if loopback_only and not ipaddress.ip_address(ray.util.get_node_ip_address()).is_loopback:
        ray.shutdown()
        raise RuntimeError(_IMPORTED_TOO_EARLY)


_IMPORTED_TOO_EARLY = (
    "ray was imported before read_ray could set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, so a local Ray would "
    "listen on every network interface: import ray only after connect() (the read-ray CLI and jobs/ do), set "
    "the variables of read_ray.runtime.cluster.LOCAL_ENV before importing ray, or start Ray yourself and set "
    "RAY_ADDRESS to it"
)


def _ray_log_level(verbose: bool) -> int:
    return logging.INFO if verbose else logging.WARNING


_OWNED: list[bool] = []     # per open connect(): whether it started the local Ray it is connected to


def owns_ray() -> bool:
    """Whether this process started the local Ray it uses and shuts it down at the end: what it leaves running
    there (Serve's controller) ends with it, and stopping that earlier only makes Ray report failed tasks."""
    return bool(_OWNED and _OWNED[-1])


@contextlib.contextmanager
def connect(cfg: ReadConfig, *, num_cpus: int | None = None, verbose: bool = False) -> Iterator[dict[str, float]]:
    """Join an existing cluster (resources are the cluster's) or start a local Ray; check resources; shut
    down (or disconnect from) only a Ray this call connected to. Ray's INFO lines only when `verbose`."""
    started = owned = False
    if "ray" not in sys.modules or not sys.modules["ray"].is_initialized():
        join = cluster_to_join()
        if join is None:
            start_local_ray(num_cpus, verbose=verbose)
            owned = True
        else:
            address, source = join
            if is_loopback_address(address):     # else ray resolves 127.0.0.1 to the machine's network address
                os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            import ray

            try:
                ray.init(address=address, log_to_driver=True, logging_level=_ray_log_level(verbose))
            except ConnectionError as exc:
                raise ConnectionError(
                    f"could not join the Ray cluster at {address} ({source}): {exc}. Start that cluster, set "
                    f"RAY_ADDRESS to a running one, or set RAY_ADDRESS=local to start a private local Ray"
                ) from None
            if not source.startswith("RAY_ADDRESS"):
                print(f"read_ray: joined the Ray cluster at {address} ({source}); RAY_ADDRESS=local starts a "
                      f"private local Ray instead", file=sys.stderr)
        started = True
    import ray

    _OWNED.append(owned)
    try:
        available = ray.cluster_resources()
        check_resources(cfg, available)
        yield available
    finally:
        _OWNED.pop()
        if started:
            ray.shutdown()
