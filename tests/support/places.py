"""Where things are: the source tree, private directories with short paths, a config file."""

from __future__ import annotations

import tempfile
from pathlib import Path

#: The repository: the working directory of every qmpsh and shell a test starts.
ROOT = Path(__file__).resolve().parents[2]


def short_tempdir() -> Path:
    """A private directory with a short path: unix socket paths are limited to 108 bytes."""
    return Path(tempfile.mkdtemp(prefix="qmpsh-t", dir="/tmp"))


def write_config(home: Path, text: str) -> dict[str, str]:
    """Write ``config.toml`` under ``home`` (an XDG_CONFIG_HOME); the env that reads it."""
    (home / "qmpsh").mkdir(parents=True, exist_ok=True)
    (home / "qmpsh" / "config.toml").write_text(text)
    return {"XDG_CONFIG_HOME": str(home)}
