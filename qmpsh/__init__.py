"""qmpsh: an interactive shell for QEMU's machine protocol."""

__version__ = "0.1.0"
