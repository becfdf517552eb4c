"""Tab completion: what is being completed here (pure), then candidates for it.

``context()`` decides the *kind* of completion from the text before the cursor
without looking anything up, in the manner of pgcli's ``suggest_type``;
``candidates()`` looks the kind up in what the session knows. The schema issue
adds kinds (argument names, members, enum values, live values) to both tables
without touching the prompt_toolkit glue at the bottom.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qmpsh.syntax import BUILTINS

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document


@dataclass(frozen=True)
class Context:
    """What the word under the cursor is: ``kind`` and the partial ``word``."""

    kind: str  # "command", "builtin" or "none"
    word: str


@dataclass(frozen=True)
class Candidate:
    text: str
    meta: str = ""


def context(before_cursor: str, *, hmp_mode: bool = False) -> Context:
    """Classify the completion position from the text left of the cursor."""
    lines = before_cursor.split("\n")
    line = lines[-1]
    stripped = line.lstrip()
    if len(lines) > 1 or stripped.startswith("{"):
        return Context("none", "")
    if " " in stripped or "\t" in stripped:
        return Context("none", "")  # arguments: the schema issue's job
    if stripped.startswith("/"):
        return Context("builtin", stripped)
    if hmp_mode:
        return Context("none", "")
    return Context("command", stripped)


def candidates(ctx: Context, commands: Sequence[str]) -> list[Candidate]:
    """Everything that fits ``ctx`` (prefix filtering is left to the caller)."""
    builtins = [
        Candidate("/" + name, text.split("  ")[-1].strip()) for name, text in BUILTINS.items()
    ]
    if ctx.kind == "builtin":
        return builtins
    if ctx.kind == "command":
        return [Candidate(name, "command") for name in commands] + builtins
    return []


def matches(word: str, found: Iterable[Candidate]) -> Iterator[Candidate]:
    """Prefix matches first, then names that merely contain the word."""
    later = []
    for cand in found:
        if cand.text.startswith(word):
            yield cand
        elif word and word.lstrip("/") in cand.text:
            later.append(cand)
    yield from later


def make_completer(
    commands: Callable[[], Sequence[str]], hmp_mode: Callable[[], bool]
) -> Completer:
    """A prompt_toolkit ``Completer`` over the session's current knowledge."""
    from prompt_toolkit.completion import Completer, Completion

    class QmpshCompleter(Completer):
        def get_completions(
            self, document: Document, complete_event: CompleteEvent
        ) -> Iterator[Completion]:
            ctx = context(document.text_before_cursor, hmp_mode=hmp_mode())
            for cand in matches(ctx.word, candidates(ctx, commands())):
                yield Completion(cand.text, -len(ctx.word), display_meta=cand.meta)

    return QmpshCompleter()
