"""The runtime tier's shared pieces: one local Ray cluster (num_cpus=2, no dashboard), tiny models, and the
shared whole runs.

Whole distillations are the slow part of the suite, so they are shared session-wide (DESIGN.md, Tests):
`tiny_run` is one uninterrupted 2-round `tiny` run, `piped_run` the same with run.pipeline; both train with
one Train worker (a fit's cost on `tiny` is nearly all process start-up, one process less per worker; the
2-worker ZeRO path runs in test_student, and in test_identify's and test_sweep's whole runs). Each is made
once per pytest session, on first use, and inspected by many tests; under pytest-xdist (`make test`: two
workers) the first worker to ask makes it and the other reads it from disk (`_made_once`). Both are read-only: a test that resumes or faults a run
works on `shared.copy(...)` (a run directory moves as a folder), usually cut back to its first round
(`rounds=1`, what a run stopped after round 0 leaves), so it pays for round 1 only. A test that must
reconfigure a run from its start makes its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class SharedRun:
    """A finished shared run (`run`, made with `cfg`): read it, never write into it."""

    run: object          # RunDirectory
    cfg: object          # ReadConfig
    output: str = ""     # what the run wrote to its log and console
    secret: str = ""     # planted in the driver's environment (SECRETS) while the run ran; "" if none

    def config(self, runs_dir: str | Path, name: str, **sections):
        """This run's config (same seed, bank, teacher, budget) for another run directory, sections replaced."""
        from read_ray.config import replace

        return replace(self.cfg, run={"runs_dir": str(runs_dir), "name": name}, **sections)

    def copy(self, runs_dir: str | Path, name: str, *, rounds: int | None = None):
        """A copy at runs_dir/name (a RunDirectory); with `rounds`, only the first `rounds` complete rounds are
        kept (later rounds and their Train folders removed; the logs are rebuilt from the records when the
        copy is opened), as if the run had stopped there."""
        from read_ray.runtime.rundir import RunDirectory

        root = Path(runs_dir) / name
        shutil.copytree(self.run.root, root)
        copy = RunDirectory(root.resolve(), self.cfg.capabilities.names)
        for index in copy.complete_rounds()[rounds:] if rounds is not None else ():
            shutil.rmtree(copy.round_dir(index))
            for path in (root / "train").glob(f"round_{index:04d}*"):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        return copy


@pytest.fixture(scope="session")
def simulated_bank(tmp_path_factory) -> str:
    """A transition bank (2 simulated static runs) for the tiny preset's capabilities: the shared runs'
    bandit is warm-started from it (round 0 spends the prior r_tau, round 1 is a warm-started pick)."""
    from read_ray.config import load_config
    from read_ray.core.bank import save_bank
    from read_ray.core.simulator import default_world, simulated_bank

    cfg = load_config("tiny")
    path = tmp_path_factory.mktemp("bank") / "sim_bank.json"
    save_bank(simulated_bank(cfg, default_world(cfg.capabilities.names), 2), path)
    return str(path)


