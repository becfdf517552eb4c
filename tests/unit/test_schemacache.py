"""The on-disk schema cache (``qmpsh.session.schema_cache``): when it is used, when it is
not, and that it is private; end to end against real QEMU in ``test_schemacache_qemu.py``."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from qmpsh.session.schema_cache import KEEP, SchemaCache, cache_dir, command_names, schema_commands
from qmpsh.transport.interface import ServerInfo

INFO = ServerInfo("7.2.22", "Debian 1:7.2+dfsg-7+deb12u18+b3", ("oob",))
SCHEMA: list[object] = [
    {"name": "query-status", "meta-type": "command", "arg-type": "0", "ret-type": "1"},
    {"name": "stop", "meta-type": "command", "arg-type": "0", "ret-type": "0"},
    {"name": "STOP", "meta-type": "event", "arg-type": "0"},
    {"name": "0", "meta-type": "object", "members": []},
]
LISTED = [{"name": "stop"}, {"name": "query-status"}]


class Server:
    """What ``fetch`` asks through: records the questions, answers from a table."""

    def __init__(self, schema: object = SCHEMA, listed: object = LISTED) -> None:
        self.replies = {"query-qmp-schema": schema, "query-commands": listed}
        self.asked: list[str] = []

    async def ask(self, command: str) -> object:
        self.asked.append(command)
        return self.replies.get(command)


def fetch(cache: SchemaCache, server: Server) -> object:
    return asyncio.run(cache.fetch(server.ask))


@pytest.fixture
def cache(tmp_path: Path) -> SchemaCache:
    found = SchemaCache.for_server(INFO, tmp_path / "state" / "qmpsh" / "schemas")
    assert found is not None
    return found


def test_lives_under_the_state_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "qmpsh" / "schemas"
    found = SchemaCache.for_server(INFO)
    assert found is not None and found.path.parent == tmp_path / "qmpsh" / "schemas"
    assert found.path.name == "7.2.22_Debian_1_7.2+dfsg-7+deb12u18+b3.json"


@pytest.mark.parametrize(
    "info",
    [
        ServerInfo(),  # -N: no greeting, nothing to key on
        ServerInfo("8.2.0", ""),  # built from a tarball: the package says nothing
        ServerInfo("9.0.50", "v9.0.0-1234-gdeadbeef-dirty"),  # a modified git tree
    ],
)
def test_not_cached_when_the_greeting_cannot_tell_builds_apart(info: ServerInfo) -> None:
    assert SchemaCache.for_server(info, Path("/nonexistent")) is None


def test_first_fetch_asks_for_the_schema_only_and_saves_it(cache: SchemaCache) -> None:
    server = Server()
    assert fetch(cache, server) == SCHEMA
    assert server.asked == ["query-qmp-schema"]
    kept = json.loads(cache.path.read_bytes())
    assert kept["schema"] == SCHEMA and kept["commands"] == ["query-status", "stop"]
    assert (kept["version"], kept["package"]) == (INFO.version, INFO.package)


def test_second_fetch_asks_for_the_command_list_instead(cache: SchemaCache) -> None:
    fetch(cache, Server())
    server = Server(schema="not asked")
    assert fetch(cache, server) == SCHEMA
    assert server.asked == ["query-commands"]


def test_another_command_list_means_another_build(cache: SchemaCache) -> None:
    """Same version and package, other binary (aarch64 beside x86_64): fetched anew,
    and the file now holds the new schema with the list as the server gave it."""
    fetch(cache, Server())
    cont = {"name": "cont", "meta-type": "command", "arg-type": "0", "ret-type": "0"}
    other: list[object] = [*SCHEMA[:1], cont, SCHEMA[3]]
    listed = [{"name": "query-status"}, {"name": "cont"}]
    server = Server(schema=other, listed=listed)
    assert fetch(cache, server) == other
    assert server.asked == ["query-commands", "query-qmp-schema"]
    again = Server(schema="not asked", listed=listed)
    assert fetch(cache, again) == other
    assert again.asked == ["query-commands"]


@pytest.mark.parametrize(
    "schema",
    [
        [],
        ["query-status"],
        [{"meta-type": "command", "arg-type": "0", "ret-type": "1"}],
        [{"name": "stop", "meta-type": "spell", "arg-type": "0", "ret-type": "0"}],
        [{"name": "stop", "meta-type": "command", "arg-type": 0, "ret-type": "0"}],
        [*SCHEMA[:3], {"name": "0", "meta-type": "object", "members": [{"name": "x"}]}],
        [*SCHEMA[:3], {"name": "0", "meta-type": "object"}],
    ],
)
def test_a_file_that_parses_but_is_no_schema_is_not_used(
    cache: SchemaCache, schema: object
) -> None:
    fetch(cache, Server())
    kept = json.loads(cache.path.read_bytes())
    cache.path.write_text(json.dumps({**kept, "schema": schema}))
    server = Server()
    assert fetch(cache, server) == SCHEMA
    assert server.asked == ["query-qmp-schema"]
    assert json.loads(cache.path.read_bytes())["schema"] == SCHEMA


def refresh(cache: SchemaCache, server: Server) -> object:
    return asyncio.run(cache.refresh(server.ask))


def test_refresh_replaces_a_file_qemu_disagrees_with(cache: SchemaCache) -> None:
    """A file written after a server posing as this build: QEMU's own schema wins."""
    status = {"name": "query-status", "meta-type": "command", "arg-type": "9", "ret-type": "1"}
    tampered = [status, *SCHEMA[1:], {"name": "9", "meta-type": "object", "members": []}]
    fetch(cache, Server(schema=tampered))
    assert fetch(cache, Server()) == tampered and cache.kept is not None
    server = Server()
    assert refresh(cache, server) == SCHEMA
    assert server.asked == ["query-qmp-schema"]
    assert json.loads(cache.path.read_bytes())["schema"] == SCHEMA
    assert cache.kept is None and refresh(cache, server) is None  # asked once only
    assert server.asked == ["query-qmp-schema"]


