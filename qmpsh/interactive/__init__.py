"""The prompt: read a line, run it, show the outcome, with events above the line.

The repl, its completer and lexer, events printed while the user types, big
pastes, and waiting for QEMU to come back. The only importer of prompt_toolkit.
"""