SECRETS = ("WANDB_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "HF_TOKEN", "OPENAI_API_KEY")
"""Credentials a cluster's driver environment commonly holds (test_security_runtime checks none leaks)."""


@contextlib.contextmanager
def output_to(path: Path):
    """What the block writes to stdout and stderr goes to `path` (appended): Python's sys.stdout and
    sys.stderr (pytest points them at its own files, not at 1 and 2) and file descriptors 1 and 2 (native
    code, child processes). Restored after; the capture is then echoed to stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(path, "ab") as fds, open(path, "a", buffering=1, errors="replace") as text, \
                contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
            os.dup2(fds.fileno(), 1)
            os.dup2(fds.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        sys.stderr.write(path.read_text(errors="replace"))


def _shared_run(runs_dir: Path, name: str, bank: str, *, plant_secrets: bool = False, **sections) -> SharedRun:
    """A shared run; with `plant_secrets`, SECRETS hold a fresh secret in the driver's environment while it
    runs (restored after), so a test can check that no file of the run and none of its output (log lines,
    console, stdout and stderr) holds it."""
    from read_ray.config import load_config, replace, validate
    from read_ray.runtime.controller import run_distillation

    cfg = replace(load_config("tiny"), run={"name": name, "runs_dir": str(runs_dir)}, bandit={"bank_path": bank},
                  resources={"train_workers": 1})
    cfg = validate(replace(cfg, **sections))
    secret = f"sekret-{uuid.uuid4().hex}" if plant_secrets else ""
    lines, console, captured = [], io.StringIO(), runs_dir / f"{name}.output.txt"
    with pytest.MonkeyPatch.context() as env, output_to(captured):
        for key in SECRETS if secret else ():
            env.setenv(key, f"{secret}-{key}")
        run = run_distillation(cfg, log=lines.append, console=console)
    output = "\n".join([*lines, console.getvalue(), captured.read_text(errors="replace")])
    return SharedRun(run, cfg, output, secret)


def _made_once(tmp_path_factory, name: str, make) -> SharedRun:
    """`make(folder)` once per pytest session, even when pytest-xdist workers share the session: the first
    worker to ask makes the run while it holds an exclusive lock and leaves its config, output and secret
    beside it; a worker that asks later waits for the lock and opens what the first one made, or fails at once
    with the first one's error if making it failed."""
    from read_ray.config import load_config, to_yaml, validate
    from read_ray.runtime.rundir import RunDirectory

    root = tmp_path_factory.getbasetemp()       # under xdist, each worker's basetemp is a child of the session's
    folder = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "shared_runs"
    folder.mkdir(exist_ok=True)
    made, config = folder / f"{name}.made.json", folder / f"{name}.config.yaml"
    failed = folder / f"{name}.failed.txt"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed.exists():      # never a second attempt on the first one's half-made folder
            raise RuntimeError(f"the shared run {name!r} failed on the worker that made it (its report has the "
                               f"traceback): {failed.read_text()}")
        if not made.exists():
            try:
                shared = make(folder)
            except BaseException as exc:     # pytest-timeout's and pytest.fail's exceptions included
                failed.write_text(f"{type(exc).__name__}: {exc}"[-2000:])
                raise
            config.write_text(to_yaml(shared.cfg))
            made.write_text(json.dumps({"output": shared.output, "secret": shared.secret}))
            return shared
    cfg = validate(load_config(str(config)))
    run = RunDirectory((Path(cfg.run.runs_dir) / cfg.run.name).resolve(), cfg.capabilities.names)
    described = json.loads(made.read_text())
    return SharedRun(run, cfg, described["output"], described["secret"])


@pytest.fixture(scope="session")
def tiny_run(ray_cluster, simulated_bank, tmp_path_factory) -> SharedRun:
    """The shared uninterrupted `tiny` run: 2 rounds, a bandit warm-started from `simulated_bank`, a fresh
    teacher engine every round (teacher.keep_warm false: the reference design), JSONL + TensorBoard metrics,
    secrets planted in the driver's environment (test_security_runtime)."""
    return _made_once(tmp_path_factory, "tiny", lambda folder: _shared_run(
        folder, "tiny", simulated_bank, plant_secrets=True, teacher={"keep_warm": False},
        logging={"backends": ("jsonl", "tensorboard")}))


@pytest.fixture(scope="session")
def piped_run(ray_cluster, simulated_bank, tmp_path_factory) -> SharedRun:
    """The shared uninterrupted pipelined `tiny` run (run.pipeline: round 1 is chosen before round 0's reward
    is known and saved with round 0). One request per Serve batch: a resumed run regenerates round 1's
    supervision on an idle machine while the uninterrupted one generated it beside round 0's training, so
    time-based batching would group the requests differently, and with a random tiny model a batched
    matmul's rounding can flip a greedy near-tie and change a completion's length. Fixed batches make the
    teacher bitwise repeatable."""
    return _made_once(tmp_path_factory, "piped", lambda folder: _shared_run(
        folder, "piped", simulated_bank, run={"pipeline": True}, teacher={"max_batch_size": 1}))
