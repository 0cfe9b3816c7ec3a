"""Static security checks over the package source, and loopback-only server defaults in every preset.

Generated code runs only through the `read_ray.content.sandbox` package (its behaviour is tested in
tests/model/test_sandbox.py); here we check that nothing else in the package can run code or unpickle data.
"""

import ast
from pathlib import Path

import pytest

import read_ray
from read_ray.config import load_config, preset_names

PACKAGE = Path(read_ray.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
# exec/eval of our own constant programs and expressions (probe item construction), never of model output
OWN_PROGRAMS = {"content/probe_items/code.py", "content/probe_items/reasoning.py"}
PROCESS_CALLS = {"system", "popen", "execv", "execve", "execvp", "spawnv", "spawnl", "fork", "forkpty"}
# the only modules that may start processes: the sandbox's caller side (starts the bootstrap, kills by uid),
# its supervisor (waits on and kills the bootstrap) and the bootstrap script itself (forks, execs the program)
SANDBOX = {"content/sandbox/runner.py", "content/sandbox/supervise.py", "content/sandbox/bootstrap.py"}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            yield node, owner, name


def unsafe_uses(source: str, rel: str) -> list[str]:
    """Unsafe imports and calls in one module's source (`rel`: its path inside the package)."""
    tree = ast.parse(source, filename=rel)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = (name or "").split(".")[0]
                if top in ("pickle", "cPickle", "dill", "marshal", "shelve", "joblib"):
                    found.append(f"{rel}:{node.lineno}: imports {top}")
                if top == "subprocess" and rel not in SANDBOX:
                    found.append(f"{rel}:{node.lineno}: subprocess outside the sandbox")
    for node, owner, name in _calls(tree):
        where = f"{rel}:{node.lineno}"
        keywords = {k.arg: k.value for k in node.keywords}
        if owner == "torch" and name == "load":
            flag = keywords.get("weights_only")
            if not (isinstance(flag, ast.Constant) and flag.value is True):
                found.append(f"{where}: torch.load without weights_only=True")
        if owner == "yaml" and name in ("load", "load_all", "full_load", "unsafe_load", "unsafe_load_all"):
            found.append(f"{where}: yaml.{name} (use yaml.safe_load)")
        if name in ("exec", "eval") and isinstance(node.func, ast.Name) and rel not in OWN_PROGRAMS:
            found.append(f"{where}: {name}() outside the sandbox")
        if owner == "os" and name in PROCESS_CALLS and rel not in SANDBOX:
            found.append(f"{where}: os.{name} outside the sandbox")
        if "allow_pickle" in keywords or keywords.get("trust_remote_code") is not None:
            flag = keywords.get("allow_pickle") or keywords.get("trust_remote_code")
            if not (isinstance(flag, ast.Constant) and flag.value is False):
                found.append(f"{where}: allow_pickle/trust_remote_code")
    return found


def test_the_scan_finds_unsafe_calls():
    code = ("import pickle, subprocess, os, torch, yaml\n"
            "torch.load('x')\ntorch.load('x', weights_only=False)\nyaml.load('a')\nexec('1')\nos.system('ls')\n"
            "AutoModel.from_pretrained('m', trust_remote_code=True)\n")
    found = unsafe_uses(code, "core/example.py")
    assert len(found) == 8, found


def test_only_the_sandbox_starts_processes():
    # the exemption names files that exist and that do start processes (a stale entry would hide nothing)
    for rel in sorted(SANDBOX):
        source = (PACKAGE / rel).read_text()
        assert unsafe_uses(source, "content/elsewhere.py") != [], rel
        assert unsafe_uses(source, rel) == [], rel


@pytest.mark.parametrize("path", SOURCES, ids=[p.relative_to(PACKAGE).as_posix() for p in SOURCES])
def test_no_unsafe_loading_or_code_execution(path):
    assert unsafe_uses(path.read_text(), path.relative_to(PACKAGE).as_posix()) == []


def test_servers_default_to_loopback_and_no_http():
    for name in preset_names():
        teacher = load_config(name).teacher
        assert teacher.http_host == "127.0.0.1", name
        assert teacher.http_enabled is False, name
