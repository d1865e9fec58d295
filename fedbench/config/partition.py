"""Schema of the ``partition`` group: one dataclass for every strategy.

All strategy parameters share one schema so that a sweep can cross strategies with
their parameters (``partition=iid,dirichlet partition.alpha=0.5,0.05``): a parameter
the chosen strategy does not take is dropped before the run (and is null in its
results), so the grid's duplicate IID runs collapse into one. A misspelt key still
fails at composition. Each option's YAML file sets its strategy's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PartitionConfig:
    """``partition=<name>`` and every strategy parameter (null = not set).

    Attributes
    ----------
    name
        The strategy: iid, dirichlet, pathological, shards, quantity, feature_noise,
        natural, dirichlet_quantity.
    alpha
        Dirichlet concentration of label proportions (dirichlet, dirichlet_quantity)
        or of client sizes (quantity); smaller = more skewed.
    min_client_size
        Resample until every client has at least this many examples.
    classes_per_client
        pathological: classes each client holds (NIID-Bench's #C=k).
    shards_per_client
        shards: shards dealt to each client (McMahan et al. 2017).
    sigma
        feature_noise: noise std of the last client (client k gets sigma*k/(K-1)).
    quantity_alpha
        dirichlet_quantity: Dirichlet concentration of client sizes.
    writer_mode
        natural, when fl.num_clients is below the number of writers: ``sample`` a
        seeded subset of writers, or ``merge`` writers into num_clients silos.

    """

    name: str = "iid"
    alpha: float | None = None
    min_client_size: int | None = None
    classes_per_client: int | None = None
    shards_per_client: int | None = None
    sigma: float | None = None
    quantity_alpha: float | None = None
    writer_mode: str | None = None


#: Each option's defaults (its YAML file sets the same values).
PARTITION_DEFAULTS: dict[str, dict[str, object]] = {
    "iid": {},
    "dirichlet": {"alpha": 0.5, "min_client_size": 10},
    "pathological": {"classes_per_client": 2},
    "shards": {"shards_per_client": 2},
    "quantity": {"alpha": 0.5, "min_client_size": 10},
    "feature_noise": {"sigma": 0.1},
    "natural": {"writer_mode": "sample"},
    "dirichlet_quantity": {"alpha": 0.5, "quantity_alpha": 0.5, "min_client_size": 10},
}

PARTITION_SCHEMAS = {name: PartitionConfig for name in PARTITION_DEFAULTS}
