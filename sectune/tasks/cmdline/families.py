"""Technique families: the unit of "obfuscation the detector never saw" in leave-one-out tests.

A record's ``technique`` is ``benign`` or a chain like ``bash/base64>bash/quotes`` (ours) or
``bashfuscator:encode/base64>compress/gzip``, ``dosfuscation:concat``, ``bashsmash`` (public
tools in ../shared/data/cmdline). Ours map to the engine's families (encoding, quoting, ...);
other tools' mutators to their own category names.
"""

from __future__ import annotations


def technique_names(technique: str) -> list[str]:
    """The techniques of a chain, in order ([] for benign)."""
    if not technique or technique == "benign":
        return []
    tool, _, chain = technique.partition(":") if ":" in technique.split(">")[0] else ("", "", technique)
    names = [part.strip() for part in chain.split(">") if part.strip()]
    return [f"{tool}:{name}" for name in names] if tool else names


def technique_family(name: str) -> str:
    """``bash/base64`` -> ``encoding``; ``bashfuscator:encode/base64`` -> ``bashfuscator:encode``."""
    from sectune.tasks.cmdline.obfuscate import REGISTRY

    if name in REGISTRY:
        return REGISTRY[name].family
    tool, _, mutator = name.partition(":")
    return f"{tool}:{mutator.split('/')[0]}" if mutator else name


def technique_families(technique: str) -> set[str]:
    return {technique_family(name) for name in technique_names(technique)}
