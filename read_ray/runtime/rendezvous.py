"""Ray Train's torch process group, with the rendezvous bound to the node's own address.

Ray Train (2.60) sets up each fit's process group with `MASTER_ADDR` = rank 0's node IP, and torch's
`env://` rendezvous then starts rank 0's TCPStore server, which torch binds to `::` (every interface,
plaintext, no authentication) whatever `MASTER_ADDR` says; neither Ray nor torch has a setting for that
address. torch's TCPStore does accept an already-bound listening socket (`master_listen_fd`), so
`NodeBoundTorchConfig` (a `TorchConfig` whose backend is ours, Ray Train's documented `Backend` hook)
binds one on rank 0 to the address Ray advertises for its node and hands it to the store:

- on the local Ray that `cluster.connect` starts, the node address is 127.0.0.1: the store listens on
  loopback only, and gloo and NCCL are pinned to the loopback interface (`GLOO_SOCKET_IFNAME`,
  `NCCL_SOCKET_IFNAME`) unless they are set already;
- on a cluster, the node address is the node's IP, which the other nodes' ranks must reach; gloo and NCCL
  choose their interfaces as they otherwise would (or as `*_SOCKET_IFNAME` says).

Everything else is what Ray Train's own torch backend does (Ray Train v2, the default): gloo on CPU, nccl
with GPUs (the trainer fills `backend`), the torch environment variables of each rank, the process group
destroyed at shutdown (a worker group restarted after a failure gets a new store). `init_method` is not
used: the store is always the one bound here. This module imports ray; import it only after
`cluster.connect` set up the environment.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from datetime import timedelta

import ray
from ray.train.backend import Backend, BackendConfig
from ray.train.torch import TorchConfig

from read_ray.runtime.cluster import interface_of

_LISTENING_FDS: dict[int, int] = {}
"""port -> file descriptor of the socket rank 0 bound for the store, until the store takes it over."""

PROCESS_GROUP_SHUTDOWN_TIMEOUT_S = 30.0


def open_store_socket() -> tuple[str, int]:
    """On rank 0: listen on (this node's Ray address, a free port); the socket is kept for the store."""
    address = ray.util.get_node_ip_address()
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((address, 0))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    port = sock.getsockname()[1]
    _LISTENING_FDS[port] = sock.detach()
    return address, port


def set_rank_environment(address: str, port: int) -> None:
    """The torch variables of this rank (as Ray Train sets them); on loopback, gloo and NCCL on loopback."""
    from ray.train.torch import get_device

    context = ray.train.get_context()
    os.environ.update({
        "MASTER_ADDR": address, "MASTER_PORT": str(port),
        "LOCAL_RANK": str(context.get_local_rank()), "LOCAL_WORLD_SIZE": str(context.get_local_world_size()),
        "NODE_RANK": str(context.get_node_rank()), "RANK": str(context.get_world_rank()),
        "WORLD_SIZE": str(context.get_world_size()), "ACCELERATE_TORCH_DEVICE": str(get_device()),
    })
    if ipaddress.ip_address(address).is_loopback:
        interface = interface_of(address)
        if interface is None:
            raise RuntimeError(f"no network interface holds the node address {address}")
        os.environ.setdefault("GLOO_SOCKET_IFNAME", interface)
        os.environ.setdefault("NCCL_SOCKET_IFNAME", interface)


def join_process_group(backend: str, world_rank: int, world_size: int, address: str, port: int,
                       timeout_s: int) -> None:
    """Every rank: connect to rank 0's store (rank 0 serves it on its bound socket), then init the group."""
    import torch.distributed as dist

    timeout = timedelta(seconds=timeout_s)
    if "nccl" in backend:          # fail a hung collective instead of waiting forever (as Ray Train does)
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    fd = _LISTENING_FDS.pop(port) if world_rank == 0 else None
    store = dist.TCPStore(address, port, world_size, is_master=world_rank == 0, timeout=timeout,
                          master_listen_fd=fd)
    dist.init_process_group(backend=backend, store=store, rank=world_rank, world_size=world_size, timeout=timeout)


def leave_process_group(destroy: bool) -> None:
    import torch
    import torch.distributed as dist

    if destroy and dist.is_initialized():
        dist.destroy_process_group()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class NodeBoundTorchBackend(Backend):
    share_cuda_visible_devices: bool = True

    def on_start(self, worker_group, backend_config: BackendConfig) -> None:
        import torch.distributed as dist

        if not dist.is_available():
            raise RuntimeError("torch.distributed is not available in this torch build")
        backend = backend_config.backend
        if backend is None:
            backend = "nccl" if worker_group.get_resources_per_worker().get("GPU", 0) > 0 else "gloo"
        address, port = worker_group.execute_single(0, open_store_socket)
        worker_group.execute(set_rank_environment, address=address, port=port)
        world_size = len(worker_group)
        ray.get([worker_group.execute_single_async(rank, join_process_group, backend=backend, world_rank=rank,
                                                   world_size=world_size, address=address, port=port,
                                                   timeout_s=backend_config.timeout_s)
                 for rank in range(world_size)])

    def on_shutdown(self, worker_group, backend_config: BackendConfig) -> None:
        futures = worker_group.execute_async(leave_process_group, destroy=len(worker_group) > 1)
        try:
            ray.get(futures, timeout=PROCESS_GROUP_SHUTDOWN_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            pass        # the workers are ended next anyway; a group that will not close must not block that


@dataclass
class NodeBoundTorchConfig(TorchConfig):
    """`TorchConfig` (backend, init timeout, per-fit CUDA device context) with the rendezvous on the node's
    address instead of every interface."""

    @property
    def backend_cls(self):
        return NodeBoundTorchBackend
