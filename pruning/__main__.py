"""``python -m pruning`` entry point (see :mod:`pruning.cli`)."""
import sys

from .cli import main

sys.exit(main())
