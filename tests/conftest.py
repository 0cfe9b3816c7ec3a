"""Suite-wide environment: offline hubs, no Ray telemetry, loopback-only Ray (PLATFORM.md).

Set before anything imports ray or transformers. `make test` runs the suite in two pytest-xdist workers
(`-n 2 --dist loadgroup`): each worker is its own process with its own local Ray, under its own RAY_TMPDIR
(so neither sees the other's session or `ray start` record), and the tests of one shared whole run
(tests/runtime/conftest.py) form one group, so each shared run is made once, on one worker.
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

SHARED_RUNS = ("tiny_run", "piped_run")
"""Session fixtures of tests/runtime/conftest.py that make a whole run; no test uses two of them."""


@pytest.hookimpl(tryfirst=True)     # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist's loadgroup, the tests that read one shared run go to the same worker (one group
    per shared run); every other test is scheduled on its own."""
    for item in items:
        used = [name for name in SHARED_RUNS if name in item.fixturenames]
        assert len(used) <= 1, f"{item.nodeid} uses {used}: a test reads one shared run (their groups differ)"
        if used:
            item.add_marker(pytest.mark.xdist_group(used[0]))


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
