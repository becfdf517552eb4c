"""Tab completion at the prompt: ``language.candidates`` offers, this module fetches
and shows.

The live values (node names, QOM paths, HMP commands ...) that ``language.live_values``
says to ask for are awaited in the completion coroutine, never in a key handler, so
typing never waits for QEMU; a local path (after ``/fd`` or ``filename=``) is listed
from the disk here. Then prompt_toolkit's glue: the completer, and Tab as readline has
it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Protocol

from qmpsh.language import completion as ctx_
from qmpsh.language import live_values as live
from qmpsh.language.candidates import Candidate, live_candidates, needs_words, ranked
from qmpsh.language.completion import Context, context
from qmpsh.language.schema import SchemaIndex
from qmpsh.render.escape import visible

if TYPE_CHECKING:
    from prompt_toolkit.buffer import Buffer
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document

    from qmpsh.language.manual import Manual


class Knowledge(Protocol):
    """What the completer reads from the session (whatever is current)."""

    @property
    def index(self) -> SchemaIndex | None: ...

    @property
    def commands(self) -> tuple[str, ...]: ...

    @property
    def hmp_mode(self) -> bool: ...


class LiveKnowledge(Knowledge, Protocol):
    """A session that can also ask the running QEMU (``Session.lookup``)."""

    def manual(self) -> Manual | None:
        """QEMU's reference manual (read at its first need), or None."""
        ...

    async def lookup(self, question: live.Question) -> object:
        """The reply's return value, or None if it failed or took too long."""
        ...

    def looked_up(self, question: live.Question) -> object:
        """The reply already at hand, without asking."""
        ...


def complete(
    before_cursor: str,
    knowledge: Knowledge,
    replies: Callable[[live.Question], object] | None = None,
    manual: Manual | None = None,
) -> tuple[str, list[Candidate]]:
    """The word to replace and the ranked candidates for it.

    ``replies`` gives live values already at hand (``Session.looked_up``); without
    it only the schema and the learned command names are used.
    """
    ctx = context(before_cursor, hmp_mode=knowledge.hmp_mode)
    found_live = live_candidates(live.wanted(ctx, knowledge.index), replies) if replies else []
    return _ranked(ctx, knowledge, found_live, manual)


async def complete_live(
    before_cursor: str, knowledge: LiveKnowledge
) -> tuple[str, list[Candidate]]:
    """``complete`` with live values fetched first (each bounded by the session's timeout)."""
    ctx = context(before_cursor, hmp_mode=knowledge.hmp_mode)
    manual = knowledge.manual() if needs_words(ctx) else None
    wants = live.wanted(ctx, knowledge.index)
    if wants:
        got = await asyncio.gather(*(knowledge.lookup(w.question) for w in wants))
        answers = {w.question: reply for w, reply in zip(wants, got, strict=True)}
        return _ranked(ctx, knowledge, live_candidates(wants, answers.get), manual)
    return _ranked(ctx, knowledge, [], manual)


def _ranked(
    ctx: Context,
    knowledge: Knowledge,
    found_live: list[Candidate],
    manual: Manual | None = None,
) -> tuple[str, list[Candidate]]:
    if ctx.kind == ctx_.PATH:
        found_live = _paths(ctx.word.lstrip("\"'"))
    return ranked(ctx, knowledge.index, knowledge.commands, found_live, manual)


def _paths(word: str) -> list[Candidate]:
    """Files in the directory ``word`` names so far: the one kind read from the disk here.

    Hidden ones only once their leading '.' is typed, as shells do.
    """
    folder = word[: word.rfind("/") + 1]
    try:
        with os.scandir(os.path.expanduser(folder or ".")) as entries:
            found = sorted((entry.name, entry.is_dir()) for entry in entries)
    except (OSError, ValueError):  # no such directory; a NUL or a lone surrogate in the name
        return []
    hidden = word[len(folder) :].startswith(".")
    return [
        Candidate(folder + name + "/" * is_dir, "directory" if is_dir else "file")
        for name, is_dir in found
        if hidden or not name.startswith(".")
    ]


def make_completer(knowledge: LiveKnowledge) -> Completer:
    """A prompt_toolkit ``Completer`` over the session's current knowledge.

    prompt_toolkit runs ``get_completions_async`` as its own task while the user
    types, so waiting there for a live value never delays a keystroke; the
    synchronous path uses only the live values already fetched.
    """
    from prompt_toolkit.completion import Completer, Completion

    def _shown(cand: Candidate, word: str) -> Completion:
        # The text goes in as it is; the menu shows it and its note escaped, as
        # everything a server named (schema names, live values) is shown.
        return Completion(
            cand.text, -len(word), display=visible(cand.text), display_meta=visible(cand.meta)
        )

    class QmpshCompleter(Completer):
        def get_completions(
            self, document: Document, complete_event: CompleteEvent
        ) -> Iterator[Completion]:
            before = document.text_before_cursor
            wants = needs_words(context(before, hmp_mode=knowledge.hmp_mode))
            manual = knowledge.manual() if wants else None
            word, found = complete(before, knowledge, knowledge.looked_up, manual)
            for cand in found:
                yield _shown(cand, word)

        async def get_completions_async(
            self, document: Document, complete_event: CompleteEvent
        ) -> AsyncGenerator[Completion, None]:
            word, found = await complete_live(document.text_before_cursor, knowledge)
            for cand in found:
                yield _shown(cand, word)

    return QmpshCompleter()


def press_tab(buffer: Buffer) -> Coroutine[object, object, None] | None:
    """Tab as readline has it: the longest common prefix first, the menu when nothing
    more is common; a taken ``key=`` goes on to that key's values.

    What to complete is read now, when the key arrives, so a Tab typed in one burst
    with the characters before it completes all of them; a coroutine is returned
    when candidates must be fetched (run it in the background), None when done.
    """
    state = buffer.complete_state
    chosen = state.current_completion if state is not None else None
    if chosen is not None:
        if not chosen.text.endswith(("=", ".")):
            buffer.complete_next()  # stepping through the menu
            return None
        buffer.complete_state = None  # a key taken: what follows is its value
    return _tab(buffer, buffer.document)


async def _tab(buffer: Buffer, document: Document) -> None:
    from prompt_toolkit.buffer import CompletionState
    from prompt_toolkit.completion import CompleteEvent, get_common_complete_suffix

    if buffer.completer is None:
        return
    event = CompleteEvent(completion_requested=True)
    found = [c async for c in buffer.completer.get_completions_async(document, event)]
    if buffer.document != document or not found:
        return  # typed on meanwhile: the completion while typing follows the new text
    if len(found) == 1:
        buffer.apply_completion(found[0])
        return
    common = get_common_complete_suffix(document, found)
    if common:
        buffer.insert_text(common)  # the menu for the longer word follows as typed
        return
    shown = buffer.complete_state
    if (
        shown is not None
        and shown.original_document == document
        and [c.text for c in shown.completions] == [c.text for c in found]
    ):
        buffer.complete_next()  # the menu is up already: Tab steps into it
        return
    buffer.complete_state = CompletionState(original_document=document, completions=found)
    buffer.on_completions_changed.fire()
