"""Offline bundle for `benchmarks/gpu_check.sh` on a bare GPU node (PLATFORM.md, "A bare GPU node with no
network"): Python 3.12 with CUDA torch and transformers, but no Ray, no DeepSpeed and no package index.

    python benchmarks/gpu_bundle.py build [--out build/gpu_bundle] [--python-version 3.12]
        on a machine WITH a package index (any OS/Python that has pip, torch and git): writes
        OUT/read_ray_gpu_bundle/ and OUT/read_ray_gpu_bundle.tar.gz (< 60 MB), prints a JSON summary;
    python benchmarks/gpu_bundle.py teacher CONFIG_DIR OUT_DIR
        on the GPU node (gpu_check.sh calls it): a randomly initialised model of the bundled teacher's
        architecture, with its real tokenizer, saved where `from_pretrained` loads it.

What `build` puts in the bundle:
- wheels/: cp312 manylinux wheels, `--no-deps`, one pinned spec per line of WHEELS (versions as in the
  environment running `build`, so the bundle matches what CI tests), Ray 2.60.0 stripped (no ray/jars,
  ray/rllib, ray/llm or dashboard client build; ELF symbol tables stripped; RECORD rewritten), DeepSpeed
  built as a py3-none-any wheel with DS_BUILD_OPS=0 (ops JIT at run time), and read_ray's own wheel;
- project/: the repository's tracked files (tests, benchmarks, configs), without the committed run folders;
- teacher_config/: the bundled teacher's config and tokenizer (the 98 MB GGUF does not fit; random weights
  of the same shape exercise every code path that does not depend on the teacher's answers).
Ray runs in minimal mode there (no dashboard agent packages: PLATFORM.md, "all or none").
What the node must already have: torch, transformers (+ huggingface-hub, tokenizers, safetensors),
accelerate, numpy, pyarrow, pandas, grpcio, protobuf, aiohttp, requests, pyyaml, jinja2 and the like;
`gpu_check.sh` installs with `--no-index --no-deps` into a `--system-site-packages` venv, then fails on
the first import that is missing, naming it.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAY_VERSION = "2.60.0"
DEEPSPEED_VERSION = "0.19.8"
# (distribution, fixed version or None = the version installed where `build` runs)
WHEELS: list[tuple[str, str | None]] = [
    ("ray", RAY_VERSION),
    # ray core
    ("click", None), ("jsonschema", None), ("jsonschema-specifications", None), ("referencing", None),
    ("rpds-py", None), ("attrs", None), ("msgpack", None),
    # ray serve (PLATFORM.md: grpcio-reflection newer than 1.62.3 refuses an older grpcio/protobuf)
    ("fastapi", None), ("annotated-doc", None), ("opentelemetry-api", None), ("starlette", None), ("uvicorn", None), ("h11", None), ("anyio", None), ("watchfiles", None),
    ("pydantic", None), ("pydantic-core", None), ("annotated-types", None), ("typing-inspection", None),
    ("mmh3", None), ("prometheus-client", None), ("grpcio-reflection", "1.62.3"),
    ("googleapis-common-protos", "1.69.2"),
    # ray train / tune (and datasets): pandas without its tests, stripped like Ray
    ("tensorboardX", None), ("pandas", None), ("python-dateutil", None), ("six", None), ("tzdata", None),
    # deepspeed's dependencies (deepspeed itself is built below)
    ("hjson", None), ("ninja", None), ("py-cpuinfo", None), ("einops", None), ("psutil", None),
    # read_ray
    ("datasets", None), ("dill", None), ("multiprocess", None), ("xxhash", None), ("gguf", None),
    # the test tier
    ("pytest", None), ("pytest-timeout", None), ("pluggy", None), ("iniconfig", None), ("pygments", None),
]
# dropped from wheels (then ELF-stripped, RECORD rewritten): Ray's Java, RLlib, Ray LLM and the dashboard's
# web client build; pandas' own test suite
DROP = {"ray": ("ray/jars/", "ray/rllib/", "ray/llm/", "ray/dashboard/client/build/"),
        "pandas": ("pandas/tests/",)}
# committed run folders and figures the node does not need
PROJECT_DROP = ("benchmarks/compare_default", ".ci/")
TEACHER_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "chat_template.jinja")
LIMIT_BYTES = 60 * 10**6


def run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kw)


def pinned(name: str, version: str | None) -> str:
    if version is None:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return name
    return f"{name}=={version}"


def download(specs: list[str], dest: Path, python_version: str) -> None:
    """Binary cp3XX manylinux wheels (or pure-Python ones), without their dependencies."""
    platforms = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", python_version, "--implementation", "cp", "-d", str(dest)]
    for p in platforms:
        cmd += ["--platform", p]
    run(cmd + specs)


def _record_line(arcname: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [arcname, f"sha256={digest}", str(len(data))]


def _is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def strip_wheel(wheel: Path, drop: tuple[str, ...]) -> dict:
    """Rewrite a wheel in place without the files under `drop` and with ELF symbol tables stripped
    (`strip --strip-unneeded`: the dynamic symbols that loading needs stay); RECORD rewritten."""
    before = wheel.stat().st_size
    dropped = stripped = 0
    out = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout, \
            tempfile.TemporaryDirectory() as tmp:
        record_name = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
        rows = []
        for info in zin.infolist():
            name = info.filename
            if name == record_name or name.endswith("/"):
                continue
            if name.startswith(drop):
                dropped += 1
                continue
            data = zin.read(info)
            if _is_elf(data):
                path = Path(tmp) / "elf"
                path.write_bytes(data)
                if subprocess.run(["strip", "--strip-unneeded", str(path)], capture_output=True).returncode == 0:
                    data = path.read_bytes()
                    stripped += 1
            zi = zipfile.ZipInfo(name, date_time=info.date_time)
            zi.external_attr = info.external_attr           # keep the executable bit of gcs_server, raylet
            zi.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(zi, data)
            rows.append(_record_line(name, data))
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerows(rows + [[record_name, "", ""]])
        zout.writestr(record_name, buf.getvalue())
    out.replace(wheel)
    return {"before_bytes": before, "after_bytes": wheel.stat().st_size, "files_dropped": dropped,
            "elf_stripped": stripped}


def build_deepspeed(dest: Path, tmp: Path) -> Path:
    """DeepSpeed ships only as an sdist: a py3-none-any wheel without prebuilt ops (they JIT at run time)."""
    sdist_dir = tmp / "ds_sdist"
    run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary=:all:", "-d", str(sdist_dir),
         f"deepspeed=={DEEPSPEED_VERSION}"])
    sdist = next(sdist_dir.iterdir())
    env = dict(os.environ, DS_BUILD_OPS="0")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dest),
         str(sdist)], env=env)
    wheel = next(dest.glob("deepspeed-*.whl"))
    if not wheel.name.endswith("-py3-none-any.whl"):
        raise RuntimeError(f"DeepSpeed built {wheel.name}, not a py3-none-any wheel")
    return wheel


def copy_project(dest: Path) -> int:
    """Tracked files of the working tree (as they are now), minus PROJECT_DROP; returns bytes copied."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    total = 0
    for name in names.decode().split("\0"):
        if not name or name.startswith(PROJECT_DROP) or not (ROOT / name).is_file():
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
        total += target.stat().st_size
    return total


