"""Bad input met at run time: a corrupt or missing checkpoint, a full disk, a teacher that answers with
nothing, a student whose loss turns NaN. Each stops with one message naming the file or round and the fix,
and never leaves a half-written round behind. Only the last two need Ray (the shared `ray_cluster`).
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from read_ray.config import ResourcesConfig, TrainConfig, load_config, replace
from read_ray.core.budget import Ledger
from read_ray.core.prompts import Prompt
from read_ray.core.rounds import (
    RoundPlan,
    initial_state,
)
from read_ray.model.generation import Completion
from read_ray.model.loading import load_causal_lm, load_tokenizer
from read_ray.model.training import make_sample
from read_ray.runtime.learner import BanditLearner
from read_ray.runtime.rundir import RunDirectory
from tests.records import round_record


def commit_one_round(tmp_path, student_dir) -> RunDirectory:
    """A run directory with one complete round holding a real student checkpoint (no Ray needed)."""
    cfg = replace(load_config("tiny"), run={"name": "r", "runs_dir": str(tmp_path)})
    run = RunDirectory.open(cfg)
    partial = run.begin_round(0)
    student = load_causal_lm(student_dir)
    student.save_pretrained(partial / "student")
    state = initial_state(Ledger(cfg.budget.total_tokens), np.zeros(len(cfg.capabilities.names)), checkpoint=str(run.round_dir(0) / "student"))
    record = round_record(0, load_config("tiny").capabilities.names)
    run.commit_round(0, partial, {"state.json": state.to_dict(), "record.json": record}, record)
    assert run.latest_state() is not None
    return run


def test_corrupt_state_file(tmp_path, tiny_dir):
    run = commit_one_round(tmp_path, tiny_dir)
    state = run.round_dir(0) / "state.json"
    state.write_text(state.read_text()[:40])
    with pytest.raises(ValueError, match=r"round_0000/state.json does not match its MANIFEST.json checksum "
                                         r"\(corrupt\); delete .*round_0000 to redo that round"):
        run.latest_state()


def test_missing_student_checkpoint(tmp_path, tiny_dir):
    run = commit_one_round(tmp_path, tiny_dir)
    (run.round_dir(0) / "student" / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"student/model.safetensors is missing \(listed in MANIFEST.json\); "
                                         r"delete .*round_0000 to redo that round"):
        run.latest_state()


def test_corrupt_student_checkpoint(tmp_path, tiny_dir):
    run = commit_one_round(tmp_path, tiny_dir)
    weights = run.round_dir(0) / "student" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-8:] = b"\xff" * 8                                  # bit rot in the last weights
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.safetensors does not match its MANIFEST.json checksum"):
        RunDirectory.open(replace(load_config("tiny"), run={"name": "r", "runs_dir": str(tmp_path)})).latest_state()


def test_corrupt_bandit_state(tmp_path):
    path = tmp_path / "bandit.pt"
    path.write_bytes(b"PK\x03\x04 truncated")
    learner = BanditLearner(load_config("tiny"), num_caps=8, seed=0)
    with pytest.raises(ValueError, match=r"bandit state .*bandit.pt is missing or corrupt .*delete the round folder"):
        learner.load(str(path))


DISK_FULL = textwrap.dedent("""
    import resource, signal, sys
    from read_ray.config import load_config, replace
    from read_ray.runtime.rundir import RunDirectory
    run = RunDirectory.open(replace(load_config("tiny"), run={"name": "r", "runs_dir": sys.argv[1]}))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)        # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
    partial = run.begin_round(0)
    record = {"round_index": 0, "ledger": {"generation_tokens": 1, "training_tokens": 1}}
    try:
        run.commit_round(0, partial, {"record.json": record, "batch.jsonl": "x" * 1_000_000}, record)
    except OSError as exc:
        print(exc)
        sys.exit(3)
