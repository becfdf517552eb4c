"""The command line: options, settings, and the one place failures become exit codes.

``main`` parses, picks how to run (a script over the blocking transport without an
event loop, everything else under asyncio) and maps every failure to an exit
status; ``shells`` and ``manpage`` generate the completion scripts and qmpsh(1).
"""
