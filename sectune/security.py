"""The security switches: what a user may allow when a model loads, and only the user.

``trust_remote_code`` lets a model's own Python code run; ``allow_pickle`` lets pickle weights
(``.bin``, ``.pt``) be opened, which can run code too. Both are runtime-only: never written to a
model directory, never read from one, only taken from the user's flag or argument at the moment
of loading, so a model directory someone hands you cannot turn them on.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sectune.errors import SectuneError

SECURITY_SWITCHES = frozenset({"trust_remote_code", "allow_pickle"})
HELP = {
    "trust_remote_code": "let the model's own Python code (auto_map in config.json) run when it loads; only for a model you trust",
    "allow_pickle": "allow pickle weights (.bin/.pt) for a base model; opening them can run code",
}


def flag(switch: str) -> str:
    return "--" + switch.replace("_", "-")


def add_switch_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--trust-remote-code`` and ``--allow-pickle``, for every command that loads a model."""
    for switch in sorted(SECURITY_SWITCHES):
        parser.add_argument(flag(switch), action="store_true", default=None, help=HELP[switch])


def switches(args: argparse.Namespace) -> dict[str, bool]:
    """The switches the user turned on, as keyword arguments for :func:`sectune.load`."""
    return {k: True for k in SECURITY_SWITCHES if getattr(args, k, None)}


def refuse_stored_switches(stored: dict[str, Any], given: dict[str, Any], directory: str | Path) -> None:
    """A model directory whose ``sectune.json`` asks for a switch is refused unless the user turned it on."""
    asked = sorted(k for k in SECURITY_SWITCHES if stored.get(k) not in (None, False) and not given.get(k))
    if asked:
        flags = " and ".join(flag(k) for k in asked)
        raise SectuneError(
            f"its sectune.json asks for {flags}, which a model directory cannot turn on (it would let loading "
            "run code): pass the flag yourself only if you trust where this directory came from",
            path=directory,
        )
