"""What fedbench's sweeper tells each job it launches, as overrides of the ``launch`` section.

A launched job needs two things that the sweep, not its own config, knows:

- ``launch.eval_rounds``: the shorter round counts its run is asked in the same sweep
  (``-m fl.rounds=10,50,100`` launches only the 100-round job, which evaluates at
  10 and 50 too: :mod:`fedbench.app.sweep.round_groups`);
- ``launch.threads``: its TensorFlow thread budget when ``fl.threads`` is 0, the cores
  shared by the jobs that run at once
  (:func:`fedbench.app.launchers.threads.launcher_threads`).

The sweeper appends them to each job's overrides when it hands the job to the
launcher; overrides are what every Hydra launcher ships to its jobs (the basic one in
this process, joblib's workers, submitit's local processes and Slurm jobs), so nothing
travels through the environment. They are not part of a run's identity (the run spec
does not read them) and a job's outcome names its overrides without them. Only the
sweeper sets them: pre-flight refuses a command that does (:func:`check_unset`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fedbench.errors import ConfigError, invalid

#: The config section the sweeper sets (schema: :class:`fedbench.app.config.schemas.LaunchConfig`).
SECTION = "launch"
#: What a user sets instead of each key, as pre-flight's error says.
_INSTEAD = {
    "eval_rounds": "to evaluate a run at several round counts, sweep them: "
    "fedbench -m fl.rounds=10,50",
    "threads": "to set a job's TensorFlow threads, use fl.threads",
}


@dataclass(frozen=True)
class LaunchArgs:
    """The sweeper's word to one launched job (the defaults: a job it said nothing to).

    Attributes
    ----------
    eval_rounds
        Round counts below ``fl.rounds`` at which the job evaluates and records its run.
    threads
        TensorFlow threads when ``fl.threads`` is 0 (0: no budget, all cores).

    """

    eval_rounds: tuple[int, ...] = ()
    threads: int = 0

    def overrides(self) -> list[str]:
        """The Hydra overrides that carry these arguments (none for the defaults)."""
        out = []
        if self.eval_rounds:
            out.append(f"{SECTION}.eval_rounds=[{','.join(str(r) for r in self.eval_rounds)}]")
        if self.threads:
            out.append(f"{SECTION}.threads={self.threads}")
        return out

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> LaunchArgs:
        """The arguments in a job's composed config (its ``launch`` section)."""
        section = config.get(SECTION) or {}
        rounds = section.get("eval_rounds") or ()
        return cls(tuple(int(r) for r in rounds), int(section.get("threads") or 0))


def without_launch_args(overrides: Sequence[str]) -> list[str]:
    """A job's overrides without the ones the sweeper appended: those its command gave."""
    return [o for o in overrides if not o.lstrip("+").startswith(f"{SECTION}.")]


def check_unset(config: Mapping[str, Any]) -> None:
    """Refuse a command that sets the ``launch`` section itself (only the sweeper does).

    Raises
    ------
    ConfigError
        A ``launch.*`` key is not at its default, named with what to set instead.

    """
    section = config.get(SECTION) or {}
    defaults = LaunchArgs()
    for key, value in section.items():
        if LaunchArgs.of({SECTION: {key: value}}) != defaults:
            default = getattr(defaults, key)
            raise ConfigError(
                invalid(
                    f"{SECTION}.{key}",
                    value,
                    f"its default, {list(default) if isinstance(default, tuple) else default} "
                    "(fedbench's sweeper sets it on the jobs it launches)",
                    f"drop {SECTION}.{key}; {_INSTEAD[key]}",
                )
            )
