"""Pure: QEMU's QMP reference manual (the installed Sphinx roff) as an index of definitions.

``query-qmp-schema`` has names and types but no words; the manual page QEMU
installs (``qemu-qmp-ref(7)``, ``qemu-ga-ref(7)``, ``qemu-storage-daemon-qmp-ref(7)``)
has the words. Sphinx wrote it in one of two shapes: up to QEMU 9 a ``.SS`` section
per definition with ``.SS Members`` / ``.SS Since`` ... under it, from QEMU 10 a
definition list (``Command NAME (Since: X)``) with bulleted ``name (type) -- text``
items. Both are read into the same ``Manual``. The text is read from the user's
system at run time, never shipped with qmpsh.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

#: roff escapes Sphinx writes, as the characters they stand for.
_ESCAPES = {
    "(dq": '"',
    "(aq": "'",
    "(ga": "`",
    "(bu": "*",
    "(rs": "\\",
    "(em": "\u2014",
    "(en": "\u2013",
    "(lq": "\u201c",
    "(rq": "\u201d",
    "(co": "\u00a9",
    "(ti": "~",
    "(ha": "^",
}
_ESCAPE = re.compile(r"\\(\([a-z]{2}|f[BIRP]|[-&%:e\\ .])")
_OLD_HEAD = re.compile(r"\.SS \\fB(?P<name>.+?)\\fP \((?P<kind>[A-Za-z]+)\)\s*\Z")
_NEW_HEAD = re.compile(
    r"\.B (?P<kind>Command|Event|Object|Enum|Alternate|Union|Struct|Module) "
    r"(?P<name>\S+)(?: \(Since: (?P<since>[^)]*)\))?\s*\Z"
)
#: Section titles and what they hold (an older manual's ``.SS X``, a newer one's ``.B X``).
_SECTIONS = {
    "Arguments": "members",
    "Members": "members",
    "Values": "members",
    "Alternatives": "members",
    "Returns": "returns",
    "Return": "returns",
    "Errors": "errors",
    "Since": "since",
    "Features": "features",
    "Note": "notes",
    "Notes": "notes",
    "Example": "examples",
    "Examples": "examples",
}
_OLD_ITEM = re.compile(r"(?P<name>[^\s:]+)(?:: (?P<type>.+?))?(?P<optional> \(optional\))?\Z")
_NEW_ITEM = re.compile(
    r"(?P<name>[^\s(]+)(?: \((?P<type>[^,)]+)(?P<optional>, optional)?\))?"
    r"(?: -- (?P<text>.*))?\Z",
    re.DOTALL,
)
_INCLUDE = re.compile(
    r"(?:When (?P<tag>\S+) is (?P<value>\S+): )?The members of (?P<name>[\w-]+)"
    r"(?: when (?P<tag2>\S+) is (?P<value2>\S+))?"
)
_SEE = re.compile(r"For the arguments, see the documentation of ([A-Za-z][\w-]*)\.?")


@dataclass(frozen=True)
class Entry:
    """One member, argument, enum value or feature, with its words."""

    name: str
    type: str = ""
    optional: bool = False
    text: str = ""


@dataclass(frozen=True)
class Example:
    """One documented exchange: ("->" or "<-", the message's text as documented)."""

    title: str
    messages: tuple[tuple[str, str], ...]

    def requests(self) -> Iterator[dict[str, object]]:
        """The documented requests that are whole JSON objects (some are abridged)."""
        for direction, text in self.messages:
            if direction == "->":
                message = _json_object(text)
                if message is not None:
                    yield message


@dataclass(frozen=True)
class Definition:
    """One command, event or type as the manual documents it."""

    name: str
    kind: str
    text: str = ""
    members: tuple[Entry, ...] = ()
    #: Types whose members are this one's too ("The members of X").
    includes: tuple[str, ...] = ()
    #: A union's variants: (tag, value, type) for "The members of X when TAG is VALUE".
    variants: tuple[tuple[str, str, str], ...] = ()
    returns: str = ""
    #: The errors it documents (a newer manual's own section, an older one's in returns).
    errors: str = ""
    since: str = ""
    #: Features (deprecated, unstable) and notes, each one paragraph.
    notes: tuple[str, ...] = ()
    examples: tuple[Example, ...] = ()

    @property
    def summary(self) -> str:
        return first_sentence(self.text)


@dataclass(frozen=True)
class Manual:
    """The definitions of one manual, by name, and the QEMU version it documents."""

    version: str
    definitions: Mapping[str, Definition] = field(default_factory=dict)

    def get(self, name: str) -> Definition | None:
        return self.definitions.get(name)

    def member(
        self, owner: str, path: tuple[str, ...], given: Mapping[str, object] | None = None
    ) -> Entry | None:
        """The words for member ``path`` (a.b.c) of definition ``owner``, following
        included types and each member's type down the path; ``given`` (the arguments
        typed so far) picks a union's variant, as it picks the schema's."""
        entry: Entry | None = None
        current = owner
        level: object = given or {}
        for part in path:
            entry = self._own_member(current, part, level, set())
            if entry is None:
                return None
            current = entry.type.strip("[]").removeprefix("array of ")
            level = level.get(part) if isinstance(level, Mapping) else None
        return entry

    def _own_member(self, owner: str, name: str, given: object, seen: set[str]) -> Entry | None:
        definition = self.definitions.get(owner)
        if definition is None or owner in seen:
            return None
        seen.add(owner)
        for entry in definition.members:
            if entry.name == name:
                return entry
        # an alternate's members are its alternatives: look in their types
        alternatives = (
            [e.type for e in definition.members] if definition.kind == "alternate" else []
        )
        tags = given if isinstance(given, Mapping) else {}
        chosen = [t for tag, value, t in definition.variants if tags.get(tag) == value]
        variants = chosen or [t for _, _, t in definition.variants]
        for included in (*definition.includes, *alternatives, *variants):
            found = self._own_member(included, name, given, seen)
            if found is not None:
                return found
        return None


def first_sentence(text: str) -> str:
    """The first sentence of a paragraph, on one line (a stop before a capital ends it)."""
    flat = " ".join(text.split())
    match = re.search(r"[.!?](?=\s+[A-Z]|\Z)", flat)  # not "e.g. x"
    return flat[: match.start() + 1] if match else flat


def unescape(line: str) -> str:
    """A roff text line as plain text."""
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), _plain(m.group(1))), line)


