"""Pure: ``/help`` as data — command groups, and the argument tree of one command or event.

Kept apart from rendering so the tree is tested on recorded schemas and the
renderer only decides how it looks. ``/help CMD k=v`` selects union variants
the way typing the arguments would (``/help blockdev-add driver=qcow2``). With
QEMU's reference manual (``language.manual``) the tree carries its words: the
description, each member's text, what it returns, since when, deprecation notes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from qmpsh.errors import InputError
from qmpsh.language.builtin_registry import BUILTINS
from qmpsh.language.manual import Definition, Manual
from qmpsh.language.schema import Member, SchemaIndex
from qmpsh.language.validate import unknown

#: (group, name prefixes), first match wins; the rest go to "other", shown after these
#: and before ``EXPERIMENTAL``: the families people use most come first.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("query", ("query-",)),
    ("block", ("block", "drive", "nbd-", "eject", "change-", "blockdev")),
    ("jobs", ("job-",)),
    ("migration", ("migrate", "calc-dirty-rate", "snapshot-")),
    ("devices and objects", ("device", "object-", "qom-", "netdev", "chardev", "balloon")),
    ("VM state", ("stop", "cont", "system_", "quit", "inject-nmi", "screendump")),
)
#: Matched before ``GROUPS`` (``x-blockdev-...`` is experimental, not block), shown last.
EXPERIMENTAL = "experimental (x-)"
MAX_DEPTH = 3  # argument trees: deep enough for blockdev-add's file.cache.direct
RETURN_DEPTH = 2  # return values: the shape, not every field of every nested object
MAX_VALUES = 64  # help is where every choice is shown; only giant enums (QKeyCode) are cut


@dataclass(frozen=True)
class HelpLine:
    """One row of an argument tree: ``depth`` levels in, a name, its type, notes, and
    the manual's words for it (alone, without a name: a paragraph)."""

    depth: int
    name: str
    type: str = ""
    notes: str = ""
    text: str = ""


@dataclass(frozen=True)
class CommandHelp:
    title: str
    lines: tuple[HelpLine, ...]


