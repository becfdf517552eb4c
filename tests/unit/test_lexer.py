"""Input highlighting: every character is covered once; known and unknown commands differ."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pygments.token import Error, Keyword, Name, Number, Operator, String, Token, _TokenType

from qmpsh.interactive.lexer import lex, make_lexer
from tests.support.fuzzcount import scaled

KNOWN = {"blockdev-add", "query-status"}


def kinds(text: str, hmp: bool = False) -> list[tuple[_TokenType, str]]:
    return [(token, value) for _, token, value in lex(text, KNOWN, hmp) if value.strip()]


def test_known_and_unknown_commands_look_different() -> None:
    assert kinds("query-status") == [(Name.Function, "query-status")]
    assert kinds("query-stauts") == [(Error, "query-stauts")]
    assert kinds("query-stauts", hmp=False)[0][0] != kinds("query-status")[0][0]


def test_keys_values_and_types() -> None:
    assert kinds('blockdev-add file.filename="/a b" size=1 ro=true junk') == [
        (Name.Function, "blockdev-add"),
        (Name.Attribute, "file.filename"),
        (Operator, "="),
        (String, '"/a b"'),
        (Name.Attribute, "size"),
        (Operator, "="),
        (Number, "1"),
        (Name.Attribute, "ro"),
        (Operator, "="),
        (Keyword.Constant, "true"),
        (Error, "junk"),
    ]


def test_prefix_dispatch() -> None:
    assert kinds("/hmp info block")[0] == (Keyword, "/hmp")
    assert kinds("/nope")[0] == (Error, "/nope")
    assert kinds('{"execute": "x"}')[1][0] == Token.Name.Tag
    assert kinds("info block", hmp=True) == [(Token.Text, "info block")]
    assert kinds("!query-stauts")[0] == (Operator, "!")


def test_with_nothing_known_yet_no_command_is_an_error() -> None:
    assert [t for _, t, _ in lex("anything", set())] == [Name.Function]


@settings(max_examples=scaled(1500), deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" =.\"'{}[]/\\\n!abq-_0:,\t")), max_size=40))
def test_tokens_cover_the_input_exactly(text: str) -> None:
    for hmp in (False, True):
        tokens = list(lex(text, KNOWN, hmp))
        assert "".join(value for _, _, value in tokens) == text
        offsets = [offset for offset, _, _ in tokens]
        assert offsets == sorted(offsets)
    lexer = make_lexer(lambda: KNOWN, lambda: False)()
    assert "".join(v for _, _, v in lexer.get_tokens_unprocessed(text)) == text
