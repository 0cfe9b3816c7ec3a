"""Token budget: an immutable ledger that never overspends, and the per-round split.

B (``total_tokens``) pays for teacher generation tokens (prompt + completion) and student training
tokens (prompt + label, no padding). Probe tokens are always metered and reported; they count against B
only when ``charge_probes`` is set (METHOD.md, Objects). Every charge returns a new ledger; a charge that
would take the ledger past B is refused whole (``BudgetExceededError``), never applied in part.

Pure: stdlib only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = [
    "BudgetExceededError",
    "Ledger",
    "RoundBudget",
    "plan_round_budget",
    "rounds_affordable",
]

_LEDGER_KEYS = ("total_tokens", "generation_tokens", "training_tokens", "probe_tokens", "charge_probes")


class BudgetExceededError(RuntimeError):
    """A charge asked for more tokens than the ledger has left. The ledger is unchanged."""

    def __init__(self, stage: str, asked_tokens: int, remaining_tokens: int, total_tokens: int) -> None:
        self.stage = stage
        self.asked_tokens = asked_tokens
        self.remaining_tokens = remaining_tokens
        self.total_tokens = total_tokens
        super().__init__(
            f"budget exceeded at stage {stage!r}: asked {asked_tokens} tokens but only "
            f"{remaining_tokens} remain of budget.total_tokens={total_tokens}; nothing was charged"
        )


def _is_int(value: Any) -> bool:
    """True for ints proper; ``bool`` is rejected on purpose (``True`` is not one token)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _require_count(name: str, value: Any) -> None:
    if not _is_int(value):
        raise ValueError(f"{name} must be an int token count, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True)
class Ledger:
    """Immutable token ledger. B = generation + training tokens (+ probe tokens only if charge_probes)."""

    total_tokens: int
    generation_tokens: int = 0  # teacher tokens (prompt + completion) charged
    training_tokens: int = 0  # student training tokens (prompt + label, no padding) charged
    probe_tokens: int = 0  # always metered; counted against the budget only if charge_probes
    charge_probes: bool = False

    def __post_init__(self) -> None:
        if not _is_int(self.total_tokens):
            raise ValueError(
                f"total_tokens must be an int, got {self.total_tokens!r} ({type(self.total_tokens).__name__})"
            )
        if self.total_tokens <= 0:
            raise ValueError(f"total_tokens must be > 0, got {self.total_tokens}")
        _require_count("generation_tokens", self.generation_tokens)
        _require_count("training_tokens", self.training_tokens)
        _require_count("probe_tokens", self.probe_tokens)
        if not isinstance(self.charge_probes, bool):
            raise ValueError(f"charge_probes must be a bool, got {self.charge_probes!r}")
        if self.spent_tokens > self.total_tokens:
            raise ValueError(
                f"ledger overspent: spent_tokens={self.spent_tokens} > total_tokens={self.total_tokens} "
                f"(generation={self.generation_tokens}, training={self.training_tokens}, "
                f"probe={self.probe_tokens}, charge_probes={self.charge_probes})"
            )

    # -- views -------------------------------------------------------------------------------------

    @property
    def spent_tokens(self) -> int:
        """Tokens counted against B."""
        charged_probe_tokens = self.probe_tokens if self.charge_probes else 0
        return self.generation_tokens + self.training_tokens + charged_probe_tokens

    @property
    def remaining_tokens(self) -> int:
        return self.total_tokens - self.spent_tokens

    @property
    def spent_frac(self) -> float:
        """Budget progress p in [0, 1]."""
        return self.spent_tokens / self.total_tokens

    def can_afford(self, tokens: int) -> bool:
        """Whether ``tokens`` more budget-counted tokens fit in what remains."""
        _require_count("tokens", tokens)
        return tokens <= self.remaining_tokens

    # -- charging ----------------------------------------------------------------------------------

    def charge(
        self, *, generation_tokens: int = 0, training_tokens: int = 0, probe_tokens: int = 0
    ) -> Ledger:
        """Return a new ledger with the amounts added. Refuses the whole charge if it would exceed B."""
        _require_count("generation_tokens", generation_tokens)
        _require_count("training_tokens", training_tokens)
        _require_count("probe_tokens", probe_tokens)
        charged_probe_tokens = probe_tokens if self.charge_probes else 0
        asked_tokens = generation_tokens + training_tokens + charged_probe_tokens
        if asked_tokens > self.remaining_tokens:
            amounts = (
                ("generation", generation_tokens),
                ("training", training_tokens),
                ("probe", charged_probe_tokens),
            )
            stage = "+".join(name for name, amount in amounts if amount > 0)
            raise BudgetExceededError(stage, asked_tokens, self.remaining_tokens, self.total_tokens)
        return Ledger(
            total_tokens=self.total_tokens,
            generation_tokens=self.generation_tokens + generation_tokens,
            training_tokens=self.training_tokens + training_tokens,
            probe_tokens=self.probe_tokens + probe_tokens,
            charge_probes=self.charge_probes,
        )

    # -- serialisation -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, int | bool]:
        return {key: getattr(self, key) for key in _LEDGER_KEYS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ledger:
        if not isinstance(d, dict):
            raise ValueError(f"ledger must be a dict, got {type(d).__name__}")
        missing = [key for key in _LEDGER_KEYS if key not in d]
        unknown = sorted(str(key) for key in d if key not in _LEDGER_KEYS)
        if missing or unknown:
            raise ValueError(f"ledger dict has missing keys {missing} and unknown keys {unknown}")
        return cls(**{key: d[key] for key in _LEDGER_KEYS})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> Ledger:
        try:
            data = json.loads(s)
        except json.JSONDecodeError as err:
            raise ValueError(f"ledger JSON does not parse: {err}") from err
        return cls.from_dict(data)


@dataclass(frozen=True)
class RoundBudget:
    """Token caps for one round."""

    round_tokens: int  # = generation_tokens + training_tokens
    generation_tokens: int  # cap for teacher tokens in one round
    training_tokens: int  # cap for student training tokens in one round

    def __post_init__(self) -> None:
        for name in ("round_tokens", "generation_tokens", "training_tokens"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"RoundBudget.{name} must be an int >= 1, got {value!r}")
        if self.round_tokens != self.generation_tokens + self.training_tokens:
            raise ValueError(
                f"RoundBudget.round_tokens={self.round_tokens} != generation_tokens={self.generation_tokens}"
                f" + training_tokens={self.training_tokens}"
            )


def plan_round_budget(total_tokens: int, num_rounds: int, gen_fraction: float) -> RoundBudget:
    """Split B into ``num_rounds`` equal rounds, each split by ``gen_fraction`` (METHOD.md, Round schedule).

    ``generation = floor(round_tokens * gen_fraction)``, computed on the decimal value written in the
    config (0.29 of 100 tokens is 29, not 28 from binary rounding); training gets the rest.
    """
    if not _is_int(total_tokens) or total_tokens <= 0:
        raise ValueError(f"budget.total_tokens must be an int > 0, got {total_tokens!r}")
    if not _is_int(num_rounds) or num_rounds < 1:
        raise ValueError(f"num_rounds must be an int >= 1, got {num_rounds!r}")
    if (
        isinstance(gen_fraction, bool)
        or not isinstance(gen_fraction, (int, float))
        or not math.isfinite(gen_fraction)
        or not 0.0 < gen_fraction < 1.0
    ):
        raise ValueError(f"budget.gen_fraction must be strictly inside (0, 1), got {gen_fraction!r}")
    round_tokens = total_tokens // num_rounds
    generation_tokens = math.floor(round_tokens * Fraction(repr(float(gen_fraction))))
    training_tokens = round_tokens - generation_tokens
    if generation_tokens < 1 or training_tokens < 1:
        raise ValueError(
            f"budget.total_tokens={total_tokens} cannot afford one round of at least 1 generation and "
            f"1 training token with num_rounds={num_rounds} and budget.gen_fraction={gen_fraction} "
            f"(round_tokens={round_tokens}, generation_tokens={generation_tokens}, "
            f"training_tokens={training_tokens}); raise the budget or use fewer rounds"
        )
    return RoundBudget(
        round_tokens=round_tokens, generation_tokens=generation_tokens, training_tokens=training_tokens
    )


def rounds_affordable(ledger: Ledger, round_budget: RoundBudget) -> int:
    """How many more full rounds the remaining budget pays for."""
    return ledger.remaining_tokens // round_budget.round_tokens
