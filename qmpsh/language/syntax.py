"""Pure parsing of one input into what the session should run.

Nothing here does I/O or knows the schema: a value typed bare keeps its raw
text (``Arg.raw``) so that schema-aware code can re-type it later (``id=123``
for a ``str`` member is the string "123"). Every rejection is an
``InputError`` carrying the column of the offending token.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from qmpsh.errors import InputError
from qmpsh.language.builtin_registry import BUILTINS, BuiltinSpec

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_TRANSACTION = re.compile(r"\s*transaction\s*\(", re.ASCII)
# NUL, and the lone surrogates that stand for undecodable input bytes.
_UNSENDABLE = re.compile("[\x00\ud800-\udfff]")
_WORD_END = frozenset(" \t\r\n")
_BANGS = re.compile(r"(?:\s*!)+")
# OpenInput: what ``re.ASCII``'s \s is (``_TRANSACTION``); _Brackets: what it looks at.
_ASCII_BLANK = frozenset(" \t\n\r\f\v")
_TRANSACTION_WORD = "transaction"
_JSON_MARK = re.compile(r'[\\"{}\[\]]')
_UNDECIDED, _ONE_LINE, _JSON, _TRANSACTION_KIND = "undecided", "one line", "json", "transaction"

#: The longest input qmpsh takes (``--max-input`` raises it): a script line, ``-c``, a
#: paste. QEMU parses a command at about 0.2 MB/s, its monitor stalled meanwhile, and
#: the prompt's editor lays a line out on every key: a longer one is most likely a mistake.
MAX_INPUT = 1 << 20

#: How deep JSON in an input may nest. Python's parser goes as deep as its stack lets
#: it, which differs by version (3.14 takes 10,000 levels, 3.11 under 1,000): a limit
#: of qmpsh's own gives the same answer on every Python, and leaves the checks after
#: the parser room. No QMP command's arguments come near it.
MAX_NESTING = 512


def over_limit(size: int, limit: int) -> str:
    """What refusing an input of ``size`` characters says."""
    return f"{size:,} characters, over the limit of {limit:,} for one input (--max-input raises it)"


@dataclass(frozen=True)
class Arg:
    """One ``key=value`` of the shorthand; ``path`` is the dotted key split."""

    path: tuple[str, ...]
    value: object
    raw: str
    quoted: bool
    column: int

    @property
    def key(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class QmpCall:
    """``command k=v ...``; ``arguments`` nests dotted keys, each on its own."""

    command: str
    args: tuple[Arg, ...] = ()
    column: int = 0
    checked: bool = True  # False after a leading '!': no schema checks, values as typed

    @property
    def arguments(self) -> dict[str, object]:
        return build_arguments(self.args)

    def message(self, arguments: dict[str, object] | None = None) -> dict[str, object]:
        """The command, with ``arguments`` (schema-typed) or the values as typed."""
        msg: dict[str, object] = {"execute": self.command}
        if self.args:
            msg["arguments"] = self.arguments if arguments is None else arguments
        return msg


@dataclass(frozen=True)
class RawJson:
    """A JSON object typed by hand; sent as written."""

    message: dict[str, object]
    checked: bool = True

    @property
    def command(self) -> str:
        name = self.message.get("execute", self.message.get("exec-oob"))
        return name if isinstance(name, str) else ""


@dataclass(frozen=True)
class Transaction:
    """qmp-shell's ``transaction( ... )``: one QMP transaction of several actions."""

    actions: tuple[QmpCall, ...]
    checked: bool = True
    command = "transaction"

    def message(self) -> dict[str, object]:
        actions = [{"type": a.command, "data": a.arguments} for a in self.actions]
        return {"execute": "transaction", "arguments": {"actions": actions}}


@dataclass(frozen=True)
class HmpLine:
    """One HMP command line, sent through ``human-monitor-command``."""

    command_line: str

    def message(self) -> dict[str, object]:
        return {
            "execute": "human-monitor-command",
            "arguments": {"command-line": self.command_line},
        }


@dataclass(frozen=True)
class Builtin:
    """A ``/name [argument]`` built-in handled by qmpsh itself."""

    name: str
    argument: str = ""

    @property
    def spec(self) -> BuiltinSpec:
        """What the registry declares for it (the parser makes only known ones)."""
        return BUILTINS[self.name]


Parsed = QmpCall | RawJson | Transaction | HmpLine | Builtin


