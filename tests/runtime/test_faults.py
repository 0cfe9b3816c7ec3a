"""Faults injected for real into a `tiny` run (2 rounds) on local Ray, each process killed by its PID.

Each faulted run is a copy of a shared uninterrupted run (conftest.py: `tiny_run`, or `piped_run` with
run.pipeline) cut back to round 0, as a run stopped after round 0 leaves it, so it pays for round 1 only,
where the fault lands. A watcher thread waits until the process to kill is doing its part of round 1 and
SIGKILLs it; PIDs come from the GCS actor table (`ray._private.state.actors`, which needs no dashboard:
the test cluster runs without one). Every faulted run is compared with the shared run it was copied from
(same config and seed): what the run charges and records must not change. The driver is killed in a
subprocess with its own local Ray (own RAY_TMPDIR) and resumed by `read-ray run` on the same run
directory. One test faults a 2-worker fit outside a run (the shared runs train on one worker), against an
uninterrupted fit of the same samples. docs/RELIABILITY.md lists these tests as its fault rows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch

from read_ray.config import replace, to_yaml
from read_ray.runtime.controller import run_distillation

REPO_ROOT = Path(__file__).resolve().parents[2]


def actor_table() -> list[dict]:
    import ray._private.state

    return list(ray._private.state.actors().values())


def alive(class_prefix: str) -> list[dict]:
    return [a for a in actor_table() if a["ActorClassName"].startswith(class_prefix) and a["State"] == "ALIVE"]


def actor_ids(class_prefix: str) -> set[str]:
    return {a["ActorID"] for a in actor_table() if a["ActorClassName"].startswith(class_prefix)}


class Killer(threading.Thread):
    """Once `armed()` holds, polls `find_target()` until it names a process (pid, description), and SIGKILLs
    that PID; `killed` is what it killed, `error` what the watcher raised (the test reports both)."""

    def __init__(self, find_target, armed=lambda: True, timeout_s: float = 800):
        super().__init__(daemon=True)
        self.find_target, self.armed, self.timeout_s = find_target, armed, timeout_s
        self.killed: tuple[int, str] | None = None
        self.error: BaseException | None = None

    def run(self):
        deadline = time.monotonic() + self.timeout_s
        try:
            while time.monotonic() < deadline and self.killed is None:
                if self.armed():
                    target = self.find_target()
                    if target:
                        os.kill(target[0], signal.SIGKILL)
                        self.killed = target
                time.sleep(0.02)
        except BaseException as exc:   # reported by the test
            self.error = exc


def run_with_kills(shared, runs_dir: Path, name: str, *find_targets, **sections):
    """Round 1 of a copy of `shared` cut back to round 0 (with `sections` replaced), with one process killed
    per watcher (`find_targets`, each watched by its own thread); returns the run and what each killed."""
    shared.copy(runs_dir, name, rounds=1)
    round_0_committed = (runs_dir / name / "rounds" / "round_0000").is_dir   # the fault lands in round 1
    killers = [Killer(find, armed=round_0_committed) for find in find_targets]
    for killer in killers:
        killer.start()
    run = run_distillation(shared.config(runs_dir, name, **sections), force=bool(sections))
    for killer in killers:
        killer.join(timeout=5)
        assert killer.error is None, killer.error
        assert killer.killed, f"the watcher {killer.find_target.__name__} found nothing to kill during round 1"
    return run, [killer.killed for killer in killers]


def rows(run, index: int) -> list[dict]:
    return [json.loads(line) for line in (run.round_dir(index) / "batch.jsonl").read_text().splitlines()]


def ledger_lines(run) -> list[dict]:
    return [json.loads(line) for line in (run.root / "ledger.jsonl").read_text().splitlines()]


def same_state(a, b) -> bool:
    """Equal nested containers of tensors and plain values (a bandit state_dict)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(map(same_state, a, b))
    return a == b


