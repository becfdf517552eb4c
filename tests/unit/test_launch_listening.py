"""``--launch`` connects only once QEMU listens, not once its socket file exists.

QEMU binds the socket (the file appears) a moment before it listens; a client
that connects in between is refused, which a loaded machine showed as a failed
``--launch``.
"""

from __future__ import annotations

import socket
from pathlib import Path

from qmpsh.transport.launch import listening


def test_a_bound_socket_is_not_yet_listening(tmp_path: Path) -> None:
    path = tmp_path / "qmp.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        assert path.exists()
        assert not listening(path)
        sock.listen()
        assert listening(path)


def test_every_path_must_listen(tmp_path: Path) -> None:
    one, other = tmp_path / "one.sock", tmp_path / "other.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(one))
        sock.listen()
        assert listening(one)
        assert not listening(one, other)


def test_a_socket_the_kernel_does_not_list_goes_by_its_file(tmp_path: Path) -> None:
    """A QEMU in another network namespace: its socket is not in this one's table."""
    path = tmp_path / "elsewhere.sock"
    assert not listening(path)
    path.touch()  # a file the table does not list
    assert listening(path)
