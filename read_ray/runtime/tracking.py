"""Experiment tracking: namespaced metrics behind one small logger protocol.

JSONL is always on and is the source: the run directory's `metrics.jsonl` (written by `RunDirectory`
with each committed round, rebuilt from the round records on resume) holds one line per student micro-step
(`train/step`, `train/step_loss`) and one line per round (`budget/...`, `bandit/...`, `probe/...`,
`train/...`, `teacher/...`, `seconds/...`); `metric_lines` makes them. A `Tracker` mirrors each new line
to the backends selected in `logging.backends`: TensorBoard (tensorboardX event files in
`<run>/tensorboard`), MLflow (a SQLite store `<run>/mlflow.db`: MLflow's file store refuses to open since
3.x; `mlflow-skinny` plus sqlalchemy and alembic suffice) and Weights & Biases (run files in `<run>/wandb`;
online, or offline with no login when WANDB_MODE=offline). Round lines are logged at step = round index,
step lines at step = the run's micro-step count. No heavy import here: a backend's package is imported when
its logger is made, and `missing_backend_packages` (called by `runtime.preflight.check_config`, before Ray
starts) names any that is absent.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

BACKEND_PACKAGES = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb"}
"""Backend -> the package (import name) it needs; jsonl needs nothing."""
STORE_PACKAGES = {"mlflow": ("sqlalchemy", "alembic")}
"""Backend -> what its local store needs besides the package: `mlflow` brings these, `mlflow-skinny` does not."""


def missing_backend_packages(backends: Sequence[str]) -> list[str]:
    """One message per selected backend whose package (or whose store's packages) is not installed."""
    problems = []
    for b in dict.fromkeys(backends):
        if b not in BACKEND_PACKAGES:
            continue
        if importlib.util.find_spec(BACKEND_PACKAGES[b]) is None:
            problems.append(f"logging.backends: {b!r} is selected but its package {BACKEND_PACKAGES[b]} is not "
                            f"installed: pip install {BACKEND_PACKAGES[b]}, or remove {b!r} from logging.backends")
            continue
        absent = [p for p in STORE_PACKAGES.get(b, ()) if importlib.util.find_spec(p) is None]
        if absent:
            problems.append(f"logging.backends: {b!r} keeps its runs in a SQLite store, which needs "
                            f"{' and '.join(absent)} (not installed): pip install {' '.join(absent)}, "
                            f"or remove {b!r} from logging.backends")
    return problems


# ----------------------------------------------------------------------------- what is logged


def round_metrics(record: Mapping[str, Any], capabilities: Sequence[str]) -> dict[str, float]:
    """Round-level metrics of a round record (record.json), namespaced."""
    reward, ledger, seconds = record["reward"], record["ledger"], record["seconds"]
    spent = ledger["generation_tokens"] + ledger["training_tokens"]
    teacher_tokens = sum(record["generation_tokens"].values())
    m = {
        "budget/spent_tokens": spent, "budget/spent_frac": spent / ledger["total_tokens"],
        "budget/generation_tokens": ledger["generation_tokens"], "budget/training_tokens": ledger["training_tokens"],
        "budget/probe_tokens": ledger["probe_tokens"],
        "bandit/reward": reward["reward"], "bandit/gain": reward["gain"], "bandit/spill": reward["spill"],
        "bandit/cost": reward["cost"],
        **{f"bandit/allocation/{c}": w for c, w in zip(capabilities, record["allocation"], strict=True)},
        "probe/off_target_drop": record["off_target_drop"], "probe/tokens": record["probe_tokens"],
        **{f"probe/{c}": s for c, s in zip(capabilities, record["profile_after"], strict=True)},
        "train/loss": record["train_loss"], "train/tokens": sum(record["training_tokens"].values()),
        "train/steps": len(record.get("train_step_losses", ())),
        "teacher/tokens": teacher_tokens, "teacher/prompts_blocked_by_leakage": record["blocked_count"],
        "teacher/prompts_over_usage_cap": record["capped_count"],
        **{f"seconds/{k}": v for k, v in seconds.items()},
    }
    if seconds.get("generate"):
        m["teacher/tokens_per_s"] = teacher_tokens / seconds["generate"]
    if record.get("dev_utility_change") is not None:
        m["bandit/dev_utility_change"] = record["dev_utility_change"]
    return m


def metric_lines(record: Mapping[str, Any], capabilities: Sequence[str], first_step: int) -> list[dict]:
    """The JSONL lines of one round: its micro-steps (numbered from `first_step`), then the round line."""
    index = record["round_index"]
    lines = [{"round": index, "train/step": first_step + i, "train/step_loss": loss}
             for i, loss in enumerate(record.get("train_step_losses", ()))]
    return [*lines, {"round": index, **round_metrics(record, capabilities)}]


# ----------------------------------------------------------------------------- backends


STEP_AXES = ("train/step", "round")
"""The step keys of a metrics.jsonl line, finest first: micro-step lines carry both, round lines `round`."""


def step_of(axes: Mapping[str, int]) -> int:
    """The step a line is logged at: its micro-step if it has one, else its round."""
    return next(axes[name] for name in STEP_AXES if name in axes)


class MetricLogger(Protocol):
    def log(self, metrics: Mapping[str, float], axes: Mapping[str, int]) -> None:
        """Log scalars at the line's step axes (`round`, and `train/step` on micro-step lines)."""

    def close(self) -> None: ...


class TensorBoardLogger:
    def __init__(self, log_dir: Path):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir=str(log_dir))

    def log(self, metrics: Mapping[str, float], axes: Mapping[str, int]) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, global_step=step_of(axes))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


