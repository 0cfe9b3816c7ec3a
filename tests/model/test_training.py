"""Training samples, exact token accounting, losses, and learning on teacher answers."""

import numpy as np
import pytest
import torch

from read_ray.model.generation import generate_batch
from read_ray.model.loading import (
    DEFAULT_KEEP_LAYERS,
    build_pruned_student,
    build_tiny_model,
    load_causal_lm,
    load_tokenizer,
)
from read_ray.model.training import (
    IGNORE_INDEX,
    TrainingSample,
    collate,
    fill_training_cap,
    make_sample,
    sft_loss,
    teacher_agreement,
    topk_kd_loss,
)


@pytest.fixture(scope="module")
def tokenizer(teacher_dir):
    return load_tokenizer(teacher_dir)


@pytest.fixture(scope="module")
def teacher(teacher_dir):
    return load_causal_lm(teacher_dir, num_threads=2)


@pytest.fixture(scope="module")
def tiny(teacher_dir, tmp_path_factory):
    return load_causal_lm(build_tiny_model(tmp_path_factory.mktemp("tiny") / "m", tokenizer_source=teacher_dir))


def test_sample_tokens_and_labels(tokenizer):
    s = make_sample(tokenizer, "Question: 2+2?", "4", "math")
    assert s.completion_ids[-1] == tokenizer.eos_token_id
    assert s.num_tokens == len(s.prompt_ids) + len(s.completion_ids)
    batch = collate([s, make_sample(tokenizer, "Hi", "Hello there, friend.", "general_knowledge")], pad_id=0)
    labels = batch["labels"]
    assert int((labels[0] != IGNORE_INDEX).sum()) == len(s.completion_ids)
    assert int(batch["attention_mask"].sum()) == sum(x.num_tokens for x in [s]) + batch["attention_mask"][1].sum()


def test_truncation_keeps_the_completion():
    s = TrainingSample("code", tuple(range(100)), tuple(range(1000, 1020)))
    t = s.truncated(50)
    assert t.num_tokens == 50 and t.completion_ids == s.completion_ids and t.prompt_ids == tuple(range(70, 100))
    # the answer keeps its eos and its teacher top-k rows; only the prompt's start goes
    rows = tuple((i, i + 1) for i in range(20))
    kd = TrainingSample("code", tuple(range(100)), (*range(1000, 1019), 2), rows, tuple((-0.1, -2.0) for _ in rows))
    t = kd.truncated(21)
    assert t.completion_ids[-1] == 2 and t.completion_ids == kd.completion_ids and t.prompt_ids == (99,)
    assert t.topk_ids == rows and len(t.topk_logprobs) == 20
    assert kd.truncated(120) is kd
    cut = kd.truncated(11)          # an answer longer than the window (validation rules it out) keeps its start
    assert cut.prompt_ids == (99,) and cut.completion_ids == tuple(range(1000, 1010)) and cut.topk_ids == rows[:10]
    with pytest.raises(ValueError, match="rows and labels must align"):
        TrainingSample("code", (1,), (5, 6), ((1,),), ((-0.5,),))


def test_text_samples_get_eos_only_where_the_answer_stopped(tokenizer):
    stopped = make_sample(tokenizer, "Q", "An answer", "math")
    cut = make_sample(tokenizer, "Q", "An answer", "math", stopped=False)
    assert stopped.completion_ids == (*cut.completion_ids, tokenizer.eos_token_id)
    assert make_sample(tokenizer, [7, 8], [9, 10], "math").completion_ids == (9, 10)     # ids: as they are


