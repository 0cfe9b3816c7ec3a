"""Student update on real Ray Train + DeepSpeed (2 CPU workers, gloo): exact tokens, learning, checkpoint."""

import math

import psutil
import pytest
import torch

from read_ray.config import ResourcesConfig, TrainConfig
from read_ray.model.loading import load_causal_lm, load_tokenizer
from read_ray.model.training import fill_training_cap, make_sample
from read_ray.runtime.student import (
    accumulation_weight,
    deepspeed_config,
    fit_student,
    read_samples,
    write_samples,
)


def test_deepspeed_config_follows_the_train_section():
    cfg = deepspeed_config(TrainConfig(micro_batch_size=2, grad_accum_steps=3, zero_stage=3, precision="bf16"), 4)
    assert cfg["train_batch_size"] == 24 and cfg["zero_optimization"]["stage"] == 3 and cfg["bf16"]["enabled"]
    assert "fp16" not in deepspeed_config(TrainConfig(), 2) and "bf16" not in deepspeed_config(TrainConfig(), 2)


def test_samples_round_trip_and_corrupt_line(tmp_path, tiny_dir):
    tok = load_tokenizer(tiny_dir)
    samples = [make_sample(tok, "Q: 1+1?", "2", "math")]
    write_samples(samples, tmp_path / "s.jsonl")
    assert read_samples(tmp_path / "s.jsonl") == samples
    (tmp_path / "bad.jsonl").write_text('{"capability": "math"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: corrupt training sample"):
        read_samples(tmp_path / "bad.jsonl")


def test_a_trailing_partial_accumulation_keeps_the_per_micro_step_weight():
    assert [accumulation_weight(i, 7, 3) for i in range(7)] == [1.0] * 6 + [3.0]
    assert [accumulation_weight(i, 5, 4) for i in range(5)] == [1.0] * 4 + [4.0]
    assert [accumulation_weight(i, 3, 4) for i in range(3)] == [4 / 3] * 3
    assert {accumulation_weight(i, 6, 3) for i in range(6)} == {1.0}


@pytest.mark.timeout(300)
def test_fit_student_two_workers_zero1(ray_cluster, tiny_dir, tmp_path):
    """bf16 with 8 micro-steps per optimizer step but fewer micro-steps in the whole schedule: everything
    trained on (and charged) is one partial accumulation, which must still reach the weights; the student
    is saved in its training precision."""
    tok = load_tokenizer(tiny_dir)
    texts = [("What is 2+3?", "5", "math"), ("Say hi.", "Hi there!", "general_knowledge"),
             ("Reverse 'ab'.", "ba", "code"), ("Capital of Peru?", "Lima.", "general_knowledge"),
             ("7*6?", "42", "math")]
    samples = [make_sample(tok, q, a, c) for q, a, c in texts]
    cap = 100
    train = TrainConfig(micro_batch_size=2, grad_accum_steps=8, precision="bf16", lr=1e-3)
    update = fit_student(
        samples, init_dir=tiny_dir, training_cap_tokens=cap, train=train,
        resources=ResourcesConfig(train_workers=2, train_cpus_per_worker=0.5), storage_dir=str(tmp_path),
        name="round_0000", seed=7,
    )
    expected = fill_training_cap([s.num_tokens for s in samples], cap, 7)
    assert sum(update.tokens_by_capability.values()) == sum(samples[i].num_tokens for i in expected) <= cap
    assert 1 <= update.steps < train.grad_accum_steps and math.isfinite(update.loss)
    assert 0 < update.loop_seconds < update.seconds
    before, after = load_causal_lm(tiny_dir), load_causal_lm(update.checkpoint_dir, dtype="auto")
    # the workers' own peak, in bytes: at least the float32 weights each of them loaded
    weights_bytes = sum(p.numel() * p.element_size() for p in before.parameters())
    assert weights_bytes <= update.peak_rss_bytes <= psutil.virtual_memory().total
    assert after.dtype == torch.bfloat16
    changed = any(not torch.equal(p.to(torch.bfloat16), q)
                  for p, q in zip(before.parameters(), after.parameters(), strict=True))
    assert changed, "the student's parameters did not change: the charged partial step was not applied"
