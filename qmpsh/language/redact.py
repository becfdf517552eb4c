"""Pure: keep secrets out of history and transcripts, keep the command.

A password typed into ``set_password`` or an ``object-add qom-type=secret``'s
data must not land in ``~/.local/state/qmpsh/history`` or a ``-l`` transcript.
Values are redacted by member name (the schema's names for passwords and
secrets), in QMP messages, in shorthand as typed, and in HMP lines. A QOM
property (``qom-set``'s value, ``qom-get``'s reply) is judged by one rule,
``secret_property``. History and transcripts both go through ``is_secret``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from qmpsh.errors import InputError
from qmpsh.language.builtin_registry import command_start
from qmpsh.language.syntax import Builtin, HmpLine, QmpCall, RawJson, Transaction, parse

REDACTED = "<redacted>"

_EXACT = frozenset({"password", "passwd", "passphrase", "new-passphrase", "new-secret", "secret"})
_SUFFIXES = ("password", "passphrase")
_SECRET_TYPES = frozenset({"secret", "secret_keyring"})
# HMP: `change vnc password X`, `set_password vnc X`, and key=value pairs such as
# `object_add secret,id=s0,data=X` or `...,password=X`.
# HMP takes a quoted argument ("a b") whole, and ',,' is a comma inside a key=value value.
_HMP_PASSWORD = re.compile(
    r'^(\s*(?:change\s+vnc\s+password|set_password\s+\S+)\s+)("(?:[^"\\]|\\.)*"?|\S+)'
)
_HMP_PAIR = re.compile(r"(?<=[,\s])(data|password|passphrase|passwd)=(?:,,|[^,\s])*")
# HMP with the secret as a positional word: `migrate_set_parameter tls-creds X`
# (as QMP's migrate-set-parameters tls-*), `qom-set PATH PROPERTY X`.
_HMP_MIGRATE_TLS = re.compile(r"^(\s*migrate_set_parameter\s+tls-\S*\s+)(\S+)")
_HMP_QOM_SET = re.compile(r"^(\s*qom-set\s+(?:-\S+\s+)*\S+\s+(\S+)\s+)(.*\S)")
_SECRETISH = re.compile(r"passw|passphrase|secret|tls-", re.I)
# A line that does not parse is dropped when it may hold a secret: these words,
# or a qom-set naming a data property.
_UNPARSED_SECRET = re.compile(rf"{_SECRETISH.pattern}|qom-set\b.*\bdata\b", re.I | re.S)


def is_secret(command: str, path: tuple[str, ...], given: Mapping[str, object]) -> bool:
    """Whether the member at dotted ``path`` of ``command``'s arguments holds a secret."""
    key = path[-1]
    if key in _EXACT or key.endswith(_SUFFIXES):
        return True
    if command.startswith("migrate-set-parameters") and key.startswith("tls-"):
        return True
    if command == "qom-set" and path == ("value",):  # qom-set path=... property=data value=...
        return secret_property(given.get("property"))
    if key == "data":  # object-add qom-type=secret data=..., also props.data before 6.0
        return given.get("qom-type") in _SECRET_TYPES
    return False


def secret_property(name: object) -> bool:
    """Whether a QOM property (what ``qom-set`` writes, ``qom-get`` reads) holds a
    secret: a secret object's ``data`` or any password-like property. (The object's
    type is not in the request, so every ``data`` property is taken for a secret: a
    file may hide a little too much, never a password.)"""
    return isinstance(name, str) and (
        name == "data"
        or name in _EXACT
        or name.endswith(_SUFFIXES)
        or bool(_SECRETISH.search(name))
    )


def reply_is_secret(message: Mapping[str, object]) -> bool:
    """Whether the reply to this command carries a secret: ``qom-get`` of a
    ``secret_property``."""
    if message.get("execute", message.get("exec-oob")) != "qom-get":
        return False
    arguments = message.get("arguments")
    return isinstance(arguments, Mapping) and secret_property(arguments.get("property"))


def redact_message(message: Mapping[str, object]) -> dict[str, object]:
    """A copy of a QMP message with secret argument values replaced."""
    command = str(message.get("execute", message.get("exec-oob", "")))
    out = dict(message)
    arguments = message.get("arguments")
    if isinstance(arguments, Mapping):
        if command == "human-monitor-command" and isinstance(arguments.get("command-line"), str):
            out["arguments"] = {**arguments, "command-line": redact_hmp(arguments["command-line"])}
        else:
            try:
                out["arguments"] = _redact_tree(command, arguments, (), arguments)
            except RecursionError:  # nested deeper than the walk can go: keep none of it
                out["arguments"] = REDACTED
    return out


