"""Tab completion: candidates for the kind of position the context found, fuzzy-ranked.

``candidates()`` is pure (a context, what the session knows and the live values
in, candidates out; only a local path, after ``/fd`` or ``filename=``, lists a
directory), so it is tested on recorded schemas and replies. Live values (node
names, QOM paths, HMP commands ...) come from ``language.live_values``; the
prompt_toolkit glue at the bottom awaits them in the completion coroutine, never
in a key handler, so typing never waits for QEMU. Arguments come required first,
already-given ones dropped, each with its type, required/optional and
deprecation beside it, and the first sentence of QEMU's manual about it where
the meta column has room.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from qmpsh.language import completion as ctx_
from qmpsh.language import live_values as live
from qmpsh.language.builtin_registry import BUILTINS
from qmpsh.language.completion import Context, context
from qmpsh.language.manual import first_sentence
from qmpsh.language.schema import Member, SchemaIndex
from qmpsh.render.escape import visible

if TYPE_CHECKING:
    from prompt_toolkit.buffer import Buffer
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document

    from qmpsh.language.manual import Manual


@dataclass(frozen=True)
class Candidate:
    text: str
    meta: str = ""


class Knowledge(Protocol):
    """What the completer reads from the session (whatever is current)."""

    @property
    def index(self) -> SchemaIndex | None: ...

    @property
    def commands(self) -> tuple[str, ...]: ...

    @property
    def hmp_mode(self) -> bool: ...


#: The meta column's room: a member's first sentence goes beside its type only if the
#: whole stays within it (cut at a word, with an ellipsis, when the sentence is longer).
META_WIDTH = 72
_MIN_WORDS = 16  # less room than this for the sentence: none of it


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


def candidates(
    ctx: Context,
    index: SchemaIndex | None,
    commands: Sequence[str],
    found_live: Sequence[Candidate] = (),
    manual: Manual | None = None,
) -> list[Candidate]:
    """Everything that fits ``ctx``, in the order it should be offered before ranking.

    ``found_live`` (from ``live_candidates``) follows what the schema offers; a name
    both know is offered once. ``manual`` adds its words to the members' meta.
    """
    static = _static(ctx, index, commands)
    if manual is not None and ctx.kind in (ctx_.ARGUMENT, ctx_.JSON_ARGUMENT, ctx_.VALUE):
        static = _with_words(ctx, static, manual)
    if not found_live:
        return static
    if ctx.kind == ctx_.ARGUMENT:
        found_live = [c for c in found_live if c.text[:-1] not in ctx.given]
    seen = {c.text for c in static}
    merged = list(static)
    for cand in found_live:
        if cand.text not in seen:
            seen.add(cand.text)
            merged.append(cand)
    return merged


def _static(ctx: Context, index: SchemaIndex | None, commands: Sequence[str]) -> list[Candidate]:
    if ctx.kind == ctx_.BUILTIN:
        return _builtins()
    if ctx.kind == ctx_.PATH:
        return _paths(ctx.word.lstrip("\"'"))
    if ctx.kind == ctx_.EVENT_LOG:
        verbs = [Candidate(verb, meaning) for verb, meaning in ctx_.EVENT_LOG_VERBS.items()]
        return verbs + (_events(index) if index else [])
    if ctx.kind in (ctx_.COMMAND, ctx_.JSON_COMMAND):
        found = [_command(name, index) for name in _command_names(index, commands)]
        return found + (_builtins() if ctx.kind == ctx_.COMMAND else [])
    if index is None:
        return []
    if ctx.kind == ctx_.ARGUMENT:
        return _arguments(ctx, index)
    if ctx.kind == ctx_.JSON_ARGUMENT:
        return [Candidate(m.name, _member_meta(m, index)) for m in _unused_members(ctx, index)]
    if ctx.kind == ctx_.VALUE:
        return _values(ctx, index)
    if ctx.kind == ctx_.WAIT_EVENT:
        return _events(index)
    if ctx.kind == ctx_.ACTION:
        marks = _action_features(index)
        return [
            Candidate(name, ", ".join(["transaction action", *marks.get(name, ())]))
            for name in transaction_actions(index)
        ]
    if ctx.kind == ctx_.HELP_TOPIC:
        topics = [_command(name, index) for name in sorted(index.commands)]
        return topics + _events(index)
    return []


def live_candidates(
    wants: Iterable[live.Want], replies: Callable[[live.Question], object]
) -> list[Candidate]:
    """Extract each wanted question's reply (None: failed, timed out, not asked).

    A want of notes adds none: its note goes after the meta of the name it is about.
    """
    found: list[Candidate] = []
    notes: dict[str, str] = {}
    for want in wants:
        reply = replies(want.question)
        if reply is None:
            continue
        values = want.extract(reply)
        if want.notes:
            for text, note in values:
                notes.setdefault(text, note)
        else:
            found += [Candidate(text, meta) for text, meta in values]
    return [Candidate(c.text, ", ".join(filter(None, (c.meta, notes.get(c.text))))) for c in found]


def needs_words(ctx: Context) -> bool:
    """Whether the candidates for ``ctx`` carry the manual's words (members, values)."""
    return ctx.kind in (ctx_.ARGUMENT, ctx_.JSON_ARGUMENT, ctx_.VALUE)


