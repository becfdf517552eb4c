"""Connections to one QMP monitor, behind the one ``Transport`` interface.

``interface`` is what the session sees; ``blocking`` (a plain socket, no asyncio),
``qemu_qmp`` (qemu.qmp on asyncio) and ``libvirt`` implement it. ``targets`` picks
one for a TARGET; ``launch`` starts a throwaway QEMU. qemu.qmp is imported only by
``qemu_qmp`` and libvirt only by ``libvirt``; nothing here knows the session or UI.
"""