""")


def test_disk_full_leaves_no_half_written_round(tmp_path):
    """The file-size limit stands in for a full disk: the write fails, and the round does not exist."""
    proc = subprocess.run([sys.executable, "-c", DISK_FULL, str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "could not write" in proc.stdout and "batch.jsonl" in proc.stdout
    assert "free disk space and run again (the run resumes from its last complete round)" in proc.stdout
    rounds = tmp_path / "r" / "rounds"
    assert not (rounds / "round_0000").exists()
    assert not list(rounds.glob("round_0000.partial/.*.tmp"))      # no half-written file either
    run = RunDirectory.open(replace(load_config("tiny"), run={"name": "r", "runs_dir": str(tmp_path)}))
    assert run.complete_rounds() == [] and run.latest_state() is None
    assert not (rounds / "round_0000.partial").exists()            # the interrupted round is discarded
    assert (tmp_path / "r" / "ledger.jsonl").read_text() == ""


class HalfEmptyEngine:
    """A teacher (our engine protocol) that answers prompts marked 'silent' with an immediate end of text:
    one completion token paid for, no text."""

    def generate(self, prompts, max_new_tokens, *, seeds):
        return [Completion("" if "silent" in p else "The answer is 4.", len(p.split()), 1 if "silent" in p else 5)
                for p in prompts]

    def count_prompt_tokens(self, prompts):
        return [len(p.split()) for p in prompts]


@pytest.mark.timeout(300)
def test_empty_teacher_text_is_paid_for_not_trained_on(ray_cluster, tiny_dir):
    from read_ray.runtime.supervision import collect_generation, launch_generation
    from read_ray.runtime.teacher import start_teacher, stop_teacher

    texts = ["What is 2 + 2?", "silent: what is 3 + 1?", "Add 1 and 3.", "silent: add 2 and 2."]
    prompts = tuple(Prompt("math", f"math/t{i}", i, text, ()) for i, text in enumerate(texts))
    plan = RoundPlan(round_index=0, allocation=(1.0,), prompts=prompts, prompts_per_capability={"math": 4},
                     max_new_tokens={"math": 8}, generation_cap_tokens=1000, training_cap_tokens=1000,
                     progress_frac=0.0, recent_source_ids={}, blocked_count=0, capped_count=0)
    handle = start_teacher(load_config("tiny"), engine_factory=HalfEmptyEngine)
    try:
        summary, samples, rows = collect_generation(launch_generation(handle, plan, seed=0), load_tokenizer(tiny_dir))
    finally:
        stop_teacher()
    assert summary.completion_tokens["math"] == 5 + 1 + 5 + 1                 # the empty answers are charged
    assert summary.prompt_tokens["math"] == sum(len(t.split()) for t in texts)
    assert [r["completion"] for r in rows] == ["The answer is 4.", "", "The answer is 4.", ""]
    assert len(samples) == 2                                                  # ... and not trained on


@pytest.mark.timeout(600)
def test_nan_loss_stops_the_round_without_a_checkpoint(ray_cluster, tiny_dir, tmp_path):
    from read_ray.runtime.student import fit_student

    tokenizer = load_tokenizer(tiny_dir)
    broken = load_causal_lm(tiny_dir)
    with torch.no_grad():
        broken.model.norm.weight[0] = float("nan")                         # a student whose loss is NaN
    broken.save_pretrained(tmp_path / "student")
    tokenizer.save_pretrained(tmp_path / "student")
    samples = [make_sample(tokenizer, f"What is {i} + {i}?", str(2 * i), "math") for i in range(4)]
    with pytest.raises(RuntimeError) as info:
        fit_student(samples, init_dir=str(tmp_path / "student"), training_cap_tokens=1000,
                    train=TrainConfig(micro_batch_size=1, max_failures=0),
                    resources=ResourcesConfig(train_workers=2, train_cpus_per_worker=0.5),
                    storage_dir=str(tmp_path / "train"), name="round_0003", seed=0)
    message = str(info.value)
    assert "student update round_0003 failed" in message and "non-finite training loss" in message
    assert "lower train.lr" in message
    assert not [p for p in (tmp_path / "train").rglob("model.safetensors")]   # no checkpoint written
