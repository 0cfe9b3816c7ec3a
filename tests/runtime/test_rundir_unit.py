"""The run directory without Ray (fast): a run moves as a folder, a run without its config is refused, corrupt
files are named. Rounds are committed with `RunDirectory.commit_round` (what the controller calls) holding a
real core round record and a stand-in student folder (latest_state only needs its config.json).
"""

import json
import os
import shutil

import pytest

from read_ray.config import load_config, replace
from read_ray.core.budget import Ledger
from read_ray.core.rounds import (
    RoundState,
)
from read_ray.runtime.rundir import RunDirectory, check_report_dir
from tests.records import round_record


def _cfg(runs_dir, name="r", keep_round_students=0, **sections):
    return replace(load_config("tiny"), run={"name": name, "runs_dir": str(runs_dir),
                                             "keep_round_students": keep_round_students}, **sections)


def commit_rounds(run: RunDirectory, cfg, count: int, *, absolute_state: bool = False) -> None:
    """Commit `count` rounds as the controller does: student/ folder, state.json naming it, record.json."""
    caps = cfg.capabilities.names
    for index in range(count):
        partial = run.begin_round(index)
        (partial / "student").mkdir()
        (partial / "student" / "config.json").write_text(json.dumps({"round": index}))
        state = RoundState(rounds_done=index + 1, ledger=Ledger(cfg.budget.total_tokens), profile=(0.0,) * len(caps),
                           checkpoint=str(run.round_dir(index) / "student"))
        files = {"state.json": state.to_dict(), "record.json": round_record(index, caps)}
        run.commit_round(index, partial, files, files["record.json"])
        if absolute_state:      # a run written before paths were relative: rewrite state.json and its manifest
            _rewrite(run.round_dir(index), "state.json", json.dumps(state.to_dict(), indent=1))


def _rewrite(folder, name: str, text: str) -> None:
    import hashlib

    (folder / name).write_text(text)
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    manifest["files"][name] = hashlib.sha256(text.encode()).hexdigest()
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))


def test_state_stores_the_checkpoint_relative_to_the_run(tmp_path):
    cfg = _cfg(tmp_path)
    run = RunDirectory.open(cfg)
    commit_rounds(run, cfg, 2)
    stored = json.loads((run.round_dir(1) / "state.json").read_text())["checkpoint"]
    assert stored == "rounds/round_0001/student"
    state = run.latest_state()
    assert state.rounds_done == 2 and state.checkpoint == str(run.root / "rounds" / "round_0001" / "student")


def test_a_copied_run_loads_its_latest_state_in_the_new_place(tmp_path):
    cfg = _cfg(tmp_path / "here")
    run = RunDirectory.open(cfg)
    commit_rounds(run, cfg, 2)
    shutil.copytree(run.root, tmp_path / "elsewhere" / "moved")
    shutil.rmtree(tmp_path / "here")                     # nothing of the old place is left to lean on

    moved = RunDirectory.open(_cfg(tmp_path / "elsewhere", name="moved"))    # another runs_dir and name: allowed
    state = moved.latest_state()
    assert state.rounds_done == 2
    assert state.checkpoint == str((tmp_path / "elsewhere" / "moved" / "rounds" / "round_0001" / "student").resolve())
    assert "elsewhere" in (moved.root / "config.yaml").read_text()        # the config now says where it lives
    assert [r["round_index"] for r in moved.records()] == [0, 1]
    assert len((moved.root / "ledger.jsonl").read_text().splitlines()) == 2


def test_an_old_run_with_absolute_paths_loads_after_a_move(tmp_path):
    cfg = _cfg(tmp_path / "old")
    run = RunDirectory.open(cfg)
    commit_rounds(run, cfg, 1, absolute_state=True)
    assert json.loads((run.round_dir(0) / "state.json").read_text())["checkpoint"].startswith(str(tmp_path))
    shutil.move(str(run.root), str(tmp_path / "new_r"))

    moved = RunDirectory.open(_cfg(tmp_path, name="new_r"))
    assert moved.latest_state().checkpoint == str(moved.root / "rounds" / "round_0000" / "student")


def test_a_run_whose_checkpoint_is_really_gone_says_so(tmp_path):
    cfg = _cfg(tmp_path)
    run = RunDirectory.open(cfg)
    commit_rounds(run, cfg, 1, absolute_state=True)
    shutil.rmtree(run.round_dir(0) / "student")
    manifest = json.loads((run.round_dir(0) / "MANIFEST.json").read_text())
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith("student")}
    (run.round_dir(0) / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"the student checkpoint .*round_0000/student is missing; delete"):
        run.latest_state()


