"""Connecting to Ray, and checking that the cluster can hold every role before anything starts.

`connect(cfg)` joins the cluster at RAY_ADDRESS when it is set (`ray job submit` sets it), else starts a
local Ray with the settings that avoid silent hangs on small machines (PLATFORM.md): loopback only, no
dashboard, no telemetry, a bounded object store. A role that cannot be placed would make Serve or Train
wait forever, so `check_resources` turns that into an error naming the role and the missing resource.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator

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


_OWNED: list[bool] = []     # per open connect(): whether it started the local Ray it is connected to


def owns_ray() -> bool:
    """Whether this process started the Ray it uses and shuts it down at the end (what it leaves running
    there, e.g. Serve's controller, ends with it: stopping it earlier only makes Ray report failed tasks)."""
    return bool(_OWNED and _OWNED[-1])


@contextlib.contextmanager
def connect(cfg: ReadConfig, *, num_cpus: int | None = None, verbose: bool = False) -> Iterator[dict[str, float]]:
    """Join RAY_ADDRESS or start a local Ray; check resources; shut down only a Ray this call started.
    Ray's INFO lines and a local Ray's worker logs reach the console only when `verbose`."""
    import logging

    import ray

    started = False
    level = logging.INFO if verbose else logging.WARNING
    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init(log_to_driver=True, logging_level=level)
        else:
            for key, value in LOCAL_ENV.items():
                os.environ.setdefault(key, value)
            ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                     object_store_memory=512 * 2**20, log_to_driver=verbose, logging_level=level)
        started = True
    _OWNED.append(started and not os.environ.get("RAY_ADDRESS"))     # a local Ray this call started
    try:
        available = ray.cluster_resources()
        check_resources(cfg, available)
        yield available
    finally:
        _OWNED.pop()
        if started:
            ray.shutdown()