def _redact_tree(
    command: str, tree: Mapping[str, object], path: tuple[str, ...], top: Mapping[str, object]
) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        here = (*path, key)
        if is_secret(command, here, top):
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = _redact_tree(command, value, here, top)
        elif isinstance(value, list):
            out[key] = [_redact_item(command, v, here) for v in value]
        else:
            out[key] = value
    return out


def _redact_item(command: str, value: object, path: tuple[str, ...]) -> object:
    """Inside arrays (transaction actions, ...) each object is judged on its own.

    Arrays of arrays are walked too, and an action's members beside ``data``
    are redacted as well: a secret key is a secret wherever it sits.
    """
    if isinstance(value, list):
        return [_redact_item(command, v, path) for v in value]
    if isinstance(value, Mapping):
        out = _redact_tree(command, value, path, value)
        data = value.get("data")
        if isinstance(data, Mapping):  # a transaction action: {"type": CMD, "data": {...}}
            out["data"] = _redact_tree(str(value.get("type", command)), data, (), data)
        return out
    return value


def redact_hmp(line: str) -> str:
    line = _HMP_PASSWORD.sub(lambda m: m.group(1) + REDACTED, line)
    line = _HMP_MIGRATE_TLS.sub(lambda m: m.group(1) + REDACTED, line)
    line = _HMP_QOM_SET.sub(
        lambda m: m.group(1) + REDACTED if secret_property(m.group(2)) else m.group(0), line
    )
    return _HMP_PAIR.sub(lambda m: f"{m.group(1)}={REDACTED}", line)


def redact_input(text: str, *, hmp_mode: bool = False) -> str | None:
    """A line as it may be kept in history: secrets replaced, or None to keep nothing.

    A line that does not parse but looks like it holds a password is not kept,
    nor one nested too deeply to walk (the parser takes JSON some hundreds of
    levels deep; redacting, comparing and re-encoding it can exhaust the stack).
    """
    try:
        return _redact_input(text, hmp_mode=hmp_mode)
    except RecursionError:
        return None


def _redact_input(text: str, *, hmp_mode: bool) -> str | None:
    try:
        item = parse(text, hmp_mode=hmp_mode)
    except InputError:
        return None if _UNPARSED_SECRET.search(text) else text
    if isinstance(item, HmpLine):
        return text.replace(item.command_line, redact_hmp(item.command_line))
    if isinstance(item, Builtin):  # /fd PATH CMD, /help CMD: CMD is an ordinary command
        start = command_start(item.spec, item.argument) if item.spec.secret else None
        if start is None:
            return text
        inner = redact_input(item.argument[start:])
        cut = text.rindex(item.argument) + start
        return None if inner is None else text[:cut] + inner
    if isinstance(item, RawJson):
        redacted = redact_message(item.message)
        if redacted == item.message:
            return text
        return text[: text.index("{")] + json.dumps(redacted)  # keeps a leading '!'
    calls = item.actions if isinstance(item, Transaction) else [item]
    edits: list[tuple[int, int, str]] = []
    for call in calls:
        if isinstance(call, QmpCall):
            edits += _call_edits(call)
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _call_edits(call: QmpCall) -> list[tuple[int, int, str]]:
    """(start, end, replacement) of each secret value as typed on the line."""
    given = call.arguments
    edits = []
    for arg in call.args:
        start = arg.column + len(arg.key) + 1
        end = start + len(arg.raw)
        # password.x=... is under a secret too: redact_message hides the whole subtree
        if any(is_secret(call.command, arg.path[:n], given) for n in range(1, len(arg.path) + 1)):
            edits.append((start, end, REDACTED))
        elif isinstance(arg.value, (dict, list)) and not arg.quoted:
            # a JSON value (a={"password": "x"}) holds secrets under their own keys
            leaf = arg.path[-1]
            hidden = _redact_tree(call.command, {leaf: arg.value}, arg.path[:-1], given)[leaf]
            if hidden != arg.value:
                edits.append((start, end, json.dumps(hidden, separators=(",", ":"))))
        elif call.command == "human-monitor-command" and isinstance(arg.value, str):
            hidden = redact_hmp(arg.value)
            if hidden != arg.value:
                # Quoted the shorthand's way (only \\ and \" escaped): json.dumps wrote
                # é as \u00e9, which the shorthand reads back as six characters.
                quoted = hidden.replace("\\", "\\\\").replace('"', '\\"')
                edits.append((start, end, f'"{quoted}"'))
    return edits