def test_refresh_when_qemu_agrees_or_the_schema_was_qemu_s_own(cache: SchemaCache) -> None:
    server = Server()
    fetch(cache, server)  # from QEMU: nothing to confirm
    assert refresh(cache, server) is None and server.asked == ["query-qmp-schema"]
    fetch(cache, Server())  # from the file, which is right
    server = Server()
    assert refresh(cache, server) is None and server.asked == ["query-qmp-schema"]


def test_a_failed_question_saves_nothing(cache: SchemaCache) -> None:
    server = Server(schema=None)
    assert fetch(cache, server) is None
    assert not cache.path.exists()


@pytest.mark.parametrize("field", ["version", "package", "format"])
def test_a_file_of_another_version_or_package_is_not_used(cache: SchemaCache, field: str) -> None:
    fetch(cache, Server())
    kept = json.loads(cache.path.read_bytes())
    kept[field] = "something else"
    cache.path.write_text(json.dumps(kept))
    server = Server()
    assert fetch(cache, server) == SCHEMA
    assert server.asked == ["query-qmp-schema"]
    assert json.loads(cache.path.read_bytes())[field] != "something else"  # rewritten


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"\xff\xfe", b"[]", b'{"format": 1}', b"null", b'{"schema": {}}'],
)
def test_a_corrupt_file_is_ignored_and_replaced(cache: SchemaCache, content: bytes) -> None:
    fetch(cache, Server())
    cache.path.write_bytes(content)
    server = Server()
    assert fetch(cache, server) == SCHEMA
    assert server.asked == ["query-qmp-schema"]
    assert json.loads(cache.path.read_bytes())["schema"] == SCHEMA


def test_file_0600_in_a_0700_directory_whatever_the_umask(cache: SchemaCache) -> None:
    old = os.umask(0)
    try:
        fetch(cache, Server())
    finally:
        os.umask(old)
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.path.parent.parent.stat().st_mode) == 0o700  # qmpsh's state dir
    assert [p.name for p in cache.path.parent.iterdir()] == [cache.path.name]  # no temporaries


def test_an_existing_open_directory_is_made_private(cache: SchemaCache) -> None:
    cache.directory.mkdir(parents=True)
    cache.directory.chmod(0o755)
    fetch(cache, Server())
    assert stat.S_IMODE(cache.directory.stat().st_mode) == 0o700


def test_a_file_others_could_write_is_not_used(cache: SchemaCache) -> None:
    fetch(cache, Server())
    cache.path.chmod(0o666)
    server = Server()
    fetch(cache, server)
    assert server.asked == ["query-qmp-schema"]


def test_a_symlinked_file_is_neither_read_nor_written_through(
    cache: SchemaCache, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    fetch(cache, Server())
    elsewhere.write_bytes(cache.path.read_bytes())  # a valid cache file, but behind a link
    cache.path.unlink()
    cache.path.symlink_to(elsewhere)
    before = elsewhere.read_bytes()
    server = Server()
    assert fetch(cache, server) == SCHEMA
    assert server.asked == ["query-qmp-schema"]  # the link was not followed to read
    assert elsewhere.read_bytes() == before  # nor to write
    assert not cache.path.is_symlink() and cache.path.is_file()  # the link was replaced


def test_a_symlinked_directory_is_not_written_through(cache: SchemaCache, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache.directory.parent.mkdir(parents=True)
    cache.directory.symlink_to(elsewhere)
    assert fetch(cache, Server()) == SCHEMA
    assert list(elsewhere.iterdir()) == []


def test_an_unwritable_place_only_means_no_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = SchemaCache(blocker / "schemas", INFO.version, INFO.package)  # under a file
    server = Server()
    assert fetch(cache, server) == SCHEMA
    assert fetch(cache, server) == SCHEMA
    assert server.asked == ["query-qmp-schema", "query-qmp-schema"]


def test_only_the_most_recently_used_files_are_kept(tmp_path: Path) -> None:
    directory = tmp_path / "schemas"
    for n in range(KEEP + 3):
        cache = SchemaCache(directory, f"7.{n}.0", "pkg")
        fetch(cache, Server())
        os.utime(cache.path, (1000 + n, 1000 + n))
    fetch(SchemaCache(directory, "9.9.9", "pkg"), Server())
    names = sorted(p.name for p in directory.iterdir())
    assert len(names) == KEEP and "9.9.9_pkg.json" in names and "7.0.0_pkg.json" not in names


def test_command_lists() -> None:
    assert schema_commands(SCHEMA) == ["query-status", "stop"]
    assert command_names(LISTED) == ["query-status", "stop"]
    assert command_names(None) is None and command_names([]) is None
    assert command_names([{"name": 1}]) is None and schema_commands({}) is None
