"""Normalised multi-task utility (read_ray.core.task_utility): gap closure, 0 = initial student, 100 = teacher."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from read_ray.core.task_utility import gap_closure, gap_closures, mean_gap_closure

finite = st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False)


@given(initial=finite, teacher=finite, t=st.floats(min_value=-2, max_value=3))
def test_gap_closure_is_affine_with_anchors_0_and_100(initial, teacher, t):
    if abs(teacher - initial) < 1e-6:
        return
    assert gap_closure(initial, initial, teacher) == 0.0
    assert gap_closure(teacher, initial, teacher) == pytest.approx(100.0)
    value = initial + t * (teacher - initial)
    assert gap_closure(value, initial, teacher) == pytest.approx(100.0 * t, abs=1e-6)


def test_gap_closure_of_log_likelihoods():
    # gold log-likelihoods: initial student -8.0, teacher -1.0; -4.5 closes half the gap, -9.0 is below 0
    assert gap_closure(-4.5, -8.0, -1.0) == pytest.approx(50.0)
    assert gap_closure(-9.0, -8.0, -1.0) == pytest.approx(-100.0 / 7.0)
    # a teacher below the student still maps teacher -> 100, student -> 0
    assert gap_closure(0.25, 0.5, 0.0) == pytest.approx(50.0)


def test_mean_over_subtasks_is_unweighted():
    initial = {"gsm8k": -8.0, "mbpp": -10.0, "bfcl_simple": -11.0}
    teacher = {"gsm8k": -1.0, "mbpp": -1.0, "bfcl_simple": -1.0}
    assert mean_gap_closure(initial, initial, teacher) == 0.0
    assert mean_gap_closure(teacher, initial, teacher) == pytest.approx(100.0)
    values = {"gsm8k": -1.0, "mbpp": -10.0, "bfcl_simple": -6.0}  # 100, 0, 50
    assert gap_closures(values, initial, teacher) == pytest.approx({"gsm8k": 100.0, "mbpp": 0.0, "bfcl_simple": 50.0})
    assert mean_gap_closure(values, initial, teacher) == pytest.approx(50.0)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="mbpp: the teacher's value equals"):
        gap_closures({"mbpp": 0.0}, {"mbpp": 0.0}, {"mbpp": 0.0})
    with pytest.raises(ValueError, match="subtasks differ"):
        mean_gap_closure({"a": 1.0}, {"a": 0.0, "b": 0.0}, {"a": 2.0, "b": 1.0})
    with pytest.raises(ValueError, match="no subtasks"):
        mean_gap_closure({}, {}, {})
    with pytest.raises(ValueError, match="value must be a finite number"):
        gap_closure(math.nan, 0.0, 1.0)
    with pytest.raises(ValueError, match="teacher must be a finite number"):
        gap_closure(0.5, 0.0, math.inf)
