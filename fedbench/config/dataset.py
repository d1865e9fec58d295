"""Schemas of the ``dataset`` group: one dataclass per dataset."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DigitsDataset:
    """``dataset=digits``: scikit-learn's bundled 8x8 digits (offline, embedded)."""

    name: str = "digits"
    test_fraction: float = 0.2
    split_seed: int = 0


DATASET_SCHEMAS = {
    "digits": DigitsDataset,
}
