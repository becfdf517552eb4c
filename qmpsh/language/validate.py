"""Pure: check a shorthand call against the schema and type its values, before sending.

Re-typing is what makes the shorthand safe: ``id=123`` for a ``str`` member is
the string "123", not the number QEMU would reject. Every problem is one
``InputError`` pointing at the column of the token to blame; nothing is sent.
Where the schema cannot know (``any``, device_add's device properties), values
go as typed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from qmpsh.errors import InputError
from qmpsh.language.syntax import Arg, QmpCall, RawJson, Transaction, build_arguments

if TYPE_CHECKING:  # the index module loads with the first schema: a script of plain
    # commands never builds one (benchmarks/README.md, P1)
    from qmpsh.language.schema import Member, SchemaIndex

_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "int": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "size": (0, 2**64 - 1),
}
# Introspection reports every integer type as 'int'; the others are for hand-made schemas.
_INTS = frozenset(_RANGES)


def open_arguments(index: SchemaIndex, command: str) -> bool:
    """Commands that take members the schema does not list (device properties)."""
    if command == "device_add":
        return True
    cmd = index.commands.get(command)
    # netdev_add before 5.2 was a free-form command; from 5.2 it is a union on 'type'.
    return command == "netdev_add" and cmd is not None and index.tag(cmd.arg_type) is None


def check_call(index: SchemaIndex, call: QmpCall) -> dict[str, object]:
    """Return the call's arguments typed by the schema, or raise ``InputError``."""
    try:
        return _check_call(index, call)
    except RecursionError:  # see _TOO_DEEP
        raise InputError(_TOO_DEEP, call.column) from None


# The checks walk a value and the schema together, several frames per level, so a
# value the JSON parser still took (some hundreds of levels) can exhaust the stack.
_TOO_DEEP = "arguments nested too deeply to check (prefix the line with '!' to send as typed)"


def _check_call(index: SchemaIndex, call: QmpCall) -> dict[str, object]:
    if call.command not in index.commands:
        raise InputError(unknown("command", call.command, index.commands), call.column)
    untyped = build_arguments(call.args)
    typed = [_retype(index, call.command, arg, untyped) for arg in call.args]
    columns = {arg.path: arg.column for arg in call.args}
    arg_type = index.commands[call.command].arg_type
    dotted = {arg.path[:end] for arg in call.args for end in range(len(arg.path))}
    built = _arrays(index, arg_type, build_arguments(typed), (), dotted, columns)
    assert isinstance(built, dict)
    arguments: dict[str, object] = built
    problem = _check_object(index, arg_type, arguments, (), open_arguments(index, call.command))
    if problem is not None:
        path, message = problem
        raise InputError(message, _column(columns, path, call.column))
    return arguments


def _arrays(
    index: SchemaIndex,
    type_name: str,
    value: object,
    path: tuple[str, ...],
    dotted: set[tuple[str, ...]],
    columns: Mapping[tuple[str, ...], int],
) -> object:
    """QEMU's keyval form of an array (``capabilities.0.state=true``): an object built
    from dotted keys becomes an array where the schema says the member is one; where
    it cannot say (``any``, device properties) the object stays as typed."""
    if not isinstance(value, dict) or path not in dotted:
        return value
    from qmpsh.language.schema import is_index  # loaded with ``index`` already

    array = index.array_type(type_name)
    object_type = index.object_type(type_name)
    if path and array is not None and (object_type is None or all(map(is_index, value))):
        element = index.element_type(array)
        items: dict[int, object] = {}
        for key, item in value.items():
            where = (*path, key)
            name = ".".join(where)
            if not is_index(key):
                raise InputError(
                    f"{name!r}: expected an array index (0, 1, ...)", _column(columns, where, 0)
                )
            if int(key) in items:
                raise InputError(
                    f"{name!r}: duplicate array index {int(key)}", _column(columns, where, 0)
                )
            items[int(key)] = _arrays(index, element, item, where, dotted, columns)
        for expected, (number, key) in enumerate(sorted((int(k), k) for k in value)):
            if number != expected:
                where = (*path, key)
                raise InputError(
                    f"{'.'.join(where)!r}: array index {number} leaves a gap "
                    f"(indices count from 0: {expected} is missing)",
                    _column(columns, where, 0),
                )
        return [items[i] for i in range(len(items))]
    if object_type is None:
        return value
    members = {m.name: m.type for m in index.members(object_type, value)}
    return {
        key: _arrays(index, members[key], item, (*path, key), dotted, columns)
        if key in members
        else item
        for key, item in value.items()
    }


