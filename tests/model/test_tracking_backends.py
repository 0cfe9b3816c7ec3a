"""MLflow (SQLite store) and W&B (offline) really run: rounds committed as the controller commits them are
mirrored by `open_tracker` to the real libraries, offline, and what they stored is read back from their
own files and compared with metrics.jsonl. No Ray; the round records are made by core.rounds.settle_round.
"""

import json
import re
import struct
import sys
import time
import zlib

import pytest

from read_ray.config import config_to_dict, load_config, validate
from read_ray.runtime.preflight import check_config
from read_ray.runtime.rundir import RunDirectory
from read_ray.runtime.tracking import flat_params, mlflow_key, open_tracker
from tests.records import round_record

STEP_LOSSES = [[2.0, 1.5, 1.25], [1.0, 0.5], [0.75]]
ROUND_KEYS = ("bandit/reward", "budget/spent_tokens", "budget/spent_frac", "probe/math", "train/loss",
              "teacher/tokens", "bandit/allocation/math")
ODD_LINE = {"round": 1, "probe/tool use?": 0.25, "seconds/a:b|c": 3.0, "train//x/../y": 7.0}
"""Names MLflow refuses as they are (a `?` and `|`, an empty and a `..` path part)."""


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No server, no login, no network: each library's default places point into tmp_path."""
    for key, value in {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'default-mlflow.db'}",
                       "MLFLOW_DISABLE_TELEMETRY": "true", "WANDB_MODE": "offline",
                       "WANDB_DIR": str(tmp_path / "wandb-default"), "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
                       "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"), "WANDB_DATA_DIR": str(tmp_path / "wandb-data"),
                       "WANDB_SILENT": "true", "WANDB_ERROR_REPORTING": "false"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    return tmp_path


def tracked_run(tmp_path, backend: str):
    """Two rounds tracked, a line of odd metric names, the tracker closed; then the run resumed (a new
    tracker, as a restarted driver opens it) for a third round. Returns (cfg, run, metrics.jsonl lines)."""
    cfg = validate(load_config("tiny", [f"run.runs_dir={tmp_path / 'runs'}", "run.name=fab",
                                        f"logging.backends=[jsonl, {backend}]"]))
    assert check_config(cfg) is cfg                                     # the dev extra installs the package
    caps = cfg.capabilities.names
    run = RunDirectory.open(cfg)
    tracker = open_tracker(cfg, run.root)
    for index, step_losses in enumerate(STEP_LOSSES):
        if index == 2:                                            # a restarted driver reopens the backends
            tracker.close()
            second = int(time.time())                  # W&B names offline run folders by the second
            while int(time.time()) == second:
                time.sleep(0.05)
            tracker = open_tracker(cfg, run.root)
        partial = run.begin_round(index)
        record = round_record(index, caps, step_losses, allocation=(0.75, 0.25), probe_step=0.1)
        run.commit_round(index, partial, {"record.json": record}, record)
        assert tracker.sync() == len(step_losses) + 1
        if index == 1:
            with open(run.root / "metrics.jsonl", "a") as f:
                f.write(json.dumps(ODD_LINE) + "\n")
            assert tracker.sync() == 1
    tracker.close()
    lines = [json.loads(line) for line in (run.root / "metrics.jsonl").read_text().splitlines()]
    return cfg, run, lines


