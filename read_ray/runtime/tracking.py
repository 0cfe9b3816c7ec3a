"""Experiment tracking: namespaced metrics behind one small logger protocol.

JSONL is always on and is the source: the run directory's `metrics.jsonl` (written by `RunDirectory`
with each committed round, rebuilt from the round records on resume) holds one line per student micro-step
(`train/step`, `train/step_loss`) and one line per round (`budget/...`, `bandit/...`, `probe/...`,
`train/...`, `teacher/...`, `seconds/...`); `metric_lines` makes them. A `Tracker` mirrors each new line
to the backends selected in `logging.backends`: TensorBoard (tensorboardX event files in
`<run>/tensorboard`), MLflow (a local file store in `<run>/mlruns`) and Weights & Biases (run files in
`<run>/wandb`; online or offline as WANDB_MODE says). Round lines are logged at step = round index, step
lines at step = the run's micro-step count. No heavy import here: a backend's package is imported when
its logger is made, and `missing_backend_packages` (called by config `validate`) names any that is absent.
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

BACKEND_PACKAGES = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb"}
"""Backend -> the package (import name) it needs; jsonl needs nothing."""


def missing_backend_packages(backends: Sequence[str]) -> list[str]:
    """One message per selected backend whose package is not installed."""
    return [f"logging.backends: {b!r} is selected but its package {BACKEND_PACKAGES[b]} is not installed: "
            f"pip install {BACKEND_PACKAGES[b]}, or remove {b!r} from logging.backends"
            for b in backends if b in BACKEND_PACKAGES and importlib.util.find_spec(BACKEND_PACKAGES[b]) is None]


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


class MetricLogger(Protocol):
    def log(self, metrics: Mapping[str, float], step: int, step_name: str) -> None:
        """Log scalars at `step` of the axis `step_name` ("round" or "train/step")."""

    def close(self) -> None: ...


class TensorBoardLogger:
    def __init__(self, log_dir: Path):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir=str(log_dir))

    def log(self, metrics: Mapping[str, float], step: int, step_name: str) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MlflowLogger:
    """A local file store; the run is found again by name on resume, so its curves continue."""

    def __init__(self, store_dir: Path, run_name: str, params: Mapping[str, Any]):
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=store_dir.resolve().as_uri())
        experiment = self.client.get_experiment_by_name("read_ray")
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment("read_ray")
        runs = self.client.search_runs([experiment_id], filter_string=f"attributes.run_name = '{run_name}'")
        if runs:
            self.run_id = runs[0].info.run_id
        else:
            self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
            for key, value in params.items():
                self.client.log_param(self.run_id, key, value)

    def log(self, metrics: Mapping[str, float], step: int, step_name: str) -> None:
        from mlflow.entities import Metric

        now_ms = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now_ms, step) for k, v in metrics.items()])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class WandbLogger:
    def __init__(self, run_dir: Path, run_name: str, config: Mapping[str, Any]):
        import wandb

        (run_dir / "wandb").mkdir(exist_ok=True)
        self.run = wandb.init(project="read_ray", name=run_name, dir=str(run_dir), config=dict(config))
        self.run.define_metric("round")
        self.run.define_metric("train/step")
        self.run.define_metric("train/step_*", step_metric="train/step")
        self.run.define_metric("*", step_metric="round")

    def log(self, metrics: Mapping[str, float], step: int, step_name: str) -> None:
        self.run.log({**metrics, step_name: step})

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
            step_name = "train/step" if "train/step" in line else "round"
            step = int(line[step_name])
            metrics = {k: v for k, v in line.items() if k not in ("round", "train/step")
                       and isinstance(v, (int, float)) and math.isfinite(v)}
            for logger in self.loggers:
                logger.log(metrics, step, step_name)
        return len(lines)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def open_tracker(cfg, run_root: str | Path) -> Tracker:
    """A Tracker for the backends in cfg.logging.backends (jsonl is the run directory's own metrics.jsonl)."""
    from read_ray.config import config_to_dict

    root = Path(run_root)
    loggers: list[MetricLogger] = []
    for backend in dict.fromkeys(cfg.logging.backends):
        if backend == "tensorboard":
            loggers.append(TensorBoardLogger(root / "tensorboard"))
        elif backend == "mlflow":
            params = {f"{section}.{k}": v for section in ("budget", "allocation", "reward", "bandit")
                      for k, v in config_to_dict(cfg)[section].items()}
            loggers.append(MlflowLogger(root / "mlruns", cfg.run.name, params))
        elif backend == "wandb":
            loggers.append(WandbLogger(root, cfg.run.name, config_to_dict(cfg)))
    return Tracker(root / "metrics.jsonl", loggers)
