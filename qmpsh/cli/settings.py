"""The user's settings: defaults, ``$XDG_CONFIG_HOME/qmpsh/config.toml``, then the command line.

Settings are one frozen value built once at start-up and handed down, never a
global that changes under a running shell. Each value remembers where it came
from, so ``--print-config`` can say why qmpsh behaves as it does. A wrong file
is one line naming the key (exit 2), never a traceback and never silently
ignored: a typo in a key would otherwise look like a setting that does not work.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from qmpsh.errors import UsageError

COLORS = ("auto", "always", "never")
#: The shells ``--completions`` writes for (see ``shells``).
SHELLS = ("bash", "zsh", "fish")
KEY_BINDINGS = ("emacs", "vi")
#: ``style`` meaning qmpsh's own palette in the terminal's colours (no pygments style).
OWN_STYLE = "qmpsh"
DEFAULT = "default"


_Check = Callable[[str, object], object]  # (key, value) -> the value, checked


class ConfigError(UsageError):
    """The config file is unreadable or wrong; the message names the file and the key."""


# Settings and Alias are NamedTuples, not frozen dataclasses: just as immutable, and
# made several times faster at import, which every run (scripts included) pays.


class Alias(NamedTuple):
    """``[targets.NAME]``: ``qmpsh NAME`` connects to ``socket``."""

    socket: str
    skip_negotiation: bool = False


class Settings(NamedTuple):
    """Everything a user can set; ``sources`` maps a key to where its value came from."""

    target: str | None = None
    style: str = OWN_STYLE
    key_bindings: str = "emacs"
    history_size: int = 10000
    pretty: bool = False
    verbose: bool = False
    color: str = "auto"
    pager: bool = True
    #: Events not shown at the prompt (still logged; ``/events unmute`` shows them again).
    events_mute: tuple[str, ...] = ()
    targets: Mapping[str, Alias] = MappingProxyType({})  # read-only: one can be shared
    path: Path | None = None
    sources: Mapping[str, str] = MappingProxyType({})

    def source(self, key: str) -> str:
        return self.sources.get(key, DEFAULT)

    def with_value(self, key: str, value: object, source: str) -> Settings:
        """A copy with ``key`` set from ``source`` (the command line, the environment)."""
        sources = MappingProxyType({**self.sources, key: source})
        return self._replace(**{key: value}, sources=sources)  # type: ignore[arg-type]


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CONFIG_HOME/qmpsh/config.toml`` (``~/.config/qmpsh/config.toml`` by default)."""
    base = env.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative path is to be ignored
        base = os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "qmpsh" / "config.toml"


def load(path: Path) -> Settings:
    """The settings in ``path`` over the defaults; a missing file means the defaults."""
    try:
        data = _read_regular(path)
    except FileNotFoundError:
        return Settings(path=path)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    import tomllib  # only when there is a file: a script without one never pays for it

    try:
        table = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    except RecursionError:  # arrays or tables nested past what tomllib's recursion goes
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from None
    try:
        return _parse(table, path)
    except _Wrong as wrong:
        raise ConfigError(f"{path}: {wrong}") from None


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path``, a regular file (through a symlink too). Opened without
    blocking and refused unless regular: a FIFO there would hold qmpsh at start forever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return file.read()


class _Wrong(Exception):
    """One wrong key, reported as ``key: what is wrong``."""


_TOP = ("target", "style", "key_bindings", "history_size", "pretty", "verbose", "color", "pager")
_TABLES = ("events", "targets")
_EVENTS = ("mute",)
_ALIAS = ("socket", "skip_negotiation")


