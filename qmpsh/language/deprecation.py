"""Pure: what in a call the schema marks deprecated, and what replaces it when evident.

QEMU keeps a deprecated command, argument or value working for a few releases and
then drops it, so a script that uses one should hear of it before it breaks. The
replacement is named only where the names leave no doubt (``block-job-pause`` ->
``job-pause``, ``drive-backup`` -> ``blockdev-backup``, ``top`` -> ``top-node``);
otherwise the note says only that it is deprecated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qmpsh.language.schema import SchemaIndex

Choices = Mapping[str, Sequence[str]]  # each name beside the deprecated one: its features


def deprecations(index: SchemaIndex, command: str, arguments: Mapping[str, object]) -> list[str]:
    """One note per deprecated thing ``command`` with ``arguments`` uses, in order."""
    cmd = index.commands.get(command)
    if cmd is None:
        return []
    notes: list[str] = []
    if "deprecated" in cmd.features:
        siblings = {name: c.features for name, c in index.commands.items()}
        notes.append(f"{command!r} is deprecated{_use(replacement(command, siblings))}")
    _walk(index, command, cmd.arg_type, arguments, (), notes)
    return notes


def _walk(
    index: SchemaIndex,
    command: str,
    type_name: str,
    value: object,
    path: tuple[str, ...],
    notes: list[str],
) -> None:
    """Follows the value (finite) rather than the schema (cyclic)."""
    if isinstance(value, list):
        array = index.array_type(type_name)
        element = index.element_type(array) if array is not None else ""
        for i, item in enumerate(value):
            _walk(index, command, element, item, (*path, str(i)), notes)
        return
    object_type = index.object_type(type_name) if isinstance(value, Mapping) else None
    if object_type is None or not isinstance(value, Mapping):
        return
    members = index.members(object_type, value)
    by_name = {m.name: m for m in members}
    for key, item in value.items():
        member = by_name.get(key)
        if member is None:
            continue
        where = ".".join((*path, key))
        if member.deprecated:
            use = _use(replacement(key, {m.name: m.features for m in members}))
            notes.append(f"{command} argument {where!r} is deprecated{use}")
        features = index.value_features(object_type, member)
        for text in [item] if isinstance(item, str) else item if isinstance(item, list) else []:
            if isinstance(text, str) and "deprecated" in features.get(text, ()):
                values = {v: features.get(v, ()) for v in index.enum_names(member.type)}
                use = _use(replacement(text, values))
                notes.append(f"{command} value {text!r} of {where!r} is deprecated{use}")
        _walk(index, command, member.type, item, (*path, key), notes)


def replacement(name: str, choices: Choices) -> str | None:
    """The one name beside ``name`` that evidently replaces it, or None.

    Tried in turn, the first rule with exactly one answer wins: ``name`` without its
    leading words (``block-job-pause`` -> ``job-pause``), ``name`` with another first
    word (``drive-backup`` -> ``blockdev-backup``), ``name`` with words added
    (``top`` -> ``top-node``). Deprecated choices are never the answer.
    """
    usable = {n for n, features in choices.items() if n != name and "deprecated" not in features}
    words = name.split("-")
    shorter = ["-".join(words[i:]) for i in range(1, len(words))]
    rest = name.partition("-")[2]
    rules = (
        [next((s for s in shorter if s in usable), "")],
        [n for n in usable if rest and n.partition("-")[2] == rest],
        [n for n in usable if n.startswith(name + "-")],
    )
    for found in rules:
        if len(found) == 1 and found[0]:
            return found[0]
    return None


def _use(name: str | None) -> str:
    return f" (use {name!r})" if name else ""
