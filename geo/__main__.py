"""``python -m geo``: the engine's command line."""

import sys

from geo.cli import main

sys.exit(main())
