"""``python -m freight`` runs the command-line interface."""

import sys

from freight.cli import main

sys.exit(main())
