"""Hydra's and OmegaConf's errors, as one line naming key, value, what is allowed and the fix.

Hydra reports a bad override in several lines (and a traceback); fedbench's commands
turn each kind into the one-line message of :func:`fedbench.errors.invalid`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import MissingConfigException, OverrideParseException

from fedbench.app.config.schemas import GROUPS, group_schemas, keys_under
from fedbench.errors import ConfigError, invalid, unknown_key


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def one_line(error: Exception) -> ConfigError:
    """Turn a Hydra/OmegaConf composition or parsing error into a one-line :class:`ConfigError`."""
    chain = _chain(error)
    text = "\n".join(str(e) for e in chain)
    full_key = next((e.full_key for e in chain if getattr(e, "full_key", None)), None)
    if isinstance(error, OverrideParseException):
        return _parse_error(error, text)
    missing = re.search(r"Could not find '(.+)/([^'/]+)'", text)
    if isinstance(error, MissingConfigException) and missing:
        group, option = missing.groups()
        listed = re.search(rf"Available options in '{re.escape(group)}':\n((?:\t.*\n?)+)", text)
        allowed = sorted(group_schemas().get(group, {})) or (
            sorted(line.strip() for line in listed.group(1).splitlines()) if listed else []
        )
        fix = f"use e.g. {group}={allowed[0]}" if allowed else "check the spelling"
        return ConfigError(invalid(group, option, f"one of {allowed}", fix))
    if isinstance(error, MissingConfigException):
        name = re.search(r"Cannot find primary config '([^']+)'", text)
        value = name.group(1) if name else "?"
        folders = re.findall(r"provider=(?:main|command-line), path=file://(\S+)", text)
        return ConfigError(
            invalid(
                "--config-name",
                value,
                f"a YAML file in {folders or 'the config folders'}",
                "check -cn and -cd",
            )
        )
    no_match = re.search(r"Could not override '([^']+)'\. No match in the defaults list", text)
    if no_match:  # a group=option override for a group the config does not select
        return unknown(no_match.group(1))
    if re.search(r"Key '[^']+' (?:is )?not in ", text):
        key = full_key or re.search(r"Key '([^']+)'", text).group(1)
        return unknown(key)
    not_bool = re.search(r"Value '([^']*)' is not a valid bool", text)
    merging = re.search(r"Error merging override ([^=\s]+)=(\S*)", text)
    if not_bool and (full_key or merging):
        key = full_key or merging.group(1)
        return ConfigError(invalid(key, not_bool.group(1), "true or false"))
    section = re.search(r"Invalid type assigned: \w+ is not a subclass of \w+", text)
    if section and merging:
        key, value = merging.groups()
        return ConfigError(
            invalid(
                key,
                value,
                "a section of keys, not one value",
                f"set a key inside it, e.g. {key}.<key>=<value> (fedbench --help lists them)",
            )
        )
    convert = re.search(r"Value '([^']*)' (?:of type '\w+' )?could not be converted to (\w+)", text)
    if convert and full_key:
        kind = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false"}.get(
            convert.group(2), f"a value of type {convert.group(2)}"
        )
        return ConfigError(invalid(full_key, convert.group(1), kind))
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    return ConfigError(f"{first} (run with FEDBENCH_TRACEBACK=1 for details)")


def _parse_error(error: OverrideParseException, text: str) -> ConfigError:
    """An override Hydra's grammar refuses, e.g. an unquoted non-ASCII path."""
    override = getattr(error, "override", None) or ""
    key, _, value = override.partition("=")
    if override and not value.isascii():
        return ConfigError(
            invalid(
                key,
                value,
                "a quoted value when it holds characters beyond ASCII",
                f"quote it for Hydra: '{key}=\"{value}\"'",
            )
        )
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return ConfigError(f"cannot parse the override {override!r}: {first}")


def unknown(key: str) -> ConfigError:
    """The error for a key no schema declares (or that belongs to another option of a group)."""
    parent, _, leaf = key.rpartition(".")
    owners = [
        option
        for option, schema in sorted(group_schemas().get(parent, {}).items())
        if leaf in {f for f in getattr(schema, "__dataclass_fields__", {})}
    ]
    if owners:  # spelt right, but an option of another choice in the group
        choices = " or ".join(f"{parent}={o}" for o in owners)
        return ConfigError(
            f"{key} does not apply to the selected {parent}: it is a key of {choices}; "
            f"select {choices} with it, or drop {key} (to sweep {parent}s with their own "
            f"keys, use one sweep per {parent}, as sweeps/fmnist_fedadam.yaml does)"
        )
    if key.startswith("hydra."):  # Hydra's own config: its keys depend on the plugins chosen
        return ConfigError(
            f"{key} is not a config key: `fedbench --cfg hydra -p {parent}` lists the keys "
            f"under {parent} (with the same hydra/... choices); check the spelling"
        )
    return ConfigError(unknown_key(key, keys_under(parent)))


def check_group_selections(overrides: Sequence[str]) -> None:
    """Refuse ``group=[a,b]``: Hydra merges both options into one job, which reads as a sweep."""
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        group = override.key_or_group
        if group in GROUPS and isinstance(override.value(), list):
            options = ",".join(str(v) for v in override.value())
            raise ConfigError(
                invalid(
                    group,
                    f"[{options}]",
                    f"one {group} per job",
                    f"to run each, sweep them: fedbench -m {group}={options}",
                )
            )
