"""Round records for tests that need committed rounds without running any: real `core.rounds.settle_round`
output, as the controller writes it (record.json and the metrics it feeds)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from read_ray.core.budget import Ledger
from read_ray.core.rounds import (
    GenerationSummary,
    ProbeSummary,
    RoundPlan,
    TrainingSummary,
    initial_state,
    settle_round,
)


def round_record(index: int, caps: Sequence[str], step_losses: Sequence[float] | None = None, *,
                 allocation: Sequence[float] = (0.5, 0.5), probe_step: float = 1.0,
                 lambda_per_1k_tokens: float = 0.1) -> dict:
    """Round `index` of a run that spent on the first len(allocation) capabilities: with `step_losses`, the
    Train workers' losses are attached (a two-capability round, as the tracking tests log it); without, a
    one-capability round that trained 20 tokens of caps[0] (what run-directory tests commit)."""
    shares = tuple(allocation) + (0.0,) * (len(caps) - len(allocation))
    if step_losses is None:
        shares, spent = (1.0,) + (0.0,) * (len(caps) - 1), caps[:1]
        generation = GenerationSummary({caps[0]: 1}, {caps[0]: 4}, {caps[0]: 6}, 1.0)
        training = TrainingSummary({caps[0]: 20}, 1.0, None, 1.0)
        probe = ProbeSummary((1.0,) * len(caps), (0.5,) * len(caps), 0, 1.0)
        lambda_per_1k_tokens = 0.0
    else:
        spent = caps[:2]
        generation = GenerationSummary({caps[0]: 1, caps[1]: 1}, {caps[0]: 4, caps[1]: 5},
                                       {caps[0]: 6 + index, caps[1]: 7}, 2.0)
        training = TrainingSummary({caps[0]: 20, caps[1]: 30}, sum(step_losses) / len(step_losses), None, 3.0)
        probe = ProbeSummary(tuple(probe_step * (i + index) for i in range(len(caps))), (0.5,) * len(caps), 40, 1.0)
    plan = RoundPlan(round_index=index, allocation=shares, prompts=(), prompts_per_capability={c: 1 for c in spent},
                     max_new_tokens={c: 8 for c in caps}, generation_cap_tokens=100, training_cap_tokens=100,
                     progress_frac=0.0, recent_source_ids={}, blocked_count=index if step_losses else 0,
                     capped_count=0)
    _, record = settle_round(initial_state(Ledger(6000), np.zeros(len(caps))), plan, generation, training, probe,
                             requirement=np.full(len(caps), 1 / len(caps)), beta=0.5, spill_top_k=2,
                             lambda_per_1k_tokens=lambda_per_1k_tokens)
    if step_losses is None:
        return record.to_dict()
    return {**record.to_dict(), "train_step_losses": list(step_losses)}
