"""The "internal error" line: a bug in qmpsh still ends in one line, and what the
exception says (which may quote a server) is shortened and escaped like server text."""

from __future__ import annotations

import io

import pytest

from qmpsh.cli import main


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_server_text_in_an_internal_error_is_one_escaped_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("QMPSH_DEBUG", raising=False)
    stderr = Terminal()
    monkeypatch.setattr("sys.stderr", stderr)
    quoted = "\x1b]0;owned\x07\u202ename\u200b\nsecond line" + "x" * 10_000
    assert main._internal_error(RuntimeError(quoted)) == 1
    said = stderr.getvalue()
    assert said.count("\n") == 1 and said.endswith("(QMPSH_DEBUG=1 shows where)\n")
    assert said.startswith("qmpsh: internal error: RuntimeError: ")
    assert "\\x1b]0;owned\\x07\\u202ename\\u200b\\x0asecond line" in said
    assert "\x1b" not in said and "\u202e" not in said and "\u200b" not in said
    assert len(said) < 300 and "characters)" in said
