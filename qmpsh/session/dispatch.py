"""Run one parsed input: a built-in through its handler, anything else through QEMU.

Apart from ``session`` so that the built-ins' handlers, which work on a session,
and the session itself do not import each other.
"""

from __future__ import annotations

from qmpsh.language.syntax import Builtin, Parsed
from qmpsh.session.outcomes import Outcome
from qmpsh.session.session import Session


async def run(session: Session, item: Parsed) -> Outcome:
    """The outcome of ``item`` (``InputError`` if it is wrong, before anything is sent)."""
    if isinstance(item, Builtin):
        # At first need: a script without built-ins never loads them (3 ms of start-up).
        from qmpsh.session.builtins import run_builtin

        return await run_builtin(session, item)
    return await session.run_command(item)


async def run_text(session: Session, text: str) -> Outcome | None:
    item = session.parse(text)
    return None if item is None else await run(session, item)
