"""What a person sees while a run runs: plain stage lines when the console is not a terminal, a live line
per stage in a pseudo-terminal, Ray's log records in the run's file instead of on the console; and a real
`tiny` run stopped after round 0 and resumed in a pseudo-terminal, which must also resume exactly.
(`read-ray run` without a terminal, its quiet console and its shutdown without Ray warnings: the resumed
driver's log in test_faults.py.)"""

import logging
import os
import re
import threading

import pytest

from read_ray.runtime.console import Progress, ray_logs_to


class PtyCapture:
    """A pseudo-terminal (`stream` is its terminal side) whose output a thread keeps reading: a full pty
    buffer would block the writer. `text()` closes it and returns everything written."""

    def __init__(self):
        master, slave = os.openpty()
        self.master, self.stream, self.chunks = master, open(slave, "w", buffering=1), []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:             # the terminal side was closed
                return
            if not data:
                return
            self.chunks.append(data)

    def text(self) -> str:
        self.stream.close()
        self.thread.join(timeout=10)
        os.close(self.master)
        return b"".join(self.chunks).decode(errors="replace")


def stage_lines(lines: list[str], index: int) -> dict[str, list[str]]:
    """The summary lines of round `index`'s stages."""
    return {stage: [line for line in lines if line.startswith(f"round {index} {stage}: ")]
            for stage in ("generate", "train", "probe")}


def test_plain_mode_logs_one_line_per_finished_stage():
    lines = []
    progress = Progress.for_console(True, lines.append, stream=open(os.devnull, "w"))   # not a terminal
    assert not progress.live
    with progress.stage("round 3 generate", 4, "prompt") as stage:
        for done in range(1, 5):
            stage.update(done, tokens=10 * done, tokens_per_s=5.0)
    with progress.stage("round 3 train", None, "step") as stage:
        stage.finish(12, 12, loss=2.5)
        stage.update(3, 12, loss=9.0)             # a late poll does not undo the final counts
    with pytest.raises(RuntimeError), progress.stage("round 3 probe", 8, "item"):
        raise RuntimeError("a stage that fails logs no summary")
    assert len(lines) == 2
    assert lines[0].startswith("round 3 generate: 4/4 prompts, 40 tokens, 5.0 tokens/s in ")
    assert lines[1].startswith("round 3 train: 12/12 steps, loss 2.5000 in ")


def test_live_mode_draws_an_updating_line_in_a_terminal():
    pty, lines = PtyCapture(), []
    progress = Progress.for_console(True, lines.append, stream=pty.stream)
    assert progress.live and not Progress.for_console(False, lines.append, stream=pty.stream).live
    with progress.stage("round 0 probe", 6, "item") as stage:
        for done in (3, 6):
            stage.update(done)
    shown = pty.text()
    assert "round 0 probe" in shown and "3/6" in shown and "6/6" in shown and "\r" in shown
    assert lines == [lines[0]] and lines[0].startswith("round 0 probe: 6/6 items in ")


def test_ray_log_records_go_to_the_run_file_not_the_console(tmp_path):
    import ray  # noqa: F401  (sets up the "ray" logger and its console handler)

    logger = logging.getLogger("ray")
    console = next(h for h in logger.handlers if isinstance(h, logging.StreamHandler))
    before = (logger.level, console.level)
    train = logging.getLogger("ray.train")         # as Ray leaves it in the driver after a fit: Ray's console
    train_before = (train.propagate, list(train.handlers))    # handler shared, nothing passed up
    train.propagate = False
    train.addHandler(console)
    logger.setLevel(logging.WARNING)               # what connect(verbose=False) leaves
    try:
        with ray_logs_to(tmp_path / "ray.log"):
            assert console.level == logging.WARNING and logger.level == logging.INFO
            logging.getLogger("ray.serve").info("serve says hello")
            logging.getLogger("ray.train").info("train says hello")
        assert (logger.level, console.level) == (logging.WARNING, before[1])
    finally:
        logger.setLevel(before[0])
        train.propagate, train.handlers[:] = train_before
    text = (tmp_path / "ray.log").read_text()
    assert text.count("serve says hello") == 1 and text.count("train says hello") == 1


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the first test to use a shared run also pays for making it
def test_run_stopped_after_round_0_resumes_exactly_with_each_stage_live_in_a_terminal(tiny_run, tmp_path):
    """The shared run as a run stopped after round 0 (round 1 removed), with the debris of an interrupted
    round 1, resumed with a pseudo-terminal as the console. The run selects, charges and rewards what the
    uninterrupted run does, nothing twice. The console: each stage is one line redrawn in place with its
    counts (prompts and tokens/s, steps and loss from rank 0, probe items), and ends in one summary line
    with the final counts."""
    from read_ray.runtime.controller import run_distillation

    stopped = tiny_run.copy(tmp_path, "live", rounds=1)
    assert stopped.complete_rounds() == [0]
    (stopped.rounds_dir / "round_0001.partial").mkdir()          # debris of an interrupted round
    terminal, lines = PtyCapture(), []
    run = run_distillation(tiny_run.config(tmp_path, "live"), log=lines.append, console=terminal.stream)
    shown = terminal.text()

    assert run.complete_rounds() == [0, 1] and not (run.rounds_dir / "round_0001.partial").exists()
    records, reference = run.records(), tiny_run.run.records()
    for key in ("allocation", "generation_tokens", "training_tokens", "ledger", "reward"):
        assert [r[key] for r in records] == [r[key] for r in reference], key
    assert (run.root / "ledger.jsonl").read_text() == (tiny_run.run.root / "ledger.jsonl").read_text()

    record = records[1]
    assert "\r" in shown
    assert re.search(r"round 1 generate: .*\| *\d+/\d+ .*tokens/s", shown), shown[-3000:]
    assert re.search(r"round 1 train: .*\| *\d+/\d+ .*loss \d", shown), shown[-3000:]
    assert re.search(r"round 1 probe: .*\| *\d+/\d+ ", shown), shown[-3000:]
    stages = stage_lines(lines, 1)
    assert all(len(found) == 1 for found in stages.values()), lines
    prompts = len((run.round_dir(1) / "batch.jsonl").read_text().splitlines())
    assert stages["generate"][0].startswith(f"round 1 generate: {prompts}/{prompts} prompts, ")
    assert re.match(rf"round 1 train: (\d+)/\1 steps, loss {record['train_loss']:.4f} in ", stages["train"][0])
    items = tiny_run.cfg.probes.items_per_capability * len(tiny_run.cfg.capabilities.names)
    assert stages["probe"][0].startswith(f"round 1 probe: {items}/{items} items in ")
    assert "Serve" in (run.root / "ray.log").read_text()          # Ray's records went to the run directory
