"""Pure: what is being completed at the cursor? (a kind, a word, and what is given)

Works on incomplete input the strict parser would reject (an open quote, a
half-typed key), in the manner of pgcli's ``suggest_type``: it returns the
*kind* of suggestion and never looks anything up, so it is tested on plain
strings and the completer maps kinds to candidates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from qmpsh.errors import InputError
from qmpsh.language.builtin_registry import BUILTINS, ArgumentKind
from qmpsh.language.syntax import QmpCall, is_incomplete, parse

#: Kinds of completion.
COMMAND = "command"  # a QMP command name (or built-in) at the start of the line
BUILTIN = "builtin"  # after '/'
ARGUMENT = "argument"  # a key (``path`` is the dotted prefix already typed)
VALUE = "value"  # the value of key ``path``
HMP = "hmp"  # an HMP line (``words`` holds the words before the cursor)
JSON_COMMAND = "json-command"  # the string after "execute": in raw JSON
JSON_ARGUMENT = "json-argument"  # a key inside "arguments": {...} or an inline key={...}
WAIT_EVENT = "event"  # an event name (for /wait, /events mute)
EVENT_LOG = "event-log"  # an event name or one of EVENT_LOG_VERBS (for /events)
HELP_TOPIC = "help-topic"  # a command or event name after /help
PATH = "path"  # a local file (for /fd, and the values of HOST_PATHS)
ACTION = "action"  # an action's name inside ``transaction(``
NONE = "none"

#: What ``/events`` takes before event names instead of a glob, and what each does.
EVENT_LOG_VERBS = {
    "mute": "hide at the prompt (still logged)",
    "unmute": "show at the prompt again",
}

_JSON_EXECUTE = re.compile(r'"(?:execute|exec-oob)"\s*:\s*"([^"]*)\Z')
_JSON_NAME = re.compile(r'"(?:execute|exec-oob)"\s*:\s*"([^"]+)"')
_JSON_ARG_KEY = re.compile(r'"arguments"\s*:\s*\{(?:[^{}]*,)?\s*"([^"]*)\Z')


#: (commands, dotted keys): space-separated globs of the str members that name a file on
#: the host qmpsh runs beside, so their values complete as local paths. Only members
#: whose name and command leave no doubt: ``filename`` of blockdev-add/-create's file,
#: host_device and host_cdrom drivers (ssh, nfs, gluster ``path`` are remote), the new
#: image of drive-mirror/-backup and blockdev-snapshot-sync, a medium's image, dumps,
#: and a file chardev's ``in``/``out``/``logfile``. QOM paths and socket paths are not.
HOST_PATHS: tuple[tuple[str, str], ...] = (
    ("blockdev-add blockdev-create", "filename *.filename"),
    ("blockdev-change-medium screendump pmemsave memsave", "filename"),
    ("xen-save-devices-state xen-load-devices-state", "filename"),
    ("drive-mirror drive-backup", "target"),
    ("blockdev-snapshot-sync", "snapshot-file"),
    ("chardev-add chardev-change", "backend.data.in backend.data.out backend.data.logfile"),
)


def is_host_path(command: str, path: tuple[str, ...]) -> bool:
    """Whether the value of ``command``'s dotted key ``path`` names a local file."""
    key = ".".join(path)
    return any(
        any(fnmatchcase(command, c) for c in commands.split())
        and any(fnmatchcase(key, k) for k in keys.split())
        for commands, keys in HOST_PATHS
    )


@dataclass(frozen=True)
class Context:
    """The completion position: ``word`` is replaced by the chosen candidate."""

    kind: str
    word: str = ""
    command: str = ""
    path: tuple[str, ...] = ()
    given: dict[str, object] = field(default_factory=dict)
    words: tuple[str, ...] = ()


def context(before: str, *, hmp_mode: bool = False) -> Context:
    """Classify the text left of the cursor."""
    stripped = before.lstrip()
    if stripped.startswith("{") and not hmp_mode:  # in HMP mode '{' starts an HMP line
        return _json_context(stripped)
    if not hmp_mode and is_incomplete(before):  # inside an open transaction(
        return _action_context(stripped.split("(", 1)[1])
    if "\n" in before and not stripped.startswith("transaction"):
        return Context(NONE)
    line = before.rsplit("\n", 1)[-1].lstrip()
    if line.startswith("/"):
        return _builtin_context(line)
    if hmp_mode:
        return _hmp_context(line)
    return _command_context(line)


