"""Suite-wide environment: offline hubs, no Ray telemetry, loopback-only Ray (PLATFORM.md).

Set before anything imports ray or transformers.
"""

import os

import pytest

from read_ray.runtime.cluster import LOCAL_ENV  # imports no ray

for key, value in LOCAL_ENV.items():
    os.environ.setdefault(key, value)


@pytest.fixture(scope="session")
def teacher_dir() -> str:
    """The bundled teacher as an HF directory (converted once into the user cache)."""
    from read_ray.model.loading import BUNDLED_TEACHER, resolve_model_dir

    return resolve_model_dir(BUNDLED_TEACHER)
