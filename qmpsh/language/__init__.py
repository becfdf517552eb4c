"""Pure language of the shell: what one input line means, and what the schema says.

Parsing (``syntax``), the schema index (``schema``), checking and typing arguments
(``validate``), ``/help`` as data (``helptext``), what is being completed at the
cursor (``completion``), which live values to ask QEMU for (``live_values``) and
redaction of secrets (``redact``). No I/O, no third-party imports: everything here
is plain data in, plain data out, and imports nothing of qmpsh but ``errors``.
"""