def parse(text: str, *, hmp_mode: bool = False) -> Parsed | None:
    """Parse one (possibly multi-line) input; ``None`` for blank lines and comments."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    bad = _UNSENDABLE.search(text)
    if bad:
        what = "a NUL byte" if bad.group() == "\x00" else "bytes that are not UTF-8"
        raise InputError(f"input contains {what}", bad.start())
    offset = len(text) - len(text.lstrip())
    if stripped.startswith("/"):
        return _parse_builtin(stripped, offset)
    if hmp_mode:
        return HmpLine(stripped)
    if stripped.startswith("!"):  # send as typed: no schema checks (columns kept)
        # Every leading '!' is blanked at once ('!!x' is '!x'): one recursion per '!'
        # overflowed the stack on a long run of them.
        bangs = _BANGS.match(text)
        assert bangs is not None
        unchecked = parse(text[: bangs.end()].replace("!", " ") + text[bangs.end() :])
        if isinstance(unchecked, (QmpCall, RawJson, Transaction)):
            return replace(unchecked, checked=False)
        raise InputError("'!' goes before a QMP command or raw JSON", offset)
    if stripped.startswith("{"):
        return RawJson(_parse_raw_json(stripped, offset))
    if _TRANSACTION.match(text):
        return _parse_transaction(text)
    calls = _parse_calls(text, 0, separators="")
    if len(calls) != 1:  # pragma: no cover - one line without separators is one call
        raise InputError("expected one command", offset)
    return calls[0]


def is_incomplete(text: str, *, multiline_json: bool = True, hmp_mode: bool = False) -> bool:
    """True while an input needs more lines: an open transaction, open JSON braces (REPL)."""
    scanner = OpenInput(multiline_json=multiline_json, hmp_mode=hmp_mode)
    scanner.feed(text)
    return scanner.incomplete


class OpenInput:
    """Whether an input needs more lines, fed piece by piece in time linear in its size.

    A paste of many lines asks after each one; asking ``is_incomplete`` of the text so
    far each time was quadratic. Each character is looked at once: the start decides
    what the input is (raw JSON, a ``transaction(``, anything else, which is one line),
    then JSON carries its open brackets and strings, a transaction its last visible
    character.
    """

    __slots__ = (
        "_brackets",
        "_hmp_mode",
        "_kind",
        "_last",
        "_matched",
        "_multiline_json",
        "_plain_lead",
    )

    def __init__(self, *, multiline_json: bool = True, hmp_mode: bool = False) -> None:
        self._multiline_json = multiline_json
        self._hmp_mode = hmp_mode
        self._kind = _UNDECIDED
        self._plain_lead = True  # only ASCII blanks so far: "transaction(" may still start
        self._matched = 0  # characters of "transaction" seen
        self._brackets = _Brackets()
        self._last = ""

    @property
    def incomplete(self) -> bool:
        if self._kind is _JSON:
            return self._brackets.depth > 0
        if self._kind is _TRANSACTION_KIND:
            return self._last != ")"
        return False

    def feed(self, text: str) -> None:
        """Take the next piece of the input (a line break is a character like any other)."""
        i = self._decide(text) if self._kind is _UNDECIDED else 0
        if self._kind is _JSON:
            for _ in self._brackets.scan(text, i):
                pass
        elif self._kind is _TRANSACTION_KIND:
            visible = text[i:].rstrip()
            if visible:
                self._last = visible[-1]

    def _decide(self, text: str) -> int:
        """Read the start of the input up to what it is; the index where that was known."""
        for i, ch in enumerate(text):
            if self._matched == 0:
                if ch.isspace():
                    self._plain_lead = self._plain_lead and ch in _ASCII_BLANK
                    continue
                if ch == "/" or self._hmp_mode:
                    self._kind = _ONE_LINE
                elif ch == "{":
                    self._kind = _JSON if self._multiline_json else _ONE_LINE
                    return i
                elif ch == "t" and self._plain_lead:
                    self._matched = 1
                    continue
                else:
                    self._kind = _ONE_LINE
            elif self._matched < len(_TRANSACTION_WORD):
                if ch == _TRANSACTION_WORD[self._matched]:
                    self._matched += 1
                    continue
                self._kind = _ONE_LINE
            elif ch in _ASCII_BLANK:
                continue
            elif ch == "(":
                self._kind, self._last = _TRANSACTION_KIND, ch
                return i + 1
            else:
                self._kind = _ONE_LINE
            return len(text)
        return len(text)


class _Brackets:
    """JSON's brackets outside its strings, read piece by piece: the one scan behind
    whether an input is complete, where a JSON value typed in shorthand ends, and how
    deep valid JSON nests. Each character is looked at once (a regular expression
    finds the next one that matters)."""

    __slots__ = ("_escaped", "_in_string", "depth")

    def __init__(self) -> None:
        self.depth, self._in_string, self._escaped = 0, False, False

    def scan(self, text: str, i: int = 0) -> Iterator[int]:
        """The index of each bracket of ``text`` from ``i``; ``depth`` is after it."""
        n = len(text)
        if self._escaped and i < n:
            self._escaped, i = False, i + 1
        while True:
            found = _JSON_MARK.search(text, i)
            if found is None:
                return
            ch, i = found.group(), found.end()
            if self._in_string:
                if ch == "\\":
                    if i == n:
                        self._escaped = True
                        return
                    i += 1
                elif ch == '"':
                    self._in_string = False
            elif ch == '"':
                self._in_string = True
            elif ch in "{[":
                self.depth += 1
                yield i - 1
            elif ch != "\\":  # a closing bracket (a backslash outside strings is no mark)
                self.depth -= 1
                yield i - 1


def _parse_builtin(stripped: str, offset: int) -> Parsed:
    name, _, rest = stripped[1:].partition(" ")
    rest = rest.strip()
    if name == "hmp" and rest:
        return HmpLine(rest)
    if name not in BUILTINS:
        # repr: the name runs to the first space, so it may hold a newline ("/hmp{\n...")
        # and the message must stay one line
        raise InputError(f"unknown built-in {'/' + name!r} (try /help)", offset)
    return Builtin(name, rest)


def _loads(text: str, offset: int, what: str) -> object:
    def no_constant(name: str) -> object:
        raise ValueError(f"{name} is not valid JSON")

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):  # 1e400 would go out as Infinity, which is not JSON
            raise ValueError(f"{number} is out of range")
        return value

    try:
        value = json.loads(text, parse_constant=no_constant, parse_float=finite)
    except json.JSONDecodeError as err:
        raise InputError(f"invalid {what}: {err.msg}", offset + err.pos) from None
    except ValueError as err:
        raise InputError(f"invalid {what}: {err}", offset) from None
    except RecursionError:  # deeper than this Python's stack: past MAX_NESTING too
        raise InputError(f"invalid {what}: nested too deeply", offset) from None
    if _nested_too_deeply(text):
        raise InputError(f"invalid {what}: nested too deeply", offset)
    return value


def _nested_too_deeply(text: str) -> bool:
    """Whether the valid JSON ``text`` nests deeper than ``MAX_NESTING``."""
    if text.count("[") + text.count("{") <= MAX_NESTING:  # the usual case: no scan
        return False
    brackets = _Brackets()
    return any(brackets.depth > MAX_NESTING for _ in brackets.scan(text))


def _parse_raw_json(stripped: str, offset: int) -> dict[str, object]:
    value = _loads(stripped, offset, "JSON")
    if not isinstance(value, dict):  # pragma: no cover - starts with '{'
        raise InputError("raw JSON must be an object", offset)
    name = value.get("execute", value.get("exec-oob"))
    if not isinstance(name, str):
        raise InputError('raw JSON needs "execute": "<command>"', offset)
    if "id" in value and not isinstance(value["id"], str):
        raise InputError('raw JSON "id" must be a string', offset)
    return value


def _parse_transaction(text: str) -> Transaction:
    opened = _TRANSACTION.match(text)
    assert opened is not None
    body_start = opened.end()
    close = text.rstrip()
    if not close.endswith(")"):
        raise InputError("transaction( is missing its closing ')'", len(text) - len(text.lstrip()))
    body_end = len(close) - 1
    actions = _parse_calls(text[:body_end], body_start, separators=";\n")
    return Transaction(tuple(actions))


def _parse_calls(text: str, start: int, separators: str) -> list[QmpCall]:
    """Split ``text[start:]`` into calls at separators; each is ``command k=v ...``."""
    calls: list[QmpCall] = []
    command: str | None = None
    column = start
    args: list[Arg] = []
    i = start
    n = len(text)
    blank = " \t\r" if "\n" in separators else " \t\r\n"
    while True:
        while i < n and text[i] in blank:
            i += 1
        if command is None and not args and i < n and text[i] == "#" and "\n" in separators:
            # A comment line inside a multi-line transaction, as anywhere in a script.
            while i < n and text[i] != "\n":
                i += 1
        if i >= n or text[i] in separators:
            if command is not None:
                build_arguments(args)  # reject conflicting keys now, not when sending
                calls.append(QmpCall(command, tuple(args), column))
            elif args:
                raise InputError("missing command name before arguments", args[0].column)
            command, args = None, []
            if i >= n:
                return calls
            i += 1
            continue
        word_start = i
        while i < n and text[i] not in _WORD_END and text[i] != "=" and text[i] not in separators:
            if command is None and text[i] in "\"'{[":
                break
            i += 1
        word = text[word_start:i]
        if i < n and text[i] == "=":
            if command is None:
                raise InputError("a line starts with a command name, not key=value", word_start)
            arg, i = _parse_arg(text, word_start, word, i + 1, separators)
            args.append(arg)
        elif command is None and word:
            command, column = word, word_start
        elif command is None:
            raise InputError(f"expected a command name, found {text[i]!r}", i)
        else:
            bad = word or text[i]
            raise InputError(f"expected key=value, found {bad!r}", word_start)


def _parse_arg(text: str, key_start: int, key: str, i: int, separators: str) -> tuple[Arg, int]:
    if not key:
        raise InputError("missing key before '='", key_start)
    path = tuple(key.split("."))
    if not all(path):
        raise InputError(f"bad key {key!r}: empty name between dots", key_start)
    n = len(text)
    value_start = i
    if i < n and text[i] in "\"'":
        quote = text[i]
        chars: list[str] = []
        i += 1
        while i < n and text[i] != quote:
            if quote == '"' and text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\':
                i += 1
            chars.append(text[i])
            i += 1
        if i >= n:
            raise InputError(f"unterminated {quote} in value of {key!r}", value_start)
        i += 1
        if i < n and text[i] not in _WORD_END and text[i] not in separators:
            raise InputError(f"unexpected text after closing {quote}", i)
        value = "".join(chars)
        return Arg(path, value, text[value_start:i], True, key_start), i
    if i < n and text[i] in "{[":
        end = _bracket_end(text, i)
        if end < n and text[end] not in _WORD_END and text[end] not in separators:
            raise InputError(f"unexpected text after closing {text[end - 1]!r}", end)
        raw = text[i:end]
        return Arg(path, _loads(raw, i, f"JSON in value of {key!r}"), raw, False, key_start), end
    while i < n and text[i] not in _WORD_END and text[i] not in separators:
        i += 1
    raw = text[value_start:i]
    return Arg(path, bare_value(raw), raw, False, key_start), i


def _bracket_end(text: str, i: int) -> int:
    brackets = _Brackets()
    for j in brackets.scan(text, i):
        if brackets.depth == 0:
            return j + 1
    raise InputError(f"unbalanced {text[i]!r}", i)


def bare_value(raw: str) -> object:
    """Type an unquoted value as JSON would (numbers, true/false/null), else a string."""
    if raw in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[raw]
    if _JSON_NUMBER.match(raw):
        try:
            number = json.loads(raw)
        except ValueError:  # more digits than int() converts
            return raw
        if isinstance(number, float) and not math.isfinite(number):  # 1e400
            return raw
        return number
    return raw


def build_arguments(args: Sequence[Arg]) -> dict[str, object]:
    """Nest dotted keys, each independently: ``a.b=1 a.c=2`` -> ``{"a": {"b": 1, "c": 2}}``."""
    root: dict[str, object] = {}
    made: set[int] = {id(root)}  # objects built from dots, which later keys may extend
    for arg in args:
        node = root
        for depth, part in enumerate(arg.path[:-1]):
            child = node.get(part)
            if child is None and part not in node:
                child = {}
                node[part] = child
                made.add(id(child))
            elif not (isinstance(child, dict) and id(child) in made):
                prefix = ".".join(arg.path[: depth + 1])
                raise InputError(f"{arg.key!r}: {prefix!r} already has a value", arg.column)
            assert isinstance(child, dict)
            node = child
        leaf = arg.path[-1]
        if leaf in node:
            raise InputError(f"duplicate argument {arg.key!r}", arg.column)
        node[leaf] = arg.value
    return root


def as_written(value: object) -> str:
    """A JSON scalar as it is written (``true``, ``null``, ``5``, ``drive0``): how a
    condition typed as ``k=v`` compares with an event's data, and how qmpsh quotes a
    value in its own sentences."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)