def _with_words(ctx: Context, found: list[Candidate], manual: Manual) -> list[Candidate]:
    """Each member's (or enum value's) first sentence after its meta, where it fits."""
    path = tuple(part for part in ctx.path if not part.isdigit())  # array elements
    values = None
    if ctx.kind == ctx_.VALUE:
        member = manual.member(ctx.command, path, ctx.given)
        values = manual.get(member.type) if member is not None else None
        if values is None:
            return found
    out = []
    for cand in found:
        if values is not None:
            entry = next((e for e in values.members if e.name == cand.text), None)
        else:
            entry = manual.member(ctx.command, (*path, cand.text.rstrip("=.")), ctx.given)
        out.append(Candidate(cand.text, _fitted(cand.meta, entry.text if entry else "")))
    return out


def _fitted(meta: str, text: str) -> str:
    """``meta — first sentence``, cut to ``META_WIDTH``; ``meta`` alone without room."""
    sentence = first_sentence(text)
    room = META_WIDTH - len(meta) - 3
    if not sentence or room < _MIN_WORDS:
        return meta
    if len(sentence) > room:
        sentence = sentence[: room - 1].rsplit(" ", 1)[0].rstrip(",;:") + "\u2026"
    return f"{meta} \u2014 {sentence}" if meta else sentence


def _builtins() -> list[Candidate]:
    return [Candidate("/" + name, spec.description) for name, spec in BUILTINS.items()]


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


def _command_names(index: SchemaIndex | None, commands: Sequence[str]) -> list[str]:
    names = set(commands)
    if index is not None:
        names.update(index.commands)
    return sorted(names)


def _command(name: str, index: SchemaIndex | None) -> Candidate:
    cmd = index.commands.get(name) if index else None
    return Candidate(name, ", ".join(["command", *(cmd.features if cmd else ())]))


def _events(index: SchemaIndex) -> list[Candidate]:
    return [
        Candidate(name, ", ".join(["event", *index.events[name].features]))
        for name in sorted(index.events)
    ]


def _member_meta(member: Member, index: SchemaIndex) -> str:
    """Type, required or optional, and every feature the schema gives it (deprecated,
    unstable, and whatever newer QEMUs add): the menu shows what /help shows."""
    notes = [index.type_label(member.type), "optional" if member.optional else "required"]
    return ", ".join([*notes, *member.features])


def _unused_members(ctx: Context, index: SchemaIndex) -> list[Member]:
    """The members of the object at ``ctx.path`` not already given, required first."""
    members = index.nested_members(ctx.command, ctx.path, ctx.given)
    level: object = ctx.given
    for part in ctx.path:  # an array's element by its index (``capabilities.0``)
        if isinstance(level, list) and part.isdigit() and int(part) < len(level):
            level = level[int(part)]
        else:
            level = level.get(part) if isinstance(level, dict) else None
    given = set(level) if isinstance(level, dict) else set()
    return sorted((m for m in members if m.name not in given), key=lambda m: m.optional)


