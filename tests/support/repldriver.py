"""Drive a real ``run_repl`` as a person would: keys through a pipe, the screen watched.

Shared by every test that needs the prompt (a QMP socket, a libvirt domain, a
QEMU that goes away and comes back). ``running_repl`` builds what ``cli`` builds
for a terminal on a real QEMU; ``repl_over`` runs ``repl.run_repl`` on a
connected session with prompt_toolkit's pipe input and ``DummyOutput``, the
renderer writing to a buffer; ``make_prompt`` is wrapped so the driver can look
at the line being edited and the completion menu. A driver coroutine on the same
loop types keys and waits for conditions in between, with a deadline.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from qmpsh.errors import ExitStatus
from qmpsh.interactive import prompt as prompt_module
from qmpsh.interactive import repl
from qmpsh.interactive.lookups import Lookups
from qmpsh.render.rich_terminal import rich_renderer
from qmpsh.session.session import Session
from qmpsh.transport.qemu_qmp import QmpTransport
from tests.support.qemu import Qemu

ENTER = "\r"
TAB = "\t"
CTRL_C = "\x03"
CTRL_D = "\x04"
DEADLINE = 10.0


@dataclass
class Repl:
    """A running ``run_repl`` and the means to type into it and watch what it does."""

    session: Session
    out: io.StringIO
    keys: PipeInput
    task: asyncio.Task[ExitStatus]
    prompts: list[PromptSession[str]]
    #: What the prompt's completer knows and asks (its lookup timeout can be set).
    lookups: Lookups
    sent: list[Mapping[str, object]] = field(default_factory=list)

    @property
    def prompt(self) -> PromptSession[str]:
        assert self.prompts, "run_repl has not built its prompt yet"
        return self.prompts[-1]

    @property
    def line(self) -> str:
        """The text being edited at the prompt."""
        return self.prompt.default_buffer.text if self.prompts else ""

    def menu(self) -> list[str]:
        """The completions offered for the line, if the menu is open."""
        state = self.prompt.default_buffer.complete_state if self.prompts else None
        return [] if state is None else [c.text for c in state.completions]

    def selected(self) -> str | None:
        """The completion highlighted in the menu, if any."""
        state = self.prompt.default_buffer.complete_state if self.prompts else None
        if state is None or state.current_completion is None:
            return None
        return state.current_completion.text

    def output(self) -> str:
        return self.out.getvalue()

    def sent_commands(self) -> list[object]:
        return [msg.get("execute") for msg in self.sent]

    def type(self, keys: str) -> None:
        self.keys.send_text(keys)

    def at_prompt(self) -> bool:
        """Waiting for input (not running a command)."""
        return bool(self.prompts) and self.prompt.app.is_running and not self.task.done()

    async def until(
        self, condition: Callable[[], bool], what: str, timeout: float = DEADLINE
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.task.done():
                self.task.result()  # raises what ended the REPL
                pytest.fail(f"the REPL ended while waiting for {what}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out waiting for {what}; line={self.line!r}; output:\n{self.output()}"
                )
            await asyncio.sleep(0.01)

    async def enter(self, text: str, expect: str) -> str:
        """Type ``text`` and Enter; wait for ``expect`` and the next prompt; return the output."""
        await self.until(self.at_prompt, "the prompt")
        mark = len(self.output())
        self.type(text + ENTER)
        await self.until(
            lambda: expect in self.output()[mark:] and self.at_prompt() and self.line == "",
            f"{expect!r} after {text!r}",
        )
        return self.output()[mark:]

    async def completes(self, text: str, expected: str) -> None:
        """Typing ``text`` offers ``expected`` in the menu; the line is then cleared."""
        await self.until(self.at_prompt, "the prompt")
        self.type(text)
        await self.until(lambda: expected in self.menu(), f"{expected!r} for {text!r}")
        self.type("\x1b\x15")  # Escape closes the menu, Ctrl-U clears the line
        await self.until(lambda: self.line == "", "the line to clear")

    async def finish(self, timeout: float = DEADLINE) -> ExitStatus:
        return await asyncio.wait_for(self.task, timeout)


#: ``menu(driver)``: the method, for callers that pass the driver.
menu = Repl.menu


def nonblank_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@asynccontextmanager
async def running_repl(
    qemu: Qemu, *, history: Path | None = None, learn: bool = True
) -> AsyncIterator[Repl]:
    """``run_repl`` on ``qemu.qmp``, built the way ``cli`` builds it for a terminal."""
    transport = QmpTransport(str(qemu.qmp))
    await transport.connect(5)
    session = Session(transport)
    if learn:  # the prompt then shows the VM name from the start
        await session.learn()
    async with repl_over(session, history=history) as driver:
        yield driver


@asynccontextmanager
async def repl_over(
    session: Session, *, history: Path | None = None, **run_repl: Any
) -> AsyncIterator[Repl]:
    """``run_repl`` on a connected ``session``; extra keywords go to ``run_repl``.

    The session's transport is closed at the end (the latest one, after a reconnect).
    """
    out = io.StringIO()
    renderer = rich_renderer(file=out, width=200)
    prompts: list[PromptSession[str]] = []
    make_prompt = prompt_module.make_prompt

    def recording_make_prompt(*args: Any, **kwargs: Any) -> PromptSession[str]:
        prompt = make_prompt(*args, **kwargs)
        prompts.append(prompt)
        return prompt

    with (
        create_pipe_input() as keys,
        mock.patch.object(repl, "make_prompt", recording_make_prompt),
    ):
        lookups = run_repl.pop("lookups", None) or Lookups(session)
        task = asyncio.ensure_future(
            repl.run_repl(
                session,
                renderer,
                history=history,
                input=keys,
                output=DummyOutput(),
                lookups=lookups,
                **run_repl,
            )
        )
        driver = Repl(session, out, keys, task, prompts, lookups)
        session.transport.observe(
            lambda direction, msg: driver.sent.append(msg) if direction == "send" else None
        )
        try:
            await driver.until(driver.at_prompt, "the first prompt")
            yield driver
        finally:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await session.transport.close()