def assert_same_run(run, reference, *, outcomes: bool = True) -> None:
    """Same rounds, allocations, token charges and ledger as the reference; with `outcomes` also the same
    losses, probe profiles, rewards and bandit state."""
    got, want = run.records(), reference.records()
    assert len(got) == len(want) == 2
    keys = ("allocation", "generation_tokens", "training_tokens", "probe_tokens", "ledger")
    if outcomes:
        keys += ("train_loss", "profile_after", "reward")
    for g, w in zip(got, want, strict=True):
        for key in keys:
            assert g[key] == w[key], (g["round_index"], key)
    assert ledger_lines(run) == ledger_lines(reference)
    for index in (0, 1) if outcomes else ():
        load = [torch.load(r.round_dir(index) / "bandit.pt", weights_only=True) for r in (run, reference)]
        assert same_state(*load), f"bandit state after round {index} differs"


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the first test to use a shared run also pays for making it
def test_teacher_replica_killed_mid_generation(tiny_run, tmp_path):
    """The replica dies with round 1's requests in it: Serve starts a new replica, the lost requests are
    re-sent with their seeds, and each kept completion is counted once. (Batches of up to 8 wait 0.5 s to
    fill, so the round's requests sit in the replica long enough to be killed there.)"""
    import ray

    prefix = "ServeReplica:read_ray_teacher"
    before = actor_ids(prefix)

    def busy_replica():
        for actor in alive(prefix):
            replica = ray.get_actor(actor["Name"], namespace="serve")
            if ray.get(replica.get_num_ongoing_requests.remote(), timeout=30) >= 2:   # generate requests
                return actor["Pid"], actor["ActorID"]
        return None

    run, [(pid, actor_id)] = run_with_kills(tiny_run, tmp_path, "teacher_killed", busy_replica,
                                            teacher={"batch_wait_timeout_s": 0.5, "max_batch_size": 8})
    assert {a["ActorID"]: a for a in actor_table()}[actor_id]["State"] == "DEAD"
    assert len(actor_ids(prefix) - before) >= 2, "Serve did not start a replacement replica"

    reference = tiny_run.run
    batch, want = rows(run, 1), rows(reference, 1)
    assert [r["prompt"] for r in batch] == [r["prompt"] for r in want]     # each kept prompt exactly once
    record = run.records()[1]
    for cap, tokens in record["generation_tokens"].items():
        assert tokens == sum(r["prompt_tokens"] + r["completion_tokens"] for r in batch if r["capability"] == cap)
    assert max(r["attempts"] for r in batch) == 2, "no completion was re-sent, or one more than once"
    assert_same_run(run, reference, outcomes=False)


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the first test to use a shared run also pays for making it
def test_train_worker_and_probe_actor_killed_in_one_round(tiny_run, tmp_path):
    """Round 1 loses its Train worker during the fit and then a probe actor while it scores the new student.
    Train: Ray Train (FailureConfig(max_failures=train.max_failures)) starts a new worker group that trains
    from the round's start checkpoint; only the attempt that finishes reports tokens, so the round charges
    exactly what an uninterrupted fit does. Probes: Ray restarts the actor (max_restarts) and re-runs its
    scoring task (max_task_retries); the report covers every capability with the reference's scores."""
    workers = tiny_run.cfg.resources.train_workers
    before = actor_ids("RayTrainWorker")
    first_seen: dict[str, float] = {}

    def running_train_worker():
        alive_workers = alive("RayTrainWorker")
        for w in alive_workers:
            first_seen.setdefault(w["ActorID"], time.monotonic())
        ready = [w for w in alive_workers if time.monotonic() - first_seen[w["ActorID"]] > 1.0]
        return (ready[0]["Pid"], ready[0]["ActorID"]) if len(alive_workers) == workers and ready else None

    def scoring_probe_actor():
        for actor in alive("ProbeEvaluator"):
            try:     # Ray titles a worker process after the task it runs: "ray::ProbeEvaluator.score"
                title = " ".join(psutil.Process(actor["Pid"]).cmdline())
            except psutil.Error:
                continue
            if title.startswith("ray::ProbeEvaluator.score"):
                return actor["Pid"], actor["ActorID"]
        return None

    run, [_, (_, probe_id)] = run_with_kills(tiny_run, tmp_path, "train_and_probe_killed",
                                             running_train_worker, scoring_probe_actor)
    started = actor_ids("RayTrainWorker") - before
    assert len(started) == 2 * workers, f"expected round 1's fit + 1 restarted group of {workers}, saw {len(started)}"
    assert {a["ActorID"]: a for a in actor_table()}[probe_id]["NumRestarts"] >= 1
    report = json.loads((run.round_dir(1) / "report.json").read_text())
    assert report == json.loads((tiny_run.run.round_dir(1) / "report.json").read_text())
    assert_same_run(run, tiny_run.run)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_train_worker_killed_while_its_peer_lives_on(ray_cluster, tiny_dir, tmp_path):
    """A 2-worker fit (gloo, ZeRO-1) loses one worker mid-loop while the other is inside its collectives:
    Ray Train ends the whole group and starts a new one from the same start checkpoint, and the fit returns
    what an uninterrupted fit of the same samples and seed returns (tokens, steps, loss, weights)."""
    import ray

    from read_ray.config import ResourcesConfig, TrainConfig
    from read_ray.model.loading import load_causal_lm, load_tokenizer
    from read_ray.model.training import make_sample
    from read_ray.runtime.console import ProgressBoard
    from read_ray.runtime.student import fit_student

    tok = load_tokenizer(tiny_dir)
    samples = [make_sample(tok, f"What is {i} + {i + 1}?", f"{2 * i + 1}", ("math", "code")[i % 2])
               for i in range(160)]
    train = TrainConfig(micro_batch_size=1, grad_accum_steps=2, lr=1e-3, max_failures=1)
    resources = ResourcesConfig(train_workers=2, train_cpus_per_worker=0.5)
    cap = sum(s.num_tokens for s in samples)

    def fit(name: str, progress=None):
        return fit_student(samples, init_dir=tiny_dir, training_cap_tokens=cap, train=train, resources=resources,
                           storage_dir=str(tmp_path / "train"), name=name, seed=3, progress=progress)

    reference = fit("reference")
    board = ray.remote(num_cpus=0)(ProgressBoard).remote()
    before = actor_ids("RayTrainWorker")

    def worker_mid_loop():
        posted = ray.get(board.read.remote("fit"))
        group = [w for w in alive("RayTrainWorker") if w["ActorID"] not in before]
        if posted and posted[0] < posted[1] and len(group) == 2:   # rank 0 is in the loop, not done
            victim = max(group, key=lambda w: w["Pid"])
            return victim["Pid"], victim["ActorID"]
        return None

    killer = Killer(worker_mid_loop, timeout_s=300)
    killer.start()
    faulted = fit("faulted", progress=(board, "fit"))
    killer.join(timeout=5)
    assert killer.error is None, killer.error
    assert killer.killed, "the fit finished before a worker could be killed mid-loop"
    assert {a["ActorID"]: a for a in actor_table()}[killer.killed[1]]["State"] == "DEAD"
    started = actor_ids("RayTrainWorker") - before
    assert len(started) == 4, f"expected the faulted fit's group of 2 and 1 restarted group of 2, saw {len(started)}"
    assert faulted.tokens_by_capability == reference.tokens_by_capability
    assert faulted.steps == reference.steps and faulted.loss == reference.loss
    want, got = load_causal_lm(reference.checkpoint_dir), load_causal_lm(faulted.checkpoint_dir)
    assert all(torch.equal(p, q) for p, q in zip(want.parameters(), got.parameters(), strict=True)), \
        "the restarted group's student differs from the uninterrupted fit's"


