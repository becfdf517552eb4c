"""The history file (``qmpsh.files``): appended privately, never through a symlink, trimmed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from qmpsh.files import append_private, history_entry, trim_history


def test_history_is_trimmed_to_history_size_and_stays_private(tmp_path: Path) -> None:
    from prompt_toolkit.history import FileHistory

    path = tmp_path / "history"
    history = FileHistory(str(path))
    for number in range(6):
        history.store_string(f"query-status # {number}")
    history.store_string('{"execute":\n "query-name"}')  # a multi-line entry
    os.chmod(path, 0o600)
    trim_history(path, 3)
    kept = list(FileHistory(str(path)).load_history_strings())
    assert kept == ['{"execute":\n "query-name"}', "query-status # 5", "query-status # 4"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["history"]  # no temporary left
    trim_history(path, 10)  # nothing to drop: untouched
    assert len(list(FileHistory(str(path)).load_history_strings())) == 3
    trim_history(tmp_path / "none", 1)  # a missing file is fine


def test_history_is_appended_privately_and_never_through_a_symlink(tmp_path: Path) -> None:
    """``append_private`` / ``history_entry``: what the history needs to write each line
    without reopening its path through a symlink planted meanwhile."""
    path = tmp_path / "qmpsh" / "history"
    append_private(path, history_entry("query-name"))
    append_private(path, history_entry('{"execute":\n "stop"}'))
    from prompt_toolkit.history import FileHistory

    assert list(FileHistory(str(path)).load_history_strings()) == [
        '{"execute":\n "stop"}',
        "query-name",
    ]
    assert (stat.S_IMODE(path.stat().st_mode), stat.S_IMODE(path.parent.stat().st_mode)) == (
        0o600,
        0o700,
    )
    precious = tmp_path / "precious"
    precious.write_text("keep me\n")
    path.unlink()
    path.symlink_to(precious)
    with pytest.raises(OSError, match="symbolic link"):
        append_private(path, history_entry("stop"))
    assert precious.read_text() == "keep me\n"
