"""``python -m qmpsh``."""

import sys

from qmpsh.cli.main import main

sys.exit(main())
