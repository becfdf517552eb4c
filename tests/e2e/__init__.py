"""End-to-end tests: real QEMU, the qmpsh program, a pty, tmux, libvirt, the fake server."""
