"""Load one dataset and describe it; ``--timing`` measures cold parse, disk cache and memo.

Usage::

    python -m fedbench.data femnist_leaf path=../shared/femnist/data [--timing]
    python -m fedbench.data emnist only_digits=false

Options are ``key=value`` pairs (values parsed as YAML, like Hydra overrides).
``--timing`` loads three times into a fresh, temporary cache folder: a cold
parse, a disk-cache hit (after emptying the memo), an in-process hit.
"""

from __future__ import annotations

import os

# Before TensorFlow is imported (the emnist loader uses it): keep its start-up chatter
# off stderr, which carries the one-line errors. TF_CPP_MIN_LOG_LEVEL=0 shows it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import yaml

from fedbench.data import cache
from fedbench.data.base import FederatedDataset
from fedbench.data.registry import load_dataset
from fedbench.errors import FedbenchError


def describe(dataset: FederatedDataset) -> str:
    """One line: sizes, classes, writers, example shape and pixel range."""
    line = (
        f"{dataset.name}: train {len(dataset.train):,} / test {len(dataset.test):,} examples, "
        f"{dataset.num_classes} classes, example shape {dataset.example_shape}, "
        f"x in [{dataset.train.x.min():.3g}, {dataset.train.x.max():.3g}]"
    )
    if dataset.writer_names is not None and dataset.train.writers is not None:
        with_train = len(np.unique(dataset.train.writers))
        line += f", {len(dataset.writer_names):,} writers ({with_train:,} with train data)"
    return line


def time_loads(name: str, options: Mapping[str, Any]) -> tuple[dict[str, float], FederatedDataset]:
    """Time a cold parse, a disk-cache hit and an in-process hit, in a temporary cache folder.

    Returns
    -------
    tuple
        ``({label: seconds}, the dataset)``.

    """
    previous = os.environ.get(cache.ENV_VAR)
    folder = tempfile.mkdtemp(prefix="fedbench-timing-")
    os.environ[cache.ENV_VAR] = folder
    seconds = {}
    try:
        for label in ("cold parse", "disk cache", "in-process"):
            if label != "in-process":
                cache.clear_memo()
            start = time.perf_counter()
            dataset = load_dataset(name, options)
            seconds[label] = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if previous is None:
            os.environ.pop(cache.ENV_VAR, None)
        else:
            os.environ[cache.ENV_VAR] = previous
        cache.clear_memo()
    return seconds, dataset


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m fedbench.data``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m fedbench.data", description=__doc__.split("\n")[0]
    )
    parser.add_argument("name", help="dataset name, e.g. femnist_leaf")
    parser.add_argument("options", nargs="*", help="key=value dataset options")
    parser.add_argument(
        "--timing", action="store_true", help="time cold, disk-cache and memo loads"
    )
    args = parser.parse_args(argv)
    try:
        options = {}
        for item in args.options:
            key, sep, value = item.partition("=")
            if not sep:
                parser.error(f"option {item!r} is not key=value")
            options[key.removeprefix("dataset.")] = yaml.safe_load(value)
        if args.timing:
            seconds, dataset = time_loads(args.name, options)
            print(", ".join(f"{k} {v:.3f} s" for k, v in seconds.items()))
        else:
            dataset = load_dataset(args.name, options)
        print(describe(dataset))
    except FedbenchError as err:
        print(f"fedbench: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