def check_message(index: SchemaIndex, message: Mapping[str, object]) -> None:
    """Check a raw JSON command (sent as written: no re-typing, no columns)."""
    name = message.get("execute", message.get("exec-oob"))
    if not isinstance(name, str) or name not in index.commands:
        raise InputError(unknown("command", str(name), index.commands))
    arguments = message.get("arguments", {})
    if not isinstance(arguments, Mapping):
        raise InputError('"arguments" must be an object')
    arg_type = index.commands[name].arg_type
    try:
        problem = _check_object(index, arg_type, arguments, (), open_arguments(index, name))
    except RecursionError:  # see _TOO_DEEP
        raise InputError(_TOO_DEEP) from None
    if problem is not None:
        raise InputError(problem[1])


def _retype(index: SchemaIndex, command: str, arg: Arg, given: Mapping[str, object]) -> Arg:
    if arg.quoted:
        return arg
    member = index.member_at(command, arg.path, given)
    if member is None or _fits(index, member.type, arg.value):
        return arg
    if _branch_for_shape(index, member.type, arg.value):
        return arg  # iothread=["a",2] for str | [str]: the array branch's error, not a string
    if not isinstance(arg.value, str) and index.accepts_string(member.type):
        return replace(arg, value=arg.raw)
    size = parse_size(arg.raw)
    if size is not None and _fits(index, member.type, size):
        return replace(arg, value=size)  # size=1G where QEMU takes an integer
    return arg


def _branch_for_shape(index: SchemaIndex, type_name: str, value: object) -> bool:
    """Whether ``type_name`` has a branch of ``value``'s own shape (an array for a list,
    an object for an object): a value of that shape is meant for it, as the checker
    judges alternates, and is never re-typed as a string."""
    if isinstance(value, list):
        return index.array_type(type_name) is not None
    return isinstance(value, Mapping) and index.object_type(type_name) is not None


_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)([kKmMgGtTpPeE])(?:i?B)?\Z")


def parse_size(text: str) -> int | None:
    """``1G``, ``512M``, ``4k``, ``1.5GiB`` -> bytes (powers of 1024, as QEMU's own -m)."""
    match = _SIZE.match(text)
    if match is None:
        return None
    power = "kmgtpe".index(match.group(2).lower()) + 1
    return int(float(match.group(1)) * 1024**power)


def _fits(index: SchemaIndex, type_name: str, value: object) -> bool:
    return _check_value(index, type_name, value, (), False) is None


Problem = tuple[tuple[str, ...], str]


def _check_object(
    index: SchemaIndex,
    type_name: str,
    value: Mapping[str, object],
    path: tuple[str, ...],
    open_: bool,
) -> Problem | None:
    members = {m.name: m for m in index.members(type_name, value)}
    for key, item in value.items():
        member = members.get(key)
        if member is None:
            if open_:
                continue
            where = ".".join((*path, key))
            return (*path, key), unknown("argument", where, _names(path, members.values()))
        problem = _check_value(index, member.type, item, (*path, key), False)
        if problem is not None:
            return problem
    for member in members.values():
        if not member.optional and member.name not in value:
            where = ".".join((*path, member.name))
            return path, f"missing argument {where!r} ({index.type_label(member.type)})"
    return None


