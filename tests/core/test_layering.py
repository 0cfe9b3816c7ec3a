"""read_ray.core and read_ray.config stay pure: importing them loads no heavy framework."""

import json
import subprocess
import sys

HEAVY = ("ray", "deepspeed", "transformers", "vllm")


def test_core_and_config_import_nothing_heavy():
    code = (
        "import json, sys, pkgutil, importlib, read_ray.config, read_ray.core\n"
        "for m in pkgutil.iter_modules(read_ray.core.__path__):\n"
        "    importlib.import_module('read_ray.core.' + m.name)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_package_root_is_import_light():
    code = "import sys, read_ray; print(sorted(m for m in ('torch', 'numpy', 'yaml') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
