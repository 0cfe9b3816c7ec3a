"""Student update on real Ray Train + DeepSpeed (2 CPU workers, gloo): exact tokens, learning, checkpoint."""

import pytest
import torch

from read_ray.config import ResourcesConfig, TrainConfig
from read_ray.model.loading import load_causal_lm, load_tokenizer
from read_ray.model.training import fill_training_cap, make_sample
from read_ray.runtime.student import deepspeed_config, fit_student, read_samples, write_samples


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


@pytest.mark.timeout(300)
def test_fit_student_two_workers_zero1(ray_cluster, tiny_dir, tmp_path):
    tok = load_tokenizer(tiny_dir)
    texts = [("What is 2+3?", "5", "math"), ("Say hi.", "Hi there!", "general_knowledge"),
             ("Reverse 'ab'.", "ba", "code"), ("Capital of Peru?", "Lima.", "general_knowledge"),
             ("7*6?", "42", "math")]
    samples = [make_sample(tok, q, a, c) for q, a, c in texts]
    cap = 300
    update = fit_student(
        samples, init_dir=tiny_dir, training_cap_tokens=cap, train=TrainConfig(micro_batch_size=2, lr=1e-3),
        resources=ResourcesConfig(train_workers=2, train_cpus_per_worker=0.5), storage_dir=str(tmp_path),
        name="round_0000", seed=7,
    )
    expected = fill_training_cap([s.num_tokens for s in samples], cap, 7)
    assert sum(update.tokens_by_capability.values()) == sum(samples[i].num_tokens for i in expected) <= cap
    assert update.steps >= 1 and update.loss == update.loss
    assert 0 < update.loop_seconds < update.seconds and update.peak_rss_bytes > 50 * 2**20
    before, after = load_causal_lm(tiny_dir), load_causal_lm(update.checkpoint_dir)
    changed = any(not torch.equal(p, q) for p, q in zip(before.parameters(), after.parameters(), strict=True))
    assert changed, "the student's parameters did not change"