def _builtin_context(line: str) -> Context:
    """A built-in's name, or its argument as its registry entry says it completes."""
    while True:
        name, space, rest = line[1:].partition(" ")
        if not space:
            return Context(BUILTIN, line)
        spec = BUILTINS.get(name)
        if spec is None:
            return Context(NONE)
        if spec.argument != "topic" or not rest.lstrip().startswith("/"):
            return _ARGUMENT_CONTEXTS[spec.argument](rest)
        # '/help /help x' is '/help x', '/help /wait X' completes like '/wait X': a loop,
        # not one recursion per word (a long line overflowed)
        line = rest.lstrip()


def _no_argument(rest: str) -> Context:
    return Context(NONE)


def _topic_context(rest: str) -> Context:
    topic = context(rest)  # /help blockdev-add driver=... completes like the command
    return Context(HELP_TOPIC, topic.word) if topic.kind == COMMAND else topic


def _event_context(rest: str) -> Context:
    """``EVENT [k=v ...]``: the event name only."""
    words = rest.split()
    word = "" if not rest or rest[-1].isspace() else words[-1]  # any blank split() splits on
    return Context(WAIT_EVENT, word) if len(words) <= bool(word) else Context(NONE)


def _event_log_context(rest: str) -> Context:
    """``[GLOB] [k=v ...]`` or ``mute|unmute NAME ...``."""
    words = rest.split()
    word = "" if not rest or rest[-1].isspace() else words[-1]
    if len(words) <= bool(word):
        return Context(EVENT_LOG, word)
    if words[0] in EVENT_LOG_VERBS:
        return Context(WAIT_EVENT, word)
    return Context(NONE)


def _path_command_context(rest: str) -> Context:
    """``PATH CMD ...``: a local file, then a QMP command (not a built-in)."""
    path, space, command = rest.lstrip().partition(" ")
    if not space:
        return Context(PATH, path)
    if command.lstrip().startswith("/"):
        return Context(NONE)
    return context(command)


def _command_context(line: str) -> Context:
    """``command k=v ...`` left of the cursor."""
    tokens, current = split_tokens(line)
    if not tokens and current is not None and "=" not in current:
        return Context(COMMAND, current)
    if not tokens:
        return Context(COMMAND, "")
    command = tokens[0]
    if command.startswith("transaction") and "(" in command:
        return Context(NONE)
    given = _given(command, tokens[1:])
    if current is None:
        return Context(ARGUMENT, "", command, (), given)
    key, eq, value = current.partition("=")
    if eq and value.startswith(("{", "[")):
        return _inline_json_context(value, command, tuple(key.split(".")), given)
    if eq:
        dotted = tuple(key.split("."))
        kind = PATH if is_host_path(command, dotted) else VALUE
        return Context(kind, value, command, dotted, given)
    *path, word = key.split(".")
    return Context(ARGUMENT, word, command, tuple(path), given)


_JSON_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)("?)|([{}\[\]:,])|([^\s{}\[\]:,"]+))')


def _inline_json_context(
    text: str, command: str, path: tuple[str, ...], given: dict[str, object]
) -> Context:
    """A key being typed inside an inline JSON value (``file={"dr``, ``caps=[{"ca``): the
    members of the object it is in, as raw JSON's ``"arguments"`` keys are. Anything
    else: no candidates.

    Walks the unfinished JSON keeping, for each open object or array, its path and what
    it holds so far (a union's discriminator picks its members).
    """
    # each open container: its dotted path and what it holds so far
    stack: list[tuple[tuple[str, ...], dict[str, object] | list[object]]] = []
    pending: str | None = None
    expect_key = False
    at = 0
    while at < len(text):
        token = _JSON_TOKEN.match(text, at)
        if token is None:
            return Context(NONE)
        at = token.end()
        string, closed, punct, bare = token.groups()
        if string is not None and not closed:  # the cursor is in this string
            if not expect_key or not stack or at < len(text):
                return Context(NONE)
            nested = _with(given, path, stack[0][1])
            return Context(JSON_ARGUMENT, string, command, stack[-1][0], nested)
        if not stack and punct not in ("{", "["):
            return Context(NONE)
        if punct in ("{", "["):
            where = path
            if stack:
                where, holds = stack[-1]
                step = pending if isinstance(holds, dict) else str(len(holds))
                if step is None:  # an object where a key belongs
                    return Context(NONE)
                where = (*where, step)
            new: dict[str, object] | list[object] = {} if punct == "{" else []
            if stack:
                _put(stack[-1][1], pending, new)
            stack.append((where, new))
            pending, expect_key = None, punct == "{"
        elif punct in ("}", "]"):
            stack.pop()
            if not stack:
                return Context(NONE)
            expect_key = False
        elif punct == ",":
            expect_key, pending = isinstance(stack[-1][1], dict), None
        elif punct == ":":
            expect_key = False
        elif expect_key and string is not None:
            pending, expect_key = string, False
        else:
            _put(stack[-1][1], pending, string if string is not None else bare)
    return Context(NONE)


