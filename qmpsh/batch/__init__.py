"""The one script runner: lines from a file, a pipe or ``-c``, run in order.

Stops at the first failure unless ``--keep-going``; sends queries ahead of their
replies where that cannot change the output; maps a run to its exit status.
"""
