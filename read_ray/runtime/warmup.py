"""Build DeepSpeed's CPU communication op once, so the first real training round does not pay ~50 s.

`python -m read_ray.runtime.warmup` runs a one-process `deepspeed.initialize` on a tiny model (gloo,
loopback). The compiled op is cached in the environment (`<sys.prefix>/torch_extensions`, see
`cluster.LOCAL_ENV`); later runs return in seconds.
"""

from __future__ import annotations

import os
import time


def warm_deepspeed() -> float:
    """Initialise DeepSpeed once in this process; returns the seconds it took."""
    from read_ray.runtime.cluster import LOCAL_ENV, free_ports

    env = {"TORCH_EXTENSIONS_DIR": LOCAL_ENV["TORCH_EXTENSIONS_DIR"], "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_ports(1)[0]), "RANK": "0", "LOCAL_RANK": "0",
           "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1"}
    for key, value in env.items():
        os.environ.setdefault(key, value)
    start = time.perf_counter()
    import deepspeed
    import torch

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