def test_old_round_students_are_removed_and_every_round_still_verifies(tmp_path):
    """run.keep_round_students=2: after each commit only the last two rounds keep student/; the others keep
    every other file and a manifest that lists only what is there, so they still verify."""
    cfg = _cfg(tmp_path, keep_round_students=2)
    run = RunDirectory.open(cfg)
    commit_rounds(run, cfg, 4)
    assert [(run.round_dir(i) / "student").exists() for i in range(4)] == [False, False, True, True]
    for index in range(4):
        run.verify_round(index)
        assert (run.round_dir(index) / "state.json").is_file() and (run.round_dir(index) / "record.json").is_file()
    manifests = [json.loads((run.round_dir(i) / "MANIFEST.json").read_text()) for i in range(4)]
    assert [m.get("student_removed", False) for m in manifests] == [True, True, False, False]
    assert not any(name.startswith("student/") for name in manifests[0]["files"])
    assert "student/config.json" in manifests[3]["files"]
    assert run.latest_state().checkpoint == str(run.round_dir(3) / "student")

    shutil.rmtree(run.round_dir(3))              # the last round deleted to redo it: round 2's student is there
    assert run.latest_state().rounds_done == 3
    shutil.rmtree(run.round_dir(2))              # one more: round 1's student was removed, and the error says so
    with pytest.raises(ValueError, match=r"round_0001: run.keep_round_students removed this round's student "
                                         r"checkpoint .*removed the student of round_0000, round_0001, so delete "
                                         r"round_0000, round_0001 \(in .*rounds\) to redo them"):
        run.latest_state()


def test_a_student_removal_cut_short_is_finished_and_never_loaded(tmp_path):
    """Killed after round 0's manifest was rewritten but before its student/ was gone: the flag in the manifest
    counts, so the leftover folder is not loaded even when round 0 is the last round again, and the next call
    deletes it whatever run.keep_round_students is then."""
    cfg = _cfg(tmp_path, keep_round_students=1)
    run = RunDirectory.open(cfg)
    commit_rounds(run, cfg, 1)
    keep = shutil.copytree(run.round_dir(0) / "student", tmp_path / "kept")
    partial = run.begin_round(1)                                      # round 1 commits: round 0's student goes
    (partial / "student").mkdir()
    (partial / "student" / "config.json").write_text("{}")
    state = RoundState(rounds_done=2, ledger=Ledger(cfg.budget.total_tokens),
                       profile=(0.0,) * len(cfg.capabilities.names),
                       checkpoint=str(run.round_dir(1) / "student"))
    record = round_record(1, cfg.capabilities.names)
    run.commit_round(1, partial, {"state.json": state.to_dict(), "record.json": record}, record)
    shutil.copytree(keep, run.round_dir(0) / "student")              # as if the removal had stopped half-way
    shutil.rmtree(run.round_dir(1))                                   # and then round 1 was deleted to redo it
    with pytest.raises(ValueError, match=r"run.keep_round_students removed this round's student checkpoint"):
        run.latest_state()
    assert RunDirectory.open(_cfg(tmp_path)).remove_old_students() == []     # reopened with 0: open finished it
    assert not (run.round_dir(0) / "student").exists()


def test_a_corrupt_last_round_names_the_rounds_that_lost_their_student(tmp_path):
    """keep_round_students=1: the last round cannot be redone from the round before it (its student is gone),
    so a corrupt last round's message names the rounds to delete."""
    cfg = _cfg(tmp_path, keep_round_students=1)
    run = RunDirectory.open(cfg)
    commit_rounds(run, cfg, 3)
    (run.round_dir(2) / "state.json").write_text("{}")
    with pytest.raises(ValueError, match=r"state.json does not match its MANIFEST.json checksum \(corrupt\); "
                                         r"run.keep_round_students removed the student of round_0000, round_0001, "
                                         r"so delete round_0000, round_0001, round_0002"):
        run.latest_state()


