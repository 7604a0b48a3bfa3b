"""``gear serve --config FILE``: a TOML file whose keys are ServerConfig's fields.

Strategy: nothing here lists an option.  ``settings()`` is derived from
``dataclasses.fields(ServerConfig)``: each field's key (``max-packet-size``),
its environment variable (``GEAR_SERVE_MAX_PACKET_SIZE``: the name click's
``auto_envvar_prefix`` gives the ``gear serve`` option of the same name),
its type (from the annotation) and its help (the field's ``#:`` comment in
gear/server/config.py).  A field added to ServerConfig therefore has a key
and a variable at once.

``load`` reads and type-checks a file; ``from_environment`` reads the
variables of fields that have no CLI option (click reads the others);
``render`` writes an effective configuration back as TOML with each
value's source in a comment (``--print-config``), so its output is itself
a valid config file.  The CLI applies the precedence: file < environment
< command line.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import json
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gear.server import config as config_module
from gear.server.config import ConfigError, ServerConfig

#: prefix of the environment variables (click's auto_envvar_prefix for ``gear serve``)
ENV_PREFIX = "GEAR_SERVE_"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ConfigFileError(ConfigError):
    """A config file that cannot be read, or a key or value in it that is wrong."""


@dataclass(frozen=True)
class Setting:
    """One ServerConfig field as the config file and the environment see it."""

    #: the field name (``max_packet_size``), also the CLI option's parameter name
    name: str
    #: the key in the file (``max-packet-size``)
    key: str
    #: the environment variable (``GEAR_SERVE_MAX_PACKET_SIZE``)
    env: str
    #: the value's type: int, float, bool, str or list (of str)
    kind: type
    #: whether the field may be None (then it is left out of the file)
    optional: bool
    #: the field's default
    default: Any
    #: the field's ``#:`` comment
    doc: str


def settings() -> list[Setting]:
    """Every ServerConfig field, in declaration order."""
    hints = typing.get_type_hints(ServerConfig)
    docs = _field_docs()
    out = []
    for f in dataclasses.fields(ServerConfig):
        kind, optional = _kind(hints[f.name])
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out.append(
            Setting(
                name=f.name,
                key=f.name.replace("_", "-"),
                env=ENV_PREFIX + f.name.upper(),
                kind=kind,
                optional=optional,
                default=default,
                doc=f.metadata.get("doc", docs.get(f.name, "")),
            )
        )
    return out


def _kind(hint: Any) -> tuple[type, bool]:
    """(int|float|bool|str|list, optional) of a field annotation."""
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
    origin = typing.get_origin(hint)
    if origin is list:
        return list, optional
    if hint in (int, float, bool, str):
        return hint, optional
    raise TypeError(f"ServerConfig field type {hint!r} has no config-file form")


def _field_docs() -> dict[str, str]:
    """The ``#:`` comment above each field of ServerConfig, by field name."""
    try:
        source = inspect.getsource(config_module)
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    docs: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.ClassDef) and node.name == ServerConfig.__name__):
            continue
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                comment: list[str] = []
                i = item.lineno - 2
                while i >= 0 and lines[i].strip().startswith("#:"):
                    comment.insert(0, lines[i].strip()[2:].strip())
                    i -= 1
                docs[item.target.id] = " ".join(comment).replace("``", "")
    return docs


def by_key() -> dict[str, Setting]:
    """Settings by file key, with the field-name spelling (underscores) accepted too."""
    table: dict[str, Setting] = {}
    for s in settings():
        table[s.key] = s
        table[s.name] = s
    return table


# ----------------------------------------------------------------- reading --
def load(path: str) -> dict[str, Any]:
    """The values a config file sets, by field name, type-checked.

    Raises:
        ConfigFileError: the file cannot be read, is not TOML, or has an
            unknown key or a value of the wrong type.
    """
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigFileError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: not valid TOML: {exc}") from None
    return parse(raw, path)


def parse(raw: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """Check a decoded TOML table against the settings (see ``load``)."""
    table = by_key()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        setting = table.get(key)
        if setting is None:
            raise ConfigFileError(f"{origin}: unknown key {key!r}{_suggest(key, table)}")
        if setting.name in values:
            raise ConfigFileError(f"{origin}: {setting.key!r} is set twice")
        values[setting.name] = _checked(setting, value, origin)
    return values


def _suggest(key: str, table: Mapping[str, Setting]) -> str:
    close = difflib.get_close_matches(key, [s.key for s in table.values()], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _checked(setting: Setting, value: Any, origin: str) -> Any:
    kind = setting.kind
    if kind is list:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        want = "a list of strings"
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        want = "a number"
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        want = "an integer"
    elif isinstance(value, kind):
        return value
    else:
        want = "true or false" if kind is bool else "a string"
    raise ConfigFileError(f"{origin}: {setting.key} must be {want}, not {_toml(value)}")


def from_environment(setting: Setting, environ: Mapping[str, str]) -> Any:
    """The value of ``setting``'s environment variable, or None when it is unset.

    Raises:
        ConfigFileError: the variable's text is not a value of the field's type.
    """
    text = environ.get(setting.env)
    if text is None:
        return None
    kind = setting.kind
    try:
        if kind is list:
            return text.split()
        if kind is bool:
            if text.lower() in _TRUE + _FALSE:
                return text.lower() in _TRUE
            raise ValueError(text)
        return kind(text)
    except ValueError:
        raise ConfigFileError(f"{setting.env}={text!r} is not a valid {setting.key}") from None


# ----------------------------------------------------------------- writing --
def render(config: ServerConfig, sources: Mapping[str, str]) -> str:
    """``config`` as TOML: one key per field, its source and doc in comments."""
    out = [
        "# gear serve: the effective configuration (the comment says where each value came from)"
    ]
    for s in settings():
        value = getattr(config, s.name)
        source = sources.get(s.name, "default")
        out.append(f"# {s.doc}" if s.doc else "#")
        if value is None:
            out.append(f"# {s.key} is not set  ({source})")
        else:
            out.append(f"{s.key} = {_toml(value)}  # {source}")
    return "\n".join(out) + "\n"


def _toml(value: Any) -> str:
    """A TOML literal for a str, bool, int, float or list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, int | float):
        return repr(value)
    return repr(value)
