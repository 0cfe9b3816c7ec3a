"""YAML in and out of the config tree: presets, files, `key.sub=value` overrides, copies with changes.

Strict: an unknown key or a value of the wrong type is a ValueError that names the key and what was
expected; a key written twice in one YAML mapping is refused. A closed choice (`Literal`) is read as its
type here (a string); whether the value is one of the choices is `validate`'s check, so every problem of
a config is listed at once.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from read_ray.config.schema import ReadConfig

PRESETS_DIR = Path(__file__).resolve().parent.parent / "configs"
"""The packaged presets (`read_ray/configs/<name>.yaml`)."""


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML value to the declared type `tp`, or raise ValueError naming `key`."""
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:            # the value's type only; `validate` checks it is one of the choices
        choice_types = {type(c) for c in typing.get_args(tp)}
        if type(value) in choice_types:
            return value
        raise ValueError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ValueError(f"{key}: expected a list of {_type_name(item_tp)}, got {value!r}")
        return tuple(_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict):
        key_tp, item_tp = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: expected a mapping of {_type_name(key_tp)} -> {_type_name(item_tp)}")
        converted = {_convert(k, key_tp, f"{key} key"): _convert(v, item_tp, f"{key}.{k}") for k, v in value.items()}
        return types.MappingProxyType(converted)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a field type this module does not know is a programming error
        raise TypeError(f"{key}: unsupported config field type {tp!r}")
    raise ValueError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for k in data:
        if k not in hints:
            where = f"'{prefix}.{k}'" if prefix else f"'{k}'"
            raise ValueError(f"unknown config key {where}; valid keys here: {', '.join(names)}")
    kwargs = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in data.items()}
    return cls(**kwargs)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    return value


def config_from_dict(data: Mapping[str, Any]) -> ReadConfig:
    return _build(ReadConfig, data, "")


def config_to_dict(cfg: ReadConfig) -> dict[str, Any]:
    return _to_plain(cfg)


class _Dumper(yaml.SafeDumper):
    """Block style for sections, flow style for lists of scalars: `keep_layers: [0, 1, 2]`."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(v, (dict, list)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def to_yaml(cfg: ReadConfig) -> str:
    return yaml.dump(config_to_dict(cfg), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


def save_config(cfg: ReadConfig, path: str | Path) -> None:
    Path(path).write_text(to_yaml(cfg))


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set data[a][b] = value for dotted 'a.b', checking every part against the schema."""
    parts = dotted.split(".")
    cls: Any = ReadConfig
    node = data
    for depth, part in enumerate(parts):
        if typing.get_origin(cls) in (Mapping, dict) and depth == len(parts) - 1:
            node[part] = value  # a key inside a mapping field, e.g. task.requirement.math=0.5
            return
        hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
        if part not in hints:
            here = ".".join(parts[:depth]) or "the config root"
            valid = ", ".join(hints) if hints else "(none: it is not a section)"
            raise ValueError(f"unknown config key '{dotted}': {here} has no '{part}'; valid keys: {valid}")
        cls = hints[part]
        if depth == len(parts) - 1:
            node[part] = value
        else:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child


def parse_overrides(overrides: Sequence[str]) -> list[tuple[str, Any]]:
    """Parse `key.sub=value` strings; the value is read as YAML (`3`, `0.5`, `true`, `[a, b]`)."""
    parsed = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} is not of the form key.sub=value")
        try:
            value = _safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ValueError(f"override {item!r}: the value is not valid YAML ({exc})") from None
        parsed.append((key.strip(), value))
    return parsed


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping (plain PyYAML keeps the last one, so
    a section written twice would silently replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, typing.Hashable) and key in seen:
                first = seen[key].line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (first at line {first}): the second would replace the "
                    f"first; merge them into one", key_node.start_mark)
            if isinstance(key, typing.Hashable):
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _safe_load(stream: Any) -> Any:
    """yaml.safe_load with duplicate keys refused (same safe constructor: no Python objects are built)."""
    loader = _UniqueKeyLoader(stream)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml_file(path: Path) -> dict[str, Any]:
    try:
        with open(path) as f:       # a stream, so the error marks name the file and line
            data = _safe_load(f)
    except yaml.constructor.ConstructorError as exc:
        if "appears twice" in str(exc.problem):
            raise ValueError(f"{path}: {exc.problem} (line {exc.problem_mark.line + 1})") from None
        raise ValueError(f"{path}: malformed YAML: {exc}\nfix the YAML syntax at the line shown") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: malformed YAML: {exc}\nfix the YAML syntax at the line shown") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text file ({exc.reason} at byte {exc.start}); give a YAML file") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory, not a YAML file; give a YAML file path") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror or exc}); check the path and its permissions") from None
    if data is None:
        raise ValueError(f"{path}: the file is empty (no YAML in it), which would silently mean every default; "
                         f"write the sections to set in it, or give a preset name (e.g. --config default)")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of config sections at the top level")
    return data


def resolve_preset(preset_or_path: str) -> Path:
    path = Path(preset_or_path)
    if path.is_dir():
        raise ValueError(f"--config {path} is a directory, not a YAML file; give a YAML file path or a preset "
                         f"({', '.join(preset_names())})")
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ValueError(f"config file {path} does not exist; give an existing YAML path or a preset "
                             f"({', '.join(preset_names())})")
        return path
    preset = PRESETS_DIR / f"{preset_or_path}.yaml"
    if not preset.is_file():
        raise ValueError(
            f"unknown preset {preset_or_path!r}: give a YAML path or one of {', '.join(preset_names())}"
        )
    return preset


def load_config(preset_or_path: str = "default", overrides: Sequence[str] = ()) -> ReadConfig:
    """Load a packaged preset name or a YAML path, apply overrides, and return the typed config.

    Missing keys take their defaults; unknown keys and wrong types raise ValueError naming the key.
    `validate` checks the values; `read_ray.runtime.preflight` the files and packages they name (before Ray).
    """
    data = read_yaml_file(resolve_preset(preset_or_path))
    for key, value in parse_overrides(overrides):
        _set_path(data, key, value)
    return config_from_dict(data)


def replace(cfg: ReadConfig, **sections: Any) -> ReadConfig:
    """Return a copy with whole sections or section fields replaced: replace(cfg, budget={'num_rounds': 4})."""
    changed = {}
    for name, value in sections.items():
        current = getattr(cfg, name)
        changed[name] = dataclasses.replace(current, **value) if isinstance(value, Mapping) else value
    return dataclasses.replace(cfg, **changed)
