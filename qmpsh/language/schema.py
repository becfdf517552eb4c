"""Pure index of a ``query-qmp-schema`` reply: commands, argument trees, unions, enums.

Built once per connection and immutable afterwards, so the completer and the
validator can read it from any task without locks. Type names other than
commands and events are masked numbers that differ between QEMU versions, so
everything here follows references from a command's ``arg-type``; walks carry
a visited set because the type graph is cyclic (blockdev-add -> BlockdevRef ->
BlockdevOptions -> ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Entry = Mapping[str, Any]


@dataclass(frozen=True)
class Member:
    """One member of an object type (or one argument of a command)."""

    name: str
    type: str
    optional: bool
    features: tuple[str, ...] = ()

    @property
    def deprecated(self) -> bool:
        return "deprecated" in self.features


@dataclass(frozen=True)
class Command:
    name: str
    arg_type: str
    ret_type: str
    features: tuple[str, ...] = ()
    allow_oob: bool = False


@dataclass(frozen=True)
class Event:
    name: str
    arg_type: str
    features: tuple[str, ...] = ()


class SchemaIndex:
    """Look-ups over one QEMU's schema; every method is total on malformed input."""

    def __init__(self, entries: Iterable[object]) -> None:
        self._types: dict[str, Entry] = {}
        self.commands: dict[str, Command] = {}
        self.events: dict[str, Event] = {}
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                continue
            name = entry["name"]
            meta = entry.get("meta-type")
            features = _strings(entry.get("features"))
            if meta == "command":
                self.commands[name] = Command(
                    name,
                    _str(entry.get("arg-type"), "0"),
                    _str(entry.get("ret-type"), "0"),
                    features,
                    entry.get("allow-oob") is True,
                )
            elif meta == "event":
                self.events[name] = Event(name, _str(entry.get("arg-type"), "0"), features)
            else:
                self._types[name] = entry

    # -- types -----------------------------------------------------------------

    def entry(self, type_name: str) -> Entry:
        return self._types.get(type_name, {})

    def meta(self, type_name: str) -> str:
        """``object``, ``enum``, ``array``, ``alternate``, ``builtin`` or ``""`` if unknown."""
        return _str(self.entry(type_name).get("meta-type"), "")

    def enum_values(self, type_name: str) -> tuple[str, ...]:
        entry = self.entry(type_name)
        values = entry.get("values")
        if isinstance(values, list):
            return _strings(values)
        members = entry.get("members")  # 6.2+ also lists them with features
        return tuple(m["name"] for m in _mappings(members) if isinstance(m.get("name"), str))

    def element_type(self, type_name: str) -> str:
        """An array's element type; ``""`` if its elements are arrays of arrays without end.

        Only a malformed schema has such a cycle (A of A, A of B of A); cutting it
        here lets every walk down element types (help's enum values) end.
        """
        element = _str(self.entry(type_name).get("element-type"), "")
        seen = {type_name}
        step = element
        while self.meta(step) == "array":
            if step in seen:
                return ""
            seen.add(step)
            step = _str(self.entry(step).get("element-type"), "")
        return element

    def features(self, type_name: str) -> tuple[str, ...]:
        """A type's own features: a union variant's (``fdset``) say what choosing it means."""
        return _strings(self.entry(type_name).get("features"))

    def value_features(self, parent: str, member: Member) -> dict[str, tuple[str, ...]]:
        """The features of each value ``member`` of object ``parent`` may take: an enum
        value's own (6.2+: ``deprecated``, ``allowed-by-guest``), and where the member is
        the union's tag, those of the variant the value selects (``fdset``)."""
        found: dict[str, tuple[str, ...]] = {}
        for enum in self._enums(member.type):
            for raw in _mappings(self.entry(enum).get("members")):
                name, features = raw.get("name"), _strings(raw.get("features"))
                if isinstance(name, str) and features:
                    found[name] = features
        if self.tag(parent) == member.name:
            for case, variant in self.variants(parent).items():
                features = self.features(variant)
                if features:
                    found[case] = (*found.get(case, ()), *features)
        return found

    def enum_names(self, type_name: str) -> tuple[str, ...]:
        """Every enum value a value of ``type_name`` may be (see ``_enums``)."""
        return tuple(v for enum in self._enums(type_name) for v in self.enum_values(enum))

    def _enums(self, type_name: str) -> list[str]:
        """The enums a value of ``type_name`` may come from: itself, an array's elements,
        an alternate's branches (each once: the walk stays finite)."""
        if self.meta(type_name) == "array":
            type_name = self.element_type(type_name)
        branches = self.alternatives(type_name) if self.meta(type_name) == "alternate" else ()
        return [t for t in (type_name, *branches) if self.meta(t) == "enum"]

    def alternatives(self, type_name: str) -> tuple[str, ...]:
        """The branches of an alternate, never an alternate itself.

        QAPI forbids an alternate as a branch, but a malformed schema may have one,
        even in a cycle (A -> B -> A) that would make every walk over branches
        recurse without end: nested alternates are expanded, each once.
        """
        found: list[str] = []
        seen = {type_name}
        todo = [type_name]
        while todo:
            members = self.entry(todo.pop(0)).get("members")
            for m in _mappings(members):
                branch = m.get("type")
                if not isinstance(branch, str) or branch in seen:
                    continue
                seen.add(branch)
                if self.meta(branch) == "alternate":
                    todo.append(branch)
                else:
                    found.append(branch)
        return tuple(found)

    def object_type(self, type_name: str) -> str | None:
        """The object type behind ``type_name``: itself, or an alternate's object branch."""
        return self._branch(type_name, "object")

    def array_type(self, type_name: str) -> str | None:
        """The array type behind ``type_name``: itself, or an alternate's array branch."""
        return self._branch(type_name, "array")

    def _branch(self, type_name: str, meta: str) -> str | None:
        if self.meta(type_name) == meta:
            return type_name
        if self.meta(type_name) == "alternate":
            return next(
                (alt for alt in self.alternatives(type_name) if self.meta(alt) == meta), None
            )
        return None

    def members(self, type_name: str, given: Mapping[str, object] | None = None) -> list[Member]:
        """Members of an object type; a union's variant members join once its tag is given."""
        found: list[Member] = []
        self._collect(type_name, given or {}, found, set())
        return found

    def _collect(
        self, type_name: str, given: Mapping[str, object], found: list[Member], seen: set[str]
    ) -> None:
        if type_name in seen:
            return
        seen.add(type_name)
        entry = self.entry(type_name)
        for raw in _mappings(entry.get("members")):
            if isinstance(raw.get("name"), str):
                found.append(
                    Member(
                        raw["name"],
                        _str(raw.get("type"), "any"),
                        "default" in raw,
                        _strings(raw.get("features")),
                    )
                )
        tag = entry.get("tag")
        case = given.get(tag) if isinstance(tag, str) else None
        if isinstance(case, str):
            for variant in _mappings(entry.get("variants")):
                if variant.get("case") == case:
                    self._collect(_str(variant.get("type"), ""), given, found, seen)

    def tag(self, type_name: str) -> str | None:
        tag = self.entry(type_name).get("tag")
        return tag if isinstance(tag, str) else None

    def variants(self, type_name: str) -> dict[str, str]:
        """``case -> type`` of a union."""
        out: dict[str, str] = {}
        for variant in _mappings(self.entry(type_name).get("variants")):
            if isinstance(variant.get("case"), str):
                out[variant["case"]] = _str(variant.get("type"), "")
        return out

    # -- arguments -------------------------------------------------------------

    def arguments(self, command: str, given: Mapping[str, object] | None = None) -> list[Member]:
        """Top-level arguments of ``command`` (with union variants for ``given``)."""
        cmd = self.commands.get(command)
        if cmd is None:
            return []
        return self.members(cmd.arg_type, given)

    def member_at(
        self, command: str, path: Sequence[str], given: Mapping[str, object] | None = None
    ) -> Member | None:
        """The member a dotted key names (``file.driver``), following nested objects
        and, at a numeric component, an array's elements (``capabilities.0.state``:
        the element is a member named by its index)."""
        cmd = self.commands.get(command)
        if cmd is None or not path:
            return None
        member: Member | None = None
        level: Mapping[str, object] = given or {}
        for part in path:
            array = self.array_type(member.type) if member and is_index(part) else None
            if array is not None:
                member = Member(part, self.element_type(array), False)
            else:
                type_name = cmd.arg_type if member is None else self.object_type(member.type)
                if type_name is None:
                    return None
                found = next((m for m in self.members(type_name, level) if m.name == part), None)
                if found is None:
                    return None
                member = found
            nested = level.get(part)
            level = nested if isinstance(nested, Mapping) else {}
        return member

    def object_at(
        self, command: str, path: Sequence[str], given: Mapping[str, object] | None = None
    ) -> str | None:
        """The object type at dotted ``path`` (empty path: the arguments' own)."""
        if not path:
            cmd = self.commands.get(command)
            return None if cmd is None else cmd.arg_type
        member = self.member_at(command, path, given)
        return None if member is None else self.object_type(member.type)

    def nested_members(
        self, command: str, path: Sequence[str], given: Mapping[str, object] | None = None
    ) -> list[Member]:
        """Members of the object at dotted ``path`` (empty path: the arguments)."""
        if not path:
            return self.arguments(command, given)
        object_type = self.object_at(command, path, given)
        if object_type is None:
            return []
        level: object = given or {}
        for part in path:
            level = level.get(part) if isinstance(level, Mapping) else None
        return self.members(object_type, level if isinstance(level, Mapping) else {})

    # -- describing types --------------------------------------------------------

    def type_label(self, type_name: str, depth: int = 0) -> str:
        """A short human name for a (masked) type: ``str``, ``enum``, ``array of int`` ..."""
        meta = self.meta(type_name)
        if meta == "builtin":
            return type_name
        if meta == "array" and depth < 3:
            return f"array of {self.type_label(self.element_type(type_name), depth + 1)}"
        if meta == "alternate" and depth < 3:
            return " | ".join(self.type_label(a, depth + 1) for a in self.alternatives(type_name))
        if meta == "object" and self.tag(type_name):
            return f"union on {self.tag(type_name)}"
        return meta or "any"

    def accepts_string(self, type_name: str) -> bool:
        """Whether a JSON string is a valid value: for re-typing shorthand's bare values."""
        meta = self.meta(type_name)
        if meta == "enum":
            return True
        if meta == "builtin":
            return type_name in ("str", "any")
        if meta == "alternate":
            return any(self.accepts_string(a) for a in self.alternatives(type_name))
        return False


def is_index(part: str) -> bool:
    """Whether a dotted key's component is an array index (``capabilities.0``)."""
    return part.isascii() and part.isdigit()


def _str(value: object, default: str) -> str:
    return value if isinstance(value, str) else default


def _mappings(values: object) -> list[Mapping[str, Any]]:
    """The objects of a list field; a malformed field (a number, a string) has none."""
    if not isinstance(values, list):
        return []
    return [v for v in values if isinstance(v, Mapping)]


def _strings(values: object) -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(v for v in values if isinstance(v, str))
