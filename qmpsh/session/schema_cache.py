"""``query-qmp-schema`` replies kept on disk, one file per QEMU build.

QEMU takes about 15 ms to produce its schema (200 KB or more) on every
connection, yet the schema only changes with the build. The files live in
``$XDG_STATE_HOME/qmpsh/schemas/`` (``~/.local/state/qmpsh/schemas``; the
directory 0700, each file 0600, written whole or not at all), named after the
greeting's version and package. A file is used only when

* its version and package are the greeting's, and
* the server's command list (``query-commands``: 6 KB, well under a
  millisecond, asked instead of the schema) is the one saved with it, because
  one package often holds several binaries (x86_64, aarch64 ...) whose schemas
  differ, as do builds of one version configured differently.

A file is only a shortcut, never an authority: a server that greeted as this
build but served another schema, or a file edited on disk, would otherwise
refuse valid commands for good. So the session asks QEMU for its own schema
before refusing a command on the file's word (``SchemaCache.refresh``), and a
file whose schema is not shaped like one is not used.

Builds that name no package (built from a release tarball) or come from a
modified git tree (``-dirty``) are never cached: their schema can change while
the version stays. Nothing here ever fails a session: a missing, corrupt,
foreign (not the user's, writable by others) or symlinked file, or a directory
that cannot be written, only means asking QEMU as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

from qmpsh.files import state_dir
from qmpsh.transport import messages
from qmpsh.transport.interface import ServerInfo

#: Bumped when the file layout changes; files of another format are not used.
FORMAT = 1
#: Files kept: one per QEMU build met; the least recently used go first.
KEEP = 16
#: No schema comes near this; a bigger file is not read.
_MAX_BYTES = 32 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]+")

Ask = Callable[[str], Awaitable[object]]


async def fetch_schema(info: ServerInfo, ask: Ask) -> tuple[object, SchemaCache | None]:
    """The schema of the server that greeted with ``info``: from its cache file when it
    is this build's, else from QEMU (``ask`` returns a question's ``return`` value); and
    the cache if the schema came from its file (QEMU has not confirmed it)."""
    cache = SchemaCache.for_server(info)
    if cache is None:
        return await ask("query-qmp-schema"), None
    schema = await cache.fetch(ask)
    return schema, (cache if cache.kept is not None else None)


def cache_dir() -> Path:
    """Where schema files live: ``$XDG_STATE_HOME/qmpsh/schemas``."""
    return state_dir() / "schemas"


class SchemaCache:
    """The cache file for one QEMU build (see the module docstring for when it is used)."""

    def __init__(self, directory: Path, version: str, package: str) -> None:
        self.directory = directory
        self.version = version
        self.package = package
        name = _UNSAFE.sub("_", f"{version}_{package}").strip("_.")[:150]
        self.path = directory / f"{name}.json"
        #: (commands, schema) the latest ``fetch`` answered from the file; None if QEMU's.
        self.kept: tuple[list[str], list[object]] | None = None

    @classmethod
    def for_server(cls, info: ServerInfo, directory: Path | None = None) -> SchemaCache | None:
        """The cache for the server that greeted with ``info``; None if it is not cached
        (no greeting: ``-N``; no package; a modified git tree)."""
        if not info.version or not info.package or info.package.endswith("-dirty"):
            return None
        return cls(cache_dir() if directory is None else directory, info.version, info.package)

    async def fetch(self, ask: Ask) -> object:
        """The schema, from this file if it is still right, else from QEMU (then saved).

        ``ask`` sends one of qmpsh's own questions and returns the ``return`` value.
        """
        kept, self.kept = self.load(), None
        if kept is None:
            schema = await ask("query-qmp-schema")
            self.save(schema, schema_commands(schema))
            return schema
        listed = command_names(await ask("query-commands"))
        if listed == kept[0]:
            self.kept = kept
            return kept[1]
        schema = await ask("query-qmp-schema")
        self.save(schema, listed)  # the list as the server gives it: next time it matches
        return schema

    async def refresh(self, ask: Ask) -> object:
        """QEMU's own schema when it differs from the one ``fetch`` took from the file
        (the file is then replaced), else None: asked once, only before a command is
        refused on the file's word."""
        kept, self.kept = self.kept, None
        if kept is None:
            return None
        schema = await ask("query-qmp-schema")
        if not isinstance(schema, list) or schema == kept[1]:
            return None
        self.save(schema, kept[0])  # the command list the server gave still holds
        return schema

    def load(self) -> tuple[list[str], list[object]] | None:
        """(command names, schema) from the file, or None if it is missing or not right."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # missing, a symlink (ELOOP), unreadable
            return None
        try:
            info = os.fstat(fd)
            if (
                not stat.S_ISREG(info.st_mode)
                or info.st_uid != os.geteuid()
                or info.st_mode & 0o022  # others could have written it
                or info.st_size > _MAX_BYTES
            ):
                return None
            with open(fd, "rb", closefd=False) as file:
                data = file.read(_MAX_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        try:
            kept = messages.parse(data)
        except ValueError:  # not JSON, not UTF-8, nested too deeply: a corrupt file is no cache
            return None
        if not isinstance(kept, dict):
            return None
        commands, schema = kept.get("commands"), kept.get("schema")
        if (
            kept.get("format") != FORMAT
            or kept.get("version") != self.version
            or kept.get("package") != self.package
            or not isinstance(commands, list)
            or not all(isinstance(c, str) for c in commands)
            or not isinstance(schema, list)
            or not is_schema(schema)
        ):
            return None
        with contextlib.suppress(OSError):  # "recently used", for pruning
            os.utime(self.path, follow_symlinks=False)
        return commands, schema

    def save(self, schema: object, commands: list[str] | None) -> None:
        """Write the file privately and atomically; quietly give up if that cannot be done.

        ``commands`` is what ``query-commands`` is expected to list next time.
        """
        if not isinstance(schema, list) or not commands:
            return  # a failed question (a guest agent has no schema): nothing to keep
        record = {
            "format": FORMAT,
            "version": self.version,
            "package": self.package,
            "commands": commands,
            "schema": schema,
        }
        data = json.dumps(record, separators=(",", ":")).encode()  # ASCII: lone surrogates too
        temporary = self.directory / f".{self.path.name}.{os.getpid()}.tmp"
        try:
            _private_dir(self.directory)
            fd = os.open(
                temporary,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
            )
            with open(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, self.path)  # replaces a symlink itself, never its target
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            return
        _prune(self.directory, KEEP)


_META_TYPES = frozenset({"builtin", "enum", "array", "object", "alternate", "command", "event"})
# Per meta-type: the members an entry of it must have as strings, and as lists of objects.
_STRINGS = {
    "command": ("arg-type", "ret-type"),
    "array": ("element-type",),
    "builtin": ("json-type",),
}
_LISTS = {"object": ("members",), "alternate": ("members",)}


def is_schema(schema: object) -> bool:
    """Whether ``schema`` is shaped as a ``query-qmp-schema`` reply: a list of objects,
    each with a name and a known meta-type and the members that meta-type needs (a
    corrupt file that still parses is no cache)."""
    if not isinstance(schema, list) or not schema:
        return False
    for entry in schema:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            return False
        meta = entry.get("meta-type")
        if meta not in _META_TYPES:
            return False
        if not all(isinstance(entry.get(key), str) for key in _STRINGS.get(meta, ())):
            return False
        for key in _LISTS.get(meta, ()):
            members = entry.get(key)
            if not isinstance(members, list) or not all(
                isinstance(m, dict) and isinstance(m.get("type"), str) for m in members
            ):
                return False
    return True


def schema_commands(schema: object) -> list[str] | None:
    """The sorted command names in a schema: what ``query-commands`` lists too (old
    QEMUs list fewer; then the first check fails once and the file learns the list),
    so a first fetch needs no second question."""
    if not isinstance(schema, list):
        return None
    entries = [e for e in schema if isinstance(e, dict) and e.get("meta-type") == "command"]
    return sorted(e["name"] for e in entries if isinstance(e.get("name"), str))


def command_names(listed: object) -> list[str] | None:
    """The sorted names in a ``query-commands`` reply (None if it is not one)."""
    if not isinstance(listed, list):
        return None
    names = [c.get("name") for c in listed if isinstance(c, dict)]
    if not names or not all(isinstance(n, str) for n in names):
        return None
    return sorted(str(n) for n in names)


def _private_dir(directory: Path) -> None:
    """Create ``directory`` 0700 (its parent, qmpsh's state directory, too); refuse a
    symlink or someone else's directory, and make one of ours private if it is not."""
    directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise NotADirectoryError(f"{directory}: not a directory of this user")
    if info.st_mode & 0o077:
        os.chmod(directory, 0o700)


def _prune(directory: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently used schema files."""
    try:
        files = [
            (entry.stat(follow_symlinks=False).st_mtime, entry.path)
            for entry in os.scandir(directory)
            if entry.name.endswith(".json") and not entry.name.startswith(".")
        ]
    except OSError:
        return
    files.sort(reverse=True)
    for _, path in files[keep:]:
        with contextlib.suppress(OSError):
            os.unlink(path)
