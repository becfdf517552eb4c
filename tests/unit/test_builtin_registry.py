"""The built-in registry (pure): every entry complete, every consumer reading it.

A built-in is declared once, in ``qmpsh.language.builtin_registry``; these
tests fail when an entry lacks a handler (or a handler an entry), when /help,
completion, ``--help`` or the man page leave one out, and when a usage line
promises what the built-in's parser does not accept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import pytest

from qmpsh.cli.manpage import render, roff
from qmpsh.cli.parser import EPILOG, build_parser
from qmpsh.cli.run import drive
from qmpsh.errors import InputError
from qmpsh.interactive.completer import complete
from qmpsh.interactive.lexer import lex
from qmpsh.language import completion as c
from qmpsh.language.builtin_registry import (
    ARGUMENT_KINDS,
    BUILTINS,
    BuiltinSpec,
    command_start,
    help_lines,
)
from qmpsh.language.helptext import CommandHelp
from qmpsh.language.manual import Definition, Example, Manual
from qmpsh.language.redact import REDACTED, redact_input
from qmpsh.language.schema import SchemaIndex
from qmpsh.language.syntax import Builtin, HmpLine, parse
from qmpsh.session import manual_cache
from qmpsh.session.builtins import HANDLERS
from qmpsh.session.dispatch import run_text
from qmpsh.session.outcomes import HelpList, Outcome, Waited
from qmpsh.session.session import Session
from tests.support.corpus import recording
from tests.support.stub_transport import StubTransport

SPECS = list(BUILTINS.values())
NAMES = list(BUILTINS)

#: The reference manual these sessions read: one example of the sample command.
GETFD = Example("", (("->", '{"execute": "getfd", "arguments": {"fdname": "f0"}}'),))
MANUAL = Manual("", {"getfd": Definition("getfd", "command", examples=(GETFD,))})


@pytest.fixture(autouse=True)
def manual(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not the one installed on this machine, if any: the same everywhere."""
    monkeypatch.setattr(manual_cache, "load_manual", lambda page: MANUAL)


#: ``/help``'s list in scripts, byte for byte: scripts and people's notes rely on it.
HELP_IN_SCRIPTS = """\
/help [CMD]      list built-ins and commands
/example CMD [N]  QEMU's documented examples of CMD, as lines to edit
/hmp [LINE]      run one HMP line, or switch to HMP mode
/qmp             switch to QMP mode
/events [GLOB] [k=v]  recent events; /events mute|unmute NAME
/wait EVENT [timeout=S] [k=v]  wait for an event (or take one that already came)
/jobs            follow running jobs and the migration to their end, then how each ended
/watch CMD [interval=S]  re-run a query and redraw it in place, changes highlighted, until Ctrl-C
/fd PATH CMD ...  pass an open file to QEMU with CMD (getfd, add-fd)
/exit            leave the shell (Ctrl-D too); 'quit' stops QEMU
!CMD ...         send CMD (or raw JSON) as typed, without schema checks
"""

#: The completion context each kind of argument gives right after ``/name ``.
CONTEXT_OF_KIND = {
    "none": c.NONE,
    "topic": c.HELP_TOPIC,
    "event": c.WAIT_EVENT,
    "event-log": c.EVENT_LOG,
    "hmp-line": c.HMP,
    "path-command": c.PATH,
    "command": c.COMMAND,
}