def copy_teacher_config(dest: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from read_ray.model.loading import BUNDLED_TEACHER, resolve_model_dir

    src = Path(resolve_model_dir(BUNDLED_TEACHER))
    dest.mkdir(parents=True)
    for name in TEACHER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)
    if not (dest / "config.json").is_file() or not (dest / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{src} has no config.json/tokenizer.json")


def build(out: Path, python_version: str) -> dict:
    bundle = out / "read_ray_gpu_bundle"
    if bundle.exists():
        shutil.rmtree(bundle)
    wheels = bundle / "wheels"
    wheels.mkdir(parents=True)
    specs = [pinned(n, v) for n, v in WHEELS]
    with tempfile.TemporaryDirectory() as tmp:
        download(specs, wheels, python_version)
        stripped = {name: strip_wheel(next(wheels.glob(f"{name}-*.whl")), drop) for name, drop in DROP.items()}
        build_deepspeed(wheels, Path(tmp))
        run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels),
             str(ROOT)], env=dict(os.environ, PIP_NO_INDEX="1"))
        for leftover in (ROOT / "build").glob("lib*"):     # setuptools' build dir of the read_ray wheel
            shutil.rmtree(leftover, ignore_errors=True)
    project_bytes = copy_project(bundle / "project")
    copy_teacher_config(bundle / "teacher_config")
    (bundle / "requirements.txt").write_text(
        "\n".join(sorted(p.name for p in wheels.glob("*.whl"))) + "\n")
    archive = out / "read_ray_gpu_bundle.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=9) as tar:
        tar.add(bundle, arcname=bundle.name)
    wheel_sizes = {p.name: p.stat().st_size for p in sorted(wheels.glob("*.whl"))}
    summary = {
        "archive": str(archive.relative_to(ROOT) if archive.is_relative_to(ROOT) else archive),
        "archive_bytes": archive.stat().st_size,
        "archive_mib": round(archive.stat().st_size / 2**20, 2),
        "under_60_mb": archive.stat().st_size < LIMIT_BYTES,
        "wheels": len(wheel_sizes), "wheels_bytes": sum(wheel_sizes.values()),
        "project_bytes": project_bytes,
        "stripped": stripped,
        "largest_wheels": dict(sorted(wheel_sizes.items(), key=lambda kv: -kv[1])[:8]),
        "python_version": python_version,
    }
    (bundle / "MANIFEST.json").write_text(json.dumps({**summary, "wheel_sizes": wheel_sizes}, indent=1))
    return summary


def random_teacher(config_dir: Path, out_dir: Path, seed: int = 0) -> str:
    """A model of the teacher's architecture with random weights and its real tokenizer (fp32, like the
    converted teacher)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(config_dir)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(config_dir).save_pretrained(out_dir)
    return str(out_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="download and prepare the bundle (needs a package index)")
    b.add_argument("--out", type=Path, default=ROOT / "build" / "gpu_bundle")
    b.add_argument("--python-version", default="3.12")
    t = sub.add_parser("teacher", help="random-weight teacher from the bundled config (on the GPU node)")
    t.add_argument("config_dir", type=Path)
    t.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "build":
        summary = build(args.out.resolve(), args.python_version)
        print(json.dumps(summary, indent=1))
        return 0 if summary["under_60_mb"] else 1
    print(random_teacher(args.config_dir, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
