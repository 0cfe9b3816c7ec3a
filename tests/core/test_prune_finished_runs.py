"""benchmarks/prune_finished_runs.sh on a compare folder laid out as `read-ray compare` writes it: the heavy
folders of finished runs go, an unfinished run stays whole (it must still resume), light files stay."""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "prune_finished_runs.sh"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    return path


def test_prune_deletes_only_finished_runs_heavy_folders(tmp_path):
    out = tmp_path / "cmp"
    _touch(out / "arms" / "read_seed1.json")
    _touch(out / "arms" / "grid_seed1.pilots.json")             # the grid's pilots are done, its final run is not
    heavy = ["rounds/round_0000/student/model.safetensors", "rounds/round_0001/student/model.safetensors",
             "train/ckpt/model.safetensors", "student_init/model.safetensors"]
    light = ["rounds/round_0000/record.json", "rounds/round_0000/batch.jsonl", "normaliser.json"]
    for run in ("read_seed1", "grid_seed1_pilot0", "grid_seed1", "uniform_seed1"):
        for f in heavy + light:
            _touch(out / "runs" / run / f)

    subprocess.run(["bash", str(SCRIPT), str(out)], check=True)

    for run in ("read_seed1", "grid_seed1_pilot0"):           # finished: heavy folders gone, light files kept
        assert not any((out / "runs" / run / f).exists() for f in heavy), run
        assert all((out / "runs" / run / f).is_file() for f in light), run
    for run in ("grid_seed1", "uniform_seed1"):               # unfinished: untouched
        assert all((out / "runs" / run / f).is_file() for f in heavy + light), run


def test_prune_refuses_a_folder_that_is_not_a_compare_output(tmp_path):
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "no arms/ folder" in done.stderr
