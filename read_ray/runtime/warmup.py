"""Build DeepSpeed's CPU communication op once, so the first real training round does not pay ~50 s.

`python -m read_ray.runtime.warmup` runs a one-process `deepspeed.initialize` on a tiny model (gloo). Its
process group uses an in-process store (torch's `env://` rendezvous would start a TCP store listening on
every interface) and gloo's socket on the loopback interface. The compiled op is cached in the environment
(`<sys.prefix>/torch_extensions`, see `cluster.LOCAL_ENV`); later runs return in seconds. Do not kill it
while it compiles: the build's lock file would stay and make every later DeepSpeed start wait on it.
"""

from __future__ import annotations

import os
import time


def warm_deepspeed() -> float:
    """Initialise DeepSpeed once in this process; returns the seconds it took."""
    from read_ray.runtime.cluster import LOCAL_ENV, free_ports, interface_of

    env = {"TORCH_EXTENSIONS_DIR": LOCAL_ENV["TORCH_EXTENSIONS_DIR"], "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_ports(1)[0]), "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
           "LOCAL_WORLD_SIZE": "1", "GLOO_SOCKET_IFNAME": interface_of("127.0.0.1") or "lo"}
    for key, value in env.items():
        os.environ.setdefault(key, value)
    start = time.perf_counter()
    import deepspeed
    import torch

    # one process: an in-process store, so no rendezvous server listens (DeepSpeed keeps this group)
    torch.distributed.init_process_group("gloo", store=torch.distributed.HashStore(), rank=0, world_size=1)

    model = torch.nn.Linear(4, 4)
    config = {"train_micro_batch_size_per_gpu": 1, "zero_optimization": {"stage": 1},
              "zero_allow_untested_optimizer": True}
    engine, *_ = deepspeed.initialize(model=model, optimizer=torch.optim.AdamW(model.parameters()),
                                      config=config)
    loss = engine(torch.ones(1, 4)).sum()
    engine.backward(loss)
    engine.step()
    torch.distributed.destroy_process_group()
    return time.perf_counter() - start


if __name__ == "__main__":
    print(f"deepspeed warm-up done in {warm_deepspeed():.1f} s")