def _parse(table: Mapping[str, object], path: Path) -> Settings:
    _known(table, (*_TOP, *_TABLES), "")
    given = {key: table[key] for key in _TOP if key in table}
    values: dict[str, object] = {}
    for key, value in given.items():
        values[key] = _CHECKS[key](key, value)
    events = _table(table.get("events", {}), "events")
    _known(events, _EVENTS, "events.")
    for key in _EVENTS:
        if key in events:
            values[f"events_{key}"] = _patterns(f"events.{key}", events[key])
            given[f"events_{key}"] = events[key]
    targets = _table(table.get("targets", {}), "targets")
    aliases = {name: _alias(name, spec) for name, spec in targets.items()}
    if aliases:
        values["targets"] = MappingProxyType(aliases)
        given["targets"] = aliases
    where = f"config file {path}"
    sources = MappingProxyType(dict.fromkeys(given, where))
    return Settings(**values, path=path, sources=sources)  # type: ignore[arg-type]


def _known(table: Mapping[str, object], keys: tuple[str, ...], prefix: str) -> None:
    for key in table:
        if key not in keys:
            import difflib  # only to word an error

            close = difflib.get_close_matches(key, keys, n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            known = ", ".join(keys)
            raise _Wrong(f"unknown key {prefix}{toml_key(key)}{hint}; known: {known}")


def toml_key(name: str) -> str:
    """A key as it is written in TOML: bare if it can be, quoted otherwise."""
    if name and all((c.isalnum() and c.isascii()) or c in "-_" for c in name):
        return name
    return json.dumps(name)


def _table(value: object, key: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _Wrong(f"{key}: expected a table ([{key}]), got {_shown(value)}")
    return value


def _shown(value: object) -> str:
    return (
        json.dumps(value) if isinstance(value, str | int | float | bool) else type(value).__name__
    )


def _string(key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _Wrong(f"{key}: expected a non-empty string, got {_shown(value)}")
    return value


def _boolean(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _Wrong(f"{key}: expected true or false, got {_shown(value)}")
    return value


def _one_of(choices: tuple[str, ...]) -> _Check:
    def check(key: str, value: object) -> str:
        if value not in choices:
            listed = " or ".join(f'"{c}"' for c in choices)
            raise _Wrong(f"{key}: expected {listed}, got {_shown(value)}")
        return str(value)

    return check


def _count(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Wrong(f"{key}: expected a whole number >= 0, got {_shown(value)}")
    return value


def _style(key: str, value: object) -> str:
    name = _string(key, value)
    if name != OWN_STYLE and not pygments_style_exists(name):
        raise _Wrong(f'{key}: no pygments style {_shown(name)} ("{OWN_STYLE}" or e.g. "monokai")')
    return name


def _target(key: str, value: object) -> str:
    return _string(key, value)


def _patterns(key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Wrong(f'{key}: expected a list of event names or patterns, e.g. ["RTC_CHANGE"]')
    return tuple(value)


def _alias(name: str, spec: object) -> Alias:
    key = f"targets.{toml_key(name)}"
    if not name or "/" in name or ":" in name:
        raise _Wrong(f"{key}: an alias name cannot be empty or contain '/' or ':'")
    table = _table(spec, key)
    _known(table, _ALIAS, f"{key}.")
    if "socket" not in table:
        raise _Wrong(f'{key}: missing socket = "/path/to.sock" (or "HOST:PORT")')
    socket = _string(f"{key}.socket", table["socket"])
    skip = _boolean(f"{key}.skip_negotiation", table.get("skip_negotiation", False))
    return Alias(socket=os.path.expanduser(socket), skip_negotiation=skip)


def pygments_style_exists(name: str) -> bool:
    """Is ``name`` a pygments style (built in, or from a plugin)?"""
    from pygments.styles import STYLE_MAP

    if name in STYLE_MAP:
        return True
    from pygments.styles import get_style_by_name
    from pygments.util import ClassNotFound

    try:
        get_style_by_name(name)
    except ClassNotFound:
        return False
    return True


_CHECKS: dict[str, _Check] = {
    "target": _target,
    "style": _style,
    "key_bindings": _one_of(KEY_BINDINGS),
    "history_size": _count,
    "pretty": _boolean,
    "verbose": _boolean,
    "color": _one_of(COLORS),
    "pager": _boolean,
}
