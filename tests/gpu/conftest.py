"""GPU tier fixtures. On a bare GPU node the bundled teacher's GGUF is not there (benchmarks/gpu_bundle.py):
READ_RAY_TEACHER_DIR names a model of its architecture with random weights and its real tokenizer, which
exercises every GPU code path that does not depend on the teacher's answers."""

import os

import pytest


@pytest.fixture(scope="session")
def teacher_dir() -> str:
    explicit = os.environ.get("READ_RAY_TEACHER_DIR")
    if explicit:
        assert os.path.isfile(os.path.join(explicit, "config.json")), f"READ_RAY_TEACHER_DIR={explicit} has no config.json"
        return explicit
    from read_ray.model.loading import BUNDLED_TEACHER, resolve_model_dir

    return resolve_model_dir(BUNDLED_TEACHER)