def _put(holds: dict[str, object] | list[object], key: str | None, value: object) -> None:
    if isinstance(holds, list):
        holds.append(value)
    elif key is not None:
        holds[key] = value


def _with(given: dict[str, object], path: tuple[str, ...], value: object) -> dict[str, object]:
    """``given`` with ``value`` at dotted ``path`` (a copy; what was there is kept)."""
    if not path:
        return given
    merged = dict(given)
    inner = merged.get(path[0])
    if len(path) == 1:
        merged[path[0]] = value
    else:
        merged[path[0]] = _with(inner if isinstance(inner, dict) else {}, path[1:], value)
    return merged


def _action_context(body: str) -> Context:
    """An action's name after ``(``, ``;`` or a line break; then its arguments, which
    are those of the command of the same name (``blockdev-snapshot-sync`` ...)."""
    action = re.split(r"[;\n]", body)[-1].lstrip()
    tokens, current = split_tokens(action)
    if tokens:
        return _command_context(action)
    if current is not None and "=" in current:
        return Context(NONE)
    return Context(ACTION, current or "")


def split_tokens(line: str) -> tuple[list[str], str | None]:
    """Split on blanks outside quotes and brackets; the unfinished last token apart.

    Returns (complete tokens, current token or None when the cursor follows a blank).
    """
    tokens: list[str] = []
    start: int | None = None
    quote = ""
    depth = 0
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                continue
        elif ch in "\"'" and depth == 0:
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]" and depth:
            depth -= 1
        elif ch in " \t" and depth == 0:
            if start is not None:
                tokens.append(line[start:i])
                start = None
            continue
        if start is None:
            start = i
    current = line[start:] if start is not None else None
    return tokens, current


def _given(command: str, tokens: list[str]) -> dict[str, object]:
    """Arguments already typed, as far as they parse (for union tags and dropping)."""
    given: dict[str, object] = {}
    for token in tokens:
        try:
            parsed = parse(f"{command} {token}")
        except InputError:
            continue
        if isinstance(parsed, QmpCall):
            _merge(given, parsed.arguments)
    return given


def _merge(into: dict[str, object], new: dict[str, object]) -> None:
    for key, value in new.items():
        old = into.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            _merge(old, value)
        elif key not in into:
            into[key] = value


def _hmp_context(line: str) -> Context:
    words = line.split()
    # any trailing blank (a tab, U+3000), not only ' ': the word must end at the cursor
    if not words or line[-1].isspace():
        return Context(HMP, "", words=tuple(words))
    return Context(HMP, words[-1], words=tuple(words[:-1]))


def _json_context(text: str) -> Context:
    execute = _JSON_EXECUTE.search(text)
    if execute:
        return Context(JSON_COMMAND, execute.group(1))
    name = _JSON_NAME.search(text)
    key = _JSON_ARG_KEY.search(text)
    if name and key:
        return Context(JSON_ARGUMENT, key.group(1), name.group(1))
    return Context(NONE)


_ARGUMENT_CONTEXTS: dict[ArgumentKind, Callable[[str], Context]] = {
    "none": _no_argument,
    "topic": _topic_context,
    "event": _event_context,
    "event-log": _event_log_context,
    "hmp-line": _hmp_context,
    "path-command": _path_command_context,
    "command": context,
}
