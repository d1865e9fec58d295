"""Value rules: the one vocabulary for what a key or a parameter may be.

A :class:`Rule` is a value's type, its allowed values in words, the test a value must
pass and a valid example. Every record that declares values uses them: a strategy's
parameters (:class:`fedbench.partitioning.Param`), a model's or an algorithm's options
(:class:`fedbench.records.Option`) and the ``fl`` keys (:mod:`fedbench.fl_keys`), whose
schema types, ``--help`` lines, checks and one-line errors come from their rules; the
datasets' checks use them too. Nothing here imports more than :mod:`fedbench.errors`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fedbench.errors import ConfigError, invalid


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (``bool`` is not)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Whether ``value`` is a finite real number (``bool`` is not)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


@dataclass(frozen=True)
class Rule:
    """What a value may be.

    Attributes
    ----------
    kind
        The value's type in the config schema and the results (``int``, ``float``,
        ``str``, ``bool``).
    allowed
        The rule in words, e.g. ``"a float > 0"``.
    ok
        The test a value must pass.
    example
        A valid value, quoted in error messages.
    nullable
        Whether ``None`` (null: unset) is also allowed.

    """

    kind: type
    allowed: str
    ok: Callable[[Any], bool]
    example: str
    nullable: bool = False

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` passes the rule."""
        return (value is None and self.nullable) or (value is not None and self.ok(value))

    def check(self, key: str, value: Any, fix: str | None = None) -> None:
        """Raise :class:`ConfigError` naming ``key`` unless ``value`` passes the rule.

        Parameters
        ----------
        key
            The key as the user types it, e.g. ``"fl.client_lr"``.
        value
            The value to check.
        fix
            How to fix it; defaults to ``"e.g. <key>=<example>"``.

        """
        if not self.accepts(value):
            raise ConfigError(
                invalid(key, value, self.allowed, fix or f"e.g. {key}={self.example}")
            )

    def or_null(self, meaning: str) -> Rule:
        """The same rule, also allowing null (``meaning``: what null stands for)."""
        return Rule(self.kind, f"{self.allowed} or null ({meaning})", self.ok, self.example, True)


def at_least(minimum: int, meaning: str = "") -> Rule:
    """An integer ``>= minimum`` (``meaning``: what the smallest value stands for, if special)."""
    words = f"an integer >= {minimum}" + (f" ({meaning})" if meaning else "")
    return Rule(int, words, lambda v: is_int(v) and v >= minimum, str(max(minimum, 1)))


def number_at_least(minimum: float) -> Rule:
    """A finite number ``>= minimum``."""
    return Rule(
        float, f"a number >= {minimum:g}", lambda v: is_real(v) and v >= minimum, f"{minimum:g}"
    )


def one_of(*choices: str) -> Rule:
    """A string that must be one of ``choices``."""
    return Rule(
        str, " or ".join(choices), lambda v: isinstance(v, str) and v in choices, choices[0]
    )


POSITIVE_FLOAT = Rule(float, "a float > 0", lambda v: is_real(v) and v > 0, "0.5")
NON_NEGATIVE_FLOAT = Rule(float, "a float >= 0", lambda v: is_real(v) and v >= 0, "0.1")
POSITIVE_INT = Rule(int, "an integer >= 1", lambda v: is_int(v) and v >= 1, "2")
NON_NEGATIVE_INT = Rule(int, "an integer >= 0", lambda v: is_int(v) and v >= 0, "10")
BOOLEAN = Rule(bool, "true or false", lambda v: isinstance(v, bool), "true")
#: A momentum, an Adam beta, a share of examples held out.
UNIT_FLOAT = Rule(float, "a float in [0, 1)", lambda v: is_real(v) and 0 <= v < 1, "0.9")
#: A share strictly between none and all (a test fraction).
OPEN_FRACTION = Rule(float, "a float in (0, 1)", lambda v: is_real(v) and 0 < v < 1, "0.2")
#: A learning rate (``fl.client_lr``, ``fl.server_lr``).
STEP_SIZE = Rule(float, "a finite float > 0", lambda v: is_real(v) and v > 0, "0.1")
#: A penalty (``fl.weight_decay``).
PENALTY = Rule(float, "a finite float >= 0", lambda v: is_real(v) and v >= 0, "1e-05")
#: Seeds are stored in an int64 column.
MAX_SEED = 2**63 - 1
SEED = Rule(int, f"an integer in [0, {MAX_SEED}]", lambda v: is_int(v) and 0 <= v <= MAX_SEED, "0")
