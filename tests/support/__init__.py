"""What the tests share, one implementation of each: ways to run qmpsh and QEMU, and drivers.

``places`` (the tree, short temporary directories), ``waiting`` (a deadline on what is
awaited), ``qemu`` (real QEMU processes), ``rawqmp`` (a QMP client independent of
qmpsh, also the benchmarks' floor), ``qmpsh_process`` (qmpsh as a child on pipes),
``pty_process`` (a child on a pseudo-terminal), ``tmux`` (a pane of a private tmux
server), ``repldriver`` (the REPL in-process), ``shells`` (the completion scripts in
bash, zsh and fish), ``fakeserver`` (what QEMU will not do on demand), ``corpus``
(recorded QMP conversations) and ``fuzzcount`` (the fuzz properties' settings and
counts). Fixtures stay in ``tests/conftest.py``; none of this imports a test module.
"""