def test_every_round_keeps_its_student_by_default_and_a_reopen_with_the_key_removes_them(tmp_path):
    cfg = _cfg(tmp_path)
    run = RunDirectory.open(cfg)
    commit_rounds(run, cfg, 3)
    assert all((run.round_dir(i) / "student").is_dir() for i in range(3))
    # a finished run given the key (no --force: it changes nothing the run computes) keeps only the last one
    reopened = RunDirectory.open(_cfg(tmp_path, keep_round_students=1))
    assert [(reopened.round_dir(i) / "student").exists() for i in range(3)] == [False, False, True]
    assert reopened.latest_state().rounds_done == 3


def test_a_run_with_rounds_but_no_config_is_refused(tmp_path):
    cfg = _cfg(tmp_path)
    run = RunDirectory.open(cfg)
    commit_rounds(run, cfg, 1)
    (run.root / "config.yaml").unlink()
    other = _cfg(tmp_path, bandit={"policy": "uniform"})
    with pytest.raises(ValueError) as info:
        RunDirectory.open(other)
    message = str(info.value)
    assert "has rounds (round_0000) but no config.yaml" in message
    assert "restore its config.yaml" in message and "--force" in message and "another run.name" in message
    assert not (run.root / "config.yaml").exists()                # nothing was written
    assert RunDirectory.open(other, force=True).latest_state().rounds_done == 1       # explicit: continues


def test_another_config_is_refused_but_a_new_location_is_not(tmp_path):
    cfg = _cfg(tmp_path)
    RunDirectory.open(cfg)
    with pytest.raises(ValueError, match=r"made with a different config:\n  - bandit.policy: 'read' -> 'uniform'"):
        RunDirectory.open(_cfg(tmp_path, bandit={"policy": "uniform"}))
    shutil.move(str(tmp_path / "r"), str(tmp_path / "s"))
    RunDirectory.open(_cfg(tmp_path, name="s"))


def test_corrupt_record_names_the_file(tmp_path):
    cfg = _cfg(tmp_path)
    run = RunDirectory.open(cfg)
    commit_rounds(run, cfg, 2)
    (run.round_dir(0) / "record.json").write_text("{\"round_index\": 0, ")
    with pytest.raises(ValueError, match=r"round_0000/record.json is missing or not valid JSON \(.*\); restore it"):
        run.records()
    with pytest.raises(ValueError, match=r"round_0000/record.json is missing or not valid JSON"):
        RunDirectory.open(cfg)
    with pytest.raises(ValueError, match=r"round_0000/record.json is missing or not valid JSON"):
        check_report_dir(run.root)


def test_corrupt_normaliser_names_the_file(tmp_path):
    cfg = _cfg(tmp_path)
    run = RunDirectory.open(cfg)
    (run.root / "normaliser.json").write_bytes(b"\xff\xfe garbage")
    with pytest.raises(ValueError, match=r"normaliser.json is missing or not valid JSON .*delete it to probe"):
        RunDirectory.open(cfg)


def test_run_location_that_is_a_file(tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(ValueError, match=r"run.runs_dir: .*runs is a file, not a folder; give a folder you can write"):
        RunDirectory.open(_cfg(tmp_path / "runs"))
    with pytest.raises(ValueError, match=r"run.runs_dir: .*runs is a file, so .*deeper cannot be created"):
        RunDirectory.open(_cfg(tmp_path / "runs" / "deeper"))
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "r").write_text("a file where the run directory goes")
    with pytest.raises(ValueError, match=r"run directory .*ok/r is a file, not a folder; move it away"):
        RunDirectory.open(_cfg(tmp_path / "ok"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_runs_dir(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(ValueError, match=r"run.runs_dir: cannot create .*locked/r: .*locked is not writable"):
            RunDirectory.open(_cfg(locked))
    finally:
        locked.chmod(0o755)


def test_report_dir_checks(tmp_path):
    with pytest.raises(ValueError, match=r"nope does not exist; give the folder `read-ray run` wrote"):
        check_report_dir(tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ValueError, match=r"f.txt is a file, not a run directory"):
        check_report_dir(tmp_path / "f.txt")
    with pytest.raises(ValueError, match=r"is not a run directory \(no config.yaml in it\)"):
        check_report_dir(tmp_path)
    cfg = _cfg(tmp_path)
    run = RunDirectory.open(cfg)
    (run.root / "config.yaml").write_text("budget:\n  total_tokens: 5\nbudget:\n  num_rounds: 2\n")
    with pytest.raises(ValueError, match=r"config.yaml is not a valid read_ray config .*key 'budget' appears twice"):
        check_report_dir(run.root)
