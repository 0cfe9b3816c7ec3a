"""Tracking: the shared 2-round `tiny` run (conftest.py) with JSONL + TensorBoard, and the config check for
missing packages."""

import importlib.util
import json
import struct

import pytest

from read_ray.config import load_config, validate
from read_ray.runtime.preflight import check_config
from read_ray.runtime.rundir import RunDirectory
from read_ray.runtime.tracking import open_tracker
from tests.records import round_record

NAMESPACES = ("budget/", "bandit/", "probe/", "train/", "teacher/", "seconds/")


def tensorboard_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files under log_dir (TFRecord framing: length, crc, payload, crc)."""
    from tensorboardX.proto.event_pb2 import Event

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the first test to use a shared run also pays for making it
def test_jsonl_and_tensorboard_hold_the_same_namespaced_metrics(tiny_run, tmp_path):
    run, cfg = tiny_run.run, tiny_run.cfg
    assert set(cfg.logging.backends) == {"jsonl", "tensorboard"}
    lines = [json.loads(line) for line in (run.root / "metrics.jsonl").read_text().splitlines()]
    records = run.records()
    rounds = [line for line in lines if "train/step" not in line]
    steps = [line for line in lines if "train/step" in line]
    assert [line["round"] for line in rounds] == [r["round_index"] for r in records]

    # train-step metrics come back from the Train workers: one per micro-step, numbered across rounds
    assert [s["train/step"] for s in steps] == list(range(len(steps)))
    assert sum(r["train/steps"] for r in rounds) == len(steps) > 0
    for record, line in zip(records, rounds, strict=True):
        mine = [s["train/step_loss"] for s in steps if s["round"] == record["round_index"]]
        assert mine == record["train_step_losses"] and len(mine) == line["train/steps"]
        assert line["train/loss"] == pytest.approx(record["train_loss"])
        assert min(mine) <= line["train/loss"] <= max(mine)

    last = rounds[-1]
    for key in ("budget/spent_tokens", "budget/spent_frac", "bandit/reward", "bandit/allocation/math",
                "probe/math", "probe/off_target_drop", "train/tokens", "teacher/tokens", "teacher/tokens_per_s",
                "seconds/train", "bandit/dev_utility_change"):
        assert key in last, key
    assert all(k == "round" or k.startswith(NAMESPACES) for k in last)
    assert sum(last[f"bandit/allocation/{c}"] for c in cfg.capabilities.names) == pytest.approx(1.0)
    ledger = records[-1]["ledger"]
    assert last["budget/spent_tokens"] == ledger["generation_tokens"] + ledger["training_tokens"]
    assert last["budget/spent_frac"] <= 1.0

    scalars = tensorboard_scalars(run.root / "tensorboard")
    assert [v for _, v in scalars["train/step_loss"]] == pytest.approx([s["train/step_loss"] for s in steps])
    assert [step for step, _ in scalars["train/step_loss"]] == [s["train/step"] for s in steps]
    for key in ("bandit/reward", "budget/spent_tokens", "probe/math", "teacher/tokens"):
        assert [step for step, _ in scalars[key]] == [line["round"] for line in rounds]
        assert [v for _, v in scalars[key]] == pytest.approx([line[key] for line in rounds], rel=1e-6)

    # resume rebuilds metrics.jsonl from the round records: the same lines, step numbering included
    before = (run.root / "metrics.jsonl").read_text()
    copy = tiny_run.copy(tmp_path, "torn")                                    # the shared run stays as it is
    (copy.root / "metrics.jsonl").write_text(before.splitlines()[0] + "\n")    # a torn log after a crash
    RunDirectory.open(tiny_run.config(tmp_path, "torn"))
    assert (copy.root / "metrics.jsonl").read_text() == before


def test_tracking_from_fabricated_records(tmp_path):
    """Without Ray: rounds committed as the controller commits them write namespaced metrics.jsonl lines
    (train steps numbered across rounds), TensorBoard mirrors them, and reopening rebuilds a torn log."""
    cfg = validate(load_config("tiny", [f"run.runs_dir={tmp_path}", "run.name=fab",
                                        "logging.backends=[jsonl, tensorboard]"]))
    caps = cfg.capabilities.names
    run = RunDirectory.open(cfg)
    tracker = open_tracker(cfg, run.root)
    losses = [[2.0, 1.5, 1.25], [1.0, 0.5]]
    for index, step_losses in enumerate(losses):
        partial = run.begin_round(index)
        record = round_record(index, caps, step_losses)
        run.commit_round(index, partial, {"record.json": record}, record)
        assert tracker.sync() == len(step_losses) + 1
    tracker.close()

    lines = [json.loads(line) for line in (run.root / "metrics.jsonl").read_text().splitlines()]
    steps = [line for line in lines if "train/step" in line]
    rounds = [line for line in lines if "train/step" not in line]
    assert [s["train/step"] for s in steps] == [0, 1, 2, 3, 4]
    assert [s["train/step_loss"] for s in steps] == [2.0, 1.5, 1.25, 1.0, 0.5]
    assert [s["round"] for s in steps] == [0, 0, 0, 1, 1] and [r["round"] for r in rounds] == [0, 1]
    for line, record in zip(rounds, run.records(), strict=True):
        assert all(k == "round" or k.startswith(NAMESPACES) for k in line)
        assert line["train/steps"] == len(record["train_step_losses"])
        assert line["train/loss"] == pytest.approx(record["train_loss"])
        assert line["budget/spent_tokens"] == record["ledger"]["generation_tokens"] + record["ledger"]["training_tokens"]
        assert line["teacher/tokens"] == sum(record["generation_tokens"].values()) == 22 + record["round_index"]
        assert line["teacher/tokens_per_s"] == pytest.approx(line["teacher/tokens"] / 2.0)
        assert line["teacher/prompts_blocked_by_leakage"] == record["round_index"]
        assert sum(line[f"bandit/allocation/{c}"] for c in caps) == pytest.approx(1.0)
        assert [line[f"probe/{c}"] for c in caps] == pytest.approx(record["profile_after"])

    scalars = tensorboard_scalars(run.root / "tensorboard")
    assert scalars["train/step_loss"] == [(s["train/step"], pytest.approx(s["train/step_loss"])) for s in steps]
    for key in ("bandit/reward", "budget/spent_tokens", "probe/math", "teacher/tokens", "train/loss"):
        assert [step for step, _ in scalars[key]] == [0, 1]
        assert [v for _, v in scalars[key]] == pytest.approx([line[key] for line in rounds], rel=1e-6)

    before = (run.root / "metrics.jsonl").read_text()
    (run.root / "metrics.jsonl").write_text(before.splitlines()[0] + "\n")     # a torn log after a crash
    RunDirectory.open(cfg)
    assert (run.root / "metrics.jsonl").read_text() == before


@pytest.mark.parametrize("backend, package", [("mlflow", "mlflow"), ("wandb", "wandb"), ("tensorboard", "tensorboardX")])
def test_a_selected_backend_that_is_not_installed_is_a_config_error(backend, package):
    cfg = load_config("tiny", [f"logging.backends=[jsonl, {backend}]"])
    if importlib.util.find_spec(package) is not None:
        assert check_config(cfg) is cfg
        return
    with pytest.raises(ValueError, match=f"logging.backends: '{backend}' is selected but its package {package} "
                                         f"is not installed: pip install {package}"):
        check_config(cfg)
