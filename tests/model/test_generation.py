"""Batch generation (read_ray.model.generation): exact token counts, batch invariance, seeded sampling.

Mechanics run on a tiny random Llama with the real tokenizer whose projection weights are scaled up, so
that its greedy output depends on the input (an unscaled tiny model repeats one token). One test runs the
real bundled teacher for a few short greedy answers (eos handling on a model that actually stops).
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from read_ray.model import generation
from read_ray.model.generation import Completion, generate_batch, render_prompts
from read_ray.model.loading import (
    apply_chat_template,
    build_tiny_model,
    load_causal_lm,
    load_tokenizer,
    prompt_token_ids,
)

torch.set_num_threads(2)

PROMPTS = [
    "Hello",
    "What is the capital of France? Please answer briefly.",
    "x",
    "List three fruits that are yellow, and say which one you like the most and why.",
    "Count: one two three",
]



@pytest.fixture(scope="module")
def tiny(teacher_dir, tmp_path_factory):
    path = build_tiny_model(tmp_path_factory.mktemp("tiny") / "m", tokenizer_source=teacher_dir, seed=5)
    model, tokenizer = load_causal_lm(path), load_tokenizer(path)
    with torch.no_grad():  # large random projections: greedy output then depends on the whole prompt
        for name, param in model.named_parameters():
            if param.dim() == 2 and "embed" not in name:
                param.mul_(20.0)
    return model, tokenizer


def token_ids(completion: Completion) -> list[int]:
    """Generated ids of a greedy completion asked with topk >= 1 (the argmax is the top-1 entry); they are
    the completion's own ids."""
    ids = [step[0][0] for step in completion.topk_logprobs]
    assert list(completion.completion_ids) == ids and completion.completion_tokens == len(ids)
    return ids


def test_prompt_token_counts_are_exact(tiny):
    model, tok = tiny
    out = generate_batch(model, tok, PROMPTS, max_new_tokens=3)
    for prompt, completion in zip(PROMPTS, out, strict=True):
        rendered = apply_chat_template(tok, prompt)
        assert completion.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])
    raw = generate_batch(model, tok, PROMPTS, max_new_tokens=2, chat=False)
    for prompt, completion in zip(PROMPTS, raw, strict=True):
        assert completion.prompt_tokens == len(tok(prompt)["input_ids"])
    assert render_prompts(tok, ["a"], chat=False) == ["a"]


