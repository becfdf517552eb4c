"""A minimal blocking QMP client, independent of qmpsh: how the tests see QEMU's state.

The tests use it on QEMU's second monitor to check what qmpsh did; the benchmarks
use it as the floor any one-command-at-a-time client must pay
(``python -m benchmarks.rawclient``) and to make QEMU emit floods of events. So it
imports nothing but the standard library, and does nothing per message beyond
reading a line and telling a reply from an event.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


class RawQmp:
    """One connection to a QMP monitor, greeted and negotiated; events seen while
    waiting for a reply are kept in ``events``."""

    def __init__(self, path: Path | str, timeout: float | None = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rwb")
        self.events: list[dict[str, Any]] = []
        self.greeting = self.read()
        self.cmd("qmp_capabilities")

    def read(self) -> dict[str, Any]:
        """The next message QEMU sends, whatever it is."""
        return self._parse(self._read_line())

    def write(self, data: bytes) -> None:
        """Bytes as they are, then flushed: one message or many written ahead."""
        self.file.write(data)
        self.file.flush()

    def reply_line(self, command: str, **arguments: Any) -> bytes:
        """Send a command; its reply line exactly as QEMU sent it."""
        return self._exchange(command, arguments)[0]

    def call(self, command: str, **arguments: Any) -> dict[str, Any]:
        """Send a command, return its whole reply; events seen meanwhile go to ``events``."""
        return self._exchange(command, arguments)[1]

    def cmd(self, command: str, **arguments: Any) -> Any:
        """Like ``call`` but return the return value, failing on an error reply."""
        reply = self.call(command, **arguments)
        assert "return" in reply, reply
        return reply["return"]

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def _exchange(self, command: str, arguments: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.write(json.dumps(msg).encode() + b"\n")
        while True:
            line = self._read_line()
            reply = self._parse(line)
            if "QMP" in reply:  # seen once: a second greeting to a client that came early
                continue
            if "event" not in reply:
                return line, reply
            self.events.append(reply)

    def _read_line(self) -> bytes:
        line: bytes = self.file.readline()
        if not line:
            raise EOFError("QEMU closed the monitor")
        return line

    @staticmethod
    def _parse(line: bytes) -> dict[str, Any]:
        msg: dict[str, Any] = json.loads(line)
        return msg
