"""The contextual bandit of ReAD: a bootstrap-ensemble reward model, kept apart from UCB exploration.

- `Context` is x_t = [r_tau; s_t / 100; b_t / B; rho_t] with rho_t = (last allocation, last reward).
- `EnsembleRewardModel`: J two-layer MLPs over [x; a], each fit on its own bootstrap resample of the
  logged transitions, each with its own seeded `torch.Generator` (init and resampling). The members are
  trained together as one batched computation (independent parameters, elementwise Adam: identical to
  J separate fits, J times fewer Python steps).
- `ucb_scores` / `select_ucb`: the exploration rule, a = argmax mu + kappa * sigma.
- `KappaSchedule` and `RequirementRefit`: the dev-checkpoint logic (kappa decay; r refitted on dev).

Everything a resumed run needs to select exactly what an uninterrupted run would is in `state_dict`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Context:
    requirement: tuple[float, ...]              # r_tau
    profile: tuple[float, ...]                  # s_t, normalised points (0 = initial student, 100 = teacher)
    remaining_frac: float                       # b_t / B
    last_allocation: tuple[float, ...] | None   # w_{t-1}; None before the first round
    last_reward: float | None                   # R_{t-1}; None before the first round

    def vector(self) -> np.ndarray:
        num_caps = len(self.requirement)
        last_w = self.last_allocation if self.last_allocation is not None else (0.0,) * num_caps
        return np.concatenate([
            np.asarray(self.requirement, dtype=np.float64),
            np.asarray(self.profile, dtype=np.float64) / 100.0,
            [self.remaining_frac],
            np.asarray(last_w, dtype=np.float64),
            [0.0 if self.last_reward is None else self.last_reward / 100.0],   # points -> profile scale
        ])

    @staticmethod
    def dim(num_caps: int) -> int:
        return 3 * num_caps + 2


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """The nets are tiny: intra-op threads only add overhead (40x slower on a busy 2-core box)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def member_seed(seed: int, member: int) -> int:
    """Independent, reproducible seed per ensemble member."""
    return int(np.random.SeedSequence([seed, member]).generate_state(1, dtype=np.uint64)[0] >> 1)


