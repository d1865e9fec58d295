"""The ``fl`` keys as records: one :class:`FLKey` per key, and the settings built from them.

An ``fl`` key is declared once, here or by a plugin (:func:`register`): its type and
allowed values (a :class:`fedbench.rules.Rule`), default, help, whether it is part of a
run's identity, and whether it is a result column. Everything else is derived from
:data:`FL_KEYS`: the Hydra schema and ``--help`` (:mod:`fedbench.app.config.schemas`), the
checks of :class:`FLSettings`, the run's identity and ``config_hash``
(:meth:`fedbench.spec.RunSpec.identity`), the result columns
(:mod:`fedbench.results.columns`), the analysis' settings (:mod:`analysis.load`), the
TensorBoard HParams and the key table of ``docs/running.md`` (:func:`docs_table`).
Nothing here imports Hydra, TensorFlow or pandas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import FrozenInstanceError, dataclass
from types import MappingProxyType
from typing import Any

from fedbench.errors import ConfigError, invalid
from fedbench.rules import (
    BOOLEAN,
    PENALTY,
    POSITIVE_INT,
    STEP_SIZE,
    UNIT_FLOAT,
    Rule,
    at_least,
    one_of,
)
from fedbench.training.client_work import DROP, PARTIAL, WorkSettings, check_work

#: ``FLKey.legacy`` when every value of the key is part of the identity.
ALWAYS = object()


@dataclass(frozen=True)
class FLKey:
    """One ``fl`` key (``fl.<name>=<value>``).

    Attributes
    ----------
    name
        The key under ``fl``, the attribute of :class:`FLSettings` and, when it is a
        column, the result column's name.
    rule
        Its type (``rule.kind``) and allowed values; ``rule.nullable`` allows null.
    default
        The value a run takes when the key is not set.
    help
        One sentence for ``--help`` and the docs' key table.
    identity
        Whether its value is part of a run's identity (its ``config_hash``). Keys that
        do not change a run's rows (threads, checkpoints) or say how far along its
        trajectory to read (``rounds``) are not.
    legacy
        For a key added after results existed: the value every earlier run had. The key
        is then in a run's identity only when set to something else, so earlier runs
        keep their hash. :data:`ALWAYS`: no such value.
    column
        Whether the result rows have a column of its value (``None``: when it is part of
        the identity).

    """

    name: str
    rule: Rule
    default: Any
    help: str
    identity: bool = True
    legacy: Any = ALWAYS
    column: bool | None = None

    def __post_init__(self) -> None:
        if not self.rule.accepts(self.default):
            raise TypeError(f"fl key {self.name!r}: its default {self.default!r} breaks its rule")
        if self.legacy is not ALWAYS and not self.identity:
            raise TypeError(f"fl key {self.name!r}: a legacy value needs identity=True")

    @property
    def annotation(self) -> Any:
        """The type a value is converted to: ``rule.kind``, or ``rule.kind | None``."""
        return self.rule.kind | None if self.rule.nullable else self.rule.kind

    @property
    def has_column(self) -> bool:
        """Whether the result rows have a column of this key."""
        return self.identity if self.column is None else self.column

    def in_identity(self, value: Any) -> bool:
        """Whether ``fl.<name>`` at ``value`` is part of a run's identity."""
        if self.legacy is not ALWAYS:
            return value != self.legacy
        return self.identity

    def check(self, value: Any) -> None:
        """Raise :class:`ConfigError` naming ``fl.<name>`` unless ``value`` passes the rule."""
        self.rule.check(f"fl.{self.name}", value)


