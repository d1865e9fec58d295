"""Benchmark ratios from pytest-benchmark JSON: which way of doing a case is faster, by how much."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

#: Ways of doing a benchmark's work that are fedbench's own (the numerator of a ratio).
FEDBENCH_WAYS = ("fedbench", "TFF")


def benchmark_frame(files: Sequence[Path]) -> pd.DataFrame:
    """The newest pytest-benchmark JSON, one row per case.

    Columns ``group``, ``name``, ``way`` (``extra_info["case"]``, else the ``library``
    parameter, else the test function's name), ``baseline`` (``extra_info["baseline"]``),
    ``median_ms``, ``file`` and ``commit`` (the JSON's ``commit_info``).
    """
    if not files:
        return pd.DataFrame()
    newest = max(files, key=lambda p: p.stat().st_mtime)
    document = json.loads(newest.read_text())
    commit = (document.get("commit_info") or {}).get("id") or "unknown"
    dirty = (document.get("commit_info") or {}).get("dirty")
    rows = []
    for case in document.get("benchmarks", []):
        extra = case.get("extra_info") or {}
        params = case.get("params") or {}
        rows.append(
            {
                "group": case.get("group") or case["name"],
                "name": case["name"],
                "way": extra.get("case")
                or params.get("library")
                or case["name"].split("[")[0].removeprefix("test_"),
                "baseline": bool(extra.get("baseline", False)),
                "median_ms": case["stats"]["median"] * 1e3,
                "file": newest.name,
                "commit": str(commit)[:7] + ("+dirty" if dirty else ""),
            }
        )
    return pd.DataFrame(rows)


def benchmark_ratios(bench: pd.DataFrame) -> pd.DataFrame:
    """Each way's median time over its group's baseline, for groups with two or more ways.

    A pytest-benchmark *group* is one case done in several *ways* (cases differing in
    ``extra_info["case"]`` or the ``library`` parameter). The baseline of a group is
    the case with ``extra_info["baseline"] = True``; else the way that is not fedbench's
    own (:data:`FEDBENCH_WAYS`), when there is exactly one; else the fastest. A ratio
    above 1 means slower than the baseline. ``comparison`` names the ways compared
    (``TFF vs plain Keras``), one panel each.
    """
    if bench.empty:
        return bench
    out = []
    for group, frame in bench.groupby("group", sort=True):
        frame = frame.groupby("way", as_index=False).agg(
            median_ms=("median_ms", "median"),
            baseline=("baseline", "any"),
            file=("file", "first"),
            commit=("commit", "first"),
        )
        if len(frame) < 2:
            continue
        if frame["baseline"].any():
            base = frame[frame["baseline"]].iloc[0]
        elif (~frame["way"].isin(FEDBENCH_WAYS)).sum() == 1 and frame["way"].isin(
            FEDBENCH_WAYS
        ).any():
            base = frame[~frame["way"].isin(FEDBENCH_WAYS)].iloc[0]
        else:
            base = frame.loc[frame["median_ms"].idxmin()]
        others = frame[frame["way"] != base["way"]]
        comparison = f"{' / '.join(sorted(others['way']))} vs {base['way']}"
        out.append(
            others.assign(
                group=group,
                baseline_way=base["way"],
                baseline_ms=base["median_ms"],
                ratio=others["median_ms"] / base["median_ms"],
                comparison=comparison,
            )
        )
    if not out:
        return pd.DataFrame()
    ratios = pd.concat(out, ignore_index=True)
    # The case label: the group name without the prefix every group of its comparison shares.
    prefix = ratios.groupby("comparison")["group"].transform(common_prefix)
    ratios["case"] = [
        g.removeprefix(p).strip(" ,-") or g for g, p in zip(ratios["group"], prefix, strict=True)
    ]
    ratios["shared"] = prefix.str.strip(" ,-")
    return ratios[
        [
            "comparison",
            "shared",
            "case",
            "group",
            "way",
            "baseline_way",
            "median_ms",
            "baseline_ms",
            "ratio",
            "file",
            "commit",
        ]
    ]


def common_prefix(groups: Sequence[str]) -> str:
    """The longest common prefix of the group names, cut after a separator (space , -)."""
    names = list(dict.fromkeys(groups))
    if len(names) < 2:
        return ""
    prefix = ""
    for chars in zip(*names, strict=False):
        if len(set(chars)) > 1:
            break
        prefix += chars[0]
    cut = max(prefix.rfind(sep) for sep in (" ", ",", "-"))
    return prefix[: cut + 1] if cut >= 0 else ""