def read_ray_run(config: Path, runs_dir: Path, name: str, ray_tmp: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_TMPDIR": ray_tmp,
                                                                          "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "read_ray.cli", "run", "--config", str(config), f"run.runs_dir={runs_dir}",
            f"run.name={name}"]
    return subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def kill_driver_in_round1(proc: subprocess.Popen, run_root: Path, ray_tmp: str) -> int:
    """SIGKILL the driver once round 1's fit has started, then end every process of its Ray (by PID);
    returns how many were still running after 30 s and had to be killed."""
    trigger = run_root / "train" / "round_0001.samples.jsonl"
    deadline = time.monotonic() + 800
    while not trigger.exists():
        assert proc.poll() is None, f"the driver exited with {proc.returncode} before round 1 trained"
        assert time.monotonic() < deadline, "round 1 never started"
        time.sleep(0.05)
    driver = psutil.Process(proc.pid)
    ray_processes = driver.children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (run_root / "rounds" / "round_0001").exists()
    # Ray fate-shares its head processes with the driver; anything left (e.g. an agent re-parented when
    # the raylet died first) is ours: a child of the driver, or a process naming this Ray's temp dir
    _, left = psutil.wait_procs(ray_processes, timeout=30)
    for p in psutil.process_iter(["pid", "cmdline"]):
        if ray_tmp in " ".join(p.info["cmdline"] or ()) and p not in left:
            left.append(p)
    for p in left:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, still = psutil.wait_procs(left, timeout=30)
    assert not still, f"could not end {still}"
    return len(left)


