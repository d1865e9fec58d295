"""Schemas of the ``partition`` group: one dataclass per strategy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IidPartition:
    """``partition=iid``: shuffled equal split."""

    name: str = "iid"


@dataclass
class DirichletPartition:
    """``partition=dirichlet``: per-class proportions ~ Dir(alpha) over clients."""

    name: str = "dirichlet"
    alpha: float = 0.5
    min_client_size: int = 10


@dataclass
class PathologicalPartition:
    """``partition=pathological``: NIID-Bench's #C=k, k classes per client."""

    name: str = "pathological"
    classes_per_client: int = 2


@dataclass
class ShardsPartition:
    """``partition=shards``: McMahan et al. 2017's sorted shards."""

    name: str = "shards"
    shards_per_client: int = 2


@dataclass
class QuantityPartition:
    """``partition=quantity``: client sizes ~ Dir(alpha), content IID."""

    name: str = "quantity"
    alpha: float = 0.5
    min_client_size: int = 10


@dataclass
class FeatureNoisePartition:
    """``partition=feature_noise``: IID split, client k's features + N(0, (sigma k/(K-1))^2)."""

    name: str = "feature_noise"
    sigma: float = 0.1


@dataclass
class NaturalPartition:
    """``partition=natural``: one client per writer.

    Attributes
    ----------
    writer_mode
        When ``fl.num_clients`` is below the number of writers: ``sample`` takes
        a seeded sample of writers, ``merge`` merges all writers into
        ``num_clients`` silos (NIID-Bench's "real" split).
    """

    name: str = "natural"
    writer_mode: str = "sample"


@dataclass
class DirichletQuantityPartition:
    """``partition=dirichlet_quantity``: Dir(alpha) label skew x Dir(quantity_alpha) sizes."""

    name: str = "dirichlet_quantity"
    alpha: float = 0.5
    quantity_alpha: float = 0.5
    min_client_size: int = 10


PARTITION_SCHEMAS = {
    "iid": IidPartition,
    "dirichlet": DirichletPartition,
    "pathological": PathologicalPartition,
    "shards": ShardsPartition,
    "quantity": QuantityPartition,
    "feature_noise": FeatureNoisePartition,
    "natural": NaturalPartition,
    "dirichlet_quantity": DirichletQuantityPartition,
}
