"""One record per strategy: its function, its parameters and what it needs from the data.

A :class:`Strategy` is the single source of everything fedbench knows about a
partitioning strategy. Its parameters' defaults are the keyword defaults of its
function; their rules (:mod:`fedbench.rules`), help and figure labels are :class:`Param`
records. The command line's schema and YAML defaults, the result columns and the figure legends
are all derived from the registered records (:mod:`fedbench.partitioning.registry`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from fedbench.errors import literal, param_invalid
from fedbench.partitioning.shift import ClientShift, ShiftContext
from fedbench.rules import (  # noqa: F401 (the rules strategies' records use, also from here)
    BOOLEAN,
    NON_NEGATIVE_FLOAT,
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    Rule,
    is_int,
    is_real,
    one_of,
)

#: What a strategy can take from the dataset besides the labels.
DATA_ARGUMENTS = ("writer_ids", "features")
#: The kinds of heterogeneity a strategy models (``Strategy.skew``): none (IID), label
#: skew, quantity skew, feature skew (covariate shift), concept skew (P(y|x) differs), and
#: natural (the data's own clients, e.g. writers).
SKEWS = ("none", "label", "quantity", "feature", "concept", "natural")


@dataclass(frozen=True)
class Param:
    """One strategy parameter.

    Attributes
    ----------
    name
        The keyword argument (and, on the command line, ``partition.<name>``).
    rule
        Its allowed values.
    help
        One sentence for ``--help`` and the docs.
    label
        Short symbol in figure legends (``"α"``); ``None`` leaves it out of legends.
    stronger
        Which values make the partition more heterogeneous: ``"smaller"`` (``alpha``,
        ``classes_per_client``) or ``"larger"`` (``sigma``, ``max_degrees``, ``swaps``);
        figures shade the stronger settings darker.

    """

    name: str
    rule: Rule
    help: str
    label: str | None = None
    stronger: str = "smaller"

    def __post_init__(self) -> None:
        if self.stronger not in ("smaller", "larger"):
            raise TypeError(f"parameter {self.name!r}: stronger must be 'smaller' or 'larger'")

    def check(self, value: Any) -> None:
        """Raise :class:`PartitionError` unless ``value`` passes the rule."""
        if not self.rule.accepts(value):
            raise param_invalid(
                self.name,
                value,
                self.rule.allowed,
                f"e.g. {{{self.name}}}={literal(self.rule.example)}",
            )


#: How :class:`Search` steps through a parameter's range.
SCALES = ("log", "linear", "int")


@dataclass(frozen=True)
class Search:
    """The parameter :func:`fedbench.calibrate` searches, and where.

    Attributes
    ----------
    param
        The parameter's name; the strategy's heterogeneity must move monotonically with it.
    low, high
        Its range; ``high`` may be a function of the number of classes ``C``
        (``classes_per_client`` goes up to ``C``).
    scale
        ``"log"`` (bisect the logarithm: concentrations), ``"linear"`` or ``"int"``.

    """

    param: str
    low: float
    high: float | Callable[[int], float]
    scale: str = "log"

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise TypeError(f"search of {self.param!r}: scale {self.scale!r} is not among {SCALES}")

    def bounds(self, num_classes: int) -> tuple[float, float]:
        """The range for data of ``num_classes`` classes."""
        high = self.high(num_classes) if callable(self.high) else self.high
        return self.low, high


@dataclass(frozen=True)
class Strategy:
    """A registered partitioning strategy.

    Attributes
    ----------
    name
        The ``partition=`` value and the ``strategy`` argument of :func:`fedbench.partition`.
    fn
        ``fn(labels, num_clients, rng, **params, **data) -> list[np.ndarray]``; every
        parameter keyword-only with its default.
    params
        The parameters a user sets, in the order they are documented.
    data
        Keyword arguments that come from the dataset rather than the config, among
        :data:`DATA_ARGUMENTS`: ``"writer_ids"`` (each training example's writer; the
        dataset must have writers) or ``"features"`` (the training features).
    own_test_data
        Whether every client is a set of whole writers, so that it is evaluated on its
        writers' own test examples (``natural``) rather than on a held-out share.
    client_shift
        For feature and concept skew: ``client_shift(params, context)`` returns one
        :class:`~fedbench.partitioning.shift.ClientShift` per client (its feature noise,
        rotation or label swaps), applied when clients are built; ``context`` is a
        :class:`~fedbench.partitioning.shift.ShiftContext`. It raises
        :class:`PartitionError` when the data cannot take the shift (rotation of
        examples that are not images).
    skew
        The kind of heterogeneity it models, one of :data:`SKEWS` (figures group
        strategies by it).
    search
        The parameter :func:`fedbench.calibrate` can match to a target partition
        (``None``: the strategy has none).
    defaults
        Each parameter's default, read from ``fn``'s signature.

    """

    name: str
    fn: Callable[..., list[np.ndarray]]
    params: tuple[Param, ...] = ()
    data: tuple[str, ...] = ()
    own_test_data: bool = False
    client_shift: Callable[[Mapping[str, Any], ShiftContext], list[ClientShift]] | None = None
    skew: str = "label"
    search: Search | None = None
    defaults: Mapping[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        unknown = set(self.data) - set(DATA_ARGUMENTS)
        if unknown:
            raise TypeError(
                f"strategy {self.name!r}: data {sorted(unknown)} is not among {DATA_ARGUMENTS}"
            )
        if self.skew not in SKEWS:
            raise TypeError(f"strategy {self.name!r}: skew {self.skew!r} is not among {SKEWS}")
        signature = inspect.signature(self.fn).parameters
        declared = {p.name for p in self.params}
        if self.search is not None and self.search.param not in declared:
            raise TypeError(
                f"strategy {self.name!r}: search parameter {self.search.param!r} is not a parameter"
            )
        if "name" in declared:
            raise TypeError(
                f"strategy {self.name!r}: 'name' is the strategy's key, not a parameter"
            )
        keyword_only = {
            name for name, p in signature.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        if keyword_only != declared | set(self.data):
            raise TypeError(
                f"strategy {self.name!r}: the keyword-only arguments of {self.fn.__name__} "
                f"{sorted(keyword_only)} must be its params {sorted(declared)} and data "
                f"{sorted(self.data)}"
            )
        missing = [n for n in declared if signature[n].default is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"strategy {self.name!r}: parameters without a default: {missing}")
        defaults = {p.name: signature[p.name].default for p in self.params}
        object.__setattr__(self, "defaults", MappingProxyType(defaults))

    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameters' names, in order."""
        return tuple(p.name for p in self.params)

    def with_defaults(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``params`` over the defaults: every parameter's value, not yet range-checked.

        Raises
        ------
        PartitionError
            A parameter the strategy does not take.

        """
        for name, value in params.items():
            if name not in self.defaults:
                takes = ", ".join(self.param_names) or "no parameters"
                raise param_invalid(
                    name,
                    value,
                    f"not a parameter of the {self.name} strategy (it takes {takes})",
                    f"remove {{{name}}}",
                )
        return {**self.defaults, **params}

    def check(self, values: Mapping[str, Any]) -> None:
        """Check every parameter of ``values`` (all of them present) against its rule.

        Raises
        ------
        PartitionError
            The first value its rule refuses.

        """
        for param in self.params:
            param.check(values[param.name])