def assert_plain_quiet_console(text: str) -> None:
    """What `read-ray run` printed without a terminal after "resuming after round 1": one line per stage
    end of round 1 (no live bars), and none of Ray's INFO lines or shutdown warnings (they go to the
    run's ray.log and Ray's session logs)."""
    resumed = text.split("resuming after round 1", 1)[1]
    for stage in ("generate", "train", "probe"):
        assert len(re.findall(rf"^round 1 {stage}: \d+/\d+ ", resumed, re.MULTILINE)) == 1, resumed[-3000:]
    assert "\r" not in resumed and "%|" not in resumed
    assert not re.search(r"\(raylet\)|graceful_shutdown|listen_for_change| INFO ", resumed), resumed[-3000:]


def driver_kill_and_resume(shared, tmp_path, name: str, **run):
    """`read-ray run` (the shared run's config, its `run` section updated with `run`) on a copy of `shared` cut
    back to round 0, SIGKILLed while round 1 trains, then `read-ray run` again on the same directory."""
    from read_ray.runtime.rundir import RunDirectory

    shared.copy(tmp_path, name, rounds=1)
    config = tmp_path / f"{name}.yaml"
    config.write_text(to_yaml(replace(shared.cfg, run=run)))
    ray_tmp = tempfile.mkdtemp(prefix="rr")        # short: Ray's socket paths must fit in 107 bytes
    killed_log, resumed_log = tmp_path / f"{name}.killed.log", tmp_path / f"{name}.resumed.log"
    try:
        proc = read_ray_run(config, tmp_path, name, ray_tmp, killed_log)
        try:
            kill_driver_in_round1(proc, tmp_path / name, ray_tmp)
        finally:
            if proc.poll() is None:
                proc.kill()
        resumed = read_ray_run(config, tmp_path, name, ray_tmp, resumed_log)
        assert resumed.wait(timeout=800) == 0, resumed_log.read_text()[-4000:]
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert "resuming after round 1" in resumed_log.read_text()
    assert_plain_quiet_console(resumed_log.read_text())
    return RunDirectory((tmp_path / name).resolve())


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the first test to use a shared run also pays for making it
def test_driver_sigkilled_mid_round_resumes_exactly(tiny_run, tmp_path):
    """`read-ray run` killed with SIGKILL while round 1 trains; `read-ray run` again on the same
    directory redoes round 1 from round 0's state: same ledger, round records and bandit state."""
    run = driver_kill_and_resume(tiny_run, tmp_path, "driver_killed")
    assert_same_run(run, tiny_run.run)


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the first test to use a shared run also pays for making it
def test_pipelined_driver_sigkilled_mid_round_resumes_exactly(piped_run, tmp_path):
    """The same with run.pipeline: round 1 was picked and saved with round 0 (next_choice.json, made by
    the shared pipelined run), and the run killed in round 1 and resumed uses that pick: round 1's
    allocation, charges and outcomes are the uninterrupted run's. Both invocations keep only the last
    round's student (run.keep_round_students=1, a key a resumed run may change): round 0's survives the kill
    (round 1 redoes its fit from it) and goes once round 1 commits; round 0 keeps every other file."""
    run = driver_kill_and_resume(piped_run, tmp_path, "piped", keep_round_students=1)
    assert (run.round_dir(0) / "next_choice.json").read_text() == \
        (piped_run.run.round_dir(0) / "next_choice.json").read_text()
    assert_same_run(run, piped_run.run)
    assert not (run.round_dir(0) / "student").exists() and (run.round_dir(1) / "student" / "config.json").is_file()
    run.verify_round(0)
    assert run.latest_state().checkpoint == str(run.round_dir(1) / "student")
