"""The bandit learner as a Ray actor: the core policy behind select/update, its state saved each round."""

from __future__ import annotations

import io

import numpy as np

from read_ray.config import ReadConfig
from read_ray.core.bandit import Context
from read_ray.core.bank import load_bank
from read_ray.core.files import atomic_write
from read_ray.core.policies import make_policy
from read_ray.core.reward import RewardTerms


class BanditLearner:
    """Holds one policy; every method takes and returns plain values (no Ray types)."""

    def __init__(self, cfg: ReadConfig, num_caps: int, seed: int):
        caps = cfg.capabilities.names
        mix = np.array([cfg.bandit.static_mix.get(c, 0.0) for c in caps])
        schedule = np.array([[phase.get(c, 0.0) for c in caps] for phase in cfg.bandit.schedule]).reshape(-1, len(caps))
        bank = load_bank(cfg.bandit.bank_path, cfg.capabilities.names) if cfg.bandit.bank_path else None
        self.policy = make_policy(cfg.bandit.policy, num_caps=num_caps, seed=seed, allocation=cfg.allocation,
                                  bandit=cfg.bandit, reward=cfg.reward, static_mix=mix, schedule=schedule,
                                  bank=bank)

    def select(self, context: Context) -> np.ndarray:
        return self.policy.select(context)

    def last_scores(self) -> dict:
        return dict(getattr(self.policy, "last_scores", {}))

    def update(self, context: Context, allocation: np.ndarray, reward: RewardTerms) -> None:
        self.policy.update(context, allocation, reward)

    def on_dev_checkpoint(self, dev_utility_change: float, cumulative_reward: float) -> None:
        self.policy.on_dev_checkpoint(dev_utility_change, cumulative_reward)

    def peak_rss_bytes(self) -> int:
        from read_ray.runtime.cluster import peak_rss_bytes

        return peak_rss_bytes()

    def save(self, path: str) -> None:
        """Write the policy state atomically (torch.save of tensors and plain containers only)."""
        import torch

        buffer = io.BytesIO()
        torch.save(self.policy.state_dict(), buffer)
        atomic_write(path, buffer.getvalue())

    def load(self, path: str) -> None:
        import torch

        try:
            state = torch.load(path, weights_only=True)
        except Exception as exc:  # a truncated or foreign file
            raise ValueError(f"bandit state {path} is missing or corrupt ({exc}); delete the round folder "
                             f"that holds it to redo that round") from None
        self.policy.load_state_dict(state)          # a bank other than the one it was fitted with: ValueError


def start_learner(cfg: ReadConfig, num_caps: int, seed: int, state_path: str | None = None):
    """Start the learner actor with the CPUs the config gives it; restore its state when a path is given."""
    import ray

    actor = ray.remote(BanditLearner).options(num_cpus=cfg.resources.learner_cpus, max_restarts=0).remote(
        cfg, num_caps, seed)
    if state_path is not None:
        ray.get(actor.load.remote(state_path), timeout=120)
    return actor