def test_completion_counts_and_text_match_an_unbatched_reference(tiny):
    model, tok = tiny
    out = generate_batch(model, tok, PROMPTS, max_new_tokens=10, topk=1)
    outputs = {c.text for c in out}
    assert len(outputs) > 1, "the scaled tiny model should give input-dependent output"
    for prompt, completion in zip(PROMPTS, out, strict=True):
        enc = tok(apply_chat_template(tok, prompt), add_special_tokens=False, return_tensors="pt")
        ref = model.generate(**enc, max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
        ref_ids = ref[0, enc["input_ids"].shape[1] :].tolist()
        if tok.eos_token_id in ref_ids:  # up to and including eos
            ref_ids = ref_ids[: ref_ids.index(tok.eos_token_id) + 1]
        assert token_ids(completion) == ref_ids
        assert completion.completion_tokens == len(ref_ids)
        assert completion.text == tok.decode(ref_ids, skip_special_tokens=True)


def test_greedy_output_does_not_depend_on_the_batch(tiny):
    model, tok = tiny
    alone = [generate_batch(model, tok, [p], max_new_tokens=12)[0] for p in PROMPTS]
    together = generate_batch(model, tok, PROMPTS, max_new_tokens=12)
    assert together == alone
    # Another order, with other prompts of other lengths around them.
    others = [
        "A much longer prompt than the others, so that every other row gets a lot of left padding " * 3,
        "?",
    ]
    order = [3, 0, 4, 2, 1]
    mixed = generate_batch(
        model, tok, [others[0]] + [PROMPTS[i] for i in order] + [others[1]], max_new_tokens=12
    )
    assert mixed[1:-1] == [alone[i] for i in order]


def test_per_prompt_max_new_tokens(tiny):
    model, tok = tiny
    limits = [1, 5, 0, 12, 7]
    out = generate_batch(model, tok, PROMPTS, max_new_tokens=limits, topk=1)
    full = generate_batch(model, tok, PROMPTS, max_new_tokens=12, topk=1)
    for limit, short, long in zip(limits, out, full, strict=True):
        assert short.completion_tokens <= limit
        ended = bool(short.completion_ids) and short.completion_ids[-1] == tok.eos_token_id
        assert short.finish_reason == ("stop" if ended else "length")
        assert token_ids(short) == token_ids(long)[:limit]
        assert len(short.topk_logprobs) == short.completion_tokens
    assert out[2] == Completion(
        text="", prompt_tokens=out[2].prompt_tokens, completion_tokens=0, topk_logprobs=(),
        prompt_ids=out[2].prompt_ids, completion_ids=(), finish_reason="length",
    )
    with pytest.raises(ValueError):
        generate_batch(model, tok, PROMPTS, max_new_tokens=[1, 2])
    with pytest.raises(ValueError):
        generate_batch(model, tok, PROMPTS[:1], max_new_tokens=-1)
    for bad in (-0.5, math.nan, math.inf):
        with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
            generate_batch(model, tok, PROMPTS[:1], max_new_tokens=1, temperature=bad)
    assert generate_batch(model, tok, [], max_new_tokens=4) == []


def test_prompt_ids_are_what_the_model_consumed_with_one_bos(tiny):
    """A tokenizer that adds BOS itself and a template that writes one too (Llama-3's case): the engine feeds
    the template's ids without a second BOS, reports exactly the ids its forward pass consumed, and counts
    (charges) exactly those."""
    model, tok = tiny
    tok = copy.deepcopy(tok)
    tok.add_bos_token = True
    tok.chat_template = "{{ bos_token }}" + tok.chat_template
    rendered = apply_chat_template(tok, PROMPTS[1])
    assert rendered.startswith(tok.bos_token)
    templated = tok(rendered, add_special_tokens=False)["input_ids"]
    assert tok(rendered)["input_ids"] == [tok.bos_token_id, *templated]    # tokenising it plainly doubles BOS
    assert prompt_token_ids(tok, [PROMPTS[1]]) == [templated]

    seen = []
    hook = model.register_forward_pre_hook(lambda _m, _a, kw: seen.append(kw), with_kwargs=True)
    try:
        out = generate_batch(model, tok, PROMPTS[:3], max_new_tokens=2)
    finally:
        hook.remove()
    prefill = seen[0]
    assert out[1].prompt_ids == tuple(templated)
    for row, completion in enumerate(out):
        consumed = prefill["input_ids"][row][prefill["attention_mask"][row].bool()].tolist()
        assert list(completion.prompt_ids) == consumed
        assert completion.prompt_tokens == len(consumed)
        assert completion.completion_tokens == len(completion.completion_ids) == 2


def test_seeded_sampling_is_reproducible_and_leaves_the_global_rng_alone(tiny):
    model, tok = tiny
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    kw = {"max_new_tokens": 8, "temperature": 1.0, "top_p": 0.95}
    a = generate_batch(model, tok, PROMPTS, seed=7, **kw)
    b = generate_batch(model, tok, PROMPTS, seed=7, **kw)
    c = generate_batch(model, tok, PROMPTS, seed=8, **kw)
    assert torch.equal(torch.get_rng_state(), state)
    assert a == b
    assert a != c
    assert a != generate_batch(model, tok, PROMPTS, max_new_tokens=8)  # not greedy
    # A tiny nucleus keeps only the top token: sampling becomes greedy.
    nucleus = generate_batch(model, tok, PROMPTS, max_new_tokens=8, temperature=1.0, top_p=1e-6, seed=3)
    assert nucleus == generate_batch(model, tok, PROMPTS, max_new_tokens=8)
    with pytest.raises(ValueError):
        generate_batch(model, tok, PROMPTS, max_new_tokens=4, temperature=1.0, top_p=0.0)


def test_a_sampled_completion_depends_on_its_own_seed_not_on_its_batch(tiny):
    """A Serve batch is formed by arrival time: each prompt samples from its own seeded generator, so the
    same request gives the same completion whichever requests share its batch. The tiny random model is
    nearly flat (top-1 log-prob about -10), where ~1e-6 batched rounding can reorder near-tied tokens in
    the nucleus sort; a low temperature gives it a real teacher's peaked distribution (still not greedy)."""
    model, tok = tiny
    kw = {"max_new_tokens": [6, 9, 4, 12, 7], "temperature": 0.05, "top_p": 0.95}
    seeds = [11, 12, 13, 14, 15]
    together = generate_batch(model, tok, PROMPTS, seed=seeds, **kw)
    alone = [generate_batch(model, tok, [p], **{**kw, "max_new_tokens": [m]}, seed=[s])[0]
             for p, m, s in zip(PROMPTS, kw["max_new_tokens"], seeds, strict=True)]
    assert [c.completion_ids for c in together] == [c.completion_ids for c in alone]
    reordered = generate_batch(model, tok, PROMPTS[::-1], **{**kw, "max_new_tokens": kw["max_new_tokens"][::-1]},
                               seed=seeds[::-1])
    assert [c.completion_ids for c in reordered[::-1]] == [c.completion_ids for c in together]
    greedy = generate_batch(model, tok, PROMPTS, max_new_tokens=kw["max_new_tokens"])
    assert [c.completion_ids for c in together] != [c.completion_ids for c in greedy]
    assert generate_batch(model, tok, PROMPTS, seed=11, **kw) == together   # one int: prompt i gets seed + i
    with pytest.raises(ValueError, match="one per prompt"):
        generate_batch(model, tok, PROMPTS, seed=[1, 2], **kw)
    with pytest.raises(TypeError, match="seed must be an int"):
        generate_batch(model, tok, PROMPTS, seed="7", **kw)
    with pytest.raises(ValueError, match=r"in \[0, 2\*\*64\)"):
        generate_batch(model, tok, PROMPTS, seed=[1, 2, 3, 4, -1], **kw)


def test_nucleus_sampling_keeps_only_the_top_p_mass():
    gen = torch.Generator().manual_seed(0)
    # Peaked rows (fast top-k path): the nucleus for top_p=0.8 is the first two tokens of each row.
    peaked = torch.full((2, 1000), -20.0)
    peaked[0, [5, 9, 3]] = torch.log(torch.tensor([0.5, 0.35, 0.1]))
    peaked[1, [7, 2]] = torch.log(torch.tensor([0.6, 0.3]))
    seen = [set(), set()]
    for _ in range(200):
        for row, token in enumerate(generation.next_tokens(peaked, 1.0, 0.8, [gen, gen]).tolist()):
            seen[row].add(token)
    assert seen == [{5, 9}, {7, 2}]
    # A flat row needs the full sort: half the vocabulary is kept.
    flat = torch.zeros((1, 1000))
    drawn = {int(generation.next_tokens(flat, 1.0, 0.5, [gen])) for _ in range(300)}
    assert 100 < len(drawn) <= 500


def test_output_is_the_same_when_the_cache_cannot_drop_finished_rows(tiny, monkeypatch):
    model, tok = tiny
    limits = [2, 9, 4, 12, 1]
    sampled = {"temperature": 0.05, "top_p": 0.95, "seed": [3, 1, 4, 1, 5]}   # finished rows draw from a spare
    pruned = generate_batch(model, tok, PROMPTS, max_new_tokens=limits, topk=2)
    pruned_sampled = generate_batch(model, tok, PROMPTS, max_new_tokens=limits, **sampled)
    monkeypatch.setattr(generation, "_select_rows", lambda cache, keep: False)
    assert generate_batch(model, tok, PROMPTS, max_new_tokens=limits, **sampled) == pruned_sampled
    kept = generate_batch(model, tok, PROMPTS, max_new_tokens=limits, topk=2)
    assert [(c.text, c.completion_tokens, [[t for t, _ in s] for s in c.topk_logprobs]) for c in kept] == [
        (c.text, c.completion_tokens, [[t for t, _ in s] for s in c.topk_logprobs]) for c in pruned
    ]


def test_topk_logprobs(tiny):
    model, tok = tiny
    out = generate_batch(model, tok, PROMPTS[:2], max_new_tokens=6, topk=5)
    for completion in out:
        assert len(completion.topk_logprobs) == completion.completion_tokens
        for step in completion.topk_logprobs:
            assert len(step) == 5
            values = [lp for _, lp in step]
            assert values == sorted(values, reverse=True) and values[0] <= 0.0
            assert sum(torch.tensor(values).exp().tolist()) <= 1.0 + 1e-5
    assert generate_batch(model, tok, PROMPTS[:1], max_new_tokens=2)[0].topk_logprobs is None


def test_teacher_stops_at_eos_and_is_batch_invariant(teacher_dir):
    model, tok = load_causal_lm(teacher_dir), load_tokenizer(teacher_dir)
    prompts = ["What is 2+3?", "What is 7+5? Reply with the number only, please."]
    together = generate_batch(model, tok, prompts, max_new_tokens=12, topk=1)
    alone = generate_batch(model, tok, prompts[:1], max_new_tokens=12, topk=1)[0]  # left-padded in the batch
    first = together[0]
    # Same tokens and text; log-probabilities agree up to batched floating-point rounding.
    assert (first.text, first.prompt_tokens, token_ids(first)) == (
        alone.text,
        alone.prompt_tokens,
        token_ids(alone),
    )
    assert [s[0][1] for s in first.topk_logprobs] == pytest.approx(
        [s[0][1] for s in alone.topk_logprobs], abs=1e-3
    )
    for answer in together:  # the teacher answers these briefly: each row stops at its own eos
        ids = token_ids(answer)
        assert answer.completion_tokens == len(ids) < 12
        assert ids[-1] == tok.eos_token_id and tok.eos_token_id not in ids[:-1]
        assert answer.finish_reason == "stop"
        assert answer.text == tok.decode(ids, skip_special_tokens=True) and "<|im_end|>" not in answer.text
    assert "5" in together[0].text and "12" in together[1].text
