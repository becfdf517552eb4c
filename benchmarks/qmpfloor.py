"""The start-up floor of any client built on qemu.qmp, as qmpsh and qmp-shell are.

Imports what such a shell cannot do without (asyncio through qemu.qmp, argparse,
json), connects, runs each piped command name and prints its return value as
compact JSON. Nothing else: no parsing, no schema, no renderer. ``benchmarks.run``
times it beside qmpsh and qmp-shell in P1, to show how much of the start-up
belongs to the libraries rather than to either shell.

    python -m benchmarks.qmpfloor SOCKET < commands
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from qemu.qmp import QMPClient


async def run(path: str) -> None:
    client = QMPClient("floor")
    await client.connect(path)
    try:
        for line in sys.stdin:
            if line.strip():
                reply = await client.execute(line.strip())
                print(json.dumps(reply, separators=(",", ":")), flush=True)
    finally:
        await client.disconnect()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.qmpfloor")
    parser.add_argument("socket")
    asyncio.run(run(parser.parse_args().socket))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