def _plain(code: str) -> str:
    if code in ("e", "\\"):
        return "\\"
    if code in ("-", " ", "."):
        return code
    return ""  # fonts (\fB ...), zero-width (\& \% \:)


def _json_object(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _Builder:
    """The definition being read, and where in it the next text goes."""

    def __init__(self, name: str, kind: str, since: str, depth: int) -> None:
        self.name, self.kind, self.since, self.depth = name, kind.lower(), since or "", depth
        self.text: list[str] = []
        self.members: list[Entry] = []
        self.includes: list[str] = []
        self.variants: list[tuple[str, str, str]] = []
        self.returns: list[str] = []
        self.errors: list[str] = []
        self.since_text: list[str] = []
        self.notes: list[str] = []
        self.examples: list[Example] = []
        self.section = ""
        self.section_depth = 0
        self.item: list[str] | None = None  # the open item's lines (head first)
        self.item_depth = 0
        self.example_title = ""

    def paragraph(self, words: str) -> None:
        """A text line: to the open item, else the open section, else the description."""
        if self.item is not None:
            self.item.append(words)
        elif self.section == "returns":
            self.returns.append(words)
        elif self.section == "errors":
            self.errors.append(words)
        elif self.section == "since":
            self.since_text.append(words)
        elif self.section in ("notes", "features"):
            self.notes.append(words)
        elif self.section == "examples":
            pass  # the words between examples
        elif self.section == "":
            self.text.append(words)

    def close_item(self) -> None:
        lines, self.item = self.item, None
        if not lines:
            return
        head = " ".join(part for part in lines if part).strip()
        include = _INCLUDE.match(head)
        if include:
            tag = include.group("tag") or include.group("tag2")
            value = (include.group("value") or include.group("value2") or "").strip("\"'.")
            if tag:
                self.variants.append((tag, value, include.group("name")))
            else:
                self.includes.append(include.group("name"))
            return
        if self.section == "features":
            name, dash, text = head.partition(" -- ")
            if not dash and len(lines) > 1:
                name, text = lines[0].strip(), " ".join(lines[1:])
            self.notes.append(f"{name}: {' '.join(text.split())}" if text else head)
            return
        if self.section in ("returns", "errors"):
            target = self.returns if self.section == "returns" else self.errors
            target += [head, ""]
            return
        if self.section != "members":
            return
        new = _NEW_ITEM.match(head)
        if new and (new.group("text") is not None or " " not in head):
            text = " ".join((new.group("text") or "").split())
            self.members.append(
                Entry(new.group("name"), new.group("type") or "", bool(new.group("optional")), text)
            )
            return
        old = _OLD_ITEM.match(lines[0].strip())
        if old:
            text = " ".join(" ".join(lines[1:]).split())
            optional = bool(old.group("optional"))
            self.members.append(Entry(old.group("name"), old.group("type") or "", optional, text))

    def build(self) -> Definition:
        self.close_item()
        includes = list(self.includes)
        kept = []
        for paragraph in _paragraphs(self.text).split("\n\n"):
            see = _SEE.fullmatch(paragraph)
            if see:  # the arguments are shown with their own words instead
                includes.append(see.group(1))
            elif paragraph:
                kept.append(paragraph)
        text = "\n\n".join(kept)
        since = self.since or " ".join(" ".join(self.since_text).split())
        return Definition(
            name=self.name,
            kind=self.kind,
            text=text,
            members=tuple(self.members),
            includes=tuple(includes),
            variants=tuple(self.variants),
            returns=_paragraphs(self.returns),
            errors=_paragraphs(self.errors),
            since=since,
            notes=tuple(n for n in _paragraphs(self.notes).split("\n\n") if n),
            examples=tuple(self.examples),
        )


def _paragraphs(lines: list[str]) -> str:
    """Lines as paragraphs: "" marks a break; each paragraph on one line."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join(" ".join(" ".join(p).split()) for p in paragraphs if p)


def _literal(lines: list[str], title: str) -> Example | None:
    """A literal block as an example, if it holds ``->`` / ``<-`` messages."""
    messages: list[list[str]] = []
    for raw in lines:
        line = raw.rstrip()
        stripped = line.lstrip()
        if stripped.startswith(("->", "<-")):
            messages.append([stripped[:2], stripped[2:].strip()])
        elif messages and stripped:
            messages[-1][1] += "\n" + line
    if not messages:
        return None
    return Example(title, tuple((d, text.strip()) for d, text in messages))


def version_of(text: str) -> str:
    """The QEMU version in the page's ``.TH`` line ("" if it has none)."""
    match = re.search(r'^\.TH "[^"]*" "\d+" "[^"]*" "([^"]*)"', text, re.MULTILINE)
    return match.group(1) if match else ""


def parse_manual(text: str) -> Manual:
    """Every definition in a QMP reference manual page (roff text)."""
    definitions: dict[str, Definition] = {}
    current: _Builder | None = None
    depth = 0
    literal: list[str] | None = None
    lines = text.splitlines()
    previous = ""
    for line in lines:
        if literal is not None:
            if line in (".fi", ".EE"):
                example = _literal(literal, current.example_title if current else "")
                if current is not None and example is not None:
                    current.examples.append(example)
                literal = None
            elif not line.startswith((".ft", '.\\"')):
                literal.append(unescape(line))
            continue
        macro, _, rest = line.partition(" ")
        old = _OLD_HEAD.match(line)
        new = _NEW_HEAD.match(line) if previous == ".TP" else None
        head = old or new
        if head:
            if current is not None:
                definitions.setdefault(current.name, current.build())
            since = head.groupdict().get("since") or ""
            current = _Builder(unescape(head.group("name")), head.group("kind"), since, depth)
        elif current is None:
            pass
        elif macro == ".SS":
            current.close_item()
            current.section = _SECTIONS.get(unescape(rest).strip(), "other")
            current.section_depth = 0
        elif macro == ".B" and previous == ".TP" and unescape(rest).strip() in _SECTIONS:
            current.close_item()
            current.section = _SECTIONS[unescape(rest).strip()]
            current.section_depth = depth
        elif macro == ".IP" and rest.startswith('"'):
            current.close_item()
            title = unescape(rest.strip('"'))
            current.section = "notes" if title.startswith("Note") else "examples"
            current.section_depth = depth
            current.example_title = title.removeprefix("Example").lstrip(":").strip()
        elif line in (".nf", ".EX"):
            current.close_item()
            literal = []
        elif macro == ".INDENT":
            depth += 1
        elif macro == ".UNINDENT":
            depth -= 1
            if current.item is not None and depth < current.item_depth:
                current.close_item()
            if current.section and current.section_depth and depth < current.section_depth:
                current.section = ""
            if depth < current.depth:
                definitions.setdefault(current.name, current.build())
                current = None
        elif macro == ".TP" or (macro == ".IP" and rest.startswith("\\(bu")):
            if current.item is not None and depth > current.item_depth:
                current.item.append("")  # a list inside the item's own text
                previous = line
                continue
            current.close_item()
            if current.section in ("members", "features", "returns", "errors"):
                current.item, current.item_depth = [], depth
        elif macro == ".B" and current.item is not None:
            current.item.append(unescape(rest))
        elif line in (".sp", ".PP", ".LP", ".P"):
            if current.item is None:
                current.paragraph("")
        elif not line.startswith("."):
            current.paragraph(unescape(line))
        previous = line if line.startswith(".") else ""
    if current is not None:
        definitions.setdefault(current.name, current.build())
    return Manual(version_of(text), definitions)
