"""`python -m offline ...`: the offline commands (see offline/cli.py)."""

import sys

from offline.cli import main

sys.exit(main())