_KEYS = (
    FLKey("num_clients", POSITIVE_INT, 10, "Clients the training data is partitioned into."),
    FLKey(
        "clients_per_round",
        POSITIVE_INT,
        10,
        "Clients sampled (without replacement) each round, at most fl.num_clients.",
    ),
    FLKey(
        "rounds",
        POSITIVE_INT,
        20,
        "Rounds to train; says how far along the run's trajectory to go (a run of 100 rounds "
        "holds the 50-round setting).",
        identity=False,
        column=True,
    ),
    FLKey("local_epochs", POSITIVE_INT, 1, "Passes each sampled client makes over its data."),
    FLKey("batch_size", POSITIVE_INT, 20, "Client mini-batch size."),
    FLKey("client_lr", STEP_SIZE, 0.1, "Client SGD learning rate."),
    FLKey(
        "server_lr",
        STEP_SIZE.or_null("the algorithm's own step"),
        None,
        "Server step; null takes the algorithm's own (fedbench --help lists them).",
    ),
    FLKey("client_momentum", UNIT_FLOAT, 0.0, "Client SGD momentum (0: plain SGD)."),
    FLKey(
        "weight_decay",
        PENALTY,
        0.0,
        "Client L2 penalty, weight_decay * w added to the gradient before the step as "
        "PyTorch's SGD(weight_decay=...) does (NIID-Bench: 1e-5).",
        legacy=0.0,
    ),
    FLKey(
        "eval_every",
        POSITIVE_INT,
        1,
        "Evaluate on the test data every this many rounds (and always at the last round).",
    ),
    FLKey(
        "shuffle_clients",
        BOOLEAN,
        True,
        "Reshuffle each client's data every local epoch (seeded by seed, round and client).",
        column=False,
    ),
    FLKey(
        "client_holdout",
        UNIT_FLOAT,
        0.0,
        "Pooled datasets: share of each client's examples held out for per-client "
        "evaluation (0: off); natural partitions use each writer's own test examples.",
        column=False,
    ),
    FLKey(
        "threads",
        at_least(0, "0: automatic"),
        0,
        "TensorFlow threads of a job, its own and its TFF worker's (0: all cores, or the "
        "cores shared by the jobs a parallel launcher runs at once).",
        identity=False,
    ),
    FLKey(
        "checkpoint_every",
        at_least(0, "0: checkpoint only on a signal and at the end"),
        10,
        "Rounds between checkpoints of the learning process (0: only when stopped and at "
        "the end); a re-run resumes from the last one.",
        identity=False,
    ),
    FLKey(
        "tensorboard",
        BOOLEAN,
        True,
        "Write the run's TensorBoard events under results_dir/tensorboard/.",
        identity=False,
    ),
    FLKey(
        "execution",
        one_of("sharded", "per_client"),
        "sharded",
        "How a round's clients are trained: sharded (a shard's clients one after another in "
        "one compiled computation) or per_client (TFF's own builders, the reference path).",
        identity=False,
    ),
    FLKey(
        "shards",
        at_least(0, "0: one per TensorFlow thread"),
        0,
        "fl.execution=sharded: shards per round (0: one per TensorFlow thread).",
        identity=False,
    ),
    # issue 34, clients' work (fedbench.training.client_work)
    FLKey(
        "stragglers",
        UNIT_FLOAT,
        0.0,
        "Share of each round's sampled clients that straggle, drawn from the seed "
        "(FedProx's systems heterogeneity; 0: none).",
        legacy=0.0,
    ),
    FLKey(
        "straggler_work",
        one_of(DROP, PARTIAL),
        DROP,
        "What stragglers do: drop (train nothing, left out of the round) or partial "
        "(a random 1..E of their E local epochs, drawn from the seed).",
        legacy=DROP,
    ),
    FLKey(
        "local_epochs_min",
        POSITIVE_INT.or_null("every client trains fl.local_epochs"),
        None,
        "Fewest local epochs: each client draws its epochs in [fl.local_epochs_min, "
        "fl.local_epochs] every round from the seed (FedNova's unequal local work).",
        legacy=None,
    ),
    # issue 34, "who takes part": which clients a round may sample (training/participation.py).
    FLKey(
        "participation",
        one_of("uniform", "cyclic"),
        "uniform",
        "Which clients a round may sample: uniform (every client not held out) or cyclic "
        "(fl.participation_blocks blocks; block r mod k in round r, Eichner et al. 2019).",
        legacy="uniform",
    ),
    FLKey(
        "participation_blocks",
        POSITIVE_INT.or_null("fl.participation=uniform"),
        None,
        "fl.participation=cyclic: blocks the clients not held out are cut into, each holding "
        "at least fl.clients_per_round clients.",
        legacy=None,
    ),
    FLKey(
        "block_by",
        one_of("index", "label"),
        "index",
        "fl.participation=cyclic: blocks of consecutive client indices (index) or of clients "
        "ordered by their most frequent label (label: availability follows the data).",
        legacy="index",
    ),
    FLKey(
        "heldout_clients",
        UNIT_FLOAT,
        0.0,
        "Share of clients that never train, drawn from the seed; the global model is scored "
        "on their data (heldout_client_accuracy, participation_gap).",
        legacy=0.0,
    ),
)

#: Every ``fl`` key by name, in the order of the docs, ``--help`` and the result columns.
FL_KEYS: dict[str, FLKey] = {key.name: key for key in _KEYS}


def register(key: FLKey) -> FLKey:
    """Add ``key`` to :data:`FL_KEYS`: the command line, the checks and the results see it.

    Returns
    -------
    FLKey
        ``key``, so a plugin module can write ``KEY = register(FLKey(...))``.

    Raises
    ------
    ValueError
        An ``fl`` key of that name is registered already.

    """
    if key.name in FL_KEYS:
        raise ValueError(f"an fl key named {key.name!r} is already registered")
    FL_KEYS[key.name] = key
    return key


def annotations() -> dict[str, Any]:
    """Each key's type, by name (for :func:`fedbench.checks.typed_options`)."""
    return {name: key.annotation for name, key in FL_KEYS.items()}


def defaults() -> dict[str, Any]:
    """Each key's default, by name."""
    return {name: key.default for name, key in FL_KEYS.items()}


def column_keys() -> tuple[FLKey, ...]:
    """The keys that are result columns, in column order."""
    return tuple(key for key in FL_KEYS.values() if key.has_column)


