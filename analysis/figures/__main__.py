"""``python -m analysis.figures``: see :mod:`analysis.figures.cli`."""

import sys

from analysis.figures.cli import main

sys.exit(main())