def _arguments(ctx: Context, index: SchemaIndex) -> list[Candidate]:
    found: list[Candidate] = []
    for member in _unused_members(ctx, index):
        meta = _member_meta(member, index)
        has_object = index.object_type(member.type) is not None
        if index.meta(member.type) != "object":
            found.append(Candidate(member.name + "=", meta))
        if has_object:
            found.append(Candidate(member.name + ".", meta))
    return found


def _values(ctx: Context, index: SchemaIndex) -> list[Candidate]:
    member = index.member_at(ctx.command, ctx.path, ctx.given)
    if member is None:
        return []
    parent = index.object_at(ctx.command, ctx.path[:-1], ctx.given) or ""
    features = index.value_features(parent, member)
    label = index.type_label(member.type)
    return [
        Candidate(v, ", ".join([label, *features.get(v, ())]))
        for v in scalar_values(index, member.type)
    ]


def transaction_actions(index: SchemaIndex) -> list[str]:
    """The cases of ``transaction``'s ``actions`` elements (the TransactionAction union)."""
    actions = next((m for m in index.arguments("transaction") if m.name == "actions"), None)
    if actions is None:
        return []
    return sorted(index.variants(index.element_type(actions.type)))


def _action_features(index: SchemaIndex) -> dict[str, tuple[str, ...]]:
    """The features of each action (``drive-backup``: deprecated), as its tag value has them."""
    actions = next((m for m in index.arguments("transaction") if m.name == "actions"), None)
    union = index.element_type(actions.type) if actions else ""
    tag = next((m for m in index.members(union) if m.name == index.tag(union)), None)
    return index.value_features(union, tag) if tag else {}


def scalar_values(index: SchemaIndex, type_name: str, depth: int = 0) -> list[str]:
    """The values a member completes to from the schema alone: enum values, true/false."""
    meta = index.meta(type_name)
    if meta == "enum":
        return list(index.enum_values(type_name))
    if type_name == "bool":
        return ["true", "false"]
    if meta == "alternate" and depth < 3:
        return [
            v for alt in index.alternatives(type_name) for v in scalar_values(index, alt, depth + 1)
        ]
    return []


def rank(word: str, found: Iterable[Candidate]) -> list[Candidate]:
    """Prefix matches; if none, substrings; if none, letters in order (``qst``: query-status).

    Falling back only when the stricter match finds nothing keeps a unique prefix
    unique, so Tab completes it at once, as zsh's matcher-list does.
    """
    needle = word.lower()
    scored: list[tuple[tuple[int, ...], int, Candidate]] = []
    for order, cand in enumerate(found):
        text = cand.text.lower()
        if text.startswith(needle):
            score: tuple[int, ...] = (0,)
        elif needle in text:
            score = (1,)
        else:
            fuzzy = _subsequence(needle, text)
            if fuzzy is None:
                continue
            score = (2, *fuzzy)
        scored.append((score, order, cand))
    if not scored:
        return []
    best = min(score[0] for score, _, _ in scored)
    scored.sort(key=lambda item: (item[0], item[1]))
    return [cand for score, _, cand in scored if score[0] == best]


def _subsequence(needle: str, text: str) -> tuple[int, int] | None:
    """(-letters on word starts, span) if ``needle``'s letters appear in order in ``text``."""
    at, starts, first = 0, 0, -1
    for ch in needle:
        at = text.find(ch, at)
        if at < 0:
            return None
        first = at if first < 0 else first
        starts += at == 0 or text[at - 1] in "-_."
        at += 1
    return -starts, at - first


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
    found_live: Sequence[Candidate],
    manual: Manual | None = None,
) -> tuple[str, list[Candidate]]:
    found = candidates(ctx, knowledge.index, knowledge.commands, found_live, manual)
    word = ctx.word
    if ctx.kind == ctx_.VALUE and word[:1] in ("'", '"'):
        return word, [Candidate(word[0] + c.text + word[0], c.meta) for c in rank(word[1:], found)]
    if ctx.kind == ctx_.PATH and word[:1] in ("'", '"'):  # left open: a directory goes on
        return word, [Candidate(word[0] + c.text, c.meta) for c in rank(word[1:], found)]
    return word, rank(word, found)


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