def _check_value(
    index: SchemaIndex, type_name: str, value: object, path: tuple[str, ...], open_: bool
) -> Problem | None:
    meta = index.meta(type_name)
    where = ".".join(path)
    label = index.type_label(type_name)
    if meta == "builtin" or not meta:
        return _check_builtin(type_name, value, path)
    if meta == "enum":
        values = index.enum_values(type_name)
        if isinstance(value, str) and value in values:
            return None
        close = closest(str(value), values)
        hint = f"did you mean {close!r}?" if close else "one of " + ", ".join(values[:8])
        more = ", ..." if not close and len(values) > 8 else ""
        return path, f"{where}: {_show(value)} is not a valid value; {hint}{more}"
    if meta == "array":
        if not isinstance(value, list):
            return path, f"{where}: expected {label}, got {_show(value)}"
        element = index.element_type(type_name)
        for i, item in enumerate(value):
            problem = _check_value(index, element, item, (*path, str(i)), False)
            if problem is not None:
                return problem
        return None
    if meta == "object":
        if not isinstance(value, Mapping):
            return path, f"{where}: expected an object, got {_show(value)}"
        return _check_object(index, type_name, value, path, open_)
    if meta == "alternate":
        problems = [
            _check_value(index, alt, value, path, open_) for alt in index.alternatives(type_name)
        ]
        if not problems or any(p is None for p in problems):
            return None  # no branches (a malformed schema): the schema cannot know
        # An object (an array) can only be meant for the object (array) branch: its own
        # problem ('missing argument file.filename') says more than the alternate's label.
        shape = (
            "object" if isinstance(value, Mapping) else "array" if isinstance(value, list) else ""
        )
        for alt, problem in zip(index.alternatives(type_name), problems, strict=True):
            if shape and index.meta(alt) == shape:
                return problem
        deepest = max((p for p in problems if p is not None), key=lambda p: len(p[0]))
        if len(deepest[0]) > len(path):
            return deepest  # the value matched a branch's shape but is wrong inside
        return path, f"{where}: expected {label}, got {_show(value)}"
    return None


def _check_builtin(type_name: str, value: object, path: tuple[str, ...]) -> Problem | None:
    where = ".".join(path)
    if type_name == "any" or type_name not in _INTS | {"str", "bool", "number", "null"}:
        return None
    if type_name == "str" and isinstance(value, str):
        return None
    if type_name == "bool" and isinstance(value, bool):
        return None
    if type_name == "null" and value is None:
        return None
    if type_name == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return None
    if type_name in _INTS and isinstance(value, int) and not isinstance(value, bool):
        low, high = _RANGES[type_name]
        if low <= value <= high:
            return None
        return path, f"{where}: {value} is out of range for {type_name}"
    return path, f"{where}: expected {type_name}, got {_show(value)}"


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return str(value)


def _names(path: tuple[str, ...], members: Iterable[Member]) -> list[str]:
    return [".".join((*path, m.name)) for m in members]


def unknown(what: str, name: str, known: Iterable[str]) -> str:
    """``unknown command 'query-stauts'; did you mean 'query-status'?``: the one wording."""
    hint = did_you_mean(name, known)
    return f"unknown {what} {name!r}{'; ' if hint else ''}{hint}"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``did you mean 'query-status'?`` for a name not known, "" when nothing is near
    (or ``name`` itself is known: QEMU may refuse a command it has, disabled)."""
    close = closest(name, known)
    return f"did you mean {close!r}?" if close and close != name else ""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The likeliest intended name: difflib's near ones, then fewest edits, then same length
    (``qcow3`` is ``qcow2``, not ``qcow``; ``query-stauts`` is ``query-status``)."""
    near = difflib.get_close_matches(word, list(choices), n=5, cutoff=0.6)
    if not near:
        return None
    return min(near, key=lambda name: (_edits(word, name), abs(len(name) - len(word))))


def _edits(a: str, b: str) -> int:
    """Levenshtein distance with adjacent swaps (a typo's usual shapes)."""
    previous = list(range(len(b) + 1))
    before: list[int] = []
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            row.append(cost)
        before, previous = previous, row
    return previous[-1]


def _column(columns: Mapping[tuple[str, ...], int], path: Sequence[str], default: int) -> int:
    """The column of the argument that best covers ``path``."""
    for end in range(len(path), 0, -1):
        prefix = tuple(path[:end])
        if prefix in columns:
            return columns[prefix]
        below = [col for p, col in columns.items() if p[:end] == prefix]
        if below:
            return min(below)
    return default


def needs_schema(item: QmpCall | RawJson | Transaction) -> bool:
    """Whether checking ``item`` needs the schema: a call without arguments does not
    (if the schema is not fetched yet, QEMU's own check is as good and costs nothing)."""
    return item.checked and (not isinstance(item, QmpCall) or bool(item.args))


def checked(item: QmpCall | RawJson | Transaction, index: SchemaIndex | None) -> dict[str, object]:
    """The message to send for ``item``, checked against ``index`` if there is one
    (``InputError`` if wrong). Shorthand values are typed by the schema (``id=123``
    for a ``str`` member is "123")."""
    message = item.message if isinstance(item, RawJson) else item.message()
    if not item.checked or index is None:
        return message
    if isinstance(item, QmpCall):
        return item.message(check_call(index, item))
    check_message(index, message)
    return message
