"""``python -m analysis.report``: the same as ``fedbench-report``."""

import sys

from analysis.report.cli import main

sys.exit(main())