def test_mlflow_sqlite_store_holds_params_tags_and_every_metric_per_step(offline):
    from mlflow import MlflowClient

    cfg, run, lines = tracked_run(offline, "mlflow")
    client = MlflowClient(tracking_uri=f"sqlite:///{run.root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("read_ray")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1                                                 # the resume reopened the same run
    info, data = runs[0].info, runs[0].data
    assert info.run_name == "fab" and info.status == "FINISHED"
    assert experiment.artifact_location == (run.root / "mlruns").resolve().as_uri()

    assert data.params == flat_params(config_to_dict(cfg))               # the whole config, flattened
    assert data.params["budget.total_tokens"] == "6000" and data.params["bandit.policy"] == "read"
    assert data.params["task.requirement.math"] == "0.6" and data.params["bandit.static_mix"] == "{}"
    assert data.params["capabilities.names"] == json.dumps(list(cfg.capabilities.names))
    assert data.tags["read_ray.task"] == cfg.task.name and data.tags["read_ray.policy"] == "read"
    assert data.tags["read_ray.capabilities"] == ",".join(cfg.capabilities.names)

    def history(key):
        return [(m.step, m.value) for m in sorted(client.get_metric_history(info.run_id, key), key=lambda m: m.step)]

    losses = [loss for round_losses in STEP_LOSSES for loss in round_losses]
    assert history("train/step_loss") == list(enumerate(losses))        # micro-steps numbered across rounds
    rounds = [line for line in lines if "train/step" not in line and "budget/spent_tokens" in line]
    assert [line["round"] for line in rounds] == [0, 1, 2]
    for key in ROUND_KEYS:
        assert history(key) == [(line["round"], pytest.approx(line[key], rel=1e-12)) for line in rounds], key
    assert {k for line in rounds for k in line if k != "round"} <= set(data.metrics)
    assert history("teacher/tokens") == [(0, 22.0), (1, 23.0), (2, 24.0)]
    assert history(mlflow_key("probe/tool use?")) == [(1, 0.25)] and mlflow_key("probe/tool use?") == "probe/tool use_"
    assert history("seconds/a_b_c") == [(1, 3.0)] and history("train/x/__/y") == [(1, 7.0)]


WANDB_HEADER = struct.pack("<4sHB", b":W&B", 0xBEE1, 0)
WANDB_BLOCK = 32768


def wandb_records(path) -> list:
    """The protobuf records of a `.wandb` file: W&B's LevelDB-style log (a 7-byte header, 32 KiB blocks,
    each chunk `crc32(type + data)`, length, type: 1 full, 2 first, 3 middle, 4 last), checked chunk by chunk."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:7] == WANDB_HEADER, path
    records, pos, pending = [], 7, b""
    while pos + 7 <= len(data):
        left = WANDB_BLOCK - pos % WANDB_BLOCK
        if left < 7:                                                      # a block's zero-filled tail
            pos += left
            continue
        crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            break
        chunk = data[pos + 7:pos + 7 + length]
        assert zlib.crc32(chunk, zlib.crc32(bytes([kind]))) == crc, (path, pos)
        pending, pos = pending + chunk, pos + 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def closed_wandb_records(path, timeout_s: float = 120.0) -> list:
    """The records of a `.wandb` file once it ends with the exit record: W&B's service process writes the
    file on its own schedule, and on a loaded machine it can still be writing after `finish()` returns."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            records = wandb_records(path)
        except AssertionError:                                            # a chunk still being written
            records = []
        if records and records[-1].WhichOneof("record_type") == "exit":
            return records
        time.sleep(0.5)
    return wandb_records(path)


def item_key(item) -> str:
    """A history or config item's name: `key`, or its `nested_key` path joined by `/`."""
    return item.key or "/".join(item.nested_key)


def test_wandb_offline_run_files_hold_the_config_and_every_logged_row(offline):
    cfg, run, lines = tracked_run(offline, "wandb")
    run_id = (run.root / "wandb" / "read_ray_run_id").read_text().strip()
    folders = sorted((run.root / "wandb").glob("offline-run-*"))
    assert [f.name.rsplit("-", 1)[1] for f in folders] == [run_id, run_id]   # the resume: same W&B run id
    assert not list((offline / "wandb-default").glob("**/*.wandb"))          # nothing outside the run folder

    rows, configs = [], []
    for folder in folders:
        records = closed_wandb_records(folder / f"run-{run_id}.wandb")
        kinds = [r.WhichOneof("record_type") for r in records]
        assert kinds.count("run") == 1 and kinds[-1] == "exit"              # closed: finish() wrote its exit
        for r in records:
            if r.WhichOneof("record_type") == "run":
                assert (r.run.run_id, r.run.display_name, r.run.project) == (run_id, "fab", "read_ray")
                configs.append({item_key(u): json.loads(u.value_json) for u in r.run.config.update})
            elif r.WhichOneof("record_type") == "history":
                items = {item_key(i): json.loads(i.value_json) for i in r.history.item}
                rows.append({k: v for k, v in items.items() if not k.startswith("_")})
    expected = config_to_dict(cfg)
    assert {k: v for k, v in configs[0].items() if not k.startswith("_")} == expected
    assert configs[0]["task"]["requirement"] == {"math": 0.6, "reasoning": 0.4}

    # one W&B row per metrics.jsonl line, in order, with the same values and its step keys
    assert len(rows) == len(lines)
    for row, line in zip(rows, lines, strict=True):
        assert row == {k: pytest.approx(v, rel=1e-12) for k, v in line.items()}
    losses = [row["train/step_loss"] for row in rows if "train/step" in row]
    assert losses == [loss for round_losses in STEP_LOSSES for loss in round_losses]
    assert [row["teacher/tokens"] for row in rows if "teacher/tokens" in row] == [22, 23, 24]


@pytest.mark.parametrize("backend, blocked, message", [
    ("mlflow", "mlflow", "its package mlflow is not installed: pip install mlflow"),
    ("mlflow", "sqlalchemy", "keeps its runs in a SQLite store, which needs sqlalchemy (not installed): "
                             "pip install sqlalchemy"),
    ("mlflow", "alembic", "needs alembic (not installed): pip install alembic"),
    ("wandb", "wandb", "its package wandb is not installed: pip install wandb"),
], ids=["mlflow", "mlflow-sqlalchemy", "mlflow-alembic", "wandb"])
def test_preflight_names_a_missing_backend_package(backend, blocked, message, monkeypatch):
    cfg = load_config("tiny", [f"logging.backends=[jsonl, {backend}]"])
    assert check_config(cfg) is cfg
    monkeypatch.setitem(sys.modules, blocked, None)                      # Python's own "cannot be imported"
    with pytest.raises(ValueError, match=re.escape(f"logging.backends: '{backend}' ") + ".*" + re.escape(message)):
        check_config(cfg)
