"""``fedbench-partition``: partition, measure, write the per-client table, plot, export."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from fedbench import results as R
from fedbench.app.job.partition_tables import client_table, plot_label_heatmap, summary_line
from fedbench.app.job.prepare import PreparedRun
from fedbench.clients import (
    build_clients,
    client_feature_metrics,
    client_shifts,
    client_test_parts,
)
from fedbench.data.export import EXPORTERS, client_names
from fedbench.heterogeneity import label_counts
from fedbench.partitioning import ClientShift
from fedbench.spec import RunSpec

PARTITIONS_SUBDIR = "partitions"
#: Parquet schema-metadata key holding the heterogeneity metrics as JSON.
METRICS_METADATA_KEY = b"fedbench.heterogeneity"


def shift_columns(shifts: list[ClientShift]) -> dict[str, list[Any]]:
    """The per-client table's shift columns: every field the clients' shifts set."""
    records = [shift.record() for shift in shifts]
    names = dict.fromkeys(name for record in records for name in record)
    return {name: [record.get(name) for record in records] for name in names}


def report_stem(spec: RunSpec) -> str:
    """File stem naming a partition: dataset, strategy, clients, seed and a hash of all of it."""
    params = "".join(f"-{k}{v}" for k, v in spec.partition.options.items())
    return (
        f"{spec.dataset.name}-{spec.partition.name}{params}"
        f"-K{spec.fl.num_clients}-seed{spec.seed}-{R.config_hash(spec.partition_key())[:8]}"
    )


def report(prepared: PreparedRun) -> Path:
    """Partition as configured, print a summary line and write the report files.

    Writes ``<results_dir>/partitions/<stem>.parquet`` (one row per client:
    ``client_id``, ``client_name`` (the writer id for one-writer clients, as in
    exports), ``num_examples``, the client's shift where its strategy has one
    (``noise_sigma`` for ``feature_noise``: the standard deviation of the noise added
    to its features; ``rotation_degrees`` for ``rotation``; ``label_swaps`` for
    ``concept_shift``, e.g. ``"1<->4 2<->9"``), ``count_<label>``; the metrics, the
    feature metrics measured on the features the clients train on, as JSON in the
    file's metadata under ``fedbench.heterogeneity``, and with ``calibrate=<strategy>``
    the matching parameter under ``calibration``),
    ``<stem>.metrics.json``, with
    ``plot=true`` ``<stem>.png`` (clients x classes heatmap) and with ``export=...``
    the partitioned data under ``<stem>-<format>/``.

    Returns
    -------
    pathlib.Path
        The per-client Parquet file.

    """
    spec, data = prepared.spec, prepared.load()
    dataset = data.dataset
    out_dir = Path(spec.results_dir) / PARTITIONS_SUBDIR
    stem = report_stem(spec)
    measured = {**data.metrics, **client_feature_metrics(build_clients(spec, data))}
    matched = prepared.calibration
    metrics = {**measured, "unassigned_examples": data.unassigned}
    if matched is not None:
        metrics["calibration"] = dataclasses.asdict(matched)
    frame = client_table(dataset.train.y, data.parts, dataset.num_classes)
    # The name the client has in exports: its writer's id when it is one writer.
    frame.insert(1, "client_name", client_names(dataset, data.parts))
    shifts = client_shifts(spec, len(data.parts), dataset.num_classes, dataset.example_shape)
    for position, (name, values) in enumerate(shift_columns(shifts or []).items(), start=3):
        frame.insert(position, name, values)  # what each client does to its examples
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), METRICS_METADATA_KEY: json.dumps(metrics).encode()}
    )
    path = R.write_atomic(table, out_dir / f"{stem}.parquet")
    (out_dir / f"{stem}.metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"{stem}: {summary_line(measured, data.unassigned)}")
    print(f"per-client table: {path}")
    if matched is not None:
        print(matched.summary())
    if spec.plot:
        counts = label_counts(dataset.train.y, data.parts, dataset.num_classes)
        png = plot_label_heatmap(counts, out_dir / f"{stem}.png", title=stem.rsplit("-", 1)[0])
        print(f"heatmap: {png}")
    if spec.export:
        test_parts = client_test_parts(spec, data)
        options = {}
        if spec.export == "tff_sql":
            options["split_names"] = tuple(spec.export_split_names)
        exported = EXPORTERS[spec.export](
            dataset, data.parts, test_parts, out_dir / f"{stem}-{spec.export}", **options
        )
        print(f"exported ({spec.export}): {exported}")
    return path
