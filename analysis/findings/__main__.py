"""``python -m analysis.findings``."""

import sys

from analysis.findings.cli import main

sys.exit(main())
