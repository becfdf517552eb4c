"""Everything qmpsh prints, behind one ``Output`` protocol.

The plain renderer (scripts), the rich renderer (a terminal), escaping of
server-supplied text (one rule for every place it is shown), the palette, the
pager and the ``-l`` transcript. rich is imported only here and in ``interactive``.
"""
