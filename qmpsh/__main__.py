"""``python -m qmpsh``: ``cli.main`` imports little, and handles signals from its first line."""

import sys

from qmpsh.cli.main import main

sys.exit(main())
