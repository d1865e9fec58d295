"""Models and algorithms as records: one source for their options, defaults and rules.

A :class:`Model` or :class:`Algorithm` record is everything fedbench knows about a
``model=`` or ``algorithm=`` option without building it: its options (each an
:class:`Option` with its default, its rule and its help), its name in tables, and
for an algorithm the server step it learns with and what it keeps per client. The
Hydra schemas (:mod:`fedbench.app.schemas`), ``--help``, the run spec's checks and
defaults (:mod:`fedbench.spec`) and the result columns (:mod:`fedbench.results.columns`)
are derived from them. Their builders (TensorFlow) are registered by the same names in
:mod:`fedbench.training.models` and :mod:`fedbench.training.algorithms`; a builder's
keyword-only arguments are its record's options, which the run spec always fills, so
the defaults live here alone (a test checks that every builder, record and
``conf/<group>/<name>.yaml`` agree). Nothing here imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fedbench.errors import ConfigError, invalid
from fedbench.partitioning.spec import (
    NON_NEGATIVE_FLOAT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    Rule,
    is_real,
    one_of,
)

#: A momentum or an Adam beta.
UNIT_FLOAT = Rule(float, "a float in [0, 1)", lambda v: is_real(v) and 0 <= v < 1, "0.9")


@dataclass(frozen=True)
class Option:
    """One option of a model or an algorithm (``model.<name>``, ``algorithm.<name>``).

    Attributes
    ----------
    name
        The key under its group, and the builder's keyword argument.
    rule
        Its allowed values (its type is the rule's ``kind``).
    default
        The value a run takes when the option is not set.
    help
        One sentence for ``--help`` and the docs.
    hashed_at_default
        Whether the option is part of a run's identity at its default. ``False`` for an
        option added after results existed, whose default is what every earlier run did:
        at its default it is left out of the identity, so earlier runs keep their
        ``config_hash`` (:meth:`fedbench.spec.RunSpec.identity`).

    """

    name: str
    rule: Rule
    default: Any
    help: str
    hashed_at_default: bool = True

    def check(self, group: str, value: Any) -> None:
        """Raise :class:`ConfigError` naming ``<group>.<name>`` unless ``value`` passes the rule."""
        if not self.rule.ok(value):
            key = f"{group}.{self.name}"
            raise ConfigError(
                invalid(key, value, self.rule.allowed, f"e.g. {key}={self.rule.example}")
            )


def _defaults(options: tuple[Option, ...]) -> Mapping[str, Any]:
    return MappingProxyType({o.name: o.default for o in options})


@dataclass(frozen=True)
class Model:
    """A registered model (``model=<name>``).

    Attributes
    ----------
    name
        The config value.
    summary
        One line for ``--help``, the YAML file and the docs.
    options
        Its options.
    min_image_side
        For models that take images: the smallest side they accept (``None``: any
        features, flattened).

    """

    name: str
    summary: str
    options: tuple[Option, ...] = ()
    min_image_side: int | None = None
    defaults: Mapping[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", _defaults(self.options))


@dataclass(frozen=True)
class Algorithm:
    """A registered federated algorithm (``algorithm=<name>``).

    Attributes
    ----------
    name
        The config value.
    display
        Its name in tables and legends, as its paper spells it (``"SCAFFOLD"``).
    summary
        One line for ``--help``, the YAML file and the docs.
    options
        Its options.
    server_lr
        The server step ``fl.server_lr`` takes when it is not set: one that learns with
        this algorithm out of the box.
    client_state
        What it keeps per client across rounds (``None``: nothing). Such state is
        saved with the run's checkpoint.
    revision
        Moves when a fix changes what the algorithm computes for the same options; a
        revision above 1 enters a run's identity, so results of the earlier code keep
        their own hash and are not resumed or reported as the new code's.

    """

    name: str
    display: str
    summary: str
    options: tuple[Option, ...] = ()
    server_lr: float = 1.0
    client_state: str | None = None
    revision: int = 1
    defaults: Mapping[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", _defaults(self.options))


MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model("linear", "softmax regression on flattened features"),
        Model(
            "mlp",
            "Flatten -> Dense(hidden, relu) -> Dense(C)",
            (Option("hidden", POSITIVE_INT, 128, "Units of the hidden layer."),),
        ),
        Model("cnn", "NIID-Bench's simple CNN (LeNet-5 style)", min_image_side=12),
        Model(
            "cnn_emnist",
            "the EMNIST CNN of TFF's baselines (Reddi et al. 2021)",
            min_image_side=6,
        ),
    )
}

#: In the order tables list them: NIID-Bench's four (FedAvg, FedProx, SCAFFOLD, FedNova), then
#: the adaptive-server variants.
ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("fedavg", "FedAvg", "weighted FedAvg (McMahan et al. 2017), server SGD"),
        Algorithm(
            "fedprox",
            "FedProx",
            "FedAvg whose clients add mu/2 ||w - w_global||^2 (Li et al. 2020)",
            (Option("mu", NON_NEGATIVE_FLOAT, 0.01, "Strength of the proximal term."),),
            # 2: the proximal gradient is mu (w - w_global); TFF's FedProx (revision 1)
            # added mu (w_global - w) (fedbench.training.optimizers.Proximal).
            revision=2,
        ),
        Algorithm(
            "scaffold",
            "SCAFFOLD",
            "control variates correct client drift (Karimireddy et al. 2020, option II)",
            (
                Option(
                    "control_start",
                    one_of("zeros", "network"),
                    "zeros",
                    "Where c and every c_i start: zeros (the usual reading of the paper), or "
                    "the trainable weights of one freshly initialized network, drawn from the "
                    "run's seed (NIID-Bench's code).",
                    hashed_at_default=False,
                ),
            ),
            client_state="control variate c_i (one model-sized vector per client)",
        ),
        Algorithm(
            "fednova",
            "FedNova",
            "normalized averaging of client updates by local steps (Wang et al. 2020)",
        ),
        Algorithm(
            "fedavgm",
            "FedAvgM",
            "FedAvg with server momentum (Hsu et al. 2019)",
            (Option("server_momentum", UNIT_FLOAT, 0.9, "Momentum of the server's SGD."),),
        ),
        Algorithm(
            "fedadam",
            "FedAdam",
            "FedAvg whose server applies Adam (Reddi et al. 2021); fl.server_lr is its step",
            (
                Option("beta_1", UNIT_FLOAT, 0.9, "Decay of the first moment."),
                Option("beta_2", UNIT_FLOAT, 0.99, "Decay of the second moment."),
                Option("epsilon", POSITIVE_FLOAT, 1e-3, "Adaptivity: added to sqrt(v)."),
            ),
            server_lr=0.01,
        ),
    )
}


_GROUPS: Mapping[str, Mapping[str, Model | Algorithm]] = MappingProxyType(
    {"model": MODELS, "algorithm": ALGORITHMS}
)


def record(group: str, name: Any) -> Model | Algorithm:
    """The record of ``<group>=<name>`` (``group`` is ``model`` or ``algorithm``).

    Raises
    ------
    ConfigError
        No option of that name in the group.

    """
    records = _GROUPS[group]
    if not isinstance(name, str) or name not in records:
        raise ConfigError(
            invalid(
                group, name, f"one of {', '.join(records)}", f"e.g. {group}={next(iter(records))}"
            )
        )
    return records[name]


def check_options(group: str, name: str, options: Mapping[str, Any]) -> None:
    """Check each option of ``<group>=<name>`` against its rule (unknown keys are refused earlier).

    Raises
    ------
    ConfigError
        The first value that breaks its rule, naming ``<group>.<key>``.

    """
    for option in record(group, name).options:
        if option.name in options:
            option.check(group, options[option.name])


def in_identity(group: str, name: str, option: str, value: Any) -> bool:
    """Whether ``<group>.<option>=<value>`` of ``<group>=<name>`` is part of a run's identity.

    Every option is, except one declared ``hashed_at_default=False`` at its default.
    """
    for declared in record(group, name).options:
        if declared.name == option:
            return declared.hashed_at_default or value != declared.default
    return True


def option_columns() -> dict[str, type]:
    """Every algorithm option, by name, with its type: a result column each (null where unused)."""
    columns: dict[str, type] = {}
    for algorithm in ALGORITHMS.values():
        for option in algorithm.options:
            columns.setdefault(option.name, option.rule.kind)
    return columns
