"""A script's progress on stderr (a terminal, or ``--progress``): never on stdout.

On a terminal the lines are redrawn in place and erased when the wait ends; into
a file or a pipe (``--progress``) each poll's lines are written as they are, a
log of how the work went.
"""

from __future__ import annotations

import shutil
import sys
from typing import IO, TYPE_CHECKING

from qmpsh.render.escape import escaped, is_terminal
from qmpsh.render.renderer import Quiet

if TYPE_CHECKING:
    from qmpsh.language.progress import Shown


class ScriptProgress(Quiet):
    """A script's presence that shows progress and nothing else."""

    shows_progress = True

    def __init__(self, err: IO[str] | None = None) -> None:
        self._err = err
        self._drawn = 0  # lines on the terminal to erase before the next drawing

    @property
    def err(self) -> IO[str]:
        return self._err or sys.stderr

    def progress(self, shown: tuple[Shown, ...]) -> None:
        lines = [line if isinstance(line, str) else "".join(t for t, _ in line) for line in shown]
        stream = self.err
        if not is_terminal(stream):
            stream.write("".join(escaped(line, terminal=False) + "\n" for line in lines))
            stream.flush()
            return
        # Each line cut to the width, so that each takes one row to move back over.
        width = max(1, shutil.get_terminal_size().columns - 1)
        erase = f"\r\x1b[{self._drawn}A\x1b[J" if self._drawn else ""
        drawn = "".join(escaped(line, terminal=True)[:width] + "\n" for line in lines)
        stream.write(erase + drawn)
        stream.flush()
        self._drawn = len(lines)
