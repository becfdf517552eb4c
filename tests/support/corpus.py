"""Recorded QMP conversations of real QEMU builds (2.12 -> 11.1), as test data.

Where each comes from: ``tests/data/corpus/README.md``.
"""

from __future__ import annotations

import gzip
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from qmpsh.language.schema import SchemaIndex

# In the repository, so any clone can run the tests; QMPSH_CORPUS reads another folder.
CORPUS = Path(
    os.environ.get("QMPSH_CORPUS", Path(__file__).resolve().parents[1] / "data" / "corpus")
)
FILES = sorted(CORPUS.glob("*.json.gz"))


@cache
def recording(name: str) -> dict[str, Any]:
    with gzip.open(CORPUS / name) as f:
        data: dict[str, Any] = json.load(f)
    return data


@cache
def index(name: str) -> SchemaIndex:
    return SchemaIndex(recording(name)["replies"]["query-qmp-schema"])


def version(name: str) -> tuple[int, int]:
    """(major, minor) of the recording, from its query-version reply."""
    qemu = recording(name)["replies"]["query-version"]["qemu"]
    return int(qemu["major"]), int(qemu["minor"])
