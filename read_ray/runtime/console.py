"""What a person watching a run sees: the stage each round is in, and a console that Ray does not fill.

`Progress` has two modes. Live (the console is a terminal and `logging.progress` is on): one tqdm line per
stage that updates in place (generate: prompts answered of N and tokens/s; train: step of N and loss;
probe: items scored of N) and gives way to a one-line summary when the stage ends. Plain (a log file, CI,
`--no-progress`): only the summary line per stage. Lines go through the run's `log`, bars to the console.

The counts cost the actors nothing they would not do anyway: the driver counts the teacher's answers and
the probe actors' shards as it waits for them; a training fit blocks the driver, so in live mode rank 0
posts (step, steps, loss) to a `ProgressBoard` actor at most twice a second (a call nobody waits on) and a
driver thread reads it. Plain mode creates no board and posts nothing.

`ray_logs_to` sends Ray's and Serve's driver-side log records to a file in the run directory; the console
keeps the threshold it had (`read-ray --verbose` leaves it at INFO, the default is warnings only).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

POLL_S = 0.5


class ProgressBoard:
    """A Ray actor holding the latest (done, total, extras) per key; posted by workers, read by the driver."""

    def __init__(self):
        self.values: dict[str, tuple] = {}

    def post(self, key: str, done: int, total: int | None, **extras) -> None:
        self.values[key] = (done, total, extras)

    def read(self, key: str) -> tuple | None:
        return self.values.get(key)


class Stage:
    """One stage of a round: counts so far, and a live bar when the console is a terminal."""

    def __init__(self, name: str, total: int | None, unit: str, stream=None):
        self.name, self.total, self.unit, self.done = name, total, unit, 0
        self.extras: dict[str, float] = {}
        self.start_s = time.perf_counter()
        self.bar = None
        if stream is not None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=name, unit=unit, file=stream, leave=False,
                            mininterval=0.1)
        self._lock = threading.Lock()
        self._final = False

    def update(self, done: int, total: int | None = None, **extras: float) -> None:
        with self._lock:
            if self._final:
                return
            self.done, self.total = done, self.total if total is None else total
            self.extras.update(extras)
            if self.bar is not None:
                self.bar.total, self.bar.n = self.total, done
                self.bar.set_postfix_str(self._extras(), refresh=False)
                self.bar.refresh()

    def finish(self, done: int, total: int | None = None, **extras: float) -> None:
        """The stage's final counts; later updates (a poll still in flight) are ignored."""
        self.update(done, total, **extras)
        with self._lock:
            self._final = True

    def _extras(self) -> str:
        e, parts = self.extras, []
        if "tokens" in e:
            parts.append(f"{int(e['tokens']):,} tokens")
        if "tokens_per_s" in e:
            parts.append(f"{e['tokens_per_s']:,.1f} tokens/s")
        if "loss" in e:
            parts.append(f"loss {e['loss']:.4f}")
        return ", ".join(parts)

    def summary(self) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        extras = self._extras()
        return (f"{self.name}: {self.done}{of} {self.unit}s" + (f", {extras}" if extras else "")
                + f" in {time.perf_counter() - self.start_s:.1f} s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Progress:
    """Stages of a run for the console: `with progress.stage(name, total, unit) as s: s.update(done, ...)`."""

    def __init__(self, *, live: bool, log=print, stream=None):
        self.live, self.log, self.stream = live, log, stream
        self._board = None

    @classmethod
    def for_console(cls, enabled: bool, log=print, stream=None) -> Progress:
        """Live when `enabled` and the console (`stream`, default stdout) is a terminal; plain otherwise."""
        stream = sys.stdout if stream is None else stream
        isatty = getattr(stream, "isatty", None)
        return cls(live=bool(enabled and isatty and isatty()), log=log, stream=stream)

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None, unit: str = "item") -> Iterator[Stage]:
        stage = Stage(name, total, unit, self.stream if self.live else None)
        try:
            yield stage
        finally:
            stage.close()
        self.log(stage.summary())             # only when the stage ended normally

    @contextlib.contextmanager
    def polled(self, name: str, unit: str) -> Iterator[tuple[Stage, tuple | None]]:
        """A stage whose counts workers post to the board: yields (stage, (board, key) or None in plain mode)."""
        with self.stage(name, None, unit) as stage:
            if not self.live:
                yield stage, None
                return
            board, key, stop = self.board(), name, threading.Event()
            thread = threading.Thread(target=self._poll, args=(board, key, stage, stop), daemon=True)
            thread.start()
            try:
                yield stage, (board, key)
            finally:
                stop.set()
                thread.join(timeout=10)

    @staticmethod
    def _poll(board, key: str, stage: Stage, stop: threading.Event) -> None:
        import ray

        while not stop.wait(POLL_S):
            try:
                posted = ray.get(board.read.remote(key), timeout=5)
            except Exception:          # a slow or restarting cluster: the next poll tries again
                continue
            if posted is not None:
                done, total, extras = posted
                stage.update(done, total, **extras)

    def board(self):
        if self._board is None:
            import ray

            self._board = ray.remote(num_cpus=0)(ProgressBoard).remote()
        return self._board

    def close(self) -> None:
        if self._board is not None:
            import ray

            ray.kill(self._board)
            self._board = None


def ray_loggers() -> list[logging.Logger]:
    """"ray" and every logger below it that keeps its records to itself: Serve, Train and Data install their
    own handlers and stop propagation once imported or first used, so each needs the file handler too."""
    below = sorted(name for name, logger in logging.root.manager.loggerDict.items()
                   if name.startswith("ray.") and isinstance(logger, logging.Logger) and not logger.propagate)
    return [logging.getLogger(name) for name in ("ray", *below)]   # a propagating one reaches "ray"'s handler


@contextlib.contextmanager
def ray_logs_to(path: Path) -> Iterator[None]:
    """Ray's and Serve's log records of this process (INFO and up) also go to `path`; each console handler
    keeps the threshold its logger had, so the console shows what it showed before (warnings only unless
    `--verbose`). Restored on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s -- %(message)s"))
    saved = []
    for logger in ray_loggers():
        level = logger.getEffectiveLevel()
        saved.append((logger, logger.level, [(h, h.level) for h in logger.handlers]))
        for h in logger.handlers:
            h.setLevel(max(h.level, level))
        logger.setLevel(min(level, logging.INFO))
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, level, handlers in reversed(saved):   # a shared handler ends at its first level
            logger.removeHandler(handler)
            logger.setLevel(level)
            for h, h_level in handlers:
                h.setLevel(h_level)
        handler.close()


def quiet_console(verbose: bool) -> None:
    """After connecting (importing ray first would defeat `connect`'s loopback check): unless `verbose`,
    Serve's driver-side INFO lines and the model loaders' progress bars stay off the console (Ray's own
    level is `connect(cfg, verbose=...)`'s `logging_level`)."""
    import os

    import ray.serve  # noqa: F401  (configures the "ray.serve" logger on import; set its level after)

    logging.getLogger("ray.serve").setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        from transformers.utils import logging as hf_logging

        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        hf_logging.disable_progress_bar()
