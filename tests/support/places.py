"""Where things are: the source tree, and private directories with short paths."""

from __future__ import annotations

import tempfile
from pathlib import Path

#: The repository: the working directory of every qmpsh and shell a test starts.
ROOT = Path(__file__).resolve().parents[2]


def short_tempdir() -> Path:
    """A private directory with a short path: unix socket paths are limited to 108 bytes."""
    return Path(tempfile.mkdtemp(prefix="qmpsh-t", dir="/tmp"))
