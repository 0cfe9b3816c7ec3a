"""The bundled sentence encoder loads offline from site-packages and embeds task cards deterministically."""

import os

import numpy as np

from read_ray.content.tasks.cards import load_task
from read_ray.model import identifier


def test_encoder_loads_offline_and_is_deterministic():
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert "site-packages" in str(identifier.encoder_dir()) or "dist-packages" in str(identifier.encoder_dir())
    gsm8k, mbpp = (load_task(t, dev_size=1, test_size=1).card_text() for t in ("gsm8k", "mbpp"))
    texts = [gsm8k, mbpp, "Solve an arithmetic word problem about money.", "Write a Python function."]
    first = identifier.embed_texts(texts)
    identifier._encoder.cache_clear()                       # a fresh load gives the same vectors
    again = identifier.embed_texts(texts)
    assert first.shape == (4, 384) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(identifier.embed_texts([gsm8k])[0], first[0], atol=1e-5)   # no batch effect
    # a real sentence encoder: each card is closer to a sentence about its own task than to the other's
    assert first[0] @ first[2] > first[0] @ first[3]
    assert first[1] @ first[3] > first[1] @ first[2]