MLFLOW_KEY_LENGTH = 250
"""MLflow's longest metric, param or tag name."""
MLFLOW_PARAM_LENGTH = 6000
"""MLflow's longest param value (3.x)."""


def mlflow_key(name: str) -> str:
    """`name` as MLflow accepts it: characters other than letters, digits, `_ - . / space` become `_`, and
    empty, `.` or `..` path parts are dropped or renamed (MLflow refuses a name that resolves to another)."""
    parts = [("__" if part == ".." else part) for part in re.sub(r"[^\w./\- ]", "_", name).split("/")
             if part not in ("", ".")]
    return "/".join(parts)[:MLFLOW_KEY_LENGTH].rstrip("/") or "_"


def flat_params(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow params: `section.key` names, strings as they are, other values as JSON
    (lists, null, true, an empty mapping `{}`), each cut to MLflow's longest value."""
    params: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            params.update(flat_params(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            params[mlflow_key(name)] = text[:MLFLOW_PARAM_LENGTH]
    return params


class MlflowLogger:
    """A SQLite store `<root>/mlflow.db` holding one experiment `read_ray` with the run (artifacts, if any,
    under `<root>/mlruns`). On resume the store's run is reopened, so its curves continue; params and tags
    are set when the run is made. MLflow's usage telemetry is off unless MLFLOW_DISABLE_TELEMETRY says."""

    def __init__(self, root: Path, run_name: str, params: Mapping[str, str], tags: Mapping[str, str]):
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow import MlflowClient
        from mlflow.entities import Param, RunTag

        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
        experiment = self.client.get_experiment_by_name("read_ray")
        experiment_id = (experiment.experiment_id if experiment else
                         self.client.create_experiment("read_ray", artifact_location=(root / "mlruns").as_uri()))
        runs = self.client.search_runs([experiment_id], max_results=1)      # the store is this run's own
        if runs:
            self.run_id = runs[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
            return
        self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
        pairs = list(params.items())
        for i in range(0, len(pairs), 100):                                   # MLflow's batch limit
            self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in pairs[i:i + 100]])
        self.client.log_batch(self.run_id, tags=[RunTag(mlflow_key(k), str(v)) for k, v in tags.items()])

    def log(self, metrics: Mapping[str, float], axes: Mapping[str, int]) -> None:
        from mlflow.entities import Metric

        now_ms, step = int(time.time() * 1000), step_of(axes)
        batch = [Metric(mlflow_key(k), float(v), now_ms, step) for k, v in metrics.items()]
        for i in range(0, len(batch), 1000):                                  # MLflow's batch limit
            self.client.log_batch(self.run_id, metrics=batch[i:i + 1000])

    def close(self) -> None:
        self.client.set_terminated(self.run_id, status="FINISHED")


class WandbLogger:
    """A W&B run whose files go to `<root>/wandb` (online, or offline when WANDB_MODE=offline: no login, no
    network; `wandb sync` uploads later). Its id is kept in `<root>/wandb/read_ray_run_id`, so a resumed run
    logs into the same W&B run. Console capture is off: the driver's console is the run's progress display."""

    def __init__(self, root: Path, run_name: str, config: Mapping[str, Any]):
        import wandb

        files = root / "wandb"
        files.mkdir(parents=True, exist_ok=True)
        id_file = files / "read_ray_run_id"
        run_id = id_file.read_text().strip() if id_file.exists() else ""
        if not run_id:
            run_id = secrets.token_hex(6)                                     # W&B ids: [a-z0-9]
            id_file.write_text(run_id + "\n")
        self.run = wandb.init(project="read_ray", name=run_name, id=run_id, resume="allow", dir=str(root),
                              config=dict(config), settings=wandb.Settings(console="off"))
        self.run.define_metric("round")
        self.run.define_metric("train/step")
        self.run.define_metric("train/step_*", step_metric="train/step")
        self.run.define_metric("*", step_metric="round")

    def log(self, metrics: Mapping[str, float], axes: Mapping[str, int]) -> None:
        # every axis of the line goes into the row: W&B itself may fill in `round` on a micro-step row (a
        # metric matching "*" has it as step metric), so leaving it out would make the row depend on timing
        self.run.log({**metrics, **axes})

    def close(self) -> None:
        self.run.finish()


class Tracker:
    """Mirrors the lines appended to metrics.jsonl since the last `sync` to every selected backend."""

    def __init__(self, metrics_path: Path, loggers: list[MetricLogger]):
        self.metrics_path, self.loggers = metrics_path, loggers
        self.offset = metrics_path.stat().st_size if metrics_path.exists() else 0   # earlier rounds: logged before

    def sync(self) -> int:
        """Log the new lines; returns how many."""
        with open(self.metrics_path) as f:
            f.seek(self.offset)
            lines = [json.loads(line) for line in f if line.strip()]
            self.offset = f.tell()
        for line in lines:
            axes = {name: int(line[name]) for name in STEP_AXES if name in line}
            metrics = {k: v for k, v in line.items() if k not in STEP_AXES
                       and isinstance(v, (int, float)) and math.isfinite(v)}
            for logger in self.loggers:
                logger.log(metrics, axes)
        return len(lines)

    def close(self) -> None:
        """Close every backend (each even if another fails; the first failure is raised after)."""
        failure = None
        for logger in self.loggers:
            try:
                logger.close()
            except Exception as exc:   # the other backends still close
                failure = failure or exc
        if failure is not None:
            raise failure


def open_tracker(cfg, run_root: str | Path) -> Tracker:
    """A Tracker for the backends in cfg.logging.backends (jsonl is the run directory's own metrics.jsonl)."""
    from read_ray.config import config_to_dict

    root = Path(run_root)
    loggers: list[MetricLogger] = []
    for backend in dict.fromkeys(cfg.logging.backends):
        if backend == "tensorboard":
            loggers.append(TensorBoardLogger(root / "tensorboard"))
        elif backend == "mlflow":
            tags = {"read_ray.task": cfg.task.name, "read_ray.policy": cfg.bandit.policy,
                    "read_ray.capabilities": ",".join(cfg.capabilities.names)}
            loggers.append(MlflowLogger(root, cfg.run.name, flat_params(config_to_dict(cfg)), tags))
        elif backend == "wandb":
            loggers.append(WandbLogger(root, cfg.run.name, config_to_dict(cfg)))
    return Tracker(root / "metrics.jsonl", loggers)
