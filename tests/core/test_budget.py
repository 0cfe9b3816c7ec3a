"""Token ledger and round budget (read_ray.core.budget)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from read_ray.core.budget import (
    BudgetExceededError,
    Ledger,
    RoundBudget,
    plan_round_budget,
    rounds_affordable,
)

# --------------------------------------------------------------------------------------------------
# Ledger: construction and arithmetic
# --------------------------------------------------------------------------------------------------


def test_new_ledger_is_empty() -> None:
    ledger = Ledger(total_tokens=1000)
    assert ledger.spent_tokens == 0
    assert ledger.remaining_tokens == 1000
    assert ledger.spent_frac == 0.0
    assert ledger.charge_probes is False


def test_charge_adds_each_kind_and_returns_a_new_ledger() -> None:
    ledger = Ledger(total_tokens=1000)
    after = ledger.charge(generation_tokens=100, training_tokens=250)
    assert after is not ledger
    assert (after.generation_tokens, after.training_tokens, after.probe_tokens) == (100, 250, 0)
    assert after.spent_tokens == 350
    assert after.remaining_tokens == 650
    assert after.spent_frac == pytest.approx(0.35)
    again = after.charge(generation_tokens=50)
    assert (again.generation_tokens, again.training_tokens) == (150, 250)
    assert again.spent_tokens == 400
    # The old ledgers are untouched.
    assert ledger.spent_tokens == 0
    assert after.spent_tokens == 350


def test_ledger_is_frozen() -> None:
    ledger = Ledger(total_tokens=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ledger.generation_tokens = 5  # type: ignore[misc]


def test_charge_up_to_exactly_the_total_is_allowed() -> None:
    ledger = Ledger(total_tokens=100).charge(generation_tokens=40, training_tokens=60)
    assert ledger.remaining_tokens == 0
    assert ledger.spent_frac == 1.0
    assert not ledger.can_afford(1)
    assert ledger.can_afford(0)


def test_over_budget_charge_is_refused_whole() -> None:
    ledger = Ledger(total_tokens=100).charge(generation_tokens=70)
    with pytest.raises(BudgetExceededError) as info:
        ledger.charge(generation_tokens=10, training_tokens=25)
    err = info.value
    message = str(err)
    assert "generation+training" in message
    assert "35" in message  # asked
    assert "30" in message  # remaining
    assert (err.stage, err.asked_tokens, err.remaining_tokens) == ("generation+training", 35, 30)
    # Nothing was charged, not even the part that would have fitted.
    assert ledger.generation_tokens == 70
    assert ledger.training_tokens == 0
    assert ledger.remaining_tokens == 30


def test_budget_exceeded_names_the_single_stage() -> None:
    with pytest.raises(BudgetExceededError, match="'training'"):
        Ledger(total_tokens=5).charge(training_tokens=6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"generation_tokens": -1},
        {"training_tokens": -5},
        {"probe_tokens": -1},
        {"generation_tokens": 1.5},
        {"training_tokens": True},
        {"probe_tokens": "3"},
    ],
)
def test_charge_rejects_negative_or_non_int_amounts(kwargs: dict) -> None:
    ((name, value),) = kwargs.items()
    with pytest.raises(ValueError, match=name) as info:
        Ledger(total_tokens=100).charge(**kwargs)
    assert repr(value) in str(info.value) or str(value) in str(info.value)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"total_tokens": 0}, "total_tokens"),
        ({"total_tokens": -3}, "total_tokens"),
        ({"total_tokens": 10.0}, "total_tokens"),
        ({"total_tokens": True}, "total_tokens"),
        ({"total_tokens": 10, "generation_tokens": -1}, "generation_tokens"),
        ({"total_tokens": 10, "training_tokens": -1}, "training_tokens"),
        ({"total_tokens": 10, "probe_tokens": -1}, "probe_tokens"),
        ({"total_tokens": 10, "generation_tokens": 6, "training_tokens": 5}, "overspent"),
        ({"total_tokens": 10, "probe_tokens": 11, "charge_probes": True}, "overspent"),
        ({"total_tokens": 10, "charge_probes": 1}, "charge_probes"),
    ],
)
def test_ledger_construction_errors(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        Ledger(**kwargs)


def test_probe_tokens_are_metered_but_not_charged_by_default() -> None:
    ledger = Ledger(total_tokens=100).charge(probe_tokens=1_000)
    assert ledger.probe_tokens == 1_000
    assert ledger.spent_tokens == 0
    assert ledger.remaining_tokens == 100
    # Uncharged probe tokens never trip the budget, and constructing such a ledger is valid.
    assert Ledger(total_tokens=100, probe_tokens=10_000).remaining_tokens == 100


def test_probe_tokens_count_with_charge_probes() -> None:
    ledger = Ledger(total_tokens=100, charge_probes=True).charge(probe_tokens=30)
    assert ledger.spent_tokens == 30
    assert ledger.remaining_tokens == 70
    with pytest.raises(BudgetExceededError, match="'probe'"):
        ledger.charge(probe_tokens=71)
    assert ledger.charge(probe_tokens=20, generation_tokens=50).remaining_tokens == 0


def test_can_afford() -> None:
    ledger = Ledger(total_tokens=100).charge(training_tokens=60)
    assert ledger.can_afford(40)
    assert not ledger.can_afford(41)
    with pytest.raises(ValueError, match="tokens"):
        ledger.can_afford(-1)


# --------------------------------------------------------------------------------------------------
# Ledger: serialisation
# --------------------------------------------------------------------------------------------------


def test_dict_and_json_round_trip() -> None:
    ledger = Ledger(total_tokens=500, charge_probes=True).charge(
        generation_tokens=10, training_tokens=20, probe_tokens=30
    )
    d = ledger.to_dict()
    assert d == {
        "total_tokens": 500,
        "generation_tokens": 10,
        "training_tokens": 20,
        "probe_tokens": 30,
        "charge_probes": True,
    }
    assert Ledger.from_dict(d) == ledger
    text = ledger.to_json()
    assert json.loads(text) == d
    assert Ledger.from_json(text) == ledger


def test_from_dict_names_missing_and_unknown_keys() -> None:
    d = Ledger(total_tokens=10).to_dict()
    del d["training_tokens"]
    d["bogus_tokens"] = 1
    with pytest.raises(ValueError, match="training_tokens") as info:
        Ledger.from_dict(d)
    assert "bogus_tokens" in str(info.value)


def test_from_json_rejects_garbage_and_overspent() -> None:
    with pytest.raises(ValueError, match="parse"):
        Ledger.from_json("{not json")
    with pytest.raises(ValueError, match="dict"):
        Ledger.from_json("[1, 2]")
    bad = json.dumps(
        {
            "total_tokens": 10,
            "generation_tokens": 20,
            "training_tokens": 0,
            "probe_tokens": 0,
            "charge_probes": False,
        }
    )
    with pytest.raises(ValueError, match="overspent"):
        Ledger.from_json(bad)


# --------------------------------------------------------------------------------------------------
# Ledger: properties
# --------------------------------------------------------------------------------------------------

_amount = st.integers(min_value=0, max_value=400)
_charge = st.tuples(_amount, _amount, _amount)


@settings(max_examples=150, deadline=None)
@given(
    total=st.integers(min_value=1, max_value=2_000),
    charge_probes=st.booleans(),
    charges=st.lists(_charge, max_size=25),
)
def test_any_charge_sequence_never_overspends(total: int, charge_probes: bool, charges: list) -> None:
    ledger = Ledger(total_tokens=total, charge_probes=charge_probes)
    gen = train = probe = 0
    for g, t, p in charges:
        before = ledger.to_dict()
        asked = g + t + (p if charge_probes else 0)
        fits = ledger.spent_tokens + asked <= total
        try:
            after = ledger.charge(generation_tokens=g, training_tokens=t, probe_tokens=p)
        except BudgetExceededError as err:
            assert not fits
            assert err.asked_tokens == asked
            assert err.remaining_tokens == ledger.remaining_tokens
            assert ledger.to_dict() == before  # old ledger unchanged
            continue
        assert fits
        gen, train, probe = gen + g, train + t, probe + p
        assert (after.generation_tokens, after.training_tokens, after.probe_tokens) == (gen, train, probe)
        assert after.spent_tokens == gen + train + (probe if charge_probes else 0)
        assert after.spent_tokens <= after.total_tokens
        assert 0.0 <= after.spent_frac <= 1.0
        assert after.remaining_tokens == total - after.spent_tokens
        assert ledger.to_dict() == before  # charging never mutates
        ledger = after
    assert Ledger.from_json(ledger.to_json()) == ledger


@settings(max_examples=100, deadline=None)
@given(
    total=st.integers(min_value=1, max_value=10**12),
    data=st.data(),
)
def test_json_round_trip_property(total: int, data: st.DataObject) -> None:
    charge_probes = data.draw(st.booleans())
    gen = data.draw(st.integers(min_value=0, max_value=total))
    train = data.draw(st.integers(min_value=0, max_value=total - gen))
    probe_cap = total - gen - train if charge_probes else 10**12
    probe = data.draw(st.integers(min_value=0, max_value=probe_cap))
    ledger = Ledger(total, gen, train, probe, charge_probes)
    assert Ledger.from_json(ledger.to_json()) == ledger
    assert Ledger.from_dict(ledger.to_dict()) == ledger


# --------------------------------------------------------------------------------------------------
# Round budget
# --------------------------------------------------------------------------------------------------


def test_plan_round_budget_splits() -> None:
    rb = plan_round_budget(total_tokens=20_000_000, num_rounds=20, gen_fraction=0.4)
    assert rb == RoundBudget(round_tokens=1_000_000, generation_tokens=400_000, training_tokens=600_000)


def test_plan_round_budget_floors() -> None:
    rb = plan_round_budget(total_tokens=1_003, num_rounds=10, gen_fraction=0.33)
    assert rb.round_tokens == 100
    assert rb.generation_tokens == 33
    assert rb.training_tokens == 67
    # Decimal fractions are honoured: 0.29 * 100 is 29 (binary float arithmetic would give 28.999...).
    assert plan_round_budget(100, 1, 0.29).generation_tokens == 29


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(min_value=1, max_value=10**10),
    num_rounds=st.integers(min_value=1, max_value=200),
    gen_fraction=st.floats(min_value=1e-6, max_value=1 - 1e-6),
)
def test_plan_round_budget_sums_property(total: int, num_rounds: int, gen_fraction: float) -> None:
    try:
        rb = plan_round_budget(total, num_rounds, gen_fraction)
    except ValueError as err:
        assert "cannot afford one round" in str(err)
        round_tokens = total // num_rounds
        assert round_tokens * gen_fraction < 1 + 1e-9 or round_tokens * (1 - gen_fraction) < 1 + 1e-9
        return
    assert rb.round_tokens == total // num_rounds
    assert rb.generation_tokens + rb.training_tokens == rb.round_tokens
    assert rb.generation_tokens >= 1 and rb.training_tokens >= 1
    assert abs(rb.generation_tokens - rb.round_tokens * gen_fraction) <= 1 + 1e-6 * rb.round_tokens
    assert rb.round_tokens * num_rounds <= total
    assert rounds_affordable(Ledger(total_tokens=total), rb) >= num_rounds


@pytest.mark.parametrize(
    "args, needle",
    [
        ((1000, 0, 0.4), "num_rounds"),
        ((1000, -2, 0.4), "num_rounds"),
        ((1000, 2.0, 0.4), "num_rounds"),
        ((1000, 10, 0.0), "gen_fraction"),
        ((1000, 10, 1.0), "gen_fraction"),
        ((1000, 10, -0.1), "gen_fraction"),
        ((1000, 10, float("nan")), "gen_fraction"),
        ((0, 10, 0.4), "total_tokens"),
        ((5, 10, 0.4), "budget.total_tokens=5 cannot afford one round"),
        ((20, 10, 0.4), "budget.total_tokens=20 cannot afford one round"),  # 2 tokens/round -> 0 generation
        ((3, 4, 0.5), "round_tokens=0"),  # fewer tokens than rounds
    ],
)
def test_plan_round_budget_errors(args: tuple, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        plan_round_budget(*args)


def test_plan_round_budget_extreme_fractions_still_leave_one_token_each() -> None:
    # floor(100 * 0.999) = 99 generation, 1 training: affordable.
    assert plan_round_budget(100, 1, 0.999) == RoundBudget(100, 99, 1)
    # floor(100 * 0.01) = 1 generation: affordable; 0.009 -> 0 generation: refused.
    assert plan_round_budget(100, 1, 0.01) == RoundBudget(100, 1, 99)
    with pytest.raises(ValueError, match="generation_tokens=0"):
        plan_round_budget(100, 1, 0.009)


def test_round_budget_validates() -> None:
    with pytest.raises(ValueError, match="round_tokens"):
        RoundBudget(round_tokens=10, generation_tokens=4, training_tokens=5)
    with pytest.raises(ValueError, match="training_tokens"):
        RoundBudget(round_tokens=10, generation_tokens=10, training_tokens=0)


def test_rounds_affordable_counts_full_rounds_only() -> None:
    rb = plan_round_budget(total_tokens=1_000, num_rounds=4, gen_fraction=0.4)  # 250 per round
    ledger = Ledger(total_tokens=1_000)
    assert rounds_affordable(ledger, rb) == 4
    ledger = ledger.charge(generation_tokens=100, training_tokens=151)  # 749 left
    assert rounds_affordable(ledger, rb) == 2
    ledger = ledger.charge(training_tokens=500)  # 249 left
    assert rounds_affordable(ledger, rb) == 0
    # Probe tokens only shrink the rounds left when they are charged.
    assert rounds_affordable(Ledger(1_000).charge(probe_tokens=900), rb) == 4
    assert rounds_affordable(Ledger(1_000, charge_probes=True).charge(probe_tokens=1), rb) == 3