def group_commands(names: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Commands by family, in a fixed order (experimental last), each sorted."""
    groups: dict[str, list[str]] = {group: [] for group, _ in GROUPS}
    groups["other"] = []
    groups[EXPERIMENTAL] = []
    for name in sorted(names):
        group = next((g for g, prefixes in GROUPS if name.startswith(prefixes)), "other")
        groups[EXPERIMENTAL if name.startswith("x-") else group].append(name)
    return [(group, members) for group, members in groups.items() if members]


def describe(
    index: SchemaIndex, name: str, given: Mapping[str, object], manual: Manual | None = None
) -> CommandHelp | None:
    """The tree for command or event ``name``; None if the schema has neither."""
    doc = manual.get(name) if manual is not None else None
    words = _words(manual, name, given) if manual is not None and doc is not None else _no_words
    command = index.commands.get(name)
    if command is not None:
        notes = [*command.features, *(["allow-oob"] if command.allow_oob else [])]
        title = f"{name} (command{'; ' + ', '.join(notes) if notes else ''})"
        lines = [*_about(doc), HelpLine(0, "arguments:")]
        members = _members(index, command.arg_type, given, 1, set(), words=words)
        lines += members or [HelpLine(1, "(none)")]
        lines.append(HelpLine(0, "returns:", _returns(index, command.ret_type)))
        lines += _paragraphs(doc.returns if doc else "", 1)
        lines += _members(index, _object_of(index, command.ret_type), {}, 1, set(), RETURN_DEPTH)
        return CommandHelp(title, tuple(lines + _closing(doc)))
    event = index.events.get(name)
    if event is not None:
        about = ", ".join(event.features)
        data = [*_about(doc), HelpLine(0, "data:")]
        data += _members(index, event.arg_type, given, 1, set(), words=words) or [
            HelpLine(1, "(none)")
        ]
        title = f"{name} (event{'; ' + about if about else ''})"
        return CommandHelp(title, tuple(data + _closing(doc)))
    return None


def describe_from_manual(manual: Manual, name: str) -> CommandHelp | None:
    """A command or event the manual documents, without a schema (a guest agent's)."""
    doc = manual.get(name)
    if doc is None or doc.kind not in ("command", "event"):
        return None
    lines = [*_about(doc), HelpLine(0, "arguments:" if doc.kind == "command" else "data:")]
    entries = [doc.members] + [
        included.members for n in doc.includes if (included := manual.get(n)) is not None
    ]
    for entry in (e for group in entries for e in group):
        notes = "optional" if entry.optional else "required"
        lines.append(HelpLine(1, entry.name, entry.type, notes, entry.text))
    if len(lines) == len(_about(doc)) + 1:
        lines.append(HelpLine(1, "(none)"))
    if doc.kind == "command":
        lines += [HelpLine(0, "returns:"), *_paragraphs(doc.returns, 1)]
    return CommandHelp(f"{name} ({doc.kind})", tuple(lines + _closing(doc)))


Words = Callable[[tuple[str, ...]], str]


def _no_words(path: tuple[str, ...]) -> str:
    return ""


def _words(manual: Manual, owner: str, given: Mapping[str, object]) -> Words:
    """The manual's text for a member path of ``owner`` ("" where it says nothing), of
    the union variants ``given`` selects."""

    def text(path: tuple[str, ...]) -> str:
        entry = manual.member(owner, path, given)
        return entry.text if entry is not None else ""

    return text


def _paragraphs(text: str, depth: int) -> list[HelpLine]:
    return [HelpLine(depth, "", text=p) for p in text.split("\n\n") if p]


def _about(doc: Definition | None) -> list[HelpLine]:
    """The description, before the tree."""
    return _paragraphs(doc.text, 0) if doc is not None else []


def _closing(doc: Definition | None) -> list[HelpLine]:
    """Errors, since when, features and notes, after the tree."""
    if doc is None:
        return []
    lines: list[HelpLine] = []
    if doc.errors:
        lines += [HelpLine(0, "errors:"), *_paragraphs(doc.errors, 1)]
    if doc.since:
        lines.append(HelpLine(0, "since:", f"QEMU {doc.since}"))
    lines += [HelpLine(0, "", text=note) for note in doc.notes]
    return lines


def builtin_help(word: str) -> CommandHelp:
    """``/help /NAME``: the built-in's usage, summary and what each argument means."""
    spec = BUILTINS.get(word.removeprefix("/"))
    if spec is None or not word.startswith("/"):
        raise InputError(unknown("built-in", word, (f"/{name}" for name in BUILTINS)))
    lines = [HelpLine(0, spec.summary), *(HelpLine(0, f"also: {form}") for form in spec.also)]
    lines.append(HelpLine(0, "arguments:"))
    for arg in spec.arguments:
        lines.append(HelpLine(1, arg.form, "optional" if arg.optional else "required", arg.meaning))
    if not spec.arguments:
        lines.append(HelpLine(1, "(none)"))
    return CommandHelp(f"{spec.usage} (built-in)", tuple(lines))


def unknown_topic(word: str, index: SchemaIndex | None, commands: Iterable[str]) -> str:
    """``/help WORD`` where WORD is no command or event and is in none of their names."""
    if index is None:
        return unknown("command", word, commands)
    return unknown("command or event", word, [*index.commands, *index.events])


def _returns(index: SchemaIndex, type_name: str) -> str:
    if type_name == "0" and not index.members("0"):
        return "nothing ({})"
    return index.type_label(type_name)


def _object_of(index: SchemaIndex, type_name: str) -> str:
    """The object type a return value is made of (directly or as array elements)."""
    if index.meta(type_name) == "array":
        type_name = index.element_type(type_name)
    return index.object_type(type_name) or ""


def _members(
    index: SchemaIndex,
    type_name: str,
    given: Mapping[str, object],
    depth: int,
    seen: set[str],
    max_depth: int = MAX_DEPTH,
    *,
    words: Words = _no_words,
    path: tuple[str, ...] = (),
) -> list[HelpLine]:
    if not type_name or type_name in seen or depth > max_depth:
        return []
    seen = seen | {type_name}
    lines: list[HelpLine] = []
    members = index.members(type_name, given)
    for member in sorted(members, key=lambda m: m.optional):
        here = (*path, member.name)
        lines.append(_line(index, type_name, member, depth, words(here)))
        nested = _expandable(index, member.type)
        if nested is not None:
            inner = given.get(member.name)
            level = inner if isinstance(inner, Mapping) else {}
            lines += _members(
                index, nested, level, depth + 1, seen, max_depth, words=words, path=here
            )
    tag = index.tag(type_name)
    if tag is not None and not isinstance(given.get(tag), str):
        cases = sorted(index.variants(type_name))
        tag_member = next((m for m in members if m.name == tag), None)
        features = index.value_features(type_name, tag_member) if tag_member else {}
        lines.append(
            HelpLine(
                depth,
                f"variants by {tag}:",
                "",
                _values(cases, features) + f" (/help ... {tag}=X)",
            )
        )
    return lines


def _expandable(index: SchemaIndex, type_name: str) -> str | None:
    """The object whose members go under a member: its own, or its array elements'.

    An ``array of object`` (blkdebug's ``inject-error``) is typed as a list of
    such objects, so its element's members are what the user needs to see.
    """
    nested = index.object_type(type_name)
    if nested is not None:
        return nested
    array = index.array_type(type_name)
    return index.object_type(index.element_type(array)) if array is not None else None


def _line(index: SchemaIndex, parent: str, member: Member, depth: int, text: str = "") -> HelpLine:
    notes: list[str] = ["optional" if member.optional else "required"]
    notes += member.features
    values = _enum_values(index, member.type)
    if values:
        notes.append(_values(values, index.value_features(parent, member)))
    return HelpLine(depth, member.name, index.type_label(member.type), ", ".join(notes), text)


def _enum_values(index: SchemaIndex, type_name: str) -> Sequence[str]:
    if index.meta(type_name) == "enum":
        return index.enum_values(type_name)
    if index.meta(type_name) == "array":
        return _enum_values(index, index.element_type(type_name))
    return ()


def _values(values: Sequence[str], features: Mapping[str, Sequence[str]]) -> str:
    """``a | b (deprecated) | c``: a value's features beside it, as a member's are."""
    marked = [f"{v} ({', '.join(features[v])})" if features.get(v) else v for v in values]
    shown = " | ".join(marked[:MAX_VALUES])
    return shown + (f" | ... ({len(values)} in all)" if len(values) > MAX_VALUES else "")
