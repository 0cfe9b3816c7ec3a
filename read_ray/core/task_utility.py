"""Normalised downstream utility of a multi-task card: the mean gap closure over its subtasks.

Per subtask, a raw value x (e.g. mean gold log-likelihood on a split) is mapped to the gap it closes
between the initial student (0) and the teacher (100) on the same split:

    closure = 100 * (x - initial) / (teacher - initial)

and a composite card's utility is the unweighted mean of its subtasks' closures. Raw values of single-task
cards are never normalised (their utility stays the raw value). Pure: stdlib only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["gap_closure", "gap_closures", "mean_gap_closure"]


def gap_closure(value: float, initial: float, teacher: float, *, name: str = "value") -> float:
    """100 * (value - initial) / (teacher - initial): 0 at the initial student, 100 at the teacher.

    ``ValueError`` (naming ``name``) when an input is not finite or the teacher equals the initial student
    (no gap to close: the metric cannot tell them apart on this split)."""
    for label, x in (("value", value), ("initial", initial), ("teacher", teacher)):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ValueError(f"gap closure of {name}: {label} must be a finite number, got {x!r}")
    if teacher == initial:
        raise ValueError(
            f"gap closure of {name}: the teacher's value equals the initial student's ({teacher!r}), so there "
            "is no gap to close; use a smoother utility basis (gold_loglik) or a larger split"
        )
    return 100.0 * (value - initial) / (teacher - initial)


def gap_closures(
    values: Mapping[str, float], initial: Mapping[str, float], teacher: Mapping[str, float]
) -> dict[str, float]:
    """Per-subtask gap closure; the three mappings must name the same subtasks."""
    if not values:
        raise ValueError("gap closure: no subtasks")
    if set(values) != set(initial) or set(values) != set(teacher):
        raise ValueError(
            f"gap closure: subtasks differ: values {sorted(values)}, initial {sorted(initial)}, "
            f"teacher {sorted(teacher)}"
        )
    return {k: gap_closure(values[k], initial[k], teacher[k], name=k) for k in values}


def mean_gap_closure(
    values: Mapping[str, float], initial: Mapping[str, float], teacher: Mapping[str, float]
) -> float:
    """The unweighted mean over subtasks of :func:`gap_closures` (0 = initial student, 100 = teacher)."""
    closures = gap_closures(values, initial, teacher)
    return math.fsum(closures.values()) / len(closures)
