"""Finding the installed manual page and keeping its index per file (a tiny page written
here stands in for QEMU's)."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import pytest

from qmpsh.language.manual import Manual
from qmpsh.session.manual_cache import find_page, load_manual, note

PAGE = rb""".TH "QEMU-QMP-REF" "7" "Jan 1, 2000" "9.9.9" "QEMU"
.SS \fBfrob\fP (Command)
.sp
Frobs.
"""


def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    page = tmp_path / "man" / "man7" / "qemu-qmp-ref.7.gz"
    page.parent.mkdir(parents=True)
    page.write_bytes(gzip.compress(PAGE))
    monkeypatch.setenv("MANPATH", str(tmp_path / "nowhere") + ":" + str(tmp_path / "man"))
    return page


def test_the_page_is_found_in_manpath_and_its_index_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = install(tmp_path, monkeypatch)
    assert find_page("qemu-qmp-ref") == page
    cache = tmp_path / "state"
    manual = load_manual("qemu-qmp-ref", cache)
    assert manual is not None and manual.version == "9.9.9"
    doc = manual.get("frob")
    assert doc is not None and doc.text == "Frobs."
    (kept,) = cache.iterdir()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    kept.write_text(kept.read_text().replace("Frobs.", "Kept."))
    again = load_manual("qemu-qmp-ref", cache)  # the index is read, not the page
    assert again is not None and again.definitions["frob"].text == "Kept."
    os.utime(page, (1, 1))  # another page: read again
    fresh = load_manual("qemu-qmp-ref", cache)
    assert fresh is not None and fresh.definitions["frob"].text == "Frobs."


def test_a_corrupt_index_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, monkeypatch)
    cache = tmp_path / "state"
    first = load_manual("qemu-qmp-ref", cache)
    (kept,) = cache.iterdir()
    kept.write_text("{ not json")
    assert load_manual("qemu-qmp-ref", cache) == first


def test_no_page_no_manual(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANPATH", str(tmp_path))
    assert find_page("qemu-qmp-ref") is None
    assert load_manual("qemu-qmp-ref", tmp_path / "state") is None
    bad = tmp_path / "man7" / "qemu-qmp-ref.7.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"not gzip")
    assert load_manual("qemu-qmp-ref", tmp_path / "state") is None


def test_what_is_said_about_the_words() -> None:
    manual = Manual("10.0.1", {})
    assert note(manual, "qemu-qmp-ref", "10.0.1") is None
    assert note(manual, "qemu-qmp-ref", "") is None  # a guest agent does not say
    assert note(manual, "qemu-qmp-ref", "7.2.0") == (
        "the words are qemu-qmp-ref(7) of QEMU 10.0.1; the server is 7.2.0"
    )
    assert note(None, "qemu-ga-ref", "") == (
        "no words from qemu-ga-ref(7): it is not installed (Debian: qemu-guest-agent)"
    )
