"""Parameters that more than one strategy takes, declared once."""

from __future__ import annotations

from fedbench.partitioning.strategy import Param
from fedbench.rules import NON_NEGATIVE_INT, POSITIVE_FLOAT

ALPHA = Param(
    "alpha",
    POSITIVE_FLOAT,
    "Dirichlet concentration of label proportions (dirichlet, dirichlet_quantity) or of "
    "client sizes (quantity); smaller is more skewed.",
    label="α",
)
MIN_CLIENT_SIZE = Param(
    "min_client_size",
    NON_NEGATIVE_INT,
    "Redraw until every client holds at least this many examples.",
)
