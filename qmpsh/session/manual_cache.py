"""QEMU's installed reference manual, found and read at first need, cached per version.

The words come from the user's system (``qemu-qmp-ref(7)`` and its kin), never from
qmpsh. Reading the roff takes 70-150 ms, so the index ``language.manual`` makes of it
is kept in ``$XDG_STATE_HOME/qmpsh/manuals/`` (beside the schema files, as privately),
one file per manual page, version and file stamp; nothing is read until ``/help``,
``/example`` or the completion menu first asks, so start-up does not pay for it.
Nothing here fails a session: an absent, unreadable or odd page means no manual.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from qmpsh.files import open_private, state_dir
from qmpsh.language.manual import Definition, Entry, Example, Manual, parse_manual

#: Bumped when the cached index's layout (or what the parser reads into it) changes.
FORMAT = 2
#: The manual page for each kind of server, and the Debian package that installs it.
QMP_PAGE = "qemu-qmp-ref"
GUEST_AGENT_PAGE = "qemu-ga-ref"
PACKAGES = {
    QMP_PAGE: "qemu-system-common",
    GUEST_AGENT_PAGE: "qemu-guest-agent",
    "qemu-storage-daemon-qmp-ref": "qemu-system-common",
}
_DEFAULT_MANPATH = ("/usr/local/share/man", "/usr/share/man")
_MAX_BYTES = 64 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]+")


def page_for(*, guest_agent: bool) -> str:
    return GUEST_AGENT_PAGE if guest_agent else QMP_PAGE


def note(manual: Manual | None, page: str, server_version: str) -> str | None:
    """What to say about the words: where they would come from when there are none,
    whose they are when the manual is another QEMU's than the server; else nothing."""
    if manual is None:
        package = PACKAGES.get(page, "qemu-system-common")
        return f"no words from {page}(7): it is not installed (Debian: {package})"
    if server_version and manual.version and manual.version != server_version:
        return f"the words are {page}(7) of QEMU {manual.version}; the server is {server_version}"
    return None


def find_page(page: str, env: dict[str, str] | os._Environ[str] = os.environ) -> Path | None:
    """The installed page: in ``$MANPATH``'s directories, else the usual ones, else
    wherever ``man -w`` finds it."""
    manpath = env.get("MANPATH")
    directories = [d for d in manpath.split(":") if d] if manpath else _DEFAULT_MANPATH
    for directory in directories:
        for suffix in (".7.gz", ".7"):
            path = Path(directory) / "man7" / f"{page}{suffix}"
            if path.is_file():
                return path
    if manpath:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        found = subprocess.run(
            ["man", "-w", f"{page}.7"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
        if found and Path(found).is_file():
            return Path(found)
    return None


def load_manual(page: str, directory: Path | None = None) -> Manual | None:
    """The index of ``page`` as installed, from the cache when it is that file's."""
    path = find_page(page)
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    if stat.st_size > _MAX_BYTES:
        return None
    stamp = _UNSAFE.sub("_", f"{page}_{stat.st_size}_{int(stat.st_mtime)}")
    cached = (directory or state_dir() / "manuals") / f"{stamp}.json"
    manual = _read_cache(cached)
    if manual is not None:
        return manual
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8", "replace")
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    manual = parse_manual(text)
    if manual.definitions:
        _write_cache(cached, manual)
    return manual


def _read_cache(path: Path) -> Manual | None:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
        if data.get("format") != FORMAT:
            return None
        return Manual(
            data["version"],
            {d["name"]: _definition(d) for d in data["definitions"]},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _definition(d: dict[str, Any]) -> Definition:
    """A definition as ``_write_cache`` saved it (lists back to tuples)."""
    examples = tuple(
        Example(str(e["title"]), tuple((str(m[0]), str(m[1])) for m in e["messages"]))
        for e in d["examples"]
    )
    return Definition(
        name=str(d["name"]),
        kind=str(d["kind"]),
        text=str(d["text"]),
        members=tuple(Entry(**m) for m in d["members"]),
        includes=tuple(map(str, d["includes"])),
        variants=tuple((str(t), str(v), str(n)) for t, v, n in d["variants"]),
        returns=str(d["returns"]),
        errors=str(d["errors"]),
        since=str(d["since"]),
        notes=tuple(map(str, d["notes"])),
        examples=examples,
    )


def _write_cache(path: Path, manual: Manual) -> None:
    data = {
        "format": FORMAT,
        "version": manual.version,
        "definitions": [asdict(d) for d in manual.definitions.values()],
    }
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.unlink(missing_ok=True)  # open_private appends
        fd = open_private(temporary)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(temporary, path)