def test_teacher_ids_train_both_losses_on_finished_and_truncated_answers(teacher, tokenizer):
    """The bundled teacher's own ids become samples as they are: a finished answer ends with its eos, one cut
    at max_new_tokens does not, and `topk_kd` rows align with labels in both (the teacher as its own student:
    the KL term is exactly -log of the teacher's top-k mass at each answer token)."""
    prompts = ["What is 2+3?", "Write a long story about a dragon who learns to bake bread."]
    finished, truncated = generate_batch(teacher, tokenizer, prompts, max_new_tokens=[16, 5], topk=4)
    assert (finished.finish_reason, truncated.finish_reason) == ("stop", "length")
    samples = [make_sample(tokenizer, c.prompt_ids, c.completion_ids, "math", topk=c.topk_logprobs)
               for c in (finished, truncated)]
    assert samples[0].completion_ids[-1] == tokenizer.eos_token_id
    assert len(samples[1].completion_ids) == 5 and tokenizer.eos_token_id not in samples[1].completion_ids
    assert [s.prompt_ids for s in samples] == [c.prompt_ids for c in (finished, truncated)]
    assert [s.num_tokens for s in samples] == [c.prompt_tokens + c.completion_tokens for c in (finished, truncated)]
    for sample, completion in zip(samples, (finished, truncated), strict=True):
        batch = collate([sample], pad_id=tokenizer.pad_token_id, topk=4)
        with torch.no_grad():
            logits = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        ce, n = sft_loss(logits, batch["labels"])
        kd, n_kd = topk_kd_loss(logits, batch["labels"], batch["topk_ids"], batch["topk_logprobs"], kd_weight=1.0)
        assert n == n_kd == completion.completion_tokens and torch.isfinite(ce)
        mass = [-float(torch.logsumexp(torch.tensor([lp for _, lp in row]), 0)) for row in completion.topk_logprobs]
        assert float(kd) == pytest.approx(np.mean(mass), rel=1e-3, abs=1e-4)
    both = collate(samples, pad_id=tokenizer.pad_token_id, topk=4)      # one batch, one right-padded row
    with torch.no_grad():
        logits = teacher(input_ids=both["input_ids"], attention_mask=both["attention_mask"]).logits
    loss, n = topk_kd_loss(logits, both["labels"], both["topk_ids"], both["topk_logprobs"], kd_weight=0.5)
    assert n == sum(len(s.completion_ids) for s in samples) and torch.isfinite(loss)


def test_fill_training_cap_never_exceeds_and_cycles():
    sizes = [30, 50, 20]
    order = fill_training_cap(sizes, 260, seed=1)
    assert sum(sizes[i] for i in order) <= 260
    assert 260 - sum(sizes[i] for i in order) < min(sizes)
    assert len(order) > len(sizes)                     # more than one epoch fits
    assert order == fill_training_cap(sizes, 260, seed=1)
    assert fill_training_cap([], 100, 0) == [] and fill_training_cap([500], 100, 0) == []


def test_sft_loss_matches_manual(tiny, tokenizer):
    s = make_sample(tokenizer, "The sky is", " blue.", "general_knowledge")
    batch = collate([s], pad_id=tokenizer.pad_token_id)
    logits = tiny(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    loss, n = sft_loss(logits, batch["labels"])
    start = len(s.prompt_ids)
    logp = torch.log_softmax(logits[0].float(), -1)
    manual = -np.mean([float(logp[start + i - 1, t]) for i, t in enumerate(s.completion_ids)])
    assert n == len(s.completion_ids) and float(loss) == pytest.approx(manual, rel=1e-4)


def test_topk_kd_is_zero_when_student_equals_teacher_topk(tokenizer):
    logits = torch.randn(1, 6, 50)
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 3, 4, 5, 6]])
    logp = torch.log_softmax(logits, -1)
    top = logp.topk(50, dim=-1)                        # k = vocab: the renormalised teacher is the student
    # position t holds the teacher's distribution for token t, i.e. the one computed from position t - 1
    ids, lps = torch.zeros_like(top.indices), torch.zeros_like(top.values)
    ids[:, 1:], lps[:, 1:] = top.indices[:, :-1], top.values[:, :-1]
    loss, _ = topk_kd_loss(logits, labels, ids, lps, kd_weight=1.0)
    assert float(loss) == pytest.approx(0.0, abs=1e-5)
    other, _ = topk_kd_loss(torch.randn(1, 6, 50), labels, ids, lps, kd_weight=1.0)
    assert float(other) > 0.01


def test_pruned_student_learns_teacher_answers(teacher, teacher_dir, tokenizer, tmp_path):
    """The pruned student's loss on teacher answers falls within a few steps (real teacher, real student)."""
    torch.manual_seed(0)
    prompts = ["Name a primary colour.", "What is 3 + 4?", "Say hello in French.", "Name a planet."]
    completions = generate_batch(teacher, tokenizer, prompts, max_new_tokens=16)
    samples = [make_sample(tokenizer, c.prompt_ids, c.completion_ids, "general_knowledge") for c in completions]
    student = load_causal_lm(build_pruned_student(teacher_dir, DEFAULT_KEEP_LAYERS, tmp_path / "s"), num_threads=2)
    student.train()
    batch = collate(samples, pad_id=tokenizer.pad_token_id)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4)
    losses = []
    for _ in range(5):
        logits = student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss, _ = sft_loss(logits, batch["labels"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0], losses
    with torch.no_grad():
        student.eval()
        metrics = teacher_agreement(student(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits,
                                    teacher(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits,
                                    batch["labels"])
    assert metrics["n"] == int((batch["labels"][:, 1:] != IGNORE_INDEX).sum()) and metrics["kl_sum"] >= 0
