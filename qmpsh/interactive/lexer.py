"""Input highlighting: a pygments lexer for the shorthand, dispatching on the prefix.

``{`` is JSON, ``/hmp`` and HMP mode are plain text after the command word,
``/name`` is a built-in; otherwise ``command key=value ...``, where a command
the server knows looks different from one it does not (a typo shows before
Enter). What the server knows is read at each call, so the lexer follows the
session as the schema arrives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator

from pygments.lexer import Lexer
from pygments.lexers.data import JsonLexer
from pygments.token import (
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
    _TokenType,
)

from qmpsh.language.builtin_registry import BUILTINS
from qmpsh.language.completion import split_tokens

TokenStream = Iterator[tuple[int, _TokenType, str]]

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_WORD = re.compile(r"\S+|\s+")


def make_lexer(known: Callable[[], Collection[str]], hmp_mode: Callable[[], bool]) -> type[Lexer]:
    """A pygments lexer class bound to the session's current knowledge."""

    class QmpshLexer(Lexer):
        name = "qmpsh"

        def get_tokens_unprocessed(self, text: str) -> TokenStream:
            return lex(text, known(), hmp_mode())

    return QmpshLexer


def lex(text: str, known: Collection[str], hmp_mode: bool = False) -> TokenStream:
    """(offset, token, text) for one input."""
    stripped = text.lstrip()
    lead = len(text) - len(stripped)
    if lead:
        yield 0, Whitespace, text[:lead]
    if stripped.startswith("{"):
        at = lead
        for token, value in JsonLexer(stripnl=False, ensurenl=False).get_tokens(stripped):
            yield at, token, value
            at += len(value)
        return
    if stripped.startswith("/"):
        word, _, rest = stripped.partition(" ")
        yield lead, Keyword if word[1:] in BUILTINS else Error, word
        if rest or stripped.endswith(" "):
            yield lead + len(word), Text, stripped[len(word) :]
        return
    if hmp_mode:
        yield lead, Text, stripped
        return
    bang = stripped.startswith("!")
    if bang:
        yield lead, Operator, "!"
    yield from _shorthand(stripped[bang:], lead + bang, known)


def _shorthand(line: str, base: int, known: Collection[str]) -> TokenStream:
    tokens, current = split_tokens(line)
    words = [*tokens, *([current] if current is not None else [])]
    at = 0
    for index, word in enumerate(words):
        start = line.index(word, at)
        if start > at:
            yield base + at, Whitespace, line[at:start]
        if index == 0:
            good = not known or word in known or word.startswith("transaction")
            yield base + start, Name.Function if good else Error, word
        else:
            yield from _argument(word, base + start)
        at = start + len(word)
    if at < len(line):
        yield base + at, Whitespace, line[at:]


def _argument(word: str, start: int) -> TokenStream:
    key, eq, value = word.partition("=")
    if not eq:
        yield start, Error, word
        return
    yield start, Name.Attribute, key
    yield start + len(key), Operator, "="
    at = start + len(key) + 1
    if not value:
        return
    if value[0] in "\"'":
        yield at, String, value
    elif value[0] in "{[":
        yield at, Punctuation, value
    elif value in ("true", "false", "null"):
        yield at, Keyword.Constant, value
    elif _NUMBER.match(value):
        yield at, Number, value
    else:
        yield at, String, value