# -- the entries


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_every_entry_has_every_field(spec: BuiltinSpec) -> None:
    assert BUILTINS[spec.name] is spec
    assert re.fullmatch(r"[a-z]+", spec.name)
    for form in (spec.usage, *spec.also):
        assert form == f"/{spec.name}" or form.startswith(f"/{spec.name} "), form
    assert spec.summary and "\n" not in spec.description
    assert spec.argument in ARGUMENT_KINDS
    assert spec.handler
    for flag in (f for f in fields(spec) if f.type == "bool"):
        assert isinstance(getattr(spec, flag.name), bool), flag.name
    if spec.argument == "none":  # nothing to type after the name, nothing to redact
        assert spec.usage == f"/{spec.name}" and not spec.secret


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_every_argument_is_explained_in_its_own_help(spec: BuiltinSpec) -> None:
    words = {w.strip("[]") for form in (spec.usage, *spec.also) for w in form.split()[1:]}
    forms = {part for arg in spec.arguments for part in arg.form.split()}
    assert words <= forms  # every part of the usage (/help explains more than it shows)
    tree = run(Stub(), f"/help /{spec.name}")
    assert run(Stub(), f"/help /{spec.name} {spec.usage}") == tree  # as completion reads it
    assert isinstance(tree, CommandHelp)
    assert tree.title == f"{spec.usage} (built-in)"
    assert tree.lines[0].name == spec.summary
    rows = [line for line in tree.lines if line.depth == 1]
    assert [row.name for row in rows] == ([a.form for a in spec.arguments] or ["(none)"])
    for row, arg in zip(rows, spec.arguments, strict=False):
        assert (row.type, row.notes) == ("optional" if arg.optional else "required", arg.meaning)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/help /wiat", "unknown built-in '/wiat'; did you mean '/wait'?"),
        ("/help query-stauts", "unknown command 'query-stauts'; did you mean 'query-status'?"),
        ("/help query-stauts verbose=1", "unknown command 'query-stauts'; did you mean"),
        ("/help zzzzzz", "unknown command 'zzzzzz'"),
    ],
)
def test_help_on_what_does_not_exist_is_an_error(text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        run(Stub(CorpusTransport()), text)
    assert str(err.value).startswith(message), str(err.value)


def test_help_still_filters_and_lists_without_command_names() -> None:
    listing = run(Stub(CorpusTransport()), "/help query-sta")
    assert isinstance(listing, HelpList) and "query-status" in listing.commands
    listing = run(Stub(), "/help query-stauts")  # QEMU named no commands: nothing to judge by
    assert isinstance(listing, HelpList) and listing.commands == ()


def test_every_entry_has_a_handler_and_every_handler_an_entry() -> None:
    assert {spec.handler for spec in SPECS} == set(HANDLERS)


def test_every_kind_of_argument_completes() -> None:
    """Also the kinds no entry uses yet: a new built-in may pick any of them."""
    assert set(CONTEXT_OF_KIND) == set(c._ARGUMENT_CONTEXTS) == set(ARGUMENT_KINDS)


# -- the consumers


def test_help_in_scripts_is_unchanged() -> None:
    assert "".join(f"{line}\n" for line in help_lines()) == HELP_IN_SCRIPTS


def test_help_lists_every_builtin() -> None:
    listing = run(Stub(), "/help")
    assert isinstance(listing, HelpList)
    assert [line.split()[0] for line in listing.builtins] == [*(f"/{n}" for n in NAMES), "!CMD"]


@dataclass
class Knows:
    index: SchemaIndex | None = None
    commands: tuple[str, ...] = ()
    hmp_mode: bool = False


@pytest.mark.parametrize("hmp_mode", [False, True])
def test_completion_offers_every_builtin_with_its_description(hmp_mode: bool) -> None:
    word, found = complete("/", Knows(hmp_mode=hmp_mode))
    assert word == "/"
    assert {(f.text, f.meta) for f in found} == {(f"/{s.name}", s.description) for s in SPECS}


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_an_argument_completes_as_its_entry_says(spec: BuiltinSpec) -> None:
    assert c.context(f"/{spec.name} ").kind == CONTEXT_OF_KIND[spec.argument]
    assert c.context(f"/{spec.name}").kind == c.BUILTIN


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_every_builtin_is_highlighted_as_one(spec: BuiltinSpec) -> None:
    ((_, token, text),) = lex(f"/{spec.name}", ())
    assert (str(token), text) == ("Token.Keyword", f"/{spec.name}")


def test_help_epilog_and_man_page_mention_every_builtin() -> None:
    page = render(build_parser())
    for line in help_lines():
        assert f"\n  {line}\n" in EPILOG
        assert f"\n  {roff(line)}\n" in page
    for name in NAMES:
        assert f"/{name}" in build_parser().format_help()


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_a_secret_in_a_builtins_argument_is_redacted_as_its_entry_says(spec: BuiltinSpec) -> None:
    """Where the entry says the argument holds a QMP command (CMD), its secrets go."""
    words = [word.strip("[]") for word in spec.usage.split()[1:]]
    assert spec.secret == ("CMD" in words)
    before = [SAMPLES[word] for word in words[: words.index("CMD")]] if spec.secret else []
    line = " ".join([f"/{spec.name}", *before, "set_password protocol=vnc password=Zq1"])
    item = parse(line)
    if isinstance(item, HmpLine):  # '/hmp LINE' is an HMP line, redacted as one
        return
    assert isinstance(item, Builtin)
    kept = redact_input(line)
    if spec.secret:
        assert command_start(spec, item.argument) is not None
        assert kept == line.replace("Zq1", REDACTED)
    else:
        assert kept == line


# -- usage lines against what the parsers accept

#: What each placeholder of a usage line stands for in an example.
SAMPLES = {
    "CMD": "getfd",
    "N": "1",
    "...": "fdname=f0",  # CMD's arguments
    "LINE": "info version",
    "GLOB": "SHUT*",
    "EVENT": "SHUTDOWN",
    "NAME": "RTC_CHANGE",
    "PATH": os.devnull,
    "k=v": "guest=false",
    "timeout=S": "timeout=0",
    "interval=S": "interval=1",
}


def examples(form: str) -> tuple[list[str], list[str]]:
    """Inputs a usage form promises to accept, and inputs that leave out something
    it requires: each required placeholder in turn, with what follows it."""
    name, *words = form.split()
    required = [w for w in words if not w.startswith("[")]
    accepted: list[str] = []
    for chosen in (required, words):
        for alternative in _alternatives(chosen):
            accepted.append(" ".join([name, *alternative]))
    rejected = []
    for at, word in enumerate(required):
        if word.isupper():  # a placeholder: without it (and what follows) the form is cut short
            rejected.append(" ".join([name, *_sample(required[:at], 0)]))
    return accepted, rejected


def _alternatives(words: list[str]) -> list[list[str]]:
    count = max((len(w.split("|")) for w in words), default=1)
    return [_sample(words, choice) for choice in range(count)]


def _sample(words: list[str], choice: int) -> list[str]:
    out = []
    for word in words:
        options = word.strip("[]").split("|")
        option = options[min(choice, len(options) - 1)]
        out.append(SAMPLES.get(option, option))
    return out


@pytest.mark.parametrize(
    ("spec", "form"),
    [(spec, form) for spec in SPECS for form in (spec.usage, *spec.also)],
    ids=[form for spec in SPECS for form in (spec.usage, *spec.also)],
)
def test_usage_matches_what_the_parser_accepts(spec: BuiltinSpec, form: str) -> None:
    accepted, rejected = examples(form)
    for text in accepted:
        if spec.prompt_only:  # a script refuses it, with one line, and runs nothing
            with pytest.raises(InputError, match=r"works at the prompt only: .*\Z"):
                run(Stub(), text)
            continue
        run(Stub(), text)  # no InputError
    for text in rejected:
        with pytest.raises(InputError) as err:
            run(Stub(), text)
        assert "\n" not in str(err.value)
    assert set(re.findall(r"\b[A-Z]+\b|\.\.\.|k=v|\w+=S", form)) <= set(SAMPLES)


def test_the_examples_cover_what_each_usage_requires() -> None:
    """The cases above test something: /wait and /fd need arguments, /help does not."""
    assert examples("/wait EVENT [timeout=S] [k=v]") == (
        ["/wait SHUTDOWN", "/wait SHUTDOWN timeout=0 guest=false"],
        ["/wait"],
    )
    assert examples("/fd PATH CMD ...")[1] == ["/fd", f"/fd {os.devnull}"]
    assert examples("/events mute|unmute NAME") == (
        ["/events mute RTC_CHANGE", "/events unmute RTC_CHANGE"] * 2,
        ["/events mute"],
    )
    assert examples("/help [CMD]") == (["/help", "/help getfd"], [])


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_no_built_in_hides_an_earlier_event_from_wait(spec: BuiltinSpec) -> None:
    """An event no /wait has taken stays waitable whatever ran since it came."""
    stub = Stub()
    stub.deliver({"event": "RTC_CHANGE", "data": {"offset": 0}})
    first = examples(spec.usage)[0][0]
    if spec.prompt_only:  # refused here before it runs (above): it hides nothing
        first = "query-name"
    waited = run(stub, first, "/wait RTC_CHANGE timeout=0")
    assert isinstance(waited, Waited)
    assert waited.ok


# -- a session over a transport that answers every command at once


class CorpusTransport(StubTransport):
    """Answers as a recorded QEMU 7.2 did (query-commands: the names /help judges by)."""

    async def execute(
        self,
        message: Mapping[str, object],
        *,
        quiet: bool = False,
        fd: int = -1,
        timeout: float | None = None,
    ) -> dict[str, object]:
        replies = recording("qemu-7.2.22-x86_64.json.gz")["replies"]
        return {"return": replies.get(str(message.get("execute")), {})}


@dataclass
class Stub:
    """A session whose QEMU answers ``{}`` to everything and has one SHUTDOWN event."""

    transport: StubTransport = field(default_factory=StubTransport)
    session: Session = field(init=False)

    def __post_init__(self) -> None:
        self.session = Session(self.transport, use_schema=False)
        self.deliver({"event": "SHUTDOWN", "data": {"guest": False, "reason": "host-qmp-quit"}})

    def deliver(self, event: Mapping[str, object]) -> None:
        self.transport.notify("recv", event)


def run(stub: Stub, *texts: str) -> Outcome:
    """Run each input in turn, without an event loop (as a script does); the last outcome."""

    async def body() -> Outcome:
        outcome = None
        for text in texts:
            outcome = await run_text(stub.session, text)
        assert outcome is not None
        return outcome

    return drive(body())
