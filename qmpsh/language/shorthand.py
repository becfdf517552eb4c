"""Pure: a QMP request written back as the line a user would type (``/example``).

The shorthand is shorter to read and edit, but only exact when qmpsh sends
back the very request it came from: ``example_line`` writes the shorthand,
parses and checks it against the schema as if typed, and keeps it only when
the message is the same JSON; anything else (keys with dots, ``id``, values
the schema would re-type) stays JSON, which is sent as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from qmpsh.errors import InputError
from qmpsh.language.syntax import QmpCall, Transaction, bare_value, parse
from qmpsh.language.validate import checked

if TYPE_CHECKING:
    from qmpsh.language.manual import Definition
    from qmpsh.language.schema import SchemaIndex

_KEY = re.compile(r"[^\s=.\"'{}\[\]#]+\Z")
_COMMAND = re.compile(r"[A-Za-z_][\w-]*\Z")
_BARE = re.compile(r"[^\s\"'{\[\\][^\s]*\Z")


def to_shorthand(message: Mapping[str, object]) -> str | None:
    """``command k=v ...`` for ``{"execute": ..., "arguments": ...}`` (a transaction as
    ``transaction( a k=v ; b k=v )``); None where the shorthand cannot say it (other
    keys, odd names); not yet checked against a schema."""
    command = message.get("execute")
    if set(message) - {"execute", "arguments"} or not isinstance(command, str):
        return None
    arguments = message.get("arguments", {})
    if not isinstance(arguments, Mapping) or (not arguments and "arguments" in message):
        return None  # '"arguments": {}' is not said by the shorthand
    if command == "transaction":
        return _transaction(arguments)
    return _call(command, arguments)


def _transaction(arguments: Mapping[str, object]) -> str | None:
    actions = arguments.get("actions")
    if set(arguments) != {"actions"} or not isinstance(actions, list) or not actions:
        return None
    calls = []
    for action in actions:
        if not isinstance(action, Mapping) or set(action) - {"type", "data"}:
            return None
        kind, data = action.get("type"), action.get("data", {})
        call = _call(kind, data) if isinstance(kind, str) and isinstance(data, Mapping) else None
        if call is None:
            return None
        calls.append(call)
    return f"transaction( {' ; '.join(calls)} )"


def _call(command: str, arguments: Mapping[str, object]) -> str | None:
    if not _COMMAND.match(command) or command == "transaction":
        return None
    words = [command]
    for path, value in _leaves(arguments, ()):
        if not all(_KEY.match(part) for part in path):
            return None
        text = _value(value)
        if text is None:
            return None
        words.append(f"{'.'.join(path)}={text}")
    return " ".join(words)


def example_line(message: Mapping[str, object], index: SchemaIndex | None) -> str:
    """What ``/example`` offers for a documented request: the shorthand if qmpsh sends
    exactly ``message`` for it (typed by ``index``, or as typed without one), else the
    request as one line of JSON."""
    short = to_shorthand(message)
    if short is not None:
        try:
            item = parse(short)
            if isinstance(item, (QmpCall, Transaction)) and _same(checked(item, index), message):
                return short
        except InputError:
            pass
    return json.dumps(message, ensure_ascii=False)


def documented_lines(doc: Definition, index: SchemaIndex | None) -> list[tuple[str, str]]:
    """(title, line) of each documented request of ``doc``, as ``example_line`` writes it."""
    return [
        (example.title, example_line(request, index))
        for example in doc.examples
        for request in example.requests()
    ]


def _same(sent: Mapping[str, object], message: Mapping[str, object]) -> bool:
    """Equal as JSON text (1 and 1.0, true and 1 differ on the wire)."""
    return json.dumps(sent, sort_keys=True) == json.dumps(message, sort_keys=True)


def _leaves(
    value: Mapping[str, object], path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], object]]:
    """Dotted keys down to each value that is not a non-empty object."""
    for key, inner in value.items():
        if isinstance(inner, Mapping) and inner:
            yield from _leaves(inner, (*path, key))
        else:
            yield (*path, key), inner


def _value(value: object) -> str | None:
    if isinstance(value, str):
        if _BARE.match(value) and bare_value(value) == value:
            return value
        if any(ch < " " for ch in value):
            return None  # a control character would not stay on one line
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (bool, int, float)) or value is None:
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
