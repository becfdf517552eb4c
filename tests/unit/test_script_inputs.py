"""A script's lines joined into inputs: a transaction( up to its ), each line read once."""

from __future__ import annotations

import pytest

from qmpsh.batch.lines import Inputs
from qmpsh.language.syntax import OpenInput


def test_a_transaction_is_one_input_from_its_first_line() -> None:
    inputs = Inputs()
    assert inputs.add((3, "query-status"), hmp_mode=False) == "query-status"
    assert inputs.add((4, "transaction("), hmp_mode=False) is None
    assert inputs.add((5, "  a x=1"), hmp_mode=False) is None
    assert inputs.add((6, ")"), hmp_mode=False) == "transaction(\n  a x=1\n)"
    assert inputs.first == 4
    assert inputs.unfinished("line") is None


def test_json_is_one_line_in_a_script_and_hmp_never_continues() -> None:
    inputs = Inputs()
    assert inputs.add((1, '{"execute": "x",'), hmp_mode=False) == '{"execute": "x",'
    assert inputs.add((2, "transaction("), hmp_mode=True) == "transaction("
    assert inputs.add((3, "transaction("), hmp_mode=False) is None
    assert inputs.unfinished("line") == "line 3: transaction( is missing its closing ')'"


def test_each_line_of_a_long_transaction_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking afresh of the text so far at each line was quadratic: 8,000 actions took
    seconds. The scanner is fed each character once (and a newline between lines)."""
    fed = [0]
    feed = OpenInput.feed

    def counting(self: OpenInput, text: str) -> None:
        fed[0] += len(text)
        feed(self, text)

    monkeypatch.setattr(OpenInput, "feed", counting)
    lines = ["transaction(", *(f"  block-dirty-bitmap-add node=n0 name=b{i}" for i in range(500))]
    lines.append(")")
    inputs = Inputs()
    results = [inputs.add((n, line), hmp_mode=False) for n, line in enumerate(lines, 1)]
    assert results[-1] == "\n".join(lines) and not any(results[:-1])
    assert fed[0] == len("\n".join(lines))
