"""One local Ray cluster for the whole runtime tier (num_cpus=2, no dashboard), and shared tiny models."""

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=512 * 2**20,
             log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_dir(teacher_dir, tmp_path_factory) -> str:
    from read_ray.model.loading import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny", tokenizer_source=teacher_dir, num_layers=2)
