"""What Tab offers at a position: the candidates for the kind of position the context
found, each with its meta, and how they are ranked against the word typed.

Pure: a context, what the session knows (the schema index, the command names, the
manual) and the live values already extracted go in, candidates come out, so every
rule is tested on recorded schemas and replies. Arguments come required first,
already-given ones dropped, each with its type, required/optional and every feature
beside it, and the first sentence of QEMU's manual about it where the meta column has
room. Where the values come from the running QEMU (``live_values``) or the disk (a
local path), ``interactive.completer`` fetches them and hands them in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qmpsh.language import completion as ctx_
from qmpsh.language import live_values as live
from qmpsh.language.builtin_registry import BUILTINS
from qmpsh.language.completion import Context
from qmpsh.language.manual import first_sentence
from qmpsh.language.schema import Member, SchemaIndex

if TYPE_CHECKING:
    from qmpsh.language.manual import Manual


@dataclass(frozen=True)
class Candidate:
    text: str
    meta: str = ""


#: The meta column's room: a member's first sentence goes beside its type only if the
#: whole stays within it (cut at a word, with an ellipsis, when the sentence is longer).
META_WIDTH = 72
_MIN_WORDS = 16  # less room than this for the sentence: none of it


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
        return []  # the files are the disk's: handed in with the live values
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


def ranked(
    ctx: Context,
    index: SchemaIndex | None,
    commands: Sequence[str],
    found_live: Sequence[Candidate] = (),
    manual: Manual | None = None,
) -> tuple[str, list[Candidate]]:
    """The word to replace and the candidates for it, ranked, quoted as it is begun."""
    found = candidates(ctx, index, commands, found_live, manual)
    word = ctx.word
    if ctx.kind == ctx_.VALUE and word[:1] in ("'", '"'):
        return word, [Candidate(word[0] + c.text + word[0], c.meta) for c in rank(word[1:], found)]
    if ctx.kind == ctx_.PATH and word[:1] in ("'", '"'):  # left open: a directory goes on
        return word, [Candidate(word[0] + c.text, c.meta) for c in rank(word[1:], found)]
    return word, rank(word, found)
