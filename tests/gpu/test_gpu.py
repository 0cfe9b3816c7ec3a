"""GPU tier: runs only where CUDA is available (benchmarks/gpu_check.sh runs it); skipped elsewhere.

- the student update with DeepSpeed ZeRO-3 in bf16 on every GPU of the machine (nccl), exact tokens,
  finite loss, a saved checkpoint whose parameters changed; with `sft` on text pairs and with `topk_kd` on
  the HF engine's own token ids and top-k rows;
- the HF engine on CUDA: greedy, deterministic, exact counts, top-k log-probabilities for `topk_kd`;
- the vLLM teacher engine (when the `gpu` extra is installed) against the HF engine: same prompt token
  counts, completion counts that match its own text, greedy decoding. READ_RAY_REQUIRE_VLLM=1 (set by
  whoever asked for the vLLM engine: `gpu_check.sh`) makes a missing vLLM a failure, not a skip.
"""

import importlib.util
import math
import os

import pytest
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh)")]


@pytest.fixture(scope="module")
def gpu_ray():
    import ray

    ray.init(num_gpus=torch.cuda.device_count(), include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _teacher_samples(teacher_dir: str, topk: int) -> list:
    """Samples as a round makes them: the HF engine's own token ids and top-k rows (then freed from the GPU)."""
    from read_ray.model.training import make_sample
    from read_ray.runtime.teacher import HFEngine

    engine = HFEngine(teacher_dir, num_threads=2, temperature=0.0, topk=topk)
    prompts = [f"What is {a} + {b}?" for a in range(6) for b in range(4)]
    completions = engine.generate(prompts, [24] * len(prompts), seeds=range(len(prompts)))
    del engine
    torch.cuda.empty_cache()
    return [make_sample(None, c.prompt_ids, c.completion_ids, "math", topk=c.topk_logprobs) for c in completions]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("loss", ["sft", "topk_kd"])
def test_zero3_bf16_student_update_on_every_gpu(gpu_ray, teacher_dir, tmp_path, loss):
    from read_ray.config import ResourcesConfig, TrainConfig
    from read_ray.model.loading import (
        DEFAULT_KEEP_LAYERS,
        build_pruned_student,
        load_causal_lm,
        load_tokenizer,
    )
    from read_ray.model.training import fill_training_cap, make_sample
    from read_ray.runtime.student import fit_student

    student_dir = build_pruned_student(teacher_dir, DEFAULT_KEEP_LAYERS, tmp_path / "student")
    tok = load_tokenizer(student_dir)
    if loss == "sft":
        samples = [make_sample(tok, f"What is {a} + {b}?", f"{a} + {b} = {a + b}.", "math")
                   for a in range(12) for b in range(4)]
    else:
        samples = _teacher_samples(teacher_dir, topk=5)
        assert all(s.topk_ids is not None and len(s.topk_ids) == len(s.completion_ids) for s in samples)
    gpus = torch.cuda.device_count()
    cap = 4000
    update = fit_student(
        samples, init_dir=student_dir, training_cap_tokens=cap,
        train=TrainConfig(zero_stage=3, precision="bf16", micro_batch_size=4, lr=1e-4, loss=loss, kd_top_k=5),
        resources=ResourcesConfig(train_workers=gpus, train_cpus_per_worker=1, train_gpus_per_worker=1),
        storage_dir=str(tmp_path / "train"), name="round_0000", seed=3)
    expected = fill_training_cap([s.num_tokens for s in samples], cap, 3)
    assert sum(update.tokens_by_capability.values()) == sum(samples[i].num_tokens for i in expected) <= cap
    assert math.isfinite(update.loss) and update.steps >= 1
    before, after = load_causal_lm(student_dir), load_causal_lm(update.checkpoint_dir)
    assert any(not torch.equal(p, q) for p, q in zip(before.parameters(), after.parameters(), strict=True))


@pytest.mark.timeout(300)
def test_hf_engine_generates_on_cuda_with_exact_counts_and_topk(teacher_dir):
    from read_ray.runtime.teacher import HFEngine

    prompts = ["What is 12 + 30?", "Name a colour of the sky.", "Write one word: hello."]
    engine = HFEngine(teacher_dir, num_threads=2, temperature=0.0, top_p=1.0, topk=5)
    assert next(engine.model.parameters()).is_cuda
    first = engine.generate(prompts, [16] * len(prompts), seeds=[0] * len(prompts))
    again = engine.generate(prompts, [16] * len(prompts), seeds=[1] * len(prompts))   # greedy: seeds unused
    assert [c.text for c in first] == [c.text for c in again]
    assert [c.prompt_tokens for c in first] == engine.count_prompt_tokens(prompts)
    for c in first:
        assert 0 < c.completion_tokens <= 16
        assert c.topk_logprobs is not None and len(c.topk_logprobs) == c.completion_tokens
        for row in c.topk_logprobs:
            assert len(row) == 5 and all(math.isfinite(lp) and lp <= 0 for _, lp in row)
            assert [lp for _, lp in row] == sorted((lp for _, lp in row), reverse=True)


@pytest.mark.timeout(300)
def test_evaluation_runs_in_bf16_on_the_gpu(teacher_dir):
    """Probes and task evaluation load the checkpoint in bf16 on the GPU; their scores stay close to fp32."""
    from read_ray.model.loading import load_causal_lm, load_for_evaluation, load_tokenizer
    from read_ray.model.scoring import mean_token_logliks

    model = load_for_evaluation(teacher_dir)
    assert next(model.parameters()).is_cuda and next(model.parameters()).dtype == torch.bfloat16
    tokenizer = load_tokenizer(teacher_dir)
    prompts, answers = ["What is 2 + 2?", "Name a primary colour."], ["4", "Red"]
    bf16 = mean_token_logliks(model, tokenizer, prompts, answers)
    fp32 = mean_token_logliks(load_causal_lm(teacher_dir), tokenizer, prompts, answers)
    assert all(abs(a - b) < 0.5 for a, b in zip(bf16, fp32, strict=True)), (bf16, fp32)


def _require_vllm() -> bool:
    return os.environ.get("READ_RAY_REQUIRE_VLLM") == "1"


@pytest.mark.timeout(600)
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None and not _require_vllm(),
                    reason="vllm not installed (pip install -c constraints-gpu.txt -e '.[gpu]')")
def test_vllm_engine_counts_match_the_hf_engine(teacher_dir):
    from read_ray.runtime.teacher import HFEngine, VLLMEngine

    prompts = ["What is 12 + 30?", "Name a colour of the sky.", "Write one word: hello."]
    hf = HFEngine(teacher_dir, num_threads=2, temperature=0.0, top_p=1.0, topk=0)
    vl = VLLMEngine(teacher_dir, tensor_parallel_size=1, temperature=0.0, top_p=1.0, topk=0)
    assert vl.count_prompt_tokens(prompts) == hf.count_prompt_tokens(prompts)
    for c in vl.generate(prompts, [24] * len(prompts), seeds=range(len(prompts))):
        assert c.text.strip() and 0 < c.completion_tokens <= 24
