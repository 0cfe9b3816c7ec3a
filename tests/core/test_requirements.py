"""Requirement vectors and the learned identifier g_phi (read_ray.core.requirements)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from read_ray.config import CAPABILITIES
from read_ray.core.requirements import (
    Intervention,
    RequirementHead,
    fallback_requirement,
    fit_requirement_head,
    identifier_loss,
    intervention_allocation,
    load_requirement_head,
    normalise_requirement,
    predict_requirements,
    requirement_agreement,
    requirement_for_card,
    save_requirement_head,
)

CAPS = CAPABILITIES


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --------------------------------------------------------------------------------------------------
# Manual vectors and fallback
# --------------------------------------------------------------------------------------------------


def test_normalise_aligns_and_sums_to_one() -> None:
    r = normalise_requirement({"math": 3.0, "reasoning": 1, "code": 0.0}, CAPS)
    assert r.dtype == np.float64
    assert r.shape == (len(CAPS),)
    expected = np.zeros(len(CAPS))
    expected[CAPS.index("math")] = 0.75
    expected[CAPS.index("reasoning")] = 0.25
    np.testing.assert_allclose(r, expected)
    assert r.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "vector, needle",
    [
        ({"maths": 1.0}, "'maths'"),
        ({"math": -0.5, "code": 1.0}, "'math'"),
        ({"math": float("nan")}, "'math'"),
        ({"code": float("inf")}, "'code'"),
        ({"code": "1"}, "'code'"),
        ({"code": True}, "'code'"),
    ],
)
def test_normalise_errors_name_the_key(vector: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        normalise_requirement(vector, CAPS)


@pytest.mark.parametrize("vector", [{}, {"math": 0.0, "code": 0}])
def test_normalise_rejects_no_mass(vector: dict) -> None:
    with pytest.raises(ValueError, match="requirement vector has no mass"):
        normalise_requirement(vector, CAPS)


def test_capability_list_is_validated() -> None:
    with pytest.raises(ValueError, match="empty"):
        normalise_requirement({"math": 1.0}, [])
    with pytest.raises(ValueError, match="duplicate"):
        normalise_requirement({"math": 1.0}, ["math", "code", "math"])


@pytest.mark.parametrize("declared", CAPS)
def test_fallback_is_smoothed_one_hot(declared: str) -> None:
    r = fallback_requirement(CAPS, declared, epsilon=0.08)
    assert r.sum() == pytest.approx(1.0)
    assert int(np.argmax(r)) == CAPS.index(declared)
    assert r[CAPS.index(declared)] == pytest.approx(1 - 0.08 + 0.08 / len(CAPS))
    others = np.delete(r, CAPS.index(declared))
    np.testing.assert_allclose(others, 0.08 / len(CAPS))


def test_fallback_epsilon_zero_is_one_hot() -> None:
    r = fallback_requirement(CAPS, "code", epsilon=0.0)
    np.testing.assert_array_equal(r, np.eye(len(CAPS))[CAPS.index("code")])


@pytest.mark.parametrize(
    "declared, epsilon, needle",
    [
        ("cooking", 0.05, "'cooking'"),
        ("math", 1.0, "epsilon"),
        ("math", -0.01, "epsilon"),
        ("math", float("nan"), "epsilon"),
    ],
)
def test_fallback_errors(declared: str, epsilon: float, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        fallback_requirement(CAPS, declared, epsilon)


def test_requirement_for_card_prefers_manual() -> None:
    manual = {"tool_use": 2.0, "code": 2.0}
    r = requirement_for_card(CAPS, manual=manual, declared="math")
    np.testing.assert_allclose(r, normalise_requirement(manual, CAPS))
    r = requirement_for_card(CAPS, manual=None, declared="math", epsilon=0.1)
    np.testing.assert_allclose(r, fallback_requirement(CAPS, "math", 0.1))
    with pytest.raises(ValueError, match="neither"):
        requirement_for_card(CAPS, manual=None, declared=None)
    # An empty manual vector is an error, not a silent fallback.
    with pytest.raises(ValueError, match="no mass"):
        requirement_for_card(CAPS, manual={}, declared="math")


def test_requirement_for_card_by_source() -> None:
    manual = {"tool_use": 2.0, "code": 2.0}
    np.testing.assert_allclose(requirement_for_card(CAPS, manual=manual, declared="math", source="uniform"),
                               np.full(len(CAPS), 1 / len(CAPS)))            # the no-identification ablation
    with pytest.raises(ValueError, match="needs the identifier"):
        requirement_for_card(CAPS, manual=manual, declared="math", source="learned")
    with pytest.raises(ValueError, match="manual, learned or uniform"):
        requirement_for_card(CAPS, manual=manual, declared="math", source="card")


def test_requirement_for_card_uses_the_learned_vector_when_the_source_says_so() -> None:
    learned = np.arange(1, len(CAPS) + 1, dtype=np.float64)
    r = requirement_for_card(CAPS, manual={"math": 1.0}, declared="math", learned=learned, source="learned")
    np.testing.assert_allclose(r, learned / learned.sum())
    r = requirement_for_card(CAPS, manual={"math": 1.0}, declared="math", learned=learned)   # source manual
    np.testing.assert_allclose(r, normalise_requirement({"math": 1.0}, CAPS))
    for bad in (np.ones(3), -np.ones(len(CAPS)), np.full(len(CAPS), np.nan), np.zeros(len(CAPS))):
        with pytest.raises(ValueError, match="learned requirement"):
            requirement_for_card(CAPS, manual=None, declared="math", learned=bad, source="learned")


# --------------------------------------------------------------------------------------------------
# Identifier pieces
# --------------------------------------------------------------------------------------------------


def test_head_outputs_probabilities_and_is_seeded() -> None:
    x = torch.randn(5, 16, generator=torch.Generator().manual_seed(1))
    head = RequirementHead(16, len(CAPS), hidden=32, seed=3)
    probs = head(x)
    assert probs.shape == (5, len(CAPS))
    assert torch.all(probs >= 0)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(5))
    same = RequirementHead(16, len(CAPS), hidden=32, seed=3)
    other = RequirementHead(16, len(CAPS), hidden=32, seed=4)
    for a, b in zip(head.parameters(), same.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(head.fc1.weight, other.fc1.weight)
    with pytest.raises(ValueError, match=r"\[n, 16\]"):
        head(torch.zeros(2, 15))


def test_head_init_does_not_touch_global_rng() -> None:
    state = torch.get_rng_state()
    RequirementHead(16, 4, seed=0)
    fit_requirement_head(np.ones((1, 3)), [Intervention(0, (1.0, 0.0), 1.0)], steps=2)
    assert torch.equal(torch.get_rng_state(), state)


def test_identifier_loss_matches_formula() -> None:
    probs = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    delta_s = torch.tensor([[2.0, 0.0], [1.0, 3.0]])
    delta_u = torch.tensor([2.0, 0.0])
    # residuals: 2 - 1 = 1 ; 0 - 1 = -1  -> squared sum / n = 1
    # entropies: ln 2 ; 0  -> mean = ln2 / 2
    loss = identifier_loss(probs, delta_s, delta_u, lambda_ent=0.5)
    assert float(loss) == pytest.approx(1.0 + 0.5 * math.log(2) / 2, rel=1e-6)
    assert float(identifier_loss(probs, delta_s, delta_u, lambda_ent=0.0)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="delta_u"):
        identifier_loss(probs, delta_s, delta_u[:1], 0.1)
    with pytest.raises(ValueError, match="delta_s"):
        identifier_loss(probs, delta_s[:, :1], delta_u, 0.1)
    with pytest.raises(ValueError, match="lambda_ent"):
        identifier_loss(probs, delta_s, delta_u, -1.0)


def test_intervention_validates_and_coerces() -> None:
    item = Intervention(task_index=2, delta_s=[1, 2.5], delta_u=3)  # type: ignore[arg-type]
    assert item.delta_s == (1.0, 2.5)
    assert item.delta_u == 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.delta_u = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="task_index"):
        Intervention(task_index=-1, delta_s=(1.0,), delta_u=0.0)
    with pytest.raises(ValueError, match="delta_s"):
        Intervention(task_index=0, delta_s=(1.0, float("nan")), delta_u=0.0)
    with pytest.raises(ValueError, match="delta_u"):
        Intervention(task_index=0, delta_s=(1.0,), delta_u=float("inf"))


def test_fit_errors() -> None:
    emb = np.zeros((3, 4))
    good = Intervention(0, (1.0, 0.0), 1.0)
    with pytest.raises(ValueError, match="at least one intervention"):
        fit_requirement_head(emb, [])
    with pytest.raises(ValueError, match="task_index=3"):
        fit_requirement_head(emb, [good, Intervention(3, (1.0, 0.0), 1.0)], steps=1)
    with pytest.raises(ValueError, match=r"interventions\[1\]\.delta_s has length 3, expected 2"):
        fit_requirement_head(emb, [good, Intervention(1, (1.0, 0.0, 0.0), 1.0)], steps=1)
    with pytest.raises(ValueError, match="expected 5"):
        fit_requirement_head(emb, [good], steps=1, num_capabilities=5)
    with pytest.raises(ValueError, match="embeddings"):
        fit_requirement_head(np.zeros(4), [good], steps=1)


# --------------------------------------------------------------------------------------------------
# Ground-truth recovery
# --------------------------------------------------------------------------------------------------

_TRUE_R = np.array(
    [
        # general steer reason math code tool long multi
        [0.0, 0.0, 0.3, 0.7, 0.0, 0.0, 0.0, 0.0],  # a maths task
        [0.0, 0.0, 0.0, 0.0, 0.6, 0.4, 0.0, 0.0],  # a coding/tool task
        [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # instruction following only
        [0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.15, 0.65],  # a multilingual task
    ]
)


def _synthetic_interventions(seed: int) -> tuple[np.ndarray, list[Intervention]]:
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(4, 16))
    items = []
    for i in range(200):
        k = i % 4
        delta_s = rng.normal(size=len(CAPS))
        delta_u = float(_TRUE_R[k] @ delta_s + rng.normal(scale=0.02))
        items.append(Intervention(task_index=k, delta_s=tuple(delta_s), delta_u=delta_u))
    return embeddings, items


def test_fit_recovers_known_requirements() -> None:
    embeddings, items = _synthetic_interventions(seed=7)
    head, losses = fit_requirement_head(embeddings, items, seed=0)
    assert len(losses) == 500
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.1 * losses[0]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    predicted = predict_requirements(head, embeddings)
    assert predicted.shape == (4, len(CAPS))
    assert predicted.dtype == np.float64
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0, atol=1e-12)
    for k in range(4):
        cosine = predicted[k] @ _TRUE_R[k] / (np.linalg.norm(predicted[k]) * np.linalg.norm(_TRUE_R[k]))
        assert cosine > 0.9, (k, cosine, predicted[k].round(3))
        assert int(np.argmax(predicted[k])) == int(np.argmax(_TRUE_R[k]))


def test_fit_is_deterministic_for_a_seed() -> None:
    embeddings, items = _synthetic_interventions(seed=11)
    head_a, losses_a = fit_requirement_head(embeddings, items, steps=60, seed=5)
    head_b, losses_b = fit_requirement_head(embeddings, items, steps=60, seed=5)
    head_c, _ = fit_requirement_head(embeddings, items, steps=60, seed=6)
    assert losses_a == losses_b
    state_a, state_b, state_c = head_a.state_dict(), head_b.state_dict(), head_c.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key
    assert not torch.equal(state_a["fc1.weight"], state_c["fc1.weight"])
    np.testing.assert_array_equal(
        predict_requirements(head_a, embeddings), predict_requirements(head_b, embeddings)
    )


# --------------------------------------------------------------------------------------------------
# Interventions, agreement, saving
# --------------------------------------------------------------------------------------------------


def test_intervention_allocation_is_sparse_seeded_and_on_the_simplex() -> None:
    draws = [intervention_allocation(len(CAPS), max_support=3, seed=[0, 211, 5, m]) for m in range(40)]
    for w in draws:
        assert w.shape == (len(CAPS),) and np.all(w >= 0)
        assert abs(w.sum() - 1.0) < 1e-12
        assert 1 <= np.count_nonzero(w) <= 3
    assert {np.count_nonzero(w) for w in draws} == {1, 2, 3}
    np.testing.assert_array_equal(draws[7], intervention_allocation(len(CAPS), max_support=3, seed=[0, 211, 5, 7]))
    assert not np.array_equal(draws[7], intervention_allocation(len(CAPS), max_support=3, seed=[1, 211, 5, 7]))
    with pytest.raises(ValueError, match="max_support"):
        intervention_allocation(len(CAPS), max_support=0, seed=[0])
    with pytest.raises(ValueError, match="alpha"):
        intervention_allocation(len(CAPS), max_support=2, seed=[0], alpha=0.0)


def test_requirement_agreement() -> None:
    manual = normalise_requirement({"math": 0.6, "reasoning": 0.4}, CAPS)
    same = requirement_agreement(manual, manual)
    assert same["cosine"] == pytest.approx(1.0) and same["top_agrees"] and same["total_variation"] == 0.0
    other = normalise_requirement({"code": 1.0}, CAPS)
    far = requirement_agreement(other, manual)
    assert far["cosine"] == 0.0 and not far["top_agrees"] and far["total_variation"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same 1-d shape"):
        requirement_agreement(manual[:3], manual)


def test_save_and_load_round_trip(tmp_path) -> None:
    embeddings, items = _synthetic_interventions(seed=3)
    head, _ = fit_requirement_head(embeddings, items, steps=20, seed=1)
    path = tmp_path / "identifier.pt"
    save_requirement_head(head, path, {"capabilities": list(CAPS), "tasks": ["a", "b", "c", "d"]})
    loaded, meta = load_requirement_head(path)
    assert meta["capabilities"] == list(CAPS) and meta["tasks"] == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(predict_requirements(loaded, embeddings), predict_requirements(head, embeddings))
    with pytest.raises(ValueError, match="names 3 capabilities"):
        save_requirement_head(head, tmp_path / "x.pt", {"capabilities": list(CAPS[:3])})
    with pytest.raises(ValueError, match="does not exist"):
        load_requirement_head(tmp_path / "missing.pt")
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="could not be loaded"):
        load_requirement_head(path)
