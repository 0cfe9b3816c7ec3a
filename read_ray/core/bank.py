"""A transition bank: offline round records that warm-start ReAD's reward model before round 0.

The paper fits its reward model on "the profiling split plus logged transitions" (3.2k-4.9k examples per
task); without offline data the ensemble has one transition at round 1 and its spread means nothing.
A `Transition` is one round of an earlier run with the same capability set:

    (x_t, w_t, delta_s_t, cost_t, dev utility change of the round if it was measured)

`transitions_from_records` rebuilds them from a run directory's `record.json` files (round order), so
any finished run - static pilots, `compare` arms, `identify` interventions - can serve. The bank is a
JSON file (`save_bank` / `load_bank`); its cost (the tokens its runs spent) is kept in the file and
reported outside the run's budget, as the paper does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from read_ray.core.bandit import Context

BANK_VERSION = 1


def _floats(values) -> list[float]:
    return [float(x) for x in values]


@dataclass(frozen=True)
class Transition:
    context: Context
    allocation: tuple[float, ...]
    delta_s: tuple[float, ...]
    cost: float                            # the token-cost term of its reward (lambda * tokens / 1000)
    dev_utility_delta: float | None        # dev utility change over this round alone, when measured

    def to_dict(self) -> dict:
        """Plain Python floats only (loadable by torch.load(weights_only=True) and JSON)."""
        c = self.context
        return {"context": {"requirement": _floats(c.requirement), "profile": _floats(c.profile),
                            "remaining_frac": float(c.remaining_frac),
                            "last_allocation": None if c.last_allocation is None else _floats(c.last_allocation),
                            "last_reward": None if c.last_reward is None else float(c.last_reward)},
                "allocation": _floats(self.allocation), "delta_s": _floats(self.delta_s), "cost": float(self.cost),
                "dev_utility_delta": None if self.dev_utility_delta is None else float(self.dev_utility_delta)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Transition:
        c = d["context"]
        ctx = Context(tuple(c["requirement"]), tuple(c["profile"]), float(c["remaining_frac"]),
                      None if c["last_allocation"] is None else tuple(c["last_allocation"]), c["last_reward"])
        return cls(ctx, tuple(d["allocation"]), tuple(d["delta_s"]), float(d["cost"]), d["dev_utility_delta"])


@dataclass(frozen=True)
class TransitionBank:
    capabilities: tuple[str, ...]
    transitions: tuple[Transition, ...]
    sources: tuple[str, ...]              # the runs it was built from (names, not paths)
    spent_tokens: int                     # what those runs cost: reported outside the budget

    def to_dict(self) -> dict:
        return {"version": BANK_VERSION, "capabilities": list(self.capabilities), "sources": list(self.sources),
                "spent_tokens": self.spent_tokens, "transitions": [t.to_dict() for t in self.transitions]}

    def digest(self) -> str:
        """Content hash: a resumed run checks it is warm-started from the same bank."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def transitions_from_records(records: Sequence[Mapping], requirement: Sequence[float]) -> list[Transition]:
    """One run's round records (in round order) as transitions with the contexts the bandit saw.

    The context of round t is rebuilt from the records: s_t = round t's profile_before, b_t / B from the
    ledger after round t-1, rho_t = round t-1's allocation and reward. A round's own dev utility change is
    the difference of the cumulative dev changes of consecutive rounds that both measured it (round 0's
    is its own change from the initial student).
    """
    out: list[Transition] = []
    previous: Mapping | None = None
    for rec in sorted(records, key=lambda r: r["round_index"]):
        ledger = rec["ledger"]
        total = float(ledger["total_tokens"])
        spent_after = float(ledger["generation_tokens"] + ledger["training_tokens"]
                            + (ledger["probe_tokens"] if ledger.get("charge_probes") else 0))
        round_spent = sum(rec["generation_tokens"].values()) + sum(rec["training_tokens"].values())
        ctx = Context(
            requirement=tuple(float(x) for x in requirement), profile=tuple(rec["profile_before"]),
            remaining_frac=(total - spent_after + round_spent) / total,
            last_allocation=None if previous is None else tuple(previous["allocation"]),
            last_reward=None if previous is None else float(previous["reward"]["reward"]),
        )
        dev_now = rec.get("dev_utility_change")
        if dev_now is not None and rec["round_index"] == 0:
            dev_delta = float(dev_now)
        elif dev_now is not None and previous is not None and previous.get("dev_utility_change") is not None:
            dev_delta = float(dev_now) - float(previous["dev_utility_change"])
        else:
            dev_delta = None
        out.append(Transition(ctx, tuple(rec["allocation"]), tuple(rec["reward"]["delta_s"]),
                              float(rec["reward"]["cost"]), dev_delta))
        previous = rec
    return out


def save_bank(bank: TransitionBank, path: str | Path) -> None:
    Path(path).write_text(json.dumps(bank.to_dict(), indent=1))


def load_bank(path: str | Path, capabilities: Sequence[str] | None = None) -> TransitionBank:
    """Read a bank; with `capabilities`, refuse one built for another capability set (naming both)."""
    try:
        d = json.loads(Path(path).read_text())
        bank = TransitionBank(tuple(d["capabilities"]), tuple(Transition.from_dict(t) for t in d["transitions"]),
                              tuple(d["sources"]), int(d["spent_tokens"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"transition bank {path}: unreadable ({exc}); rebuild it with `read-ray bank`") from exc
    if capabilities is not None and tuple(capabilities) != bank.capabilities:
        raise ValueError(f"transition bank {path} was built for capabilities {list(bank.capabilities)}, "
                         f"this run has {list(capabilities)}: build a bank from runs with the same capabilities")
    num_caps = len(bank.capabilities)
    for t in bank.transitions:
        if len(t.allocation) != num_caps or len(t.delta_s) != num_caps or len(t.context.profile) != num_caps:
            raise ValueError(f"transition bank {path}: a transition does not have {num_caps} capabilities")
    return bank


def bank_targets(transitions: Sequence[Transition], target: str, requirement: np.ndarray, *,
                 beta: float, spill_top_k: int, source: str) -> tuple[list[Transition], np.ndarray]:
    """The transitions usable for a reward model and their targets.

    target=profile: every transition, target delta_s (what the allocation did, whatever the task).
    target=reward: the reward of this run's task recomputed from delta_s (source proxy/refit), or the
    round's own dev utility change minus cost (source dev_utility: only transitions that measured it).
    """
    from read_ray.core.reward import batch_gain_minus_spill

    if target == "profile":
        return list(transitions), np.array([t.delta_s for t in transitions], dtype=np.float64)
    if source == "dev_utility":
        kept = [t for t in transitions if t.dev_utility_delta is not None]
        return kept, np.array([[t.dev_utility_delta - t.cost] for t in kept], dtype=np.float64).reshape(-1, 1)
    ds = np.array([t.delta_s for t in transitions], dtype=np.float64).reshape(len(transitions), len(requirement))
    gains = batch_gain_minus_spill(requirement, ds, beta=beta, spill_top_k=spill_top_k)
    costs = np.array([t.cost for t in transitions])
    return list(transitions), (gains - costs).reshape(-1, 1)
