"""One session with one QEMU: what a user builds up while working, as plain data.

The session runs parsed inputs over a transport and returns outcomes (frozen data);
the built-ins' handlers, the event log and the on-disk schema cache live here too.
It never prints and never imports asyncio, prompt_toolkit or rich, so the same
session serves a script without an event loop, the prompt and ``--all``.
"""
