"""Models and algorithms as records: one registry each, for fedbench's own and plugins'.

A :class:`Model` or :class:`Algorithm` record is everything fedbench knows about a
``model=`` or ``algorithm=`` option: its options (each an :class:`Option` with its
default, its rule and its help), its name in tables, its builder, and for an algorithm
the server step it learns with and what it keeps per client. The Hydra schemas
(:mod:`fedbench.app.config.schemas`), ``--help``, the run spec's checks and defaults
(:mod:`fedbench.spec`), the result columns (:mod:`fedbench.results.columns`) and the
training (:mod:`fedbench.training`) are derived from them; :func:`register_model` and
:func:`register_algorithm` add one (a plugin's, see ``docs/extending.md``).

A builder is a function or, so that this module imports no TensorFlow, the
``"module:function"`` it is imported from when a run builds it (:func:`resolve`). Its
keyword-only arguments are its record's options, which the run spec always fills, so
the defaults live in the record alone (a test checks that every builder, record and
``conf/<group>/<name>.yaml`` agree).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fedbench.errors import ConfigError, invalid
from fedbench.rules import (
    NON_NEGATIVE_FLOAT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    UNIT_FLOAT,
    Rule,
    one_of,
)

#: A builder, or the ``"module:function"`` it is imported from.
Builder = Callable[..., Any] | str
#: The ways a round's clients can be trained (``fl.execution``); every algorithm has a
#: ``per_client`` builder, the reference.
EXECUTIONS = ("per_client", "sharded")


def resolve(builder: Builder) -> Callable[..., Any]:
    """The function ``builder`` names (imported now when it is a ``"module:function"``)."""
    if callable(builder):
        return builder
    module, _, name = builder.partition(":")
    return getattr(importlib.import_module(module), name)


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
        self.rule.check(f"{group}.{self.name}", value)


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
    factory
        ``factory(input_shape, num_classes, *, <options>) -> tf.keras.Model`` returning
        logits (keyword only, after the others).

    """

    name: str
    summary: str
    options: tuple[Option, ...] = ()
    min_image_side: int | None = None
    factory: Builder = field(kw_only=True)
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
    builder
        The reference builder (``fl.execution=per_client``; keyword only, after the
        others): ``builder(model_fn, settings, *, <options>)`` returning a
        ``tff.learning`` process that takes the clients' datasets, or, when
        ``composed``, ``builder(model_fn, settings, clients, fresh_weights, *,
        <options>)`` returning a process fedbench composes from TFF computations, which
        reads the clients' data from their round inputs (:mod:`fedbench.training.composed`;
        ``fresh_weights(stream)``: the trainable weights of a fresh network of the run's
        model, drawn from the run's seed and that stream).
    composed
        Which of the two the builder is.
    sharded
        The builder of ``fl.execution=sharded`` (``None``: the algorithm has none; keyword
        only): ``sharded(model_fn, keras_fn, settings, store, batch_size, fresh_weights,
        *, <options>)`` returning a process whose clients are shards of a round's
        clients, with the reference's state (:mod:`fedbench.training.sharded`).

    """

    name: str
    display: str
    summary: str
    options: tuple[Option, ...] = ()
    server_lr: float = 1.0
    client_state: str | None = None
    revision: int = 1
    builder: Builder = field(kw_only=True)
    composed: bool = field(default=False, kw_only=True)
    sharded: Builder | None = field(default=None, kw_only=True)
    defaults: Mapping[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", _defaults(self.options))

    @property
    def executions(self) -> tuple[str, ...]:
        """The ``fl.execution`` values it has a builder for, among :data:`EXECUTIONS`."""
        return tuple(e for e in EXECUTIONS if self._builders()[e] is not None)

    def check_execution(self, execution: str) -> None:
        """Raise :class:`ConfigError` naming ``fl.execution`` unless it has that builder."""
        if execution not in self.executions:
            raise ConfigError(
                invalid(
                    "fl.execution",
                    execution,
                    f"one that algorithm={self.name} has a builder for: "
                    f"{' or '.join(self.executions)}",
                    f"use fl.execution={self.executions[0]}",
                )
            )

    def builder_for(self, execution: str) -> Callable[..., Any]:
        """The builder of ``fl.execution=<execution>``, imported.

        Raises
        ------
        ConfigError
            The algorithm has no builder for it.

        """
        self.check_execution(execution)
        return resolve(self._builders()[execution])

    def _builders(self) -> dict[str, Builder | None]:
        return {"per_client": self.builder, "sharded": self.sharded}


_MODELS, _ALGORITHMS = "fedbench.training.models", "fedbench.training.algorithms"
_SHARDED = "fedbench.training.sharded"

#: Every model, by ``model=`` name.
MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model("linear", "softmax regression on flattened features", factory=f"{_MODELS}:linear"),
        Model(
            "mlp",
            "Flatten -> Dense(hidden, relu) -> Dense(C)",
            (Option("hidden", POSITIVE_INT, 128, "Units of the hidden layer."),),
            factory=f"{_MODELS}:mlp",
        ),
        Model(
            "cnn",
            "NIID-Bench's simple CNN (LeNet-5 style)",
            min_image_side=12,
            factory=f"{_MODELS}:cnn",
        ),
        Model(
            "cnn_emnist",
            "the EMNIST CNN of TFF's baselines (Reddi et al. 2021)",
            min_image_side=6,
            factory=f"{_MODELS}:cnn_emnist",
        ),
    )
}

#: In the order tables list them: NIID-Bench's four (FedAvg, FedProx, SCAFFOLD, FedNova), then
#: the adaptive-server variants.
ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "fedavg",
            "FedAvg",
            "weighted FedAvg (McMahan et al. 2017), server SGD",
            builder=f"{_ALGORITHMS}:fedavg",
            sharded=f"{_SHARDED}:sharded_fedavg",
        ),
        Algorithm(
            "fedprox",
            "FedProx",
            "FedAvg whose clients add mu/2 ||w - w_global||^2 (Li et al. 2020)",
            (Option("mu", NON_NEGATIVE_FLOAT, 0.01, "Strength of the proximal term."),),
            # 2: the proximal gradient is mu (w - w_global); TFF's FedProx (revision 1)
            # added mu (w_global - w) (fedbench.training.optimizers.Proximal).
            revision=2,
            builder=f"{_ALGORITHMS}:fedprox",
            sharded=f"{_SHARDED}:sharded_fedprox",
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
            builder="fedbench.training.scaffold:scaffold",
            composed=True,
            sharded=f"{_SHARDED}:sharded_scaffold",
        ),
        Algorithm(
            "fednova",
            "FedNova",
            "normalized averaging of client updates by local steps (Wang et al. 2020)",
            builder="fedbench.training.fednova:fednova",
            composed=True,
            sharded=f"{_SHARDED}:sharded_fednova",
        ),
        Algorithm(
            "fedavgm",
            "FedAvgM",
            "FedAvg with server momentum (Hsu et al. 2019)",
            (Option("server_momentum", UNIT_FLOAT, 0.9, "Momentum of the server's SGD."),),
            builder=f"{_ALGORITHMS}:fedavgm",
            sharded=f"{_SHARDED}:sharded_fedavgm",
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
            builder=f"{_ALGORITHMS}:fedadam",
            sharded=f"{_SHARDED}:sharded_fedadam",
        ),
    )
}


_GROUPS: Mapping[str, Mapping[str, Model | Algorithm]] = MappingProxyType(
    {"model": MODELS, "algorithm": ALGORITHMS}
)


def register_model(model: Model) -> Model:
    """Add ``model`` to :data:`MODELS` (the command line, ``--help`` and training see it).

    Returns
    -------
    Model
        ``model``, so a plugin module can write ``MODEL = register_model(Model(...))``.

    Raises
    ------
    ValueError
        A model of that name is registered already.

    """
    if model.name in MODELS:
        raise ValueError(f"a model named {model.name!r} is already registered")
    MODELS[model.name] = model
    return model


def register_algorithm(algorithm: Algorithm) -> Algorithm:
    """Add ``algorithm`` to :data:`ALGORITHMS` (its options become result columns too).

    Returns
    -------
    Algorithm
        ``algorithm``, so a plugin module can write ``ALGORITHM = register_algorithm(...)``.

    Raises
    ------
    ValueError
        An algorithm of that name is registered already, or an option shares its name
        (and so its result column) with another algorithm's of another type.

    """
    if algorithm.name in ALGORITHMS:
        raise ValueError(f"an algorithm named {algorithm.name!r} is already registered")
    known = option_columns()
    for option in algorithm.options:
        if option.name in known and known[option.name] is not option.rule.kind:
            raise ValueError(
                f"algorithm {algorithm.name!r}: option {option.name!r} is a "
                f"{option.rule.kind.__name__}, another algorithm's of that name a "
                f"{known[option.name].__name__} (they share one result column)"
            )
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


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