class EnsembleRewardModel:
    """J bootstrap MLPs mapping features [x; a] to K outputs; members' spread measures uncertainty.

    K = 1 models the reward itself (the paper); K = C models the capability-profile change, from which
    the reward of a candidate is computed (`ReadPolicy`, **[ours]**).
    """

    def __init__(self, input_dim: int, *, output_dim: int = 1, num_members: int = 5, hidden: int = 64,
                 fit_steps: int = 150, lr: float = 0.01, weight_decay: float = 0.0, seed: int = 0):
        self.input_dim, self.output_dim, self.num_members, self.hidden = input_dim, output_dim, num_members, hidden
        self.fit_steps, self.lr, self.weight_decay = fit_steps, lr, weight_decay
        self.generators = [torch.Generator().manual_seed(member_seed(seed, j)) for j in range(num_members)]
        self.params = self._init_params()
        self.x_mean = torch.zeros(input_dim, dtype=torch.float64)
        self.x_std = torch.ones(input_dim, dtype=torch.float64)
        self.y_mean = torch.zeros(output_dim, dtype=torch.float64)
        self.y_std = torch.ones(output_dim, dtype=torch.float64)
        self.fitted = False

    def _init_params(self) -> dict[str, torch.Tensor]:
        d, h, k = self.input_dim, self.hidden, self.output_dim
        w1, w2 = [], []
        for g in self.generators:  # each member draws its initial weights from its own generator
            w1.append(torch.randn(d, h, generator=g, dtype=torch.float64) * (1.0 / d) ** 0.5)
            w2.append(torch.randn(h, k, generator=g, dtype=torch.float64) * (1.0 / h) ** 0.5)
        j = self.num_members
        return {"w1": torch.stack(w1), "b1": torch.zeros(j, 1, h, dtype=torch.float64),
                "w2": torch.stack(w2), "b2": torch.zeros(j, 1, k, dtype=torch.float64)}

    def _forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """x: [J, n, d] (already standardised) -> [J, n, K]."""
        hidden = torch.tanh(torch.baddbmm(params["b1"], x, params["w1"]))
        return torch.baddbmm(params["b2"], hidden, params["w2"])

    def fit(self, features: np.ndarray, targets: np.ndarray) -> float:
        """Refit every member from fresh weights on its own bootstrap resample; returns the final loss."""
        x = torch.as_tensor(np.asarray(features, dtype=np.float64))
        y = torch.as_tensor(np.asarray(targets, dtype=np.float64)).reshape(x.shape[0], self.output_dim)
        n = x.shape[0]
        if n == 0:
            raise ValueError("cannot fit the reward model on zero transitions")
        y_std = y.std(0, unbiased=False)
        # Inputs are centred but not scaled: every feature is already on a natural [0, 1] scale, and
        # per-column scaling would blow probe noise on capabilities that get no data (s_c ~ 0 +- noise)
        # up into unit-variance inputs that a small ensemble overfits instead of the allocation.
        self.x_mean = x.mean(0)
        self.y_mean, self.y_std = y.mean(0), torch.where(y_std < 1e-6, torch.ones_like(y_std), y_std)
        xs, ys = (x - self.x_mean) / self.x_std, (y - self.y_mean) / self.y_std
        idx = torch.stack([torch.randint(0, n, (n,), generator=g) for g in self.generators])  # bootstrap
        xb, yb = xs[idx], ys[idx]                                                 # [J, n, d], [J, n, K]
        params = {k: v.clone().requires_grad_(True) for k, v in self._init_params().items()}
        opt = torch.optim.AdamW(params.values(), lr=self.lr, weight_decay=self.weight_decay)
        loss = torch.tensor(0.0)
        with single_thread():
            for _ in range(self.fit_steps):
                opt.zero_grad()
                loss = ((self._forward(params, xb) - yb) ** 2).mean(dim=(1, 2)).sum()
                loss.backward()
                opt.step()
        self.params = {k: v.detach() for k, v in params.items()}
        self.fitted = True
        return loss.item() / self.num_members

    @torch.no_grad()
    def predict_members(self, features: np.ndarray) -> np.ndarray:
        """Every member's prediction in target units. Shape [J, n, K]."""
        x = torch.as_tensor(np.asarray(features, dtype=np.float64))
        xs = ((x - self.x_mean) / self.x_std).expand(self.num_members, *x.shape)
        with single_thread():
            return (self._forward(self.params, xs) * self.y_std + self.y_mean).numpy()

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over members of a single-output model. Shape [n] each."""
        preds = self.predict_members(features)[..., 0]                            # [J, n]
        return preds.mean(0), preds.std(0)

    def state_dict(self) -> dict:
        return {
            "params": {k: v.clone() for k, v in self.params.items()},
            "generators": [g.get_state() for g in self.generators],
            "x_mean": self.x_mean.clone(), "x_std": self.x_std.clone(),
            "y_mean": self.y_mean.clone(), "y_std": self.y_std.clone(), "fitted": self.fitted,
        }

    def load_state_dict(self, state: dict) -> None:
        self.params = {k: v.clone() for k, v in state["params"].items()}
        for g, s in zip(self.generators, state["generators"], strict=True):
            g.set_state(s)
        self.x_mean, self.x_std = state["x_mean"].clone(), state["x_std"].clone()
        self.y_mean, self.y_std = state["y_mean"].clone(), state["y_std"].clone()
        self.fitted = bool(state["fitted"])


def ucb_scores(mean: np.ndarray, std: np.ndarray, kappa: float) -> np.ndarray:
    return np.asarray(mean) + kappa * np.asarray(std)


def select_ucb(mean: np.ndarray, std: np.ndarray, kappa: float) -> int:
    """Index of argmax mu + kappa * sigma (first index on ties: deterministic)."""
    return int(np.argmax(ucb_scores(mean, std, kappa)))


@dataclass(frozen=True)
class KappaSchedule:
    kappa: float = 1.0
    decay: float = 0.7
    best_dev_utility: float | None = None

    def after_dev_checkpoint(self, dev_utility: float) -> KappaSchedule:
        """kappa <- decay * kappa when dev utility did not improve on the best seen so far."""
        if self.best_dev_utility is not None and dev_utility <= self.best_dev_utility:
            return KappaSchedule(self.kappa * self.decay, self.decay, self.best_dev_utility)
        return KappaSchedule(self.kappa, self.decay, dev_utility)


@dataclass(frozen=True)
class RequirementRefit:
    """r refitted online from dev checkpoints: the reward tied to the task (`reward.source=refit`).

    Each dev interval gives a point (delta_s summed over its rounds, dev utility change over it). The
    weights minimise  sum (dU - r . ds)^2 + lam * |r - a * r_tau|^2,  where a is the least-squares scale of
    the proxy r_tau . ds onto dU (proxy points -> dev utility units) and lam = prior_weight * trace(X^T X)
    / C, so the prior dominates until the data can tell capabilities apart. This is the identifier's loss
    on the run's own transitions; with no points it is r_tau (scale 1). Negative weights are clipped: a
    capability cannot be worth less than nothing to the task.
    """

    requirement: tuple[float, ...]
    prior_weight: float = 1.0
    points: tuple[tuple[tuple[float, ...], float], ...] = ()   # (delta_s over the interval, dev delta U)

    def add_point(self, delta_s: np.ndarray, dev_utility_delta: float) -> RequirementRefit:
        point = (tuple(float(x) for x in delta_s), float(dev_utility_delta))
        return RequirementRefit(self.requirement, self.prior_weight, (*self.points, point))

    @property
    def weights(self) -> np.ndarray:
        r = np.asarray(self.requirement, dtype=np.float64)
        if not self.points:
            return r
        x = np.array([p[0] for p in self.points], dtype=np.float64)
        y = np.array([p[1] for p in self.points], dtype=np.float64)
        proxy = x @ r
        scale = float(proxy @ y / (proxy @ proxy)) if proxy @ proxy > 1e-12 else 0.0
        prior = max(scale, 0.0) * r
        gram = x.T @ x
        lam = self.prior_weight * max(float(np.trace(gram)) / len(r), 1e-12)
        w = np.linalg.solve(gram + lam * np.eye(len(r)), x.T @ y + lam * prior)
        return np.clip(w, 0.0, None)


def feature_dim(num_caps: int) -> int:
    return Context.dim(num_caps) + 2 * num_caps


def features_for(context: Context, actions: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """[x; a; sqrt(a) * headroom] for every candidate action a. Shape [A, feature_dim(C)].

    headroom_c = 1 - s_c / 100 is the share of the student-teacher gap still open on capability c
    **[ours]**: a round's gain on c scales with both the data it gets and the gap left, an interaction a
    small MLP would otherwise have to discover from a handful of noisy rounds.
    """
    actions = np.asarray(actions, dtype=np.float64)
    num_actions, num_caps = actions.shape
    x = np.broadcast_to(context.vector(), (num_actions, Context.dim(num_caps)))
    headroom = 1.0 - np.clip(np.asarray(context.profile, dtype=np.float64), 0.0, 100.0) / 100.0
    return np.concatenate([x, actions, np.sqrt(actions) * headroom], axis=1)
