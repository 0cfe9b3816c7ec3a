"""read_ray.core and read_ray.config stay pure: importing them loads no heavy framework; config is a leaf;
imports run only down the rooms."""

import ast
import json
import pathlib
import subprocess
import sys

import read_ray

HEAVY = ("ray", "deepspeed", "transformers", "vllm")


def heavy_modules_loaded(package: str, heavy: tuple[str, ...]) -> list[str]:
    """Which of `heavy` a fresh interpreter has loaded after importing read_ray.config and every module of
    `package`."""
    code = (
        f"import json, sys, pkgutil, importlib, read_ray.config, {package}\n"
        f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_and_config_import_nothing_heavy():
    assert heavy_modules_loaded("read_ray.core", HEAVY) == []


def test_config_is_a_leaf():
    """read_ray.config imports no other read_ray module: checking files and packages is the preflight's."""
    code = (
        "import json, sys, read_ray.config\n"
        "cfg = read_ray.config.validate(read_ray.config.load_config('default'))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('read_ray.')\n"
        "                        and m != 'read_ray.config' and not m.startswith('read_ray.config.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_package_root_is_import_light():
    code = "import sys, read_ray; print(sorted(m for m in ('torch', 'numpy', 'yaml') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


LAYERS = ("config", "core", "content", "model", "runtime", "experiments", "cli")
"""read_ray's rooms from the bottom up: a module imports only from its own room or the rooms below it."""


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def _room(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "read_ray" or len(parts) < 2 or parts[1] not in LAYERS:
        return None
    return LAYERS.index(parts[1])


def upward_imports(package: pathlib.Path) -> list[str]:
    """Every import (top-level or inside a function) that runs from a room to one above it."""
    arrows = []
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        here = _room(module)
        if here is None:
            continue
        for line, target in _imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            there = _room(target)
            if there is not None and there > here:
                arrows.append(f"{path.relative_to(package.parent)}:{line}: {LAYERS[here]} -> {target}")
    return arrows


def test_imports_only_run_down_the_rooms():
    assert upward_imports(pathlib.Path(read_ray.__file__).parent) == []


def test_the_room_scan_sees_an_upward_import(tmp_path):
    package = tmp_path / "read_ray"
    (package / "core").mkdir(parents=True)
    (package / "core" / "x.py").write_text("def f():\n    from read_ray.runtime.cluster import connect\n")
    assert upward_imports(package) == ["read_ray/core/x.py:2: core -> read_ray.runtime.cluster"]


def test_content_imports_no_model_framework():
    assert heavy_modules_loaded("read_ray.content", HEAVY + ("torch",)) == []
