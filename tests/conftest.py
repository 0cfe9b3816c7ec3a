"""Suite-wide environment: offline hubs, no Ray telemetry, loopback-only Ray (PLATFORM.md).

Set before anything imports ray or transformers. `make test` runs the suite in two pytest-xdist workers
(`-n 2 --maxschedchunk=1`, slow tests first): each worker is its own process with its own local Ray,
under its own RAY_TMPDIR (so neither sees the other's session or `ray start` record). The shared whole runs are still made once per session
(tests/runtime/conftest.py: the first worker to ask makes one, the other reads it from disk).
"""

import atexit
import os
import shutil
import tempfile

import pytest

from read_ray.runtime.cluster import LOCAL_ENV  # imports no ray

for key, value in LOCAL_ENV.items():
    os.environ.setdefault(key, value)

if os.environ.get("PYTEST_XDIST_WORKER") and "RAY_TMPDIR" not in os.environ:
    # short (Ray's socket paths must fit in 107 bytes), removed when the worker exits
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix=f"rr{os.environ['PYTEST_XDIST_WORKER']}-", dir="/tmp")
    atexit.register(shutil.rmtree, os.environ["RAY_TMPDIR"], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Slow tests first (a stable sort, the same in every worker): under `make test`'s two workers, fed in
    the smallest chunks (--maxschedchunk=1: a worker holds at most two tests), the minutes-long tests start
    early and the fast tier's ~1000 short tests fill both workers to the end, instead of one worker
    finishing a long test alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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
