"""Show long output through the user's pager, as git, psql and pgcli do.

A reply longer than the terminal (``query-qmp-schema``, ``/help``) would
otherwise scroll past before it can be read. The pager is ``$PAGER`` (a shell
command), ``less -R`` by default, with ``LESS=FRX`` unless the user set
``LESS``: colours pass through, the text stays on screen after quitting. Ctrl-C
belongs to the pager while it runs: qmpsh itself ignores it, so quitting
``less`` with Ctrl-C never ends the shell.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from types import FrameType

DEFAULT_PAGER = "less -R"
#: What ``sh -c`` exits with when the command is not there (or cannot run).
_NOT_RUN = (126, 127)


def pager_command(env: Mapping[str, str] = os.environ) -> str:
    """``$PAGER`` if set and not blank, else ``less -R``."""
    return env.get("PAGER", "").strip() or DEFAULT_PAGER


def page(text: str, command: str | None = None) -> bool:
    """Run the pager on ``text``; False if it could not run (the caller prints instead)."""
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    command = command or pager_command(env)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout.flush()
    try:
        previous = signal.signal(signal.SIGINT, _ignore)
    except ValueError:  # not the main thread: nothing to swap
        previous = None
    try:
        try:
            process = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=env)
        except OSError:
            return False
        # communicate() ignores EPIPE: quitting the pager before the end is normal.
        process.communicate(text.encode(encoding, "replace"))
        return process.returncode not in _NOT_RUN
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C while paging is the pager's business.

    A Python handler, not ``SIG_IGN``: a handler is reset to the default in the
    child at exec, whereas ``SIG_IGN`` would be inherited and leave Ctrl-C dead
    in a pager that does not set its own.
    """