class FLSettings:
    """A run's federated training settings (``fl.*``), one attribute per :data:`FL_KEYS` entry.

    Immutable. ``FLSettings(rounds=5)`` takes every key not given at its default;
    :meth:`check` checks the values against their rules.

    Raises
    ------
    TypeError
        A keyword that is not a registered key.

    """

    __slots__ = ("_values",)

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(FL_KEYS))
        if unknown:
            raise TypeError(f"FLSettings got keys that are not fl keys: {unknown}")
        merged = {name: values.get(name, key.default) for name, key in FL_KEYS.items()}
        object.__setattr__(self, "_values", MappingProxyType(merged))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"FLSettings has no fl key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FLSettings) and dict(self._values) == dict(other._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items(), key=lambda item: item[0])))

    def __repr__(self) -> str:
        return "FLSettings(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_settings, (dict(self._values),))

    def as_dict(self) -> dict[str, Any]:
        """Every key's value, by name, in :data:`FL_KEYS` order."""
        return dict(self._values)

    def replace(self, **changes: Any) -> FLSettings:
        """The same settings with ``changes``."""
        return FLSettings(**{**self._values, **changes})

    def identity(self) -> dict[str, Any]:
        """The keys and values that are part of the run's identity."""
        return {k: v for k, v in self._values.items() if FL_KEYS[k].in_identity(v)}

    def check(self) -> None:
        """Check every value against its key's rule, then how the values fit together.

        ``clients_per_round <= num_clients``; the client-work keys
        (:func:`fedbench.training.client_work.check_work`).

        Raises
        ------
        ConfigError
            The first invalid value, naming its ``fl.*`` key.

        """
        for name, value in self._values.items():
            FL_KEYS[name].check(value)
        if self.clients_per_round > self.num_clients:
            raise ConfigError(
                invalid(
                    "fl.clients_per_round",
                    self.clients_per_round,
                    f"at most fl.num_clients={self.num_clients}",
                    "lower fl.clients_per_round or raise fl.num_clients",
                )
            )
        check_work(work_settings(self), self.clients_per_round)
        check_participation(self)


def work_settings(fl: FLSettings) -> WorkSettings:
    """The client-work keys of ``fl`` (:mod:`fedbench.training.client_work`)."""
    return WorkSettings(fl.local_epochs, fl.local_epochs_min, fl.stragglers, fl.straggler_work)


def heldout_count(num_clients: int, fraction: float) -> int:
    """Clients ``fl.heldout_clients=fraction`` holds out: ``round(fraction * N)``, >= 1 if set."""
    return max(1, round(fraction * num_clients)) if fraction > 0 else 0


def check_participation(fl: FLSettings) -> None:
    """Check the participation keys against each other and the client counts.

    Raises
    ------
    ConfigError
        Held-out clients leave fewer than ``fl.clients_per_round`` to sample; blocks
        set without ``fl.participation=cyclic`` (or missing with it); a block smaller
        than ``fl.clients_per_round``.

    """
    held = heldout_count(fl.num_clients, fl.heldout_clients)
    left = fl.num_clients - held
    if left < fl.clients_per_round:
        raise ConfigError(
            invalid(
                "fl.heldout_clients",
                fl.heldout_clients,
                f"a share that leaves at least fl.clients_per_round={fl.clients_per_round} "
                f"of fl.num_clients={fl.num_clients} clients to train ({held} held out)",
                "lower fl.heldout_clients or fl.clients_per_round, or raise fl.num_clients",
            )
        )
    if fl.participation != "cyclic":
        for name, unset in (("participation_blocks", None), ("block_by", "index")):
            value = getattr(fl, name)
            if value != unset:
                raise ConfigError(
                    invalid(
                        f"fl.{name}",
                        value,
                        f"{_yaml(unset)} with fl.participation={fl.participation}",
                        f"set fl.participation=cyclic or drop fl.{name}",
                    )
                )
        return
    blocks, most = fl.participation_blocks, left // fl.clients_per_round
    if blocks is None or blocks > most:
        raise ConfigError(
            invalid(
                "fl.participation_blocks",
                blocks,
                f"an integer in [1, {most}] with fl.participation=cyclic: each block of the "
                f"{left} clients that train holds at least fl.clients_per_round="
                f"{fl.clients_per_round}",
                f"e.g. fl.participation_blocks={max(1, min(2, most))}",
            )
        )


def _settings(values: Mapping[str, Any]) -> FLSettings:
    """Rebuild pickled settings (keys registered here since are taken at their defaults)."""
    return FLSettings(**{k: v for k, v in values.items() if k in FL_KEYS})


#: The header of :func:`docs_table`.
DOCS_HEADER = "| key | values (default) | meaning |\n|---|---|---|"


def docs_table() -> str:
    """The ``fl`` key table of ``docs/running.md`` (a test keeps the page equal to it)."""
    rows = [DOCS_HEADER]
    for key in FL_KEYS.values():
        meaning = key.help
        if not key.identity:
            meaning += " Not part of a run's identity."
        elif key.legacy is not ALWAYS:
            meaning += f" Part of a run's identity when not {_yaml(key.legacy)}."
        values = f"{key.rule.allowed} (default `{_yaml(key.default)}`)"
        rows.append(f"| `fl.{key.name}` | {values} | {meaning} |")
    return "\n".join(rows)


def _yaml(value: Any) -> str:
    """``value`` as the command line spells it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
