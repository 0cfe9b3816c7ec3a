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


@pytest.fixture
def benchmark_script():
    """Loads a script of benchmarks/ by name (`benchmark_script("paired_arms")`) as a module, for its tests."""
    import importlib.util
    from pathlib import Path

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
