"""Requirement vectors r_tau on the capability simplex (METHOD.md, Requirement identification).

Three sources:

1. a manual vector from the task card (normalised, must have positive mass): ``normalise_requirement``;
2. the learned identifier g_phi (used instead of the manual vector when the config selects it) (a 2-layer MLP over a frozen text embedding of the card, softmax over
   capabilities), fit on interventions (tau, Delta s, Delta U) by minimising
   ``sum (Delta U - g_phi(card)^T Delta s)^2 / n + lambda_ent * H(g_phi(card))``:
   ``RequirementHead``, ``fit_requirement_head``, ``predict_requirements``;
3. a fallback one-hot on the declared capability with epsilon smoothing: ``fallback_requirement``.

Interventions draw their allocations with ``intervention_allocation``; a saved identifier is a state dict
plus JSON metadata (``save_requirement_head`` / ``load_requirement_head``); ``requirement_agreement``
compares a learned vector with a manual one.

Pure: stdlib, numpy and CPU torch. Randomness only from explicitly seeded local generators.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "Intervention",
    "RequirementHead",
    "fallback_requirement",
    "fit_requirement_head",
    "identifier_loss",
    "intervention_allocation",
    "load_requirement_head",
    "normalise_requirement",
    "predict_requirements",
    "requirement_agreement",
    "requirement_for_card",
    "save_requirement_head",
]


def _check_capabilities(capabilities: Sequence[str]) -> list[str]:
    names = list(capabilities)
    if not names:
        raise ValueError("capabilities is empty: give at least one capability name")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"capability names must be non-empty strings, got {name!r}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"capabilities has duplicate names {duplicates}")
    return names


def _is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def normalise_requirement(vector: Mapping[str, float], capabilities: Sequence[str]) -> np.ndarray:
    """A manual requirement vector as a float64 array aligned with ``capabilities``, summing to 1.

    Capabilities missing from ``vector`` get weight 0.
    """
    names = _check_capabilities(capabilities)
    index = {name: i for i, name in enumerate(names)}
    out = np.zeros(len(names), dtype=np.float64)
    for key, weight in vector.items():
        if key not in index:
            raise ValueError(f"requirement vector names unknown capability {key!r}; known: {names}")
        if not _is_real(weight):
            raise ValueError(f"requirement weight for {key!r} must be a real number, got {weight!r}")
        weight = float(weight)
        if not math.isfinite(weight):
            raise ValueError(f"requirement weight for {key!r} must be finite, got {weight!r}")
        if weight < 0.0:
            raise ValueError(f"requirement weight for {key!r} must be >= 0, got {weight!r}")
        out[index[key]] = weight
    total = float(out.sum())
    if total <= 0.0:
        raise ValueError("requirement vector has no mass: give at least one capability a positive weight")
    return out / total


def fallback_requirement(capabilities: Sequence[str], declared: str, epsilon: float = 0.05) -> np.ndarray:
    """One-hot on ``declared`` smoothed by ``epsilon``: (1 - epsilon) on it + epsilon / C on every capability."""
    names = _check_capabilities(capabilities)
    if declared not in names:
        raise ValueError(f"declared capability {declared!r} is not one of {names}")
    if not _is_real(epsilon) or not math.isfinite(float(epsilon)) or not 0.0 <= float(epsilon) < 1.0:
        raise ValueError(f"epsilon must be in [0, 1), got {epsilon!r}")
    out = np.full(len(names), float(epsilon) / len(names), dtype=np.float64)
    out[names.index(declared)] += 1.0 - float(epsilon)
    return out


def requirement_for_card(
    capabilities: Sequence[str],
    *,
    manual: Mapping[str, float] | None,
    declared: str | None,
    epsilon: float = 0.05,
    learned: np.ndarray | None = None,
    source: str = "manual",
) -> np.ndarray:
    """r_tau by `source` (task.requirement_source): "uniform" is 1/K on every capability (the "no requirement
    identification" ablation); "learned" is the identifier's vector (`learned`, required then); "manual" is
    the manual vector if there is one, else the smoothed fallback on the declared capability."""
    names = _check_capabilities(capabilities)
    if source == "uniform":
        return np.full(len(names), 1.0 / len(names))
    if source == "learned":
        if learned is None:
            raise ValueError("requirement_source=learned needs the identifier's vector")
        vector = np.asarray(learned, dtype=np.float64)
        if vector.shape != (len(names),) or not np.all(np.isfinite(vector)) or np.any(vector < 0):
            raise ValueError(f"learned requirement must be {len(names)} finite weights >= 0, got {vector!r}")
        if vector.sum() <= 0:
            raise ValueError("learned requirement vector has no mass")
        return vector / vector.sum()
    if source != "manual":
        raise ValueError(f"requirement source must be manual, learned or uniform, got {source!r}")
    if manual is not None:
        return normalise_requirement(manual, capabilities)
    if declared is not None:
        return fallback_requirement(capabilities, declared, epsilon)
    raise ValueError(
        "task card has neither a manual requirement vector nor a declared capability: give one of them"
    )


# --------------------------------------------------------------------------------------------------
# Learned identifier g_phi
# --------------------------------------------------------------------------------------------------


def _check_positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


class RequirementHead(nn.Module):
    """g_phi: 2-layer MLP over a frozen text embedding -> softmax over capabilities."""

    def __init__(self, embedding_dim: int, num_capabilities: int, hidden: int = 64, *, seed: int = 0) -> None:
        super().__init__()
        self.embedding_dim = _check_positive_int("embedding_dim", embedding_dim)
        self.num_capabilities = _check_positive_int("num_capabilities", num_capabilities)
        self.hidden = _check_positive_int("hidden", hidden)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.seed = seed
        # skip_init: nn.Linear's constructor would draw from the global RNG; we draw from our own below.
        self.fc1 = nn.utils.skip_init(nn.Linear, embedding_dim, hidden, dtype=torch.float32)
        self.fc2 = nn.utils.skip_init(nn.Linear, hidden, num_capabilities, dtype=torch.float32)
        generator = torch.Generator(device="cpu")
        generator.manual_seed(seed)
        with torch.no_grad():
            for layer in (self.fc1, self.fc2):
                # torch.nn.Linear's default init, drawn from the local generator.
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(layer.in_features)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def logits(self, embeddings: Tensor) -> Tensor:
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ValueError(
                f"embeddings must have shape [n, {self.embedding_dim}], got {tuple(embeddings.shape)}"
            )
        return self.fc2(torch.relu(self.fc1(embeddings.to(self.fc1.weight.dtype))))

    def forward(self, embeddings: Tensor) -> Tensor:
        """[n, d] embeddings -> [n, C] requirement probabilities (rows sum to 1)."""
        return torch.softmax(self.logits(embeddings), dim=-1)


@dataclass(frozen=True)
class Intervention:
    """One logged intervention: a short distillation run with a sparse allocation on one task."""

    task_index: int  # row into the embeddings matrix
    delta_s: tuple[float, ...]  # capability profile change s(S_m) - s(S_0), len C
    delta_u: float  # downstream utility CHANGE U(S_m) - U(S_0)

    def __post_init__(self) -> None:
        if not isinstance(self.task_index, int) or isinstance(self.task_index, bool) or self.task_index < 0:
            raise ValueError(f"Intervention.task_index must be an int >= 0, got {self.task_index!r}")
        try:
            delta_s = tuple(float(x) for x in self.delta_s)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"Intervention.delta_s must be a sequence of numbers, got {self.delta_s!r}"
            ) from err
        if not delta_s:
            raise ValueError("Intervention.delta_s is empty: it needs one entry per capability")
        if not all(math.isfinite(x) for x in delta_s):
            raise ValueError(f"Intervention.delta_s must be finite, got {delta_s!r}")
        object.__setattr__(self, "delta_s", delta_s)
        if not _is_real(self.delta_u) or not math.isfinite(float(self.delta_u)):
            raise ValueError(f"Intervention.delta_u must be a finite number, got {self.delta_u!r}")
        object.__setattr__(self, "delta_u", float(self.delta_u))


def identifier_loss(probs: Tensor, delta_s: Tensor, delta_u: Tensor, lambda_ent: float) -> Tensor:
    """``sum_i (delta_u_i - probs_i . delta_s_i)^2 / n + lambda_ent * mean_i H(probs_i)`` (a scalar)."""
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape [n, C], got {tuple(probs.shape)}")
    n = probs.shape[0]
    if n == 0:
        raise ValueError("identifier_loss needs at least one intervention, got n=0")
    if tuple(delta_s.shape) != tuple(probs.shape):
        raise ValueError(f"delta_s shape {tuple(delta_s.shape)} != probs shape {tuple(probs.shape)}")
    if tuple(delta_u.shape) != (n,):
        raise ValueError(f"delta_u must have shape [{n}], got {tuple(delta_u.shape)}")
    if not _is_real(lambda_ent) or not math.isfinite(float(lambda_ent)) or lambda_ent < 0:
        raise ValueError(f"lambda_ent must be a finite number >= 0, got {lambda_ent!r}")
    predicted_u = (probs * delta_s).sum(dim=-1)
    squared_error = ((delta_u - predicted_u) ** 2).sum() / n
    entropy = -(probs * probs.clamp_min(torch.finfo(probs.dtype).tiny).log()).sum(dim=-1)
    return squared_error + float(lambda_ent) * entropy.mean()


def _as_embedding_matrix(embeddings: np.ndarray) -> np.ndarray:
    matrix = np.asarray(embeddings)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"embeddings must be a non-empty [n, d] array, got shape {matrix.shape}")
    if not np.issubdtype(matrix.dtype, np.number) or np.issubdtype(matrix.dtype, np.complexfloating):
        raise ValueError(f"embeddings must be real numbers, got dtype {matrix.dtype}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("embeddings contain non-finite values")
    return matrix


def fit_requirement_head(
    embeddings: np.ndarray,
    interventions: Sequence[Intervention],
    *,
    lambda_ent: float = 0.01,
    hidden: int = 64,
    steps: int = 500,
    lr: float = 1e-2,
    seed: int = 0,
    num_capabilities: int | None = None,
) -> tuple[RequirementHead, list[float]]:
    """Fit g_phi by full-batch Adam on the interventions. Returns the head and the loss at each step.

    ``embeddings`` is [n_tasks, d] (one frozen card embedding per task); each intervention points at a
    row. ``num_capabilities`` defaults to the length of the first intervention's ``delta_s``; every
    intervention must match it.
    """
    matrix = _as_embedding_matrix(embeddings)
    interventions = list(interventions)
    if not interventions:
        raise ValueError("fit_requirement_head needs at least one intervention, got none")
    _check_positive_int("steps", steps)
    if not _is_real(lr) or not math.isfinite(float(lr)) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    n_tasks = matrix.shape[0]
    if num_capabilities is None:
        num_capabilities = len(interventions[0].delta_s)
    _check_positive_int("num_capabilities", num_capabilities)
    for i, item in enumerate(interventions):
        if not isinstance(item, Intervention):
            raise ValueError(f"interventions[{i}] must be an Intervention, got {type(item).__name__}")
        if item.task_index >= n_tasks:
            raise ValueError(
                f"interventions[{i}].task_index={item.task_index} is out of range for {n_tasks} task embeddings"
            )
        if len(item.delta_s) != num_capabilities:
            raise ValueError(
                f"interventions[{i}].delta_s has length {len(item.delta_s)}, expected {num_capabilities}"
            )

    head = RequirementHead(matrix.shape[1], num_capabilities, hidden, seed=seed)
    dtype = head.fc1.weight.dtype
    task_embeddings = torch.as_tensor(matrix, dtype=dtype)
    rows = torch.tensor([item.task_index for item in interventions], dtype=torch.long)
    delta_s = torch.tensor([item.delta_s for item in interventions], dtype=dtype)
    delta_u = torch.tensor([item.delta_u for item in interventions], dtype=dtype)

    optimiser = torch.optim.Adam(head.parameters(), lr=float(lr))
    losses: list[float] = []
    head.train()
    for _ in range(steps):
        optimiser.zero_grad(set_to_none=True)
        probs = head(task_embeddings)[rows]
        loss = identifier_loss(probs, delta_s, delta_u, lambda_ent)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    head.eval()
    return head, losses


def predict_requirements(head: RequirementHead, embeddings: np.ndarray) -> np.ndarray:
    """[n, d] card embeddings -> [n, C] float64 requirement vectors (rows on the simplex), no grad."""
    matrix = _as_embedding_matrix(embeddings)
    with torch.no_grad():
        logits = head.logits(torch.as_tensor(matrix, dtype=head.fc1.weight.dtype))
        # Softmax in float64 so each row sums to 1 to float64 precision.
        probs = torch.softmax(logits.to(torch.float64), dim=-1)
    return probs.numpy()


def intervention_allocation(num_caps: int, *, max_support: int, seed: Sequence[int],
                            alpha: float = 1.0) -> np.ndarray:
    """A sparse Dirichlet allocation for one intervention: a support of 1..``max_support`` capabilities
    (size and members uniform), Dirichlet(alpha) weights on it, 0 elsewhere. ``seed`` is the entropy of a
    local generator (e.g. ``[run_seed, stream, task_key, index]``), so a rerun draws the same allocation."""
    _check_positive_int("num_caps", num_caps)
    if not isinstance(max_support, int) or not 1 <= max_support <= num_caps:
        raise ValueError(f"max_support must be an int in [1, {num_caps}], got {max_support!r}")
    if not _is_real(alpha) or not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha!r}")
    rng = np.random.default_rng(list(seed))
    support_size = int(rng.integers(1, max_support + 1))
    support = np.sort(rng.choice(num_caps, size=support_size, replace=False))
    allocation = np.zeros(num_caps, dtype=np.float64)
    allocation[support] = rng.dirichlet(np.full(support_size, float(alpha)))
    return allocation


def requirement_agreement(learned: np.ndarray, manual: np.ndarray) -> dict[str, float | bool]:
    """How a learned requirement vector compares with a manual one: cosine similarity, whether their top
    capabilities agree, and the total-variation distance (half the L1 distance, in [0, 1])."""
    a, b = np.asarray(learned, dtype=np.float64), np.asarray(manual, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"learned and manual vectors must have the same 1-d shape, got {a.shape} and {b.shape}")
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return {"cosine": float(a @ b) / norm if norm > 0 else 0.0,
            "top_agrees": int(np.argmax(a)) == int(np.argmax(b)),
            "total_variation": 0.5 * float(np.abs(a - b).sum())}


def save_requirement_head(head: RequirementHead, path: str | Path, metadata: Mapping[str, object]) -> None:
    """``path`` (.pt): the state dict; ``path`` with suffix .json: the head's shape plus ``metadata``
    (which must name the ``capabilities`` in output order)."""
    path = Path(path)
    capabilities = _check_capabilities(metadata.get("capabilities", ()))
    if len(capabilities) != head.num_capabilities:
        raise ValueError(f"metadata names {len(capabilities)} capabilities, the head has {head.num_capabilities}")
    meta = {**metadata, "capabilities": capabilities, "embedding_dim": head.embedding_dim,
            "hidden": head.hidden, "seed": head.seed}
    torch.save(head.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")


def load_requirement_head(path: str | Path) -> tuple[RequirementHead, dict]:
    """The head saved by ``save_requirement_head`` (loaded with ``weights_only=True``) and its metadata;
    a missing or unreadable file is a ValueError naming it."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    for file in (path, meta_path):
        if not file.is_file():
            raise ValueError(f"requirement identifier file {file} does not exist: run `read-ray identify` to "
                             f"make one, or give the path of its identifier.pt")
    try:
        meta = json.loads(meta_path.read_text())
        head = RequirementHead(int(meta["embedding_dim"]), len(meta["capabilities"]), int(meta["hidden"]),
                               seed=int(meta["seed"]))
        head.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # truncated, foreign or mismatched files
        raise ValueError(f"requirement identifier {path} could not be loaded ({type(exc).__name__}: {exc}); "
                         f"run `read-ray identify` again") from None
    head.eval()
    return head, meta
